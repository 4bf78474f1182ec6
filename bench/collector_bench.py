"""Collector throughput, latency and memory with realistic gen_ai spans, against a real local Kafka.

    .venv/bin/python bench/collector_bench.py [--seconds 15] [--workers 1] [--kinds one-stage,two-stage]
        [--peer bench/peers/build/otelcol-kafka [--peer-fsync]]
    .venv/bin/python bench/collector_bench.py --mapping-scaling [--spans 60000]
    .venv/bin/python bench/collector_bench.py --cpu-rate 5000 [--seconds 15] [--peer ...]

For each transport (HTTP/protobuf, gRPC) and span size (2 KB, 50 KB), 100-span requests:
1. sustained: closed-loop senders for --seconds; spans/s acknowledged, then the time until every
   record is in Kafka (spool drained, and with two stages every span mapped), giving spans/s into
   Kafka as Helicone records;
2. latency: open-loop at half the sustained rate; p50/p99 export latency;
3. peak RSS of the collector processes (VmHWM; both stages for two-stage).
Kinds: `one-stage` maps before acknowledging (otel-config.yaml's shape); `two-stage` is
examples/two-stage (ingest to a spans topic, a mapping consumer group to the records topic), both
stages on this machine, the mapping stage at a lower CPU priority (`--mapping-nice`, default 10: what
acknowledgement waits for goes first, the mapping catches up from Kafka). With --peer,
the same load against the OpenTelemetry Collector in its recommended production shape (otlp receiver,
memory_limiter, batch, kafka exporter with acks=all, zstd and a message per trace, sending_queue on
file_storage; built by
bench/peers/build.sh) and the ratios. The load generator shares the machine's cores. Ours fsyncs its
spool before acknowledging (`fsync: always`, what "nothing acknowledged is lost" takes); the
Collector's file_storage does not by default: --peer-fsync gives it `fsync: true` for the same
durability.

--mapping-scaling fills a 4-partition spans topic and times the mapping stage alone with 1 and then 2
worker processes: records/s and the ratio.

--cpu-rate N offers N spans/s (100-span requests, open loop, 8 in flight at most) for --seconds, waits until
Kafka holds every record (at least 5 s for queues to drain), and reads each process's own CPU counters
(utime + stime of it and all its descendants, /proc/PID/stat): CPU us per accepted span for each stage
(`ingest` is the two-stage ingest alone: OTLP to the spans topic, no mapping; `one-stage-logs` the shipped
one-stage shape with each call's content in a GenAI event log record, sent in a logs request beside its spans
request, which the collector joins), beside the accepted rate and the p99, and with --peer the ratios to the
Collector measured in the same run.
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
sys.path.insert(0, str(ROOT / "tests"))

from conftest import create_topic  # noqa: E402
from localkafka import LocalKafka, free_port  # noqa: E402
from opentelemetry.proto.trace.v1.trace_pb2 import Span  # noqa: E402
from semconv_bench import gen_ai_span, request_of  # noqa: E402

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
PROTOBUF = {"content-type": "application/x-protobuf"}


CONTENT = ("gen_ai.input.messages", "gen_ai.output.messages")
LOGS_EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


class Bodies:
    """Export requests of 100 gen_ai spans, every one distinct: Helicone records are idempotent (a span
    sent twice maps to the same record, and the mapping stage merges spans of one response id), so
    repeating a body would count fewer records than spans. A few templates are serialized once; each
    request writes its number into every span's trace id and response id (fixed-size fields), which
    costs the load generator microseconds instead of a protobuf build."""

    def __init__(self, span_bytes: int, templates: int = 20, content_in_logs: bool = False) -> None:
        self._sent = 0
        self.templates: list[tuple[bytes, list[int], list[int]]] = []
        self.logs: list[tuple[bytes, list[int]]] = []  # with content_in_logs: each template's log records
        for _ in range(templates):
            spans = [gen_ai_span(span_bytes) for _ in range(100)]
            if content_in_logs:
                self.logs.append(self._move_content_to_logs(spans))
            body = request_of(spans).SerializeToString()
            ids = [body.index(s.trace_id) + 8 for s in spans]  # the trace id's last 8 bytes
            responses = [body.index(self._response_id(s)) + len("chatcmpl-") for s in spans]  # its 12 hex digits
            self.templates.append((body, ids, responses))

    @staticmethod
    def _move_content_to_logs(spans: list[Span]) -> tuple[bytes, list[int]]:
        """The latest conventions' EVENT_ONLY shape (official openai-v2 and google-genai instrumentations): the
        spans keep no content, one `gen_ai.client.inference.operation.details` log record per call holds it."""
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

        logs = ExportLogsServiceRequest()
        records = logs.resource_logs.add().scope_logs.add().log_records
        for span in spans:
            record = records.add(time_unix_nano=span.end_time_unix_nano, trace_id=span.trace_id, span_id=span.span_id,
                                 event_name="gen_ai.client.inference.operation.details")  # fmt: skip
            record.attributes.extend(kv for kv in span.attributes if kv.key in CONTENT)
            kept = [kv for kv in span.attributes if kv.key not in CONTENT]
            del span.attributes[:]
            span.attributes.extend(kept)
        body = logs.SerializeToString()
        return body, [body.index(s.trace_id) + 8 for s in spans]

    def next_logs(self) -> bytes | None:
        """The log records of the spans `next()` gave last, when their content is in logs."""
        if not self.logs:
            return None
        body, ids = self.logs[self._sent % len(self.logs)]
        out = bytearray(body)
        number = self._sent.to_bytes(8, "big")
        for at in ids:
            out[at : at + 8] = number
        return bytes(out)

    @staticmethod
    def _response_id(span: Span) -> bytes:
        return next(kv.value.string_value for kv in span.attributes if kv.key == "gen_ai.response.id").encode()

    def next(self) -> bytes:
        n = self._sent = self._sent + 1
        body, ids, responses = self.templates[n % len(self.templates)]
        out = bytearray(body)
        number = n.to_bytes(8, "big")
        for at in ids:
            out[at : at + 8] = number
        for i, at in enumerate(responses):
            out[at : at + 12] = b"%08x%04x" % (n & 0xFFFFFFFF, i)
        return bytes(out)


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


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` and of every live descendant, from the kernel's own counters."""
    ticks = 0
    pending = [pid]
    while pending:
        p = pending.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
            for task in Path(f"/proc/{p}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, IndexError, ValueError):
            continue  # it exited meanwhile
    return ticks / os.sysconf("SC_CLK_TCK")


def helicone_cmd(config: Path) -> list[str]:
    return [sys.executable, "-m", "helicone_otel.cli", "--log-level", "WARNING", "collector", "--config", str(config)]


def mapping_yaml(kafka: str, spans: str, records: str, workers: int) -> str:
    return f"""
receivers: {{kafka: {{brokers: ["{kafka}"], topic: {spans}, group_id: bench-{records}}}}}
exporters: {{kafka: {{brokers: ["{kafka}"], topic: {records}}}}}
service: {{workers: {workers}, pipelines: {{traces: {{receivers: [kafka], exporters: [kafka]}}}}}}
"""


class Target:
    """A running collector: ours in one or two stages, or the peer."""

    def __init__(self, kind: str, kafka: str, topic: str, workdir: Path, workers: int, peer: str | None,
                 peer_fsync: bool = False, mapping_nice: int = 0) -> None:  # fmt: skip
        self.grpc_port, self.http_port = free_port(), free_port()
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs = []
        config = workdir / f"{kind}.yaml"
        otlp = f"""receivers: {{otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{self.grpc_port}"}},
                                 http: {{endpoint: "127.0.0.1:{self.http_port}"}}}}}}}}"""
        spool = f'extensions: {{file_storage: {{directory: "{workdir / "spool"}", fsync: always}}}}'
        pipeline = "service: {{workers: {}, pipelines: {{traces: {{receivers: [otlp], exporters: [kafka]}}}}}}"
        if kind == "one-stage":
            config.write_text(f"{otlp}\nexporters: {{kafka: {{brokers: [\"{kafka}\"], topic: {topic}}}}}\n{spool}\n"
                              + pipeline.format(workers))  # fmt: skip
            self._start(helicone_cmd(config), workdir / "one-stage.log")
        elif kind == "two-stage":
            spans = f"{topic}-spans"
            asyncio.run(create_topic(kafka, spans, max(2, workers)))
            config.write_text(f"{otlp}\nexporters: {{kafka: {{brokers: [\"{kafka}\"], topic: {spans}, "
                              f"encoding: otlp_proto}}}}\n{spool}\n" + pipeline.format(workers))  # fmt: skip
            self._start(helicone_cmd(config), workdir / "ingest.log")
            mapping = workdir / "mapping.yaml"
            mapping.write_text(mapping_yaml(kafka, spans, topic, workers))
            nice = ["nice", "-n", str(mapping_nice)] if mapping_nice else []
            self._start(nice + helicone_cmd(mapping), workdir / "mapping.log")
        else:
            config.write_text(f"""
receivers:
  otlp:
    protocols:  # ours takes up to 64 MiB per request (max_request_bytes); the Collector's gRPC default is 4
      grpc: {{endpoint: "127.0.0.1:{self.grpc_port}", max_recv_msg_size_mib: 64}}
      http: {{endpoint: "127.0.0.1:{self.http_port}"}}
processors:
  memory_limiter: {{check_interval: 1s, limit_percentage: 75, spike_limit_percentage: 15}}
  batch: {{}}
exporters:
  kafka:
    brokers: ["{kafka}"]
    traces: {{topic: {topic}}}
    partition_traces_by_id: true    # one message per trace, as ours: a batch never exceeds Kafka's 1 MB
    producer: {{required_acks: -1, compression: zstd}}
    sending_queue: {{enabled: true, storage: file_storage}}
extensions:
  file_storage: {{directory: "{workdir / "peer-queue"}", create_directory: true, fsync: {str(peer_fsync).lower()}}}
service:
  extensions: [file_storage]
  telemetry: {{metrics: {{level: none}}}}
  pipelines: {{traces: {{receivers: [otlp], processors: [memory_limiter, batch], exporters: [kafka]}}}}
""")
            self._start([str(peer), "--config", str(config)], workdir / "otelcol.log")
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
        raise RuntimeError(f"{kind} did not start; see {workdir}")

    def _start(self, cmd: list[str], log: Path) -> None:
        out = open(log, "wb")  # noqa: SIM115
        self.logs.append(out)
        self.procs.append(subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT))

    def rss_kib(self) -> int:
        return sum(rss_kib(p.pid) for p in self.procs)

    def stop(self) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in self.logs:
            log.close()


async def send_loop(transport: str, target: Target, payloads: Bodies, until: float, latencies: list[float],
                    rate: float | None = None, concurrency: int = 8) -> int:  # fmt: skip
    """Send until `until`; closed loop (as fast as answers come) or open loop at `rate` requests/s."""
    ok = 0
    url = f"http://127.0.0.1:{target.http_port}/v1/traces"
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{target.grpc_port}",
                                        options=[("grpc.max_send_message_length", 64 << 20)])  # fmt: skip
    call = channel.unary_unary(EXPORT)
    logs_call = channel.unary_unary(LOGS_EXPORT)
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency)) as client:

        async def one() -> None:
            nonlocal ok
            body = payloads.next()
            logs = payloads.next_logs()
            t0 = time.perf_counter()
            try:
                if transport == "http":
                    if logs is not None:  # what an app's log processor sends beside its span processor
                        await client.post(url[: -len("traces")] + "logs", content=logs, headers=PROTOBUF, timeout=60)
                    r = await client.post(url, content=body, headers={"content-type": "application/x-protobuf"},
                                          timeout=60)  # fmt: skip
                    good = r.status_code == 200
                else:
                    if logs is not None:
                        await logs_call(logs, timeout=60)
                    await call(body, timeout=60)
                    good = True
            except (httpx.HTTPError, grpc.RpcError):
                good = False
            if good:
                ok += 1
                latencies.append(time.perf_counter() - t0)

        if rate is None:

            async def worker() -> None:
                while time.monotonic() < until:
                    await one()

            await asyncio.gather(*(worker() for _ in range(concurrency)))
        else:
            tasks = []
            start = time.monotonic()
            i = 0
            while time.monotonic() < until:
                tasks.append(asyncio.create_task(one()))
                i += 1
                await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
            await asyncio.gather(*tasks)
    await channel.close()
    return ok


async def kafka_count(bootstrap: str, topic: str, partitions: int = 1) -> int:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(partitions)]
        ends = await consumer.end_offsets(parts)
        return sum(ends.values())
    finally:
        await consumer.stop()


def run_case(kind: str, transport: str, span_bytes: int, args: argparse.Namespace, kafka: LocalKafka,
             workdir: Path) -> dict[str, float]:  # fmt: skip
    topic = f"bench-{kind}-{transport}-{span_bytes}-{os.getpid()}"
    (workdir / topic).mkdir(parents=True)
    target = Target(kind, kafka.bootstrap_servers, topic, workdir / topic, args.workers, args.peer, args.peer_fsync,
                    args.mapping_nice)  # fmt: skip
    try:
        payloads = Bodies(span_bytes)
        latencies: list[float] = []
        t0 = time.monotonic()
        ok = asyncio.run(send_loop(transport, target, payloads, t0 + args.seconds, latencies))
        accepted_at = time.monotonic()
        spans = ok * 100

        delivered = 0
        progress_at = accepted_at  # lost: still missing after 30 s without progress (a lagging stage is not)
        while time.monotonic() < progress_at + 30 and delivered < spans:
            # ours: a record per LLM span; the peer: a message per trace (one span each here)
            count = asyncio.run(kafka_count(kafka.bootstrap_servers, topic))
            if count > delivered:
                delivered, progress_at = count, time.monotonic()
            time.sleep(0.25)
        in_kafka_at = progress_at
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
            "rss_mib": target.rss_kib() / 1024,
        }
    finally:
        target.stop()


def cpu_case(kind: str, transport: str, span_bytes: int, args: argparse.Namespace, kafka: LocalKafka,
             workdir: Path) -> dict[str, float]:  # fmt: skip
    """CPU us per span of each of `kind`'s processes at a fixed offered rate (see --cpu-rate)."""
    topic = f"cpu-{kind}-{transport}-{span_bytes}-{os.getpid()}"
    (workdir / topic).mkdir(parents=True)
    shape = {"ingest": "two-stage", "one-stage-logs": "one-stage"}.get(kind, kind)
    target = Target(shape, kafka.bootstrap_servers, topic, workdir / topic, args.workers, args.peer,
                    args.peer_fsync, args.mapping_nice)  # fmt: skip
    if kind == "ingest":  # the two-stage ingest alone: no mapping stage
        mapping = target.procs.pop()
        mapping.send_signal(signal.SIGTERM)
        mapping.wait(60)
    stages = {"ingest": ["ingest"], "two-stage": ["ingest", "mapping"]}.get(kind, [kind])
    try:
        payloads = Bodies(span_bytes, content_in_logs=kind == "one-stage-logs")
        before = [cpu_seconds(p.pid) for p in target.procs]
        latencies: list[float] = []
        t0 = time.monotonic()
        ok = asyncio.run(send_loop(transport, target, payloads, t0 + args.seconds, latencies,
                                   rate=args.cpu_rate / 100))  # fmt: skip
        spans = ok * 100
        records_topic = f"{topic}-spans" if kind == "ingest" else topic
        partitions = max(2, args.workers) if kind == "ingest" else 1
        delivered, progress_at = 0, time.monotonic()
        while time.monotonic() < progress_at + 30 and delivered < (ok if kind == "ingest" else spans):
            count = asyncio.run(kafka_count(kafka.bootstrap_servers, records_topic, partitions))
            if count > delivered:
                delivered, progress_at = count, time.monotonic()
            time.sleep(0.25)
        time.sleep(max(0.0, t0 + args.seconds + 5 - time.monotonic()))  # queues drain
        used = [cpu_seconds(p.pid) - b for p, b in zip(target.procs, before, strict=True)]
        latencies.sort()
        result = {f"cpu_us_{stage}": seconds / spans * 1e6 if spans else float("nan")
                  for stage, seconds in zip(stages, used, strict=True)}  # fmt: skip
        result |= {
            "cpu_us": sum(used) / spans * 1e6 if spans else float("nan"),
            "accepted_spans_s": spans / args.seconds,
            "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000 if latencies else 0.0,
        }
        return result
    finally:
        target.stop()


def cpu_at_fixed_rate(args: argparse.Namespace, workdir: Path) -> None:
    kinds = args.kinds.split(",") + (["otelcol"] if args.peer else [])
    print(
        f"CPU per span at {args.cpu_rate:g} offered spans/s for {args.seconds:g}s (+5 s to drain), 100 spans/"
        f"request, workers={args.workers}, {os.cpu_count()} cores shared with the load generator and Kafka"
    )
    print(f"{'collector':<16}{'transport':<10}{'span':>7}{'accepted/s':>12}{'CPU us/span':>13}{'p99 ms':>9}  stages")
    with LocalKafka(auto_create_topics=True, heap="1g") as kafka:
        for transport in args.transports.split(","):
            for size in (int(s) for s in args.sizes.split(",")):
                results = {kind: cpu_case(kind, transport, size, args, kafka, workdir) for kind in kinds}
                for kind, r in results.items():
                    stages = ", ".join(f"{k[7:]} {v:.1f}" for k, v in r.items() if k.startswith("cpu_us_"))
                    print(f"{kind:<16}{transport:<10}{size:>7}{r['accepted_spans_s']:>12.0f}{r['cpu_us']:>13.1f}"
                          f"{r['p99_ms']:>9.1f}  {stages}", flush=True)  # fmt: skip
                if args.peer:
                    peer = results["otelcol"]
                    for kind in args.kinds.split(","):
                        r = results[kind]
                        print(f"{kind + '/peer':<16}{transport:<10}{size:>7}"
                              f"{r['accepted_spans_s'] / peer['accepted_spans_s']:>12.2f}"
                              f"{r['cpu_us'] / peer['cpu_us']:>13.2f}{r['p99_ms'] / peer['p99_ms']:>9.2f}",
                              flush=True)  # fmt: skip


def mapping_scaling(args: argparse.Namespace, kafka: LocalKafka, workdir: Path) -> None:
    """The mapping stage alone on a full spans topic: records/s with 1 and with 2 worker processes."""
    spans = f"scaling-spans-{os.getpid()}"
    asyncio.run(create_topic(kafka.bootstrap_servers, spans, 4))
    fill = workdir / "fill.yaml"
    port = free_port()
    fill.write_text(f"""
receivers: {{otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{port}"}}}}}}}}
exporters: {{kafka: {{brokers: ["{kafka.bootstrap_servers}"], topic: {spans}, encoding: otlp_proto}}}}
""")
    filler = subprocess.Popen(helicone_cmd(fill))
    url = f"http://127.0.0.1:{port}/v1/traces"
    payloads = Bodies(2000)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.post(url, content=payloads.next(), headers=PROTOBUF, timeout=30).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        with httpx.Client() as client:
            for _ in range(1, args.spans // 100):
                client.post(url, content=payloads.next(), headers=PROTOBUF, timeout=60).raise_for_status()
    finally:
        filler.send_signal(signal.SIGTERM)
        filler.wait(60)
    total = args.spans // 100 * 100  # every span is an LLM call: a Helicone record each
    messages = asyncio.run(kafka_count(kafka.bootstrap_servers, spans, 4))
    print(f"mapping stage alone: {total} spans in {messages} Kafka records on a 4-partition topic, 2 KB gen_ai "
          f"spans, {os.cpu_count()} cores")  # fmt: skip
    rates = {}
    for workers in (1, 2):
        records = f"scaling-records-{workers}-{os.getpid()}"
        config = workdir / f"mapping-{workers}.yaml"
        config.write_text(mapping_yaml(kafka.bootstrap_servers, spans, records, workers))
        asyncio.run(create_topic(kafka.bootstrap_servers, records))
        t0 = time.monotonic()
        proc = subprocess.Popen(helicone_cmd(config))
        done = 0
        while done < total and time.monotonic() - t0 < 600:
            time.sleep(0.2)
            done = (
                asyncio.run(kafka_count(kafka.bootstrap_servers, records)) if done or time.monotonic() - t0 > 1 else 0
            )
        elapsed = time.monotonic() - t0  # includes the processes' start (about 1 s)
        peak = rss_kib(proc.pid) / 1024
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        rates[workers] = done / elapsed
        print(f"  workers={workers}: {done} records in {elapsed:.1f}s = {rates[workers]:.0f} records/s, "
              f"peak RSS {peak:.0f} MiB")  # fmt: skip
    print(f"  scaling 1 -> 2 processes: {rates[2] / rates[1]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--kinds", default="one-stage,two-stage")
    parser.add_argument("--peer", default=None, help="path to the otelcol-kafka binary (bench/peers/build.sh)")
    parser.add_argument("--peer-fsync", action="store_true", help="the peer's file_storage fsyncs, as our spool")
    parser.add_argument("--mapping-nice", type=int, default=10,
                        help="two-stage: the mapping stage's nice value (0: same priority as the ingest)")  # fmt: skip
    parser.add_argument("--sizes", default="2000,50000")
    parser.add_argument("--transports", default="http,grpc")
    parser.add_argument("--mapping-scaling", action="store_true")
    parser.add_argument("--spans", type=int, default=60000, help="with --mapping-scaling")
    parser.add_argument(
        "--cpu-rate",
        type=float,
        default=None,
        help="CPU us per span at this offered spans/s (kinds: ingest, one-stage, two-stage, one-stage-logs)",
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="collector-bench-"))
    if args.cpu_rate:
        cpu_at_fixed_rate(args, workdir)
        return
    if args.mapping_scaling:
        with LocalKafka(auto_create_topics=True, heap="1g") as kafka:
            mapping_scaling(args, kafka, workdir)
        return
    kinds = args.kinds.split(",") + (["otelcol"] if args.peer else [])
    print(f"collector benchmark: {args.seconds:g}s per case, 100 spans/request, workers={args.workers}, "
          f"{os.cpu_count()} cores shared with the load generator"
          + (f", two-stage mapping at nice {args.mapping_nice}" if "two-stage" in args.kinds else "")
          + (", the peer's file_storage with fsync" if args.peer_fsync else ""))  # fmt: skip
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
                    peer = results[("otelcol", transport, size)]
                    for kind in args.kinds.split(","):
                        ours = results[(kind, transport, size)]
                        ratio = {k: ours[k] / peer[k] if peer[k] else float("nan") for k in ours if k != "lost_spans"}
                        print(row(f"{kind}/peer", transport, size, ratio, ".2f"), flush=True)


def row(label: str, transport: str, size: int, r: dict[str, float], number: str = ".0f") -> str:
    small = ".2f" if number == ".2f" else ".1f"
    lost = f"{r['lost_spans']:>12.0f}" if "lost_spans" in r and number != ".2f" else f"{'':>12}"
    return (
        f"{label:<16}{transport:<10}{size:>8}{r['accepted_spans_s']:>13{number}}{r['kafka_spans_s']:>14{number}}"
        f"{r['p50_ms']:>9{small}}{r['p99_ms']:>9{small}}{r['rss_mib']:>14{number}}{lost}"
    )


if __name__ == "__main__":
    main()
