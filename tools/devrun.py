"""`make run`: a local Kafka on 127.0.0.1:9092, then the collector in the foreground; Ctrl-C stops both.

The broker keeps its data in ./data/kafka (KAFKA_DATA), so records not yet forwarded when Ctrl-C stops it are
there at the next `make run`; delete the folder for an empty broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "kafka"))

from localkafka import LocalKafka


def local_kafka(environ: Mapping[str, str]) -> LocalKafka:
    """The broker of `make run`: fixed ports (a restart finds its own quorum again) and a data folder kept."""
    return LocalKafka(
        port=int(environ.get("KAFKA_PORT", "9092")),
        controller_port=int(environ.get("KAFKA_CONTROLLER_PORT", "9093")),
        workdir=Path(environ.get("KAFKA_DATA", "data/kafka")),
        auto_create_topics=True,
    )


def main() -> int:
    config = os.environ.get("CONFIG", "otel-config.yaml")
    with local_kafka(os.environ) as kafka:
        print(f"kafka {kafka.version} ready on {kafka.bootstrap_servers} (logs: {kafka.log_path})", flush=True)
        print(f"kafka keeps its data in {kafka.workdir}: delete it for an empty broker", flush=True)
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
