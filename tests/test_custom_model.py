"""The custom-model helper: a call to a model no instrumentation knows, logged through the app's own
OpenTelemetry SDK, becomes the record (and, read back as Helicone's pipeline reads it, the stored
request) that an instrumented call would."""

from __future__ import annotations

import json
import time

import pytest
from helicone_otel.semconv import map_request
from helicone_rules import stored_record
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from helicone_otel.custom import llm_call, log_llm_call


def pipeline() -> tuple[TracerProvider, InMemorySpanExporter]:
    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    return provider, exported


def records(exported: InMemorySpanExporter) -> list[dict]:
    result = map_request(encode_spans(exported.get_finished_spans()))
    assert not result.failures
    return [r.value for r in result.records]


def test_a_streamed_call_to_an_in_house_model() -> None:
    provider, exported = pipeline()
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a prime."}]
    with llm_call("llama-3.1-8b-instruct", messages, user_id="user-7", session_id="sess-42",
                  properties={"tenant": "acme"}, params={"temperature": 0.2, "max_tokens": 64},
                  tracer_provider=provider) as call:  # fmt: skip
        time.sleep(0.02)
        for text in ("Seven", " is", " prime."):
            call.chunk(text)
        call.usage(input_tokens=21, output_tokens=4)
    [record] = records(exported)
    request, response = record["providerRequest"], record["providerResponse"]
    assert record["provider"] == "CUSTOM"
    assert request["json"]["model"] == "llama-3.1-8b-instruct" and request["json"]["stream"] is True
    assert request["json"]["temperature"] == 0.2 and request["json"]["max_tokens"] == 64
    assert [m["content"] for m in request["json"]["messages"]] == ["Be brief.", "Name a prime."]
    meta = request["meta"]
    assert (meta["Helicone-User-Id"], meta["Helicone-Session-Id"]) == ("user-7", "sess-42")
    assert meta["Helicone-Property-tenant"] == "acme"
    assert 20 <= record["timing"]["timeToFirstToken"] < 1000
    stored = stored_record(record)
    assert (stored.model, stored.prompt_tokens, stored.completion_tokens) == ("llama-3.1-8b-instruct", 21, 4)
    assert stored.text == "Seven is prime." and stored.is_stream
    assert response["status"] == 200


def test_a_failed_call_is_logged_as_failed_and_the_error_raised() -> None:
    provider, exported = pipeline()
    with pytest.raises(RuntimeError, match="CUDA out of memory"), \
            llm_call("gpt-neo-2.7b", [{"role": "user", "content": "hi"}], tracer_provider=provider):  # fmt: skip
        raise RuntimeError("CUDA out of memory")
    [record] = records(exported)
    assert record["providerResponse"]["status"] >= 400
    assert "CUDA out of memory" in json.dumps(record["providerResponse"]["json"])


def test_a_call_that_already_happened_keeps_its_own_times() -> None:
    provider, exported = pipeline()
    start = time.time() - 60
    log_llm_call("in-house-7b", [{"role": "user", "content": "2+2?"}], "4", start_time=start, end_time=start + 1.5,
                 time_to_first_token=0.25, input_tokens=9, output_tokens=1, tracer_provider=provider)  # fmt: skip
    [record] = records(exported)
    timing = record["timing"]
    assert timing["timeToFirstToken"] == 250
    assert timing["endTime"]["seconds"] - timing["startTime"]["seconds"] in (1, 2)
    assert stored_record(record).text == "4"
