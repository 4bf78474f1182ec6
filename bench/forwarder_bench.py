"""Forwarder throughput: records/s delivered from Kafka to a local fast HTTP endpoint, and peak RSS.

    .venv/bin/python bench/forwarder_bench.py [--records 5000]

Records are real Helicone log records (2 KB gen_ai spans mapped by semconv), produced to a local
Kafka first; the clock runs from the forwarder's start until the endpoint has accepted them all.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools" / "kafka"))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests" / "support"))

from helicone_otel.collector.config import ExporterConfig  # noqa: E402
from helicone_otel.semconv import MapOptions  # noqa: E402
from localkafka import LocalKafka  # noqa: E402
from quiet_http import QuietHandler  # noqa: E402
from semconv_bench import gen_ai_span, request_of  # noqa: E402

from helicone_otel.kafka.records import encode  # noqa: E402

accepted = 0
lock = threading.Lock()


class Sink(QuietHandler):
    def do_POST(self) -> None:
        global accepted
        self.rfile.read(int(self.headers.get("content-length", 0)))
        with lock:
            accepted += 1
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


async def produce(bootstrap: str, topic: str, n: int) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, compression_type="zstd")
    await producer.start()
    try:
        done = 0
        while done < n:
            batch = min(100, n - done)
            encoded = encode(request_of([gen_ai_span(2000) for _ in range(batch)]), ExporterConfig(), MapOptions())
            futures = [await producer.send(topic, r.value, key=r.key, headers=list(r.headers)) for r in encoded.records]
            await asyncio.gather(*futures)
            done += batch
    finally:
        await producer.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    sink = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    sink.daemon_threads = True
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    workdir = Path(tempfile.mkdtemp(prefix="forwarder-bench-"))
    with LocalKafka(auto_create_topics=True) as kafka:
        asyncio.run(produce(kafka.bootstrap_servers, "bench-records", args.records))
        config = workdir / "forwarder.yaml"
        config.write_text(
            f"forwarder: {{brokers: ['{kafka.bootstrap_servers}'], topic: bench-records, "
            f"helicone_url: 'http://127.0.0.1:{sink.server_address[1]}', api_key: sk-bench, "
            f"concurrency: {args.concurrency}, admin_address: ''}}\n"
        )
        started = time.monotonic()
        first: float | None = None
        proc = subprocess.Popen([sys.executable, "-m", "helicone_otel.cli", "--log-level", "WARNING", "forward",
                                 "--config", str(config)])  # fmt: skip
        while accepted < args.records and time.monotonic() - started < 300:
            if first is None and accepted:
                first = time.monotonic()  # the group has been joined: steady state from here
            time.sleep(0.01)
        elapsed = time.monotonic() - started
        steady = time.monotonic() - (first or started)
        hwm = next(
            int(line.split()[1]) for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
            if line.startswith("VmHWM:")
        )  # fmt: skip
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    print(f"forwarder: {accepted}/{args.records} records (2 KB spans) delivered in {elapsed:.1f}s from start "
          f"= {accepted / elapsed:.0f} records/s ({accepted / steady:.0f}/s after the first delivery, group join "
          f"excluded), concurrency {args.concurrency}, peak RSS {hwm / 1024:.0f} MiB, "
          f"{os.cpu_count()} cores shared with Kafka and the endpoint")  # fmt: skip


if __name__ == "__main__":
    main()
