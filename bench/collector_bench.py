"""Collector throughput, latency and memory with realistic gen_ai spans, against a real local Kafka.

    .venv/bin/python bench/collector_bench.py [--seconds 15] [--workers 1] [--peer bench/peers/build/otelcol-kafka]

For each transport (HTTP/protobuf, gRPC) and span size (2 KB, 50 KB), 100-span requests:
1. sustained: closed-loop senders for --seconds; spans/s acknowledged, then the time until every
   record is in Kafka (spool drained), giving spans/s into Kafka;
2. latency: open-loop at half the sustained rate; p50/p99 export latency;
3. peak RSS of the collector processes (VmHWM).
With --peer, the same load against the plain OpenTelemetry Collector (otlp receiver -> kafka exporter,
built by bench/peers/build.sh) and the ratio. The load generator shares the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools" / "kafka"))
sys.path.insert(0, str(ROOT / "bench"))

from localkafka import LocalKafka, free_port  # noqa: E402
from semconv_bench import gen_ai_span, request_of  # noqa: E402

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def bodies(span_bytes: int, count: int = 20) -> list[bytes]:
    return [request_of([gen_ai_span(span_bytes) for _ in range(100)]).SerializeToString() for _ in range(count)]


def rss_kib(pid: int) -> int:
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
    return total


class Target:
    """A running collector: ours or the peer."""

    def __init__(self, kind: str, kafka: str, topic: str, workdir: Path, workers: int, peer: str | None) -> None:
        self.grpc_port, self.http_port = free_port(), free_port()
        config = workdir / f"{kind}.yaml"
        if kind == "helicone-otel":
            config.write_text(f"""
receivers: {{otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{self.grpc_port}"}},
                                 http: {{endpoint: "127.0.0.1:{self.http_port}"}}}}}}}}
exporters: {{kafka: {{brokers: ["{kafka}"], topic: {topic}}}}}
extensions: {{file_storage: {{directory: "{workdir / "spool"}", fsync: always}}}}
service: {{workers: {workers}, pipelines: {{traces: {{receivers: [otlp], exporters: [kafka]}}}}}}
""")
            cmd = [
                sys.executable,
                "-m",
                "helicone_otel.cli",
                "--log-level",
                "WARNING",
                "collector",
                "--config",
                str(config),
            ]
        else:
            config.write_text(f"""
receivers: {{otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{self.grpc_port}"}},
                                 http: {{endpoint: "127.0.0.1:{self.http_port}"}}}}}}}}
exporters: {{kafka: {{brokers: ["{kafka}"], traces: {{topic: {topic}}}}}}}
service:
  telemetry: {{metrics: {{level: none}}}}
  pipelines: {{traces: {{receivers: [otlp], exporters: [kafka]}}}}
""")
            cmd = [str(peer), "--config", str(config)]
        self.log = open(workdir / f"{kind}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.post(
                    f"http://127.0.0.1:{self.http_port}/v1/traces",
                    content=b"",
                    headers={"content-type": "application/x-protobuf"},
                    timeout=2,
                )
                return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError(f"{kind} did not start; see {workdir / f'{kind}.log'}")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


async def send_loop(transport: str, target: Target, payloads: list[bytes], until: float, latencies: list[float],
                    rate: float | None = None, concurrency: int = 8) -> int:  # fmt: skip
    """Send until `until`; closed loop (as fast as answers come) or open loop at `rate` requests/s."""
    ok = 0
    url = f"http://127.0.0.1:{target.http_port}/v1/traces"
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{target.grpc_port}",
                                        options=[("grpc.max_send_message_length", 64 << 20)])  # fmt: skip
    call = channel.unary_unary(EXPORT)
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency)) as client:

        async def one(i: int) -> None:
            nonlocal ok
            body = payloads[i % len(payloads)]
            t0 = time.perf_counter()
            try:
                if transport == "http":
                    r = await client.post(url, content=body, headers={"content-type": "application/x-protobuf"},
                                          timeout=60)  # fmt: skip
                    good = r.status_code == 200
                else:
                    await call(body, timeout=60)
                    good = True
            except (httpx.HTTPError, grpc.RpcError):
                good = False
            if good:
                ok += 1
                latencies.append(time.perf_counter() - t0)

        if rate is None:
            counter = iter(range(10**9))

            async def worker() -> None:
                while time.monotonic() < until:
                    await one(next(counter))

            await asyncio.gather(*(worker() for _ in range(concurrency)))
        else:
            tasks = []
            start = time.monotonic()
            i = 0
            while time.monotonic() < until:
                tasks.append(asyncio.create_task(one(i)))
                i += 1
                await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
            await asyncio.gather(*tasks)
    await channel.close()
    return ok


async def kafka_count(bootstrap: str, topic: str) -> int:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or {0})]
        ends = await consumer.end_offsets(parts)
        return sum(ends.values())
    finally:
        await consumer.stop()


def run_case(kind: str, transport: str, span_bytes: int, args: argparse.Namespace, kafka: LocalKafka,
             workdir: Path) -> dict[str, float]:  # fmt: skip
    topic = f"bench-{kind}-{transport}-{span_bytes}-{os.getpid()}"
    (workdir / topic).mkdir(parents=True)
    target = Target(kind, kafka.bootstrap_servers, topic, workdir / topic, args.workers, args.peer)
    try:
        payloads = bodies(span_bytes)
        latencies: list[float] = []
        t0 = time.monotonic()
        ok = asyncio.run(send_loop(transport, target, payloads, t0 + args.seconds, latencies))
        accepted_at = time.monotonic()
        spans = ok * 100
        per_record = 1 if kind == "helicone-otel" else 100  # ours: a record per LLM span; peer: per request
        deadline = accepted_at + 60
        delivered = 0
        while time.monotonic() < deadline and delivered < spans:
            delivered = asyncio.run(kafka_count(kafka.bootstrap_servers, topic)) * per_record
            time.sleep(0.25)
        in_kafka_at = time.monotonic()
        lat: list[float] = []
        if ok:
            rate = ok / (accepted_at - t0)
            asyncio.run(send_loop(transport, target, payloads, time.monotonic() + args.seconds / 2, lat, rate=rate / 2))
        lat.sort()
        return {
            "accepted_spans_s": spans / (accepted_at - t0),
            "kafka_spans_s": min(delivered, spans) / (in_kafka_at - t0),
            "lost_spans": max(spans - delivered, 0),
            "p50_ms": statistics.median(lat) * 1000 if lat else float("nan"),
            "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000 if lat else float("nan"),
            "rss_mib": rss_kib(target.proc.pid) / 1024,
        }
    finally:
        target.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--peer", default=None, help="path to the otelcol-kafka binary (bench/peers/build.sh)")
    parser.add_argument("--sizes", default="2000,50000")
    parser.add_argument("--transports", default="http,grpc")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="collector-bench-"))
    kinds = ["helicone-otel"] + (["otelcol"] if args.peer else [])
    print(f"collector benchmark: {args.seconds:g}s per case, 100 spans/request, workers={args.workers}, "
          f"{os.cpu_count()} cores shared with the load generator")  # fmt: skip
    print(f"{'collector':<16}{'transport':<10}{'span':>8}{'accepted/s':>13}{'into Kafka/s':>14}"
          f"{'p50 ms':>9}{'p99 ms':>9}{'peak RSS MiB':>14}{'lost spans':>12}")  # fmt: skip
    results: dict[tuple[str, str, int], dict[str, float]] = {}
    with LocalKafka(auto_create_topics=True, heap="1g") as kafka:
        for transport in args.transports.split(","):
            for size in (int(s) for s in args.sizes.split(",")):
                for kind in kinds:
                    r = run_case(kind, transport, size, args, kafka, workdir)
                    results[(kind, transport, size)] = r
                    print(row(kind, transport, size, r), flush=True)
                if args.peer:
                    ours, peer = results[("helicone-otel", transport, size)], results[("otelcol", transport, size)]
                    ratio = {k: ours[k] / peer[k] if peer[k] else float("nan") for k in ours if k != "lost_spans"}
                    print(row("ratio ours/peer", transport, size, ratio, ".2f"), flush=True)


def row(label: str, transport: str, size: int, r: dict[str, float], number: str = ".0f") -> str:
    small = ".2f" if number == ".2f" else ".1f"
    lost = f"{r['lost_spans']:>12.0f}" if "lost_spans" in r and number != ".2f" else f"{'':>12}"
    return (
        f"{label:<16}{transport:<10}{size:>8}{r['accepted_spans_s']:>13{number}}{r['kafka_spans_s']:>14{number}}"
        f"{r['p50_ms']:>9{small}}{r['p99_ms']:>9{small}}{r['rss_mib']:>14{number}}{lost}"
    )


if __name__ == "__main__":
    main()
