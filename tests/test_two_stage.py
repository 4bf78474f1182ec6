"""Two stages on a real Kafka: an ingest collector acknowledges OTLP requests once their spans are on a
spans topic (`encoding: otlp_proto`, keyed by trace), and a mapping collector (`receivers.kafka`, a
consumer group) turns them into records. A real traceloop app's records equal what semconv makes of
its spans, two spans of one call sent in different requests become one record, tenant keys travel
through both stages, and a record on the spans topic that is not OTLP is dead-lettered."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from conftest import create_topic
from helicone_otel.semconv import map_request
from helpers import Collector, read_topic, run_collector, run_traceloop_app, start_collector, stop_collector
from localkafka import LocalKafka, free_port
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util.types import AttributeValue

from helicone_otel.kafka.partitioner import partition_of

KEY = "sk-helicone-tenant-a"


@contextmanager
def mapping_stage(tmp_path: Path, brokers: str, spans: str, records: str) -> Iterator[Collector]:
    health, metrics = free_port(), free_port()
    config = tmp_path / "mapping.yaml"
    config.write_text(f"""
receivers:
  kafka: {{brokers: ["{brokers}"], topic: {spans}, group_id: g-{uuid.uuid4().hex[:8]}}}
exporters:
  kafka: {{brokers: ["{brokers}"], topic: {records}, pass_api_keys: true, producer: {{request_timeout: 5s}}}}
extensions:
  health_check: {{endpoint: "127.0.0.1:{health}"}}
service:
  telemetry: {{metrics: {{address: "127.0.0.1:{metrics}"}}}}
  pipelines:
    traces: {{receivers: [kafka], exporters: [kafka]}}
""")
    # no OTLP listener: wait for the admin ports only
    collector = start_collector(config, (0, 0, health, metrics), tmp_path / "mapping.log", listening=(health, metrics))
    try:
        yield collector
    finally:
        stop_collector(collector)


def send_one_call_in_two_requests(endpoint: str) -> None:
    """The same call (one response id) told by two instrumentations, each span exported on its own."""
    provider = TracerProvider()
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint, headers={"helicone-auth": KEY}))
    )
    call: dict[str, AttributeValue] = {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.id": "chatcmpl-two-requests", "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 3,
        "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]',
    }  # fmt: skip
    with provider.get_tracer("app").start_as_current_span("workflow"):
        for scope in ("opentelemetry.instrumentation.openai.v1", "openinference.instrumentation.openai"):
            with provider.get_tracer(scope).start_as_current_span("chat gpt-4o-mini", attributes=call):
                pass
    provider.shutdown()


def test_ingest_then_mapping_through_kafka(kafka: LocalKafka, tmp_path: Path) -> None:
    brokers = kafka.bootstrap_servers
    spans, records = f"spans-{uuid.uuid4().hex[:8]}", f"records-{uuid.uuid4().hex[:8]}"
    asyncio.run(create_topic(brokers, spans, partitions=2))
    asyncio.run(create_topic(brokers, records))

    def to_spans_topic(text: str) -> str:
        return text.replace("    topic:", "    encoding: otlp_proto\n    pass_api_keys: true\n    topic:", 1)

    (tmp_path / "ingest").mkdir()
    with run_collector(tmp_path / "ingest", brokers, spans, edit=to_spans_topic) as ingest:
        out = tmp_path / "capture"
        sent = run_traceloop_app(out, ingest.http_url, f"Helicone-Auth=Bearer {KEY}")
        send_one_call_in_two_requests(ingest.http_url)

    async def poison() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=brokers)
        await producer.start()
        await producer.send_and_wait(spans, b"not a protobuf \xff\xff", key=b"k", headers=[("origin", b"test")])
        await producer.stop()

    asyncio.run(poison())
    expected = {r.id: r.value for r in map_request(sent).records}
    assert len(expected) == 11
    with mapping_stage(tmp_path, brokers, spans, records) as mapping:
        got = asyncio.run(read_topic(brokers, records, len(expected) + 1))
        dead = asyncio.run(read_topic(brokers, f"{records}-dlq", 1))
        assert mapping.metric("otelcol_receiver_refused_spans") == 1
    values = [json.loads(v) for _, v, _ in got]
    traceloop = {v["id"]: v for v in values if v["id"] in expected}
    assert traceloop == expected
    [merged] = [v for v in values if v["id"] not in expected]  # one record, though two spans in two requests
    assert merged["providerResponse"]["json"]["id"] == "chatcmpl-two-requests"
    assert all(headers["helicone-auth"] == KEY.encode() for _, _, headers in got)
    [(key, value, headers)] = dead
    assert (key, value) == (b"k", b"not a protobuf \xff\xff")
    assert headers["error"].startswith(b"not an OTLP export request") and headers["origin"] == b"test"
    assert headers["original-topic"] == spans.encode()
    with pytest.raises(TimeoutError):  # nothing more than those
        asyncio.run(read_topic(brokers, records, len(expected) + 2, timeout=3))


def test_ingest_sends_a_requests_traces_of_one_partition_as_one_record(kafka: LocalKafka, tmp_path: Path) -> None:
    """Once the ingest knows the spans topic's partitions, a request of many traces is a record per
    partition, each in the partition Kafka gives its own traces' keys (what lets a trace's spans meet)."""
    brokers, spans = kafka.bootstrap_servers, f"spans-{uuid.uuid4().hex[:8]}"
    asyncio.run(create_topic(brokers, spans, partitions=3))
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    for i in range(12):  # twelve traces of one span
        with provider.get_tracer("app").start_as_current_span(f"call-{i}", attributes={"gen_ai.system": "openai"}):
            pass

    async def partitions_of_records(count: int) -> list[tuple[int, bytes, list[str]]]:
        consumer = AIOKafkaConsumer(spans, bootstrap_servers=brokers, auto_offset_reset="earliest")
        await consumer.start()
        got: list[tuple[int, bytes, list[str]]] = []
        try:
            async with asyncio.timeout(30):
                while sum(len(names) for _, _, names in got) < count:
                    for records in (await consumer.getmany(timeout_ms=500)).values():
                        for r in records:
                            request = ExportTraceServiceRequest.FromString(r.value or b"")
                            names = [s.trace_id.hex() for rs in request.resource_spans for ss in rs.scope_spans
                                     for s in ss.spans]  # fmt: skip
                            got.append((r.partition, r.key or b"", names))
        finally:
            await consumer.stop()
        return got

    def to_spans_topic(text: str) -> str:
        return text.replace("    topic:", "    encoding: otlp_proto\n    topic:", 1)

    (tmp_path / "ingest").mkdir()
    with run_collector(tmp_path / "ingest", brokers, spans, edit=to_spans_topic) as ingest:
        exporter = OTLPSpanExporter(endpoint=ingest.http_url)
        exporter.export(memory.get_finished_spans()[:1])
        asyncio.run(partitions_of_records(1))  # its producer has fetched the topic's partitions now
        exporter.export(memory.get_finished_spans()[1:])  # one request, eleven traces
        first = format(memory.get_finished_spans()[0].context.trace_id, "032x")
        got = [record for record in asyncio.run(partitions_of_records(12)) if record[2] != [first]]
    assert 1 < len(got) <= 3
    assert sorted(t for _, _, traces in got for t in traces) == sorted(
        format(s.context.trace_id, "032x") for s in memory.get_finished_spans()[1:]
    )
    for partition, key, traces in got:
        assert key.decode() in traces
        assert {partition_of(t.encode(), 3) for t in traces} == {partition}
