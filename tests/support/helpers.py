"""Small helpers shared by tests: run the real collector as a process, read a topic back."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer
from localkafka import free_port
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


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


@dataclass
class Collector:
    grpc_port: int
    http_port: int
    health_port: int
    metrics_port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/v1/traces"

    def metric(self, name: str) -> float:
        return metric(self.metrics_port, name)


def metric(port: int, name: str) -> float:
    """Sum of a metric's series, read from a Prometheus endpoint on 127.0.0.1:`port`."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and line[len(name) : len(name) + 1] in (" ", "{")
    )


def collector_yaml(brokers: str, topic: str, ports: tuple[int, int, int, int], spool: Path | None, extra: str) -> str:
    grpc_port, http_port, health_port, metrics_port = ports
    storage = f"file_storage: {{directory: '{spool}', fsync: always}}" if spool else ""
    return f"""
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc_port}"}}
      http: {{endpoint: "127.0.0.1:{http_port}"}}
exporters:
  kafka:
    brokers: ["{brokers}"]
    topic: {topic}
    producer: {{request_timeout: 5s}}
extensions:
  health_check: {{endpoint: "127.0.0.1:{health_port}"}}
  {storage}
service:
  telemetry: {{metrics: {{address: "127.0.0.1:{metrics_port}"}}}}
  pipelines:
    traces: {{receivers: [otlp], exporters: [kafka]}}
{extra}
"""


def start_collector(
    config: Path,
    ports: tuple[int, int, int, int],
    log_path: Path,
    listening: tuple[int, ...] | None = None,
    options: tuple[str, ...] = (),
) -> Collector:
    """Run `helicone-otel [options] collector` and wait until each of `listening` (default: all `ports`)
    answers."""
    log = open(log_path, "ab")  # noqa: SIM115 - the child process owns it
    proc = subprocess.Popen(
        [sys.executable, "-m", "helicone_otel.cli", *options, "collector", "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    log.close()
    collector = Collector(*ports, proc=proc, log_path=log_path)
    try:
        for port in ports if listening is None else listening:
            wait_for_port(port, proc)
    except BaseException:
        stop_collector(collector)
        raise
    return collector


def stop_collector(collector: Collector, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
    if collector.proc.poll() is None:
        collector.proc.send_signal(sig)
        try:
            collector.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            collector.proc.kill()
            collector.proc.wait()
    return collector.proc.returncode


@contextmanager
def run_collector(
    tmp_path: Path,
    brokers: str,
    topic: str,
    extra_yaml: str = "",
    spool: bool = True,
    edit: Callable[[str], str] = lambda text: text,
) -> Iterator[Collector]:
    """Start `helicone-otel collector` on free ports (spool under tmp_path, the configuration passed
    through `edit` first); SIGTERM at the end."""
    ports = (free_port(), free_port(), free_port(), free_port())
    config = tmp_path / "otel-config.yaml"
    config.write_text(edit(collector_yaml(brokers, topic, ports, tmp_path / "spool" if spool else None, extra_yaml)))
    collector = start_collector(config, ports, tmp_path / "collector.log")
    try:
        yield collector
    finally:
        stop_collector(collector)


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


def pass_api_keys(text: str) -> str:
    """`edit` for run_collector: the exporter passes each request's Helicone key on."""
    return text.replace("    topic:", "    pass_api_keys: true\n    topic:", 1)


def run_traceloop_app(out: Path, endpoint: str, headers: str, protocol: str = "http") -> ExportTraceServiceRequest:
    """The real traceloop app of the captures (OpenAI and Anthropic SDKs against the fake provider),
    exporting with the stock OTLP exporter to `endpoint` with `headers` (OTEL_EXPORTER_OTLP_HEADERS);
    returns every span it emitted, as sent."""
    env = {
        **os.environ, "CAPTURE_OTLP_ENDPOINT": endpoint, "CAPTURE_OTLP_PROTOCOL": protocol,
        "OTEL_EXPORTER_OTLP_HEADERS": headers, "OTEL_BSP_SCHEDULE_DELAY": "60000", "TRACELOOP_TELEMETRY": "false",
    }  # fmt: skip
    capture = Path(__file__).resolve().parent / "capture.py"
    proc = subprocess.run([sys.executable, str(capture), "traceloop", str(out)], env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return ExportTraceServiceRequest.FromString((out / "spans.pb").read_bytes())
