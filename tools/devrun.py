"""`make run`: a local Kafka on 127.0.0.1:9092, then the collector in the foreground; Ctrl-C stops both."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "kafka"))

from localkafka import LocalKafka


def main() -> int:
    port = int(os.environ.get("KAFKA_PORT", "9092"))
    config = os.environ.get("CONFIG", "otel-config.yaml")
    with LocalKafka(port=port, auto_create_topics=True) as kafka:
        print(f"kafka {kafka.version} ready on {kafka.bootstrap_servers} (logs: {kafka.log_path})", flush=True)
        env = {**os.environ, "KAFKA_BROKERS": kafka.bootstrap_servers}
        collector = subprocess.Popen(
            [sys.executable, "-m", "helicone_otel.cli", "collector", "--config", config], env=env
        )
        # Ctrl-C reaches the whole foreground process group; SIGTERM only us: pass it on.
        signal.signal(signal.SIGTERM, lambda *_: collector.send_signal(signal.SIGTERM))
        signal.signal(signal.SIGINT, lambda *_: collector.send_signal(signal.SIGINT))
        code = collector.wait()
    return code


if __name__ == "__main__":
    sys.exit(main())
