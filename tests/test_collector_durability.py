"""Nothing acknowledged is lost: Kafka stopped and restarted mid-stream, the collector killed with
SIGKILL and restarted, SIGTERM while Kafka is down. Every span the collector answered 200 for must
reach Kafka as a record (duplicates allowed: record ids are deterministic)."""

from __future__ import annotations

import asyncio
import json
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from conftest import create_topic
from helicone_otel.semconv import record_id
from helpers import read_topic, run_collector, start_collector, stop_collector
from localkafka import LocalKafka

SPANS_PER_REQUEST = 10


HI = '[{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]'  # content on the span: nothing to join


def llm_span(trace: str, span: str) -> dict:
    return {
        "traceId": trace,
        "spanId": span,
        "name": "openai.chat",
        "startTimeUnixNano": str(time.time_ns()),
        "endTimeUnixNano": str(time.time_ns() + 1000),
        "attributes": [
            {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
            {"key": "gen_ai.provider.name", "value": {"stringValue": "openai"}},
            {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
            {
                "key": "gen_ai.input.messages",
                "value": {"stringValue": '[{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]'},
            },
        ],
    }


class Sender:
    """Posts batches of LLM spans; remembers exactly which spans the collector acknowledged."""

    def __init__(self) -> None:
        self.acked: set[str] = set()
        self.refused = 0
        self.n = 0

    def post(self, url: str) -> bool:
        spans = []
        for _ in range(SPANS_PER_REQUEST):
            self.n += 1
            spans.append(llm_span(f"{self.n:032x}", f"{self.n:016x}"))
        try:
            reply = httpx.post(url, json={"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}, timeout=15)
        except httpx.HTTPError:
            self.refused += len(spans)
            return False
        if reply.status_code != 200:
            self.refused += len(spans)
            return False
        self.acked.update(record_id(s["traceId"], s["spanId"]) for s in spans)
        return True


def ids_in(kafka: LocalKafka, topic: str, at_least: int, timeout: float = 90) -> set[str]:
    records = asyncio.run(read_topic(kafka.bootstrap_servers, topic, at_least, timeout=timeout))
    return {json.loads(value)["id"] for _, value, _ in records}


def test_kafka_stopped_mid_stream_then_restarted(own_kafka: LocalKafka, tmp_path: Path) -> None:
    topic = "durable"
    asyncio.run(create_topic(own_kafka.bootstrap_servers, topic))
    sender = Sender()
    with run_collector(tmp_path, own_kafka.bootstrap_servers, topic) as c:
        for _ in range(20):
            assert sender.post(c.http_url)
        own_kafka.stop(keep_data=True)
        for _ in range(30):  # Kafka is down: the spool takes them
            assert sender.post(c.http_url)
        assert c.metric("helicone_otel_spool_bytes") > 0
        own_kafka.start()
        for _ in range(20):
            assert sender.post(c.http_url)
        got = ids_in(own_kafka, topic, len(sender.acked))
        assert sender.acked <= got
        deadline = time.monotonic() + 30
        while c.metric("helicone_otel_spool_bytes") > 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert c.metric("helicone_otel_spool_bytes") == 0
        assert c.metric("otelcol_receiver_accepted_spans") == len(sender.acked) == 700


def test_collector_sigkill_mid_stream_then_restart(kafka: LocalKafka, topic: str, tmp_path: Path) -> None:
    sender = Sender()
    with run_collector(tmp_path, kafka.bootstrap_servers, topic) as c:
        config = tmp_path / "otel-config.yaml"
        ports = (c.grpc_port, c.http_port, c.health_port, c.metrics_port)
        stream = subprocess.Popen(  # a second client keeps posting while the collector dies
            [sys.executable, "-c", _POSTER, c.http_url, str(tmp_path / "acked.txt")],
        )
        for _ in range(15):
            sender.post(c.http_url)
        c.proc.send_signal(signal.SIGKILL)
        c.proc.wait()
        stream.wait(60)
    restarted = start_collector(config, ports, tmp_path / "collector2.log")
    try:
        acked = sender.acked | set((tmp_path / "acked.txt").read_text().split())
        assert len(acked) >= 150
        got = ids_in(kafka, topic, len(acked))
        assert acked <= got, f"{len(acked - got)} acknowledged records lost"
    finally:
        stop_collector(restarted)


_POSTER = """
import sys, time, httpx
url, out = sys.argv[1], sys.argv[2]
sys.path[:0] = ["tests", "tests/support", "tools/kafka"]
from test_collector_durability import llm_span
from helicone_otel.semconv import record_id
with open(out, "w") as f:
    for i in range(10**6, 10**6 + 400):
        spans = [llm_span(f"{i:032x}", f"{i * 10 + j:016x}") for j in range(5)]
        try:
            r = httpx.post(url, json={"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}, timeout=5)
        except httpx.HTTPError:
            break
        if r.status_code == 200:
            f.write("\\n".join(record_id(s["traceId"], s["spanId"]) for s in spans) + "\\n")
            f.flush()
"""


def spooled_while_kafka_is_down(
    own_kafka: LocalKafka, tmp_path: Path, topics: list[str], requests: int
) -> tuple[Sender, tuple[int, int, int, int], float]:
    """Create `topics`, stop Kafka, have a collector (exporting to the first topic) spool `requests`
    requests, and SIGTERM it: the sender, the collector's ports and how long its stop took."""
    for name in topics:
        asyncio.run(create_topic(own_kafka.bootstrap_servers, name))
    sender = Sender()
    own_kafka.stop(keep_data=True)
    with run_collector(tmp_path, own_kafka.bootstrap_servers, topics[0]) as c:
        for _ in range(requests):
            assert sender.post(c.http_url)
        started = time.monotonic()
        assert stop_collector(c) == 0
        return sender, (c.grpc_port, c.http_port, c.health_port, c.metrics_port), time.monotonic() - started


def test_sigterm_with_kafka_down_exits_0_in_time_and_delivers_on_next_start(
    own_kafka: LocalKafka, tmp_path: Path
) -> None:
    topic = "later"
    sender, ports, stop_seconds = spooled_while_kafka_is_down(own_kafka, tmp_path, [topic], requests=10)
    assert stop_seconds < 25  # drain deadline 10 s + producer stop, never a hang
    spool_files = list((tmp_path / "spool").glob("worker-*/*.seg"))
    assert spool_files and sum(f.stat().st_size for f in spool_files) > 0
    own_kafka.start()
    again = start_collector(tmp_path / "otel-config.yaml", ports, tmp_path / "collector2.log")
    try:
        assert sender.acked <= ids_in(own_kafka, topic, len(sender.acked))
    finally:
        assert stop_collector(again) == 0


def test_spooled_records_of_a_renamed_exporter_go_to_the_dead_letter_topic(
    own_kafka: LocalKafka, tmp_path: Path
) -> None:
    """Records spooled for exporter `kafka` while Kafka was down; the collector restarts with that
    exporter renamed `kafka/main`. Nothing stays stuck: they go to kafka/main's dead-letter topic,
    saying which exporter and topic they were for (before: KeyError 'kafka', a dead drain, /ready ok)."""
    topic = "renamed"
    sender, ports, _ = spooled_while_kafka_is_down(own_kafka, tmp_path, [topic, f"{topic}-dlq"], requests=5)
    config = tmp_path / "otel-config.yaml"
    config.write_text(config.read_text().replace("  kafka:\n", "  kafka/main:\n").replace("[kafka]", "[kafka/main]"))
    own_kafka.start()
    again = start_collector(config, ports, tmp_path / "collector2.log")
    try:
        records = asyncio.run(read_topic(own_kafka.bootstrap_servers, f"{topic}-dlq", len(sender.acked), timeout=90))
        assert {json.loads(value)["id"] for _, value, _ in records} == sender.acked
        headers = dict(records[0][2])
        assert headers["error"].startswith(b"exporter 'kafka' is no longer configured")
        assert (headers["original-topic"], headers["original-exporter"]) == (topic.encode(), b"kafka")
        deadline = time.monotonic() + 30
        while httpx.get(f"http://127.0.0.1:{again.health_port}/ready", timeout=5).status_code != 200:
            assert time.monotonic() < deadline, "never ready after the spool moved"
            time.sleep(0.2)
        assert again.metric("helicone_otel_spool_bytes") == 0
    finally:
        assert stop_collector(again) == 0


def test_unwritable_spool_answers_503_and_keeps_serving(kafka: LocalKafka, topic: str, tmp_path: Path) -> None:
    """A write error (here: the file size limit, as a full disk would) refuses the request; nothing
    half-written is left behind, and the collector keeps serving once writes succeed again."""
    sender = Sender()
    with run_collector(tmp_path, kafka.bootstrap_servers, topic) as c:
        assert sender.post(c.http_url)
        # 100 bytes: less than one request, whether or not the delivered tail segment was emptied yet
        resource.prlimit(c.proc.pid, resource.RLIMIT_FSIZE, (100, resource.RLIM_INFINITY))  # soft limit only
        refused = 0
        for _ in range(5):
            if not sender.post(c.http_url):
                refused += 1
        assert refused >= 1
        assert c.proc.poll() is None  # still running
        resource.prlimit(c.proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        assert sender.post(c.http_url)
        assert sender.acked <= ids_in(kafka, topic, len(sender.acked))


def test_a_retry_sends_only_the_records_kafka_did_not_acknowledge(kafka: LocalKafka, topic: str) -> None:
    """A batch for two topics, one of which does not exist yet (the broker does not create topics):
    the first attempt delivers the records of the topic that exists and fails the others; the retry,
    once the topic is there, sends only those. The existing topic holds each record once, not twice."""
    from helicone_otel.kafka.output import ExporterConfig
    from helicone_otel.kafka.records import KafkaRecord
    from helicone_otel.kafka.sender import METRICS, KafkaSender, KafkaUnavailable
    from helicone_otel.metrics import Metrics

    brokers = (kafka.bootstrap_servers,)
    later = f"{topic}-later"
    exporters = [ExporterConfig(name=name, brokers=brokers, topic=t, dead_letter_topic=f"{t}-dlq")
                 for name, t in (("now", topic), ("later", later))]  # fmt: skip
    batch = [KafkaRecord(topic, b"k%d" % i, b"now-%d" % i, (), "now") for i in range(3)]
    batch += [KafkaRecord(later, b"k%d" % i, b"later-%d" % i, (), "later") for i in range(2)]

    async def scenario() -> tuple[list[bytes], list[bytes]]:
        sender = KafkaSender(exporters, Metrics(METRICS), timeout=4.0)
        attempt = sender.delivery(batch)
        try:
            try:
                await attempt()
                raise AssertionError("a record for a missing topic was acknowledged")
            except KafkaUnavailable as exc:
                assert [r.value for r in exc.unsent] == [b"later-0", b"later-1"]
            await create_topic(kafka.bootstrap_servers, later)
            assert await attempt() == 0
        finally:
            await sender.stop()
        return ([v for _, v, _ in await read_topic(kafka.bootstrap_servers, topic, 3)],
                [v for _, v, _ in await read_topic(kafka.bootstrap_servers, later, 2)])  # fmt: skip

    got_now, got_later = asyncio.run(scenario())
    assert sorted(got_now) == [b"now-0", b"now-1", b"now-2"]
    assert sorted(got_later) == [b"later-0", b"later-1"]
    assert asyncio.run(end_offset(kafka.bootstrap_servers, topic)) == 3  # no record of the first attempt twice


async def end_offset(bootstrap: str, topic: str) -> int:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        return (await consumer.end_offsets([partition]))[partition]
    finally:
        await consumer.stop()
