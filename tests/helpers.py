"""Small helpers shared by tests: run the real collector as a process, read a topic back."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from localkafka import free_port


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"collector exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port} after {timeout}s")


@contextmanager
def run_collector(tmp_path: Path, brokers: str, topic: str, extra_yaml: str = "") -> Iterator[tuple[int, int]]:
    """Start `helicone-otel collector` on free ports; yield (grpc_port, http_port); SIGTERM at the end."""
    grpc_port, http_port = free_port(), free_port()
    config = tmp_path / "otel-config.yaml"
    config.write_text(
        f"""
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc_port}"}}
      http: {{endpoint: "127.0.0.1:{http_port}"}}
exporters:
  kafka:
    brokers: ["{brokers}"]
    topic: {topic}
{extra_yaml}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [kafka]}}
"""
    )
    log = open(tmp_path / "collector.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "helicone_otel.cli", "collector", "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        wait_for_port(grpc_port, proc)
        wait_for_port(http_port, proc)
        yield grpc_port, http_port
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


async def read_topic(bootstrap: str, topic: str, count: int, timeout: float = 30.0) -> list[tuple]:
    """Read `count` records from the start of `topic`: (key, value, headers) tuples."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    got: list[tuple] = []
    try:
        async with asyncio.timeout(timeout):
            while len(got) < count:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    got.extend((r.key, r.value, dict(r.headers)) for r in records)
    finally:
        await consumer.stop()
    return got
