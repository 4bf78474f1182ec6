"""Records built from spans that real instrumentation emitted, checked field by field against what
the fake provider really received and answered.

Each test runs for three captures: traceloop-sdk (current, OTel GenAI JSON attributes),
OpenInference (OpenAI + Anthropic instrumentors) and traceloop-sdk 0.40 (legacy indexed attributes),
all with the Anthropic SDK's own built-in spans beside them.
"""

from __future__ import annotations

import json

import pytest
from conftest import Capture
from helicone_otel.semconv import MapResult, map_request, record_id
from helicone_rules import response_of


@pytest.fixture(scope="session")
def mapped(capture: Capture) -> MapResult:
    return map_request(capture.request)


def test_one_record_per_llm_call_and_none_for_workflows(capture: Capture, mapped: MapResult) -> None:
    assert mapped.failures == []
    if capture.kind == "traceloop-legacy":
        # anthropic 0.49 has no built-in spans, and OpenLLMetry 0.40 made no span for the failed call.
        assert mapped.duplicates == 0
        assert len(mapped.records) == len(capture.served) - 1
    else:
        assert len(mapped.records) == len(capture.served)
        assert mapped.duplicates == 4  # the Anthropic SDK's own spans were merged, not recorded twice
    names = {span.name for rs in capture.request.resource_spans for ss in rs.scope_spans for span in ss.spans}
    if capture.kind.startswith("traceloop"):
        assert "openai.chat.workflow" in names  # present in the trace, and no record came of it


def test_openai_chat(capture: Capture, mapped: MapResult) -> None:
    served = capture.scenario("openai.chat")
    record = capture.record(mapped, "openai.chat")
    request, response = record["providerRequest"]["json"], response_of(record)
    assert record["provider"] == "OPENAI"
    assert request["model"] == served["request"]["model"]
    assert request["messages"] == served["request"]["messages"]
    assert request["temperature"] == served["request"]["temperature"]
    assert request["max_tokens"] == served["request"]["max_tokens"]
    assert request.get("stream") in (False, None)
    sr = served["response"]
    assert response["id"] == sr["id"]
    assert response["model"] == sr["model"]
    assert response["choices"][0]["message"]["content"] == sr["choices"][0]["message"]["content"]
    assert response["choices"][0]["finish_reason"] == sr["choices"][0]["finish_reason"]
    usage = response["usage"]
    assert usage["prompt_tokens"] == sr["usage"]["prompt_tokens"]
    assert usage["completion_tokens"] == sr["usage"]["completion_tokens"]
    assert usage["total_tokens"] == sr["usage"]["total_tokens"]
    if capture.kind != "traceloop-legacy":  # 0.40 recorded no cache or reasoning tokens for OpenAI
        assert usage["prompt_tokens_details"]["cached_tokens"] == sr["usage"]["prompt_tokens_details"]["cached_tokens"]
        reasoning = sr["usage"]["completion_tokens_details"]["reasoning_tokens"]
        assert usage["completion_tokens_details"]["reasoning_tokens"] == reasoning
    assert record["providerResponse"]["status"] == 200
    if capture.kind.startswith("traceloop"):
        assert record["providerRequest"]["url"].endswith(f":{served_port(capture)}/v1/chat/completions")
    meta = record["providerRequest"]["meta"]
    assert meta["Helicone-User-Id"] == "user-7"
    assert meta["Helicone-Session-Id"] == "sess-99"
    assert meta["Helicone-Property-tenant"] == "acme"
    assert meta["Helicone-Request-Id"] == record["id"]


def served_port(capture: Capture) -> int:
    for rs in capture.request.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                for kv in span.attributes:
                    if kv.key == "gen_ai.openai.api_base":
                        return int(kv.value.string_value.split(":")[2].split("/")[0])
    raise AssertionError("no api_base attribute")


def test_association_properties_and_helicone_style_keys(capture: Capture, mapped: MapResult) -> None:
    if not capture.kind.startswith("traceloop"):
        pytest.skip("association properties are OpenLLMetry's; OpenInference context is checked in test_openai_chat")
    meta = capture.record(mapped, "anthropic.chat")["providerRequest"]["meta"]
    assert meta["Helicone-Property-Env"] == "prod"  # from `Helicone-Property-Env`, not doubled
    assert "Helicone-Property-Helicone-Property-Env" not in meta
    assert meta["Helicone-Property-workflow"] == "anthropic.chat"


def test_openai_stream_with_usage_has_ttft(capture: Capture, mapped: MapResult) -> None:
    served = capture.scenario("openai.stream_usage")
    record = capture.record(mapped, "openai.stream_usage")
    request, response = record["providerRequest"]["json"], response_of(record)
    assert request["stream"] is True
    assert request["messages"] == served["request"]["messages"]
    assert response["choices"][0]["message"]["content"] == served["response"]["choices"][0]["message"]["content"]
    if capture.kind != "traceloop-legacy":
        assert response["usage"]["prompt_tokens"] == served["response"]["usage"]["prompt_tokens"]
        assert response["usage"]["completion_tokens"] == served["response"]["usage"]["completion_tokens"]
    timing = record["timing"]
    duration_ms = (timing["endTime"]["seconds"] - timing["startTime"]["seconds"]) * 1000 + (
        timing["endTime"]["milliseconds"] - timing["startTime"]["milliseconds"]
    )
    # OpenLLMetry records an event per chunk, OpenInference a "First Token Stream Event"
    assert 0 < timing["timeToFirstToken"] <= duration_ms


def test_openai_stream_without_usage_has_no_usage(capture: Capture, mapped: MapResult) -> None:
    record = capture.record(mapped, "openai.stream_no_usage")
    response = response_of(record)
    assert record["providerRequest"]["json"]["stream"] is True
    assert "usage" not in response  # the API sent none: unknown, not zero
    assert response["choices"][0]["message"]["content"]


def test_openai_tool_calls_and_tool_results(capture: Capture, mapped: MapResult) -> None:
    served = capture.scenario("openai.tool_call")
    record = capture.record(mapped, "openai.tool_call")
    request, response = record["providerRequest"]["json"], response_of(record)
    sent = served["request"]["messages"]
    assert request["messages"][0] == sent[0]
    assert request["messages"][1]["tool_calls"] == sent[1]["tool_calls"]
    assert request["messages"][2] == sent[2]  # {"role": "tool", "tool_call_id": ..., "content": ...}
    assert request["messages"][3] == sent[3]
    assert request["tools"] == served["request"]["tools"]
    got = response["choices"][0]
    want = served["response"]["choices"][0]
    assert got["message"]["tool_calls"][0]["id"] == want["message"]["tool_calls"][0]["id"]
    assert got["message"]["tool_calls"][0]["function"]["name"] == want["message"]["tool_calls"][0]["function"]["name"]
    assert json.loads(got["message"]["tool_calls"][0]["function"]["arguments"]) == json.loads(
        want["message"]["tool_calls"][0]["function"]["arguments"]
    )
    assert got["finish_reason"] == want["finish_reason"] == "tool_calls"


def test_openai_error_keeps_status_and_error(capture: Capture, mapped: MapResult) -> None:
    served = capture.scenario("openai.error")
    record = capture.record(mapped, "openai.error")
    assert record["providerResponse"]["status"] == served["status"] == 429
    error = response_of(record)["error"]
    assert error["message"] == served["response"]["error"]["message"]
    # The provider's own error type when the SDK's message carries the body, else the exception class.
    assert error["type"] in {"RateLimitError", served["response"]["error"]["type"]}
    assert record["providerRequest"]["json"]["messages"] == served["request"]["messages"]


def test_openai_embeddings(capture: Capture, mapped: MapResult) -> None:
    served = capture.scenario("openai.embeddings")
    record = capture.record(mapped, "openai.embeddings")
    assert record["providerRequest"]["url"].endswith("/embeddings")
    assert record["providerRequest"]["json"]["input"] == served["request"]["input"]
    usage = response_of(record)["usage"]
    assert usage["prompt_tokens"] == served["response"]["usage"]["prompt_tokens"]
    assert "data" not in response_of(record)  # vectors are not in spans: not invented


def test_openai_responses_api(capture: Capture, mapped: MapResult) -> None:
    if capture.kind == "traceloop-legacy":
        pytest.skip("traceloop-sdk 0.40 does not instrument the Responses API")
    served = capture.scenario("openai.responses")
    record = capture.record(mapped, "openai.responses")
    request, response = record["providerRequest"]["json"], response_of(record)
    assert record["providerRequest"]["url"].endswith("/v1/responses")
    assert request["instructions"] == served["request"]["instructions"]
    assert request["input"] == [{"role": "user", "content": served["request"]["input"]}]
    assert response["object"] == "response"
    assert response["output"][0]["content"][0]["text"] == served["response"]["output"][0]["content"][0]["text"]
    assert response["usage"] == {
        k: served["response"]["usage"][k]
        for k in (
            "input_tokens",
            "output_tokens",
            "total_tokens",
            "input_tokens_details",
            "output_tokens_details",
        )
    }


def test_anthropic_chat_is_anthropic_shaped(capture: Capture, mapped: MapResult) -> None:
    served = capture.scenario("anthropic.chat")
    record = capture.record(mapped, "anthropic.chat")
    request, response = record["providerRequest"]["json"], response_of(record)
    assert record["provider"] == "ANTHROPIC"
    assert request["model"] == served["request"]["model"]
    if capture.kind == "traceloop-legacy":
        assert "max_tokens" not in request  # OpenLLMetry 0.40 did not record it: not invented
    else:
        assert request["max_tokens"] == served["request"]["max_tokens"]
    assert request["system"] == served["request"]["system"]
    assert request["messages"] == served["request"]["messages"]
    sr = served["response"]
    assert response["id"] == sr["id"]
    assert response["content"] == sr["content"]
    assert response["stop_reason"] == sr["stop_reason"]
    # Anthropic's input_tokens exclude cache reads: 21, although the spans say 33 (= 21 + 12).
    assert response["usage"]["input_tokens"] == sr["usage"]["input_tokens"]
    assert response["usage"]["output_tokens"] == sr["usage"]["output_tokens"]
    assert response["usage"]["cache_read_input_tokens"] == sr["usage"]["cache_read_input_tokens"]
    assert record["providerRequest"]["url"].endswith("/v1/messages")


def test_anthropic_stream_uses_the_apis_final_usage(capture: Capture, mapped: MapResult) -> None:
    served = capture.scenario("anthropic.stream")
    if capture.kind == "traceloop-legacy":
        # OpenLLMetry 0.40 loses the whole response of `messages.stream()` (no id, no content, usage all
        # zero): the record keeps the request and says nothing about usage rather than "0 tokens".
        [record] = [
            r.value
            for r in mapped.records
            if r.value["providerRequest"]["meta"].get("Helicone-Property-workflow") == "anthropic.stream"
        ]
        assert record["providerRequest"]["json"]["messages"] == served["request"]["messages"]
        assert "usage" not in response_of(record)
        assert response_of(record)["content"] == []
        return
    record = capture.record(mapped, "anthropic.stream")
    request, response = record["providerRequest"]["json"], response_of(record)
    assert request["stream"] is True
    assert response["content"] == served["response"]["content"]
    assert response["usage"]["output_tokens"] == served["response"]["usage"]["output_tokens"]
    assert response["usage"]["input_tokens"] == served["response"]["usage"]["input_tokens"]
    assert record["timing"]["timeToFirstToken"] > 0  # from the Anthropic SDK's own span


def test_anthropic_tool_use(capture: Capture, mapped: MapResult) -> None:
    served = capture.scenario("anthropic.tool_call")
    record = capture.record(mapped, "anthropic.tool_call")
    request, response = record["providerRequest"]["json"], response_of(record)
    assert request["tools"] == served["request"]["tools"]
    assert response["content"] == served["response"]["content"]
    assert response["stop_reason"] == "tool_use"


def test_anthropic_error(capture: Capture, mapped: MapResult) -> None:
    if capture.kind == "traceloop-legacy":
        pytest.skip("OpenLLMetry 0.40's Anthropic instrumentation emits no span for a failed call")
    served = capture.scenario("anthropic.error")
    record = capture.record(mapped, "anthropic.error")
    assert record["providerResponse"]["status"] == served["status"] == 429
    assert response_of(record)["error"] == served["response"]["error"]


def test_record_ids_are_deterministic(capture: Capture, mapped: MapResult) -> None:
    again = map_request(capture.request)
    assert [r.id for r in again.records] == [r.id for r in mapped.records]
    for record in mapped.records:
        assert record.id == record_id(record.trace_id, record.span_id)
        assert record.value["id"] == record.id
    assert len({r.id for r in mapped.records}) == len(mapped.records)
