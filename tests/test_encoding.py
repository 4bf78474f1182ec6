"""Encodings and size limits: nothing is dropped for its size, nothing unmappable is dropped."""

from __future__ import annotations

import json
import os

import pytest
from helicone_otel.collector.config import ExporterConfig
from helicone_otel.semconv import MapOptions
from helicone_otel.semconv import mapper as mapper_module
from helicone_rules import stored_record
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from otlp_builder import request, span

from helicone_otel.kafka.records import encode
from helicone_otel.otlp_json import parse_request

CHAT = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.usage.input_tokens": 10,
}


def big_chat(size: int) -> dict:
    text = "tool output " * (size // 12)
    messages = [{"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": text}]}]
    return {**CHAT, "gen_ai.input.messages": json.dumps(messages)}


def test_oversized_record_is_cut_to_fit_with_a_marker() -> None:
    exporter = ExporterConfig(max_message_bytes=100_000)
    encoded = encode(request(span("chat", big_chat(3_000_000))), exporter, MapOptions())
    [record] = encoded.records
    assert encoded.truncated == 1
    assert len(record.value) <= 100_000
    assert ("helicone-truncated", b"true") in record.headers
    body = json.loads(record.value)
    content = body["providerRequest"]["json"]["messages"][0]["content"]
    assert content.startswith("tool output tool output")
    assert content.endswith("bytes by helicone-otel]")
    assert body["providerResponse"]["json"]["usage"]["prompt_tokens"] == 10  # what counts for cost survives


def test_an_oversized_stream_is_cut_inside_its_sse_frames() -> None:
    output = [{"role": "assistant", "parts": [{"type": "text", "content": "word " * 400_000}], "finish_reason": "stop"}]
    attrs = {**CHAT, "gen_ai.request.stream": True, "gen_ai.usage.output_tokens": 400_000,
             "gen_ai.output.messages": json.dumps(output)}  # fmt: skip
    encoded = encode(request(span("chat", attrs)), ExporterConfig(max_message_bytes=100_000), MapOptions())
    [record] = encoded.records
    assert encoded.truncated == 1 and len(record.value) <= 100_000
    stored = stored_record(json.loads(record.value))  # still SSE that Helicone's stream reader parses
    assert stored.is_stream and (stored.prompt_tokens, stored.completion_tokens) == (10, 400_000)
    assert stored.text.startswith("word word") and stored.text.endswith("bytes by helicone-otel]")


def test_otlp_proto_one_record_per_trace_split_by_span_and_cut_when_needed() -> None:
    t1, t2 = "1" * 32, "2" * 32
    req = request(
        span("a", CHAT, trace_id=t1),
        span("b", CHAT, trace_id=t1),
        span("c", CHAT, trace_id=t2),
        span("huge", big_chat(400_000), trace_id=t2),
    )
    exporter = ExporterConfig(encoding="otlp_proto", topic="spans", max_message_bytes=200_000)
    encoded = encode(req, exporter, MapOptions())
    by_key: dict[bytes, list[ExportTraceServiceRequest]] = {}
    for r in encoded.records:
        assert r.topic == "spans" and len(r.value) <= 200_000
        by_key.setdefault(r.key or b"", []).append(ExportTraceServiceRequest.FromString(r.value))
    names = {k: sorted(s.name for m in v for rs in m.resource_spans for ss in rs.scope_spans for s in ss.spans)
             for k, v in by_key.items()}  # fmt: skip
    assert names == {t1.encode(): ["a", "b"], t2.encode(): ["c", "huge"]}
    assert len(by_key[t1.encode()]) == 1  # one trace, one record
    assert len(by_key[t2.encode()]) == 2  # too large together: one record per span
    assert encoded.truncated == 1
    assert encoded.spans == 4


def test_otlp_json_is_readable_as_otlp_json() -> None:
    req = request(span("a", CHAT, trace_id="ab" * 16, span_id="cd" * 8))
    [record] = encode(req, ExporterConfig(encoding="otlp_json"), MapOptions()).records
    assert (("content-type", b"application/json")) in record.headers
    decoded = parse_request(record.value)
    assert decoded.resource_spans[0].scope_spans[0].spans[0].span_id.hex() == "cd" * 8


def test_unmappable_span_goes_raw_to_the_dead_letter_topic(monkeypatch: pytest.MonkeyPatch) -> None:
    real = mapper_module.dialect_genai.read

    def flaky(s):
        if s.name == "poison":
            raise ValueError("cannot read this")
        return real(s)

    monkeypatch.setattr(mapper_module.dialect_genai, "read", flaky)
    good, bad = span("ok", CHAT), span("poison", CHAT)
    encoded = encode(request(good, bad), ExporterConfig(topic="logs"), MapOptions(), api_key="sk-h")
    assert encoded.mapping_failures == 1
    [log_record] = [r for r in encoded.records if r.topic == "logs"]
    [dead] = [r for r in encoded.records if r.topic == "helicone-llm-logs-dlq"]
    headers = dict(dead.headers)
    assert headers["error"] == b"ValueError: cannot read this"
    assert headers["span-id"] == bad[1].span_id.hex().encode()
    raw = ExportTraceServiceRequest.FromString(dead.value)
    assert raw.resource_spans[0].scope_spans[0].spans[0] == bad[1]
    assert "helicone-auth" not in dict(log_record.headers)  # pass_api_keys is off by default


def test_keys_by_record_id_or_trace_id_and_api_key_header() -> None:
    s = span("a", CHAT, trace_id="ab" * 16)
    [by_id] = encode(request(s), ExporterConfig(), MapOptions()).records
    assert by_id.key == json.loads(by_id.value)["id"].encode()
    [by_trace] = encode(
        request(s), ExporterConfig(partition_by="trace_id", pass_api_keys=True), MapOptions(), "k1"
    ).records
    assert by_trace.key == b"ab" * 16
    assert dict(by_trace.headers)["helicone-auth"] == b"k1"


def test_otlp_proto_records_are_written_in_wire_format_as_protobuf_would() -> None:
    """The ingest's fast path writes each trace's request without building it; the bytes are what
    protobuf itself serializes for the same request, spans in their resources and scopes."""
    from helicone_otel.kafka.records import _by_trace, _proto_by_trace

    shared = "4bf92f3577b34da6a3ce929d0e0e4736"
    req = request(
        span("a", CHAT, trace_id=shared), span("b", {"x": 1}), span("c", {"y": "z"}, trace_id=shared, scope="other"),
        resource={"service.name": "app"},
    )  # fmt: skip
    req.resource_spans[0].schema_url = "https://opentelemetry.io/schemas/1.26.0"
    fast, slow = _proto_by_trace(req), _by_trace(req)
    assert list(fast) == list(slow) and len(fast) == 2
    for trace_id, data in fast.items():
        assert data == slow[trace_id].SerializeToString()
    both = ExportTraceServiceRequest.FromString(fast[bytes.fromhex(shared)])
    assert [[s.name for ss in rs.scope_spans for s in ss.spans] for rs in both.resource_spans] == [["a"], ["c"]]
    assert both.resource_spans[1].scope_spans[0].scope.name == "other"


def test_length_delimited_fields_are_written_as_protobuf_writes_them() -> None:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue

    from helicone_otel.kafka.records import _varint

    for n in (0, 1, 0x7F, 0x80, 0x3FFF, 0x4000, 0x1FFFFF, 0x200000, 1 << 30, (1 << 35) + 3):
        assert b"\x18" + _varint(n) == AnyValue(int_value=n).SerializeToString()  # field 3, a varint


def test_otlp_proto_puts_the_traces_of_one_partition_in_one_record_where_kafka_would_place_each() -> None:
    """With the topic's partition count known, a request of many traces becomes a record per partition
    (split at the size limit), keyed by one of its traces; every trace lands where Kafka's default
    partitioner puts its own key, so a trace's spans still meet in one partition."""
    from aiokafka.partitioner import murmur2 as aiokafka_murmur2

    from helicone_otel.kafka.partitioner import murmur2, partition_of, partitions_of

    # Kafka's own test vectors (UtilsTest), Java ints; toPositive % n; and aiokafka's hash at every length
    for key, java in ((b"21", -973932308), (b"foobar", -790332482), (b"a-little-bit-long-string", -985981536),
                      (b"a-little-bit-longer-string", -1486304829), (b"abc", 479470107)):  # fmt: skip
        assert murmur2(key) == java & 0xFFFFFFFF and partition_of(key, 1000) == (java & 0x7FFFFFFF) % 1000
    for length in range(40):
        key = os.urandom(length)
        assert murmur2(key) == aiokafka_murmur2(key)
    # many keys of one length hashed together (lanes of one int), or one by one: as aiokafka places each
    for keys in ([os.urandom(16).hex().encode() for _ in range(100)], [os.urandom(8) for _ in range(9)],
                 [os.urandom(n) for n in range(20)], [b"abcd"] * 3, []):  # fmt: skip
        for n in (1, 7, 1000):
            assert partitions_of(keys, n) == [(aiokafka_murmur2(k) & 0x7FFFFFFF) % n for k in keys]
    traces = [f"{i:032x}" for i in range(1, 41)]
    req = request(*(span(f"s{i}", {"x": "y" * 2000}, trace_id=t) for i, t in enumerate(traces)))
    for partitions, limit in ((3, 30_000), (1, 30_000), (3, 1_000_000)):
        exporter = ExporterConfig(encoding="otlp_proto", topic="spans", max_message_bytes=limit)
        records = encode(req, exporter, MapOptions(), partitions=partitions).records
        seen: list[str] = []
        for r in records:
            assert r.key is not None and len(r.value) <= limit
            ids = [s.trace_id.hex() for rs in ExportTraceServiceRequest.FromString(r.value).resource_spans
                   for ss in rs.scope_spans for s in ss.spans]  # fmt: skip
            assert r.key.decode() in ids and dict(r.headers)["trace-id"] == r.key
            assert {partition_of(t.encode(), partitions) for t in ids} == {partition_of(r.key, partitions)}
            seen += ids
        assert sorted(seen) == traces  # each span exactly once
        if limit == 1_000_000:
            assert len(records) == partitions
        else:  # ~2 KB per trace: at most 14 of them per record, and records are filled
            assert 40 // 14 + 1 <= len(records) <= 40 // 10 + 2 * partitions
    assert len(encode(req, exporter, MapOptions()).records) == 40  # partitions unknown: a record per trace
