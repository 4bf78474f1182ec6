"""Mapping cost per span: microseconds (median, p99) for a small and a 50 KB gen_ai span, and for a
span that is no LLM call.

    .venv/bin/python bench/semconv_bench.py [--iterations N]

Spans are OTel GenAI latest (what OpenLLMetry >= 0.55 emits): JSON messages, usage, association
properties; the non-LLM span is an HTTP server span with the usual dozen attributes. Each sample maps
one ExportTraceServiceRequest holding one span and serializes its records to the JSON that goes on
Kafka (what the collector does per span); the batch lines map 100 spans per request and divide.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from helicone_otel.semconv import MapResult, map_request
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span


def gen_ai_span(content_bytes: int) -> Span:
    words = ("lorem ipsum dolor sit amet " * (content_bytes // 27 + 1))[:content_bytes]
    half = len(words) // 2
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.id": f"chatcmpl-{os.urandom(6).hex()}",
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.max_tokens": "512",
        "gen_ai.is_streaming": False,
        "gen_ai.input.messages": json.dumps(
            [
                {"role": "system", "parts": [{"type": "text", "content": "You are a helpful assistant."}]},
                {"role": "user", "parts": [{"type": "text", "content": words[:half]}]},
            ]
        ),
        "gen_ai.output.messages": json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": words[half:]}], "finish_reason": "stop"}]
        ),
        "gen_ai.usage.input_tokens": "1200",
        "gen_ai.usage.output_tokens": "300",
        "gen_ai.usage.total_tokens": "1500",
        "gen_ai.usage.cache_read.input_tokens": "1024",
        "traceloop.workflow.name": "answer",
        "traceloop.association.properties.user_id": "user-7",
        "traceloop.association.properties.session_id": "sess-99",
    }
    span = Span(
        trace_id=os.urandom(16),
        span_id=os.urandom(8),
        name="openai.chat",
        start_time_unix_nano=1_764_390_000_000_000_000,
        end_time_unix_nano=1_764_390_000_900_000_000,
    )
    for key, value in attrs.items():
        if isinstance(value, bool):
            av = AnyValue(bool_value=value)
        elif isinstance(value, float):
            av = AnyValue(double_value=value)
        else:
            av = AnyValue(string_value=str(value))
        span.attributes.append(KeyValue(key=key, value=av))
    return span


def http_span() -> Span:
    """An HTTP server span: what most spans of an instrumented app are, and no LLM call."""
    attrs: dict[str, str | int] = {
        "http.request.method": "POST", "url.path": "/api/answer", "url.scheme": "https",
        "server.address": "app.example.com", "server.port": 443, "network.protocol.version": "1.1",
        "http.route": "/api/answer", "http.response.status_code": 200, "client.address": "10.0.0.7",
        "user_agent.original": "Mozilla/5.0 (X11; Linux x86_64)", "http.request.body.size": 512,
        "http.response.body.size": 2048,
    }  # fmt: skip
    span = Span(
        trace_id=os.urandom(16),
        span_id=os.urandom(8),
        name="POST /api/answer",
        kind=2,
        start_time_unix_nano=1_764_390_000_000_000_000,
        end_time_unix_nano=1_764_390_000_950_000_000,
    )
    for key, value in attrs.items():
        av = AnyValue(int_value=value) if isinstance(value, int) else AnyValue(string_value=value)
        span.attributes.append(KeyValue(key=key, value=av))
    return span


def request_of(spans: list[Span]) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    ss.scope.name = "opentelemetry.instrumentation.openai.v1"
    ss.spans.extend(spans)
    return req


def map_and_serialize(req: ExportTraceServiceRequest) -> MapResult:
    result = map_request(req)
    for record in result.records:
        record.json_bytes()
    return result


def measure(
    label: str, req: ExportTraceServiceRequest, spans_per_request: int, iterations: int, records: int | None = None
) -> None:
    for _ in range(min(200, iterations)):  # warm-up
        map_and_serialize(req)
    samples = []
    for _ in range(iterations):
        t0 = time.perf_counter_ns()
        result = map_and_serialize(req)
        samples.append((time.perf_counter_ns() - t0) / 1000 / spans_per_request)
    expected = spans_per_request if records is None else records
    assert len(result.records) == expected and not result.failures
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    size = req.ByteSize() // spans_per_request
    print(f"{label:<28} {size:>8} B/span  median {statistics.median(samples):8.1f} us/span  p99 {p99:8.1f} us/span")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=2000)
    args = parser.parse_args()
    print(f"semconv mapping cost, {args.iterations} samples each")
    measure("small span (1 per request)", request_of([gen_ai_span(300)]), 1, args.iterations)
    measure("50 KB span (1 per request)", request_of([gen_ai_span(50_000)]), 1, args.iterations)
    measure("non-LLM span (1 per request)", request_of([http_span()]), 1, args.iterations, records=0)
    measure("non-LLM spans (100 per req)", request_of([http_span() for _ in range(100)]), 100,
            max(20, args.iterations // 50), records=0)  # fmt: skip
    measure(
        "small spans (100 per req)",
        request_of([gen_ai_span(300) for _ in range(100)]),
        100,
        max(20, args.iterations // 50),
    )
    measure(
        "50 KB spans (100 per req)",
        request_of([gen_ai_span(50_000) for _ in range(100)]),
        100,
        max(20, args.iterations // 50),
    )


if __name__ == "__main__":
    main()
