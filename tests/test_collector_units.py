"""Unit tests of the collector's logic with fakes in place of Kafka and the network: the trace
handler's answers, the spool drain, the producer's split of permanent and transient failures, the
worker supervisor's metrics aggregation. Every behaviour here is also proven against a real Kafka in the other tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError
from helicone_otel.collector.config import CollectorConfig, ExporterConfig, ReceiverConfig
from helicone_otel.collector.metrics import Metrics
from helicone_otel.collector.receiver import TraceHandler
from helicone_otel.collector.workers import aggregate
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from otlp_builder import request, span

from helicone_otel.errors import Unauthenticated, Unavailable
from helicone_otel.kafka.records import KafkaRecord
from helicone_otel.kafka.sender import KafkaSender, KafkaUnavailable

CHAT = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]',
}


class FakeSender:
    """Takes batches like KafkaSender.deliver, or fails as told."""

    def __init__(self, fail: BaseException | None = None) -> None:
        self.batches: list[list[KafkaRecord]] = []
        self.fail = fail
        self.attempts = 0

    def partitions(self, exporter: str) -> int | None:
        return None  # as before the first delivery: records one per trace

    async def deliver(self, records: list[KafkaRecord]) -> int:
        self.attempts += 1
        if self.fail is not None:
            raise self.fail
        self.batches.append(list(records))
        return 0

    def delivery(self, records: list[KafkaRecord]) -> Callable[[], Awaitable[int]]:
        return lambda: self.deliver(records)


def handler(sender: FakeSender, **receiver: Any) -> tuple[TraceHandler, Metrics]:
    config = CollectorConfig(receiver=ReceiverConfig(**receiver), spool=None)
    metrics = Metrics()
    return TraceHandler(config, metrics, sender, spool=None), metrics  # type: ignore[arg-type]


def test_a_request_is_answered_once_its_records_are_delivered() -> None:
    sender = FakeSender()
    h, metrics = handler(sender)
    req = request(span("chat", CHAT), span("workflow", {"traceloop.span.kind": "workflow"}))
    response = asyncio.run(h.export(req, {}, "http", 100))
    assert not response.HasField("partial_success")
    [[record]] = sender.batches
    assert record.topic == "helicone-llm-logs"
    assert metrics.get("otelcol_receiver_accepted_spans", transport="http") == 2


def test_a_call_without_content_waits_at_the_join_with_its_trace() -> None:
    """Its trace's spans (the workflow span too) go to the join topic keyed by trace id, as OTLP; no record yet."""
    sender = FakeSender()
    h, metrics = handler(sender)
    bare = {k: v for k, v in CHAT.items() if k != "gen_ai.input.messages"}
    trace = "ab" * 16
    workflow = span("workflow", {"traceloop.span.kind": "workflow"}, trace_id=trace)
    req = request(span("chat", bare, trace_id=trace), workflow, span("chat", CHAT))
    asyncio.run(h.export(req, {}, "http", 100))
    [[record, joining]] = sender.batches  # the other trace's call has its record now
    assert record.topic == "helicone-llm-logs"
    record = joining
    assert record.topic == "helicone-llm-logs-join"
    assert dict(record.headers)["otlp-signal"] == b"traces"
    held = ExportTraceServiceRequest.FromString(record.value)
    assert [s.name for rs in held.resource_spans for ss in rs.scope_spans for s in ss.spans] == ["chat", "workflow"]
    assert record.key == trace.encode()
    assert metrics.get("helicone_otel_join_held_traces") == 1


def test_kafka_down_is_a_retryable_answer_and_counted() -> None:
    h, metrics = handler(FakeSender(fail=KafkaUnavailable("broker gone")))
    with pytest.raises(Unavailable) as raised:
        asyncio.run(h.export(request(span("chat", CHAT)), {}, "grpc", 100))
    assert raised.value.retry_after is not None and raised.value.retry_after > 0
    assert metrics.get("otelcol_receiver_refused_spans", transport="grpc") == 1


def test_a_wrong_bearer_token_is_refused_and_invalid_ids_are_a_partial_success() -> None:
    sender = FakeSender()
    h, _ = handler(sender, bearer_tokens=("s3cret",))
    with pytest.raises(Unauthenticated):
        asyncio.run(h.export(request(span("chat", CHAT)), {"authorization": "Bearer nope"}, "http", 100))
    _, bad = span("chat", CHAT)
    bad.span_id = b"\x01"  # not 8 bytes
    response = asyncio.run(h.export(request(span("chat", CHAT), ("s", bad)), {"authorization": "Bearer s3cret"},
                                    "http", 100))  # fmt: skip
    assert response.partial_success.rejected_spans == 1
    assert len(sender.batches[0]) == 1


class FakeProducer:
    """An aiokafka producer whose sends fail as told, per topic."""

    def __init__(self, errors: dict[str, BaseException]) -> None:
        self.errors = errors
        self.sent: list[tuple[str, bytes]] = []

    async def send(
        self, topic: str, value: bytes, key: bytes | None = None, headers: Any = None
    ) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if topic in self.errors:
            future.set_exception(self.errors[topic])
        else:
            self.sent.append((topic, value))
            future.set_result(None)
        return future


def sender_with(producer: FakeProducer) -> tuple[KafkaSender, Metrics]:
    metrics = Metrics()
    sender = KafkaSender([ExporterConfig(topic="t", dead_letter_topic="t-dlq")], metrics)
    sender._producers["kafka"] = producer  # the seam: no broker here
    return sender, metrics


def test_a_record_kafka_refuses_for_good_goes_to_the_dead_letter_topic() -> None:
    producer = FakeProducer({"t": MessageSizeTooLargeError()})
    sender, metrics = sender_with(producer)
    dead = asyncio.run(sender.deliver([KafkaRecord("t", b"k", b"v" * 10, (), "kafka")]))
    assert dead == 1
    assert producer.sent == [("t-dlq", b"v" * 10)]
    assert metrics.get("helicone_otel_records_dead_lettered", exporter="kafka") == 1


def test_a_transient_failure_returns_the_failed_records_for_a_retry() -> None:
    producer = FakeProducer({"t": KafkaConnectionError()})
    sender, metrics = sender_with(producer)
    failing = KafkaRecord("t", b"k", b"v", (), "kafka")
    with pytest.raises(KafkaUnavailable, match="1 of 2 records failed") as raised:
        asyncio.run(sender.deliver([KafkaRecord("t-dlq", b"k", b"w", (), "kafka"), failing]))
    assert raised.value.unsent == [failing] and producer.sent == [("t-dlq", b"w")]
    assert metrics.get("helicone_otel_kafka_up") == 0 and metrics.get("helicone_otel_records_produced") == 1


def test_workers_metrics_add_up_except_the_few_that_do_not() -> None:
    worker = "\n".join([
        "# TYPE otelcol_receiver_accepted_spans counter", 'otelcol_receiver_accepted_spans{{transport="http"}} {a}',
        "helicone_otel_kafka_up {up}", "helicone_otel_spool_oldest_age_seconds {age}",
    ])  # fmt: skip
    total = aggregate([worker.format(a=3, up=1, age=2.5), worker.format(a=4, up=0, age=7.0)])
    assert 'otelcol_receiver_accepted_spans{transport="http"} 7' in total
    assert "helicone_otel_kafka_up 0" in total  # up only if every worker is
    assert "helicone_otel_spool_oldest_age_seconds 7" in total  # the oldest of all
    assert total.count("# TYPE otelcol_receiver_accepted_spans counter") == 1


def test_the_drain_keeps_the_spool_while_kafka_is_down_says_why_and_delivers_in_order_after(tmp_path: Any) -> None:
    from helicone_otel.collector.drain import SpoolDrain
    from helicone_otel.collector.spool import Spool

    async def main() -> None:
        spool = Spool(tmp_path, 1024 * 1024, "always", 0.1)
        for n in range(3):
            await spool.append([KafkaRecord("t", str(n).encode(), b"{}")], spans=1)
        sender = FakeSender(fail=KafkaUnavailable("broker gone"))
        metrics = Metrics()
        drain = SpoolDrain(spool, sender, metrics)  # type: ignore[arg-type]
        drain.start()
        while sender.attempts < 2:
            await asyncio.sleep(0.01)
        assert drain.failure is not None and "broker gone" in drain.failure  # /ready turns red with the reason
        assert spool.size_bytes > 0 and not sender.batches
        assert metrics.total("otelcol_exporter_send_failed_spans") >= 3
        sender.fail = None
        drain.kick()  # cuts the backoff short
        assert await drain.drain(timeout=5.0)
        assert [r.key for batch in sender.batches for r in batch] == [b"0", b"1", b"2"]
        assert drain.failure is None and spool.size_bytes == 0
        assert metrics.total("otelcol_exporter_sent_spans") == 3
        await spool.close()

    asyncio.run(main())


def test_an_async_log_body_over_the_limit_is_refused_before_it_is_read_whole() -> None:
    import httpx
    from helicone_otel.collector.async_log import BodyLimit
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def echo(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str(len(await request.body())))

    app = BodyLimit(Starlette(routes=[Route("/", echo, methods=["POST"])]), limit=1000)

    async def main() -> list[tuple[int, str]]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sidecar") as client:

            async def chunks(n: int) -> AsyncIterator[bytes]:
                for _ in range(n):
                    yield b"x" * 300

            replies = [
                await client.post("/", content=b"x" * 999),
                await client.post("/", content=b"x" * 1001),
                await client.post("/", content=chunks(2)),  # chunked, under the limit
                await client.post("/", content=chunks(5)),  # chunked, over it
            ]
        return [(r.status_code, r.text) for r in replies]

    assert asyncio.run(main()) == [(200, "999"), (400, "Payload too large"), (200, "600"), (400, "Payload too large")]


def test_an_async_log_is_one_record_with_one_id_for_every_exporter() -> None:
    import dataclasses

    import httpx
    from helicone_otel.collector.async_log import create_async_log_app
    from helicone_otel.collector.config import PipelineConfig
    from helicone_otel.semconv import MapOptions

    sender = FakeSender()
    exporters = (
        ExporterConfig(name="kafka/a", topic="a", pass_api_keys=True),
        ExporterConfig(name="kafka/b", topic="b"),
    )
    config = dataclasses.replace(CollectorConfig(), pipelines=(PipelineConfig("traces", MapOptions(), exporters),))
    app = create_async_log_app(TraceHandler(config, Metrics(), sender, spool=None))  # type: ignore[arg-type]
    body = {"providerRequest": {"url": "custom-model-nopath", "json": {}, "meta": {}},
            "providerResponse": {"json": {}, "status": 200, "headers": {}}}  # fmt: skip

    async def post() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sidecar") as client:
            return await client.post("/custom/v1/log", json=body, headers={"authorization": "Bearer sk-helicone-x"})

    assert asyncio.run(post()).text == "ok"
    [[a, b]] = sender.batches
    assert (a.topic, b.topic) == ("a", "b") and a.key == b.key and a.value == b.value
    assert dict(a.headers)["helicone-auth"] == b"sk-helicone-x" and "helicone-auth" not in dict(b.headers)


def test_the_mapping_stage_maps_a_fetch_in_batches_of_bounded_size() -> None:
    """A fetch of records that compressed well may hold far more OTLP than one mapping should hold in
    memory: it is mapped in runs of consecutive records up to `max_batch_bytes`, a larger record alone."""
    from aiokafka.structs import ConsumerRecord
    from helicone_otel.collector.kafka_receiver import batches

    def record(offset: int, size: int) -> ConsumerRecord[bytes, bytes]:
        return ConsumerRecord("spans", 0, offset, 0, 0, None, b"x" * size, None, 0, size, [])

    fetch = [record(0, 400), record(1, 500), record(2, 200), record(3, 2000), record(4, 100), record(5, 0)]
    runs = [[r.offset for r in run] for run in batches(fetch, 1000)]
    assert runs == [[0, 1], [2], [3], [4, 5]]
    assert [[r.offset for r in run] for run in batches(fetch, 10_000)] == [[0, 1, 2, 3, 4, 5]]
    assert list(batches([], 1000)) == []
