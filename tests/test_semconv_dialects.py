"""Dialects and cases no real instrumentation in this suite emits: hand-written OTLP.

The Vercel AI SDK is JavaScript, the span-event dialect comes from older Python instrumentations,
and broken values are what we must survive rather than what anyone emits on purpose.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from helicone_otel.semconv import MapOptions, map_request
from helicone_otel.semconv import mapper as mapper_module
from helicone_rules import stored_record
from otlp_builder import T0, request, span

from helicone_otel import contract

GENAI_CHAT = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]),
    "gen_ai.output.messages": json.dumps(
        [{"role": "assistant", "parts": [{"type": "text", "content": "hello"}], "finish_reason": "stop"}]
    ),
    "gen_ai.usage.input_tokens": 5,
    "gen_ai.usage.output_tokens": 2,
}


def only_record(req: Any, options: MapOptions | None = None) -> dict[str, Any]:
    result = map_request(req, options)
    assert result.failures == []
    assert len(result.records) == 1, [r.value for r in result.records]
    return result.records[0].value


# --- Vercel AI SDK -------------------------------------------------------------------------------


def test_vercel_do_generate_is_a_call_and_its_parent_is_not() -> None:
    trace = "0af7651916cd43dd8448eb211c80319c"
    parent = span(
        "ai.generateText",
        {"ai.operationId": "ai.generateText", "ai.model.id": "gpt-4o", "ai.usage.promptTokens": 99},
        trace_id=trace,
        span_id="b7ad6b7169203331",
    )
    child = span(
        "ai.generateText.doGenerate",
        {
            "ai.operationId": "ai.generateText.doGenerate",
            "ai.model.provider": "openai.chat",
            "ai.model.id": "gpt-4o",
            "ai.prompt.messages": json.dumps(
                [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
                ]
            ),
            "ai.prompt.tools": [json.dumps({"type": "function", "name": "weather", "inputSchema": {"type": "object"}})],
            "ai.response.toolCalls": json.dumps(
                [{"toolCallType": "function", "toolCallId": "c1", "toolName": "weather", "input": '{"q": 1}'}]
            ),
            "ai.response.finishReason": "tool-calls",
            "ai.response.id": "resp-1",
            "ai.response.model": "gpt-4o-2024-08-06",
            "ai.settings.temperature": 0.3,
            "ai.settings.maxOutputTokens": 256,
            "ai.usage.inputTokens": 40,
            "ai.usage.outputTokens": 7,
            "ai.usage.cachedInputTokens": 32,
            "ai.telemetry.metadata.userId": "u-1",
            "ai.telemetry.metadata.feature": "search",
        },
        trace_id=trace,
        parent="b7ad6b7169203331",
    )
    record = only_record(request(parent, child))
    req, resp = record["providerRequest"]["json"], record["providerResponse"]["json"]
    assert record["provider"] == "OPENAI"
    assert req["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather?"},
    ]
    assert req["tools"] == [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]
    assert (req["temperature"], req["max_tokens"], req["stream"]) == (0.3, 256, False)
    call = resp["choices"][0]["message"]["tool_calls"][0]
    assert call == {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"q": 1}'}}
    assert resp["choices"][0]["finish_reason"] == "tool_calls"
    assert resp["usage"] == {
        "prompt_tokens": 40,
        "completion_tokens": 7,
        "total_tokens": 47,
        "prompt_tokens_details": {"cached_tokens": 32},
    }
    meta = record["providerRequest"]["meta"]
    assert meta["Helicone-User-Id"] == "u-1"
    assert meta["Helicone-Property-feature"] == "search"


def test_vercel_stream_takes_ttft_from_ms_to_first_chunk() -> None:
    s = span(
        "ai.streamText.doStream",
        {
            "ai.operationId": "ai.streamText.doStream",
            "ai.model.provider": "anthropic.messages",
            "ai.model.id": "claude-haiku-4-5",
            "ai.prompt.messages": json.dumps([{"role": "user", "content": "hi"}]),
            "ai.response.text": "hello",
            "ai.response.finishReason": "stop",
            "ai.response.msToFirstChunk": 123.4,
            "ai.usage.promptTokens": 12,
            "ai.usage.completionTokens": 3,
        },
    )
    record = only_record(request(s))
    assert record["provider"] == "ANTHROPIC"
    assert record["providerRequest"]["json"]["stream"] is True
    assert "textBody" in record["providerResponse"]  # streams are SSE text: Helicone's stream readers read only that
    response = stored_record(record).response
    assert response["content"] == [{"type": "text", "text": "hello"}]
    assert response["stop_reason"] == "end_turn"
    assert record["timing"]["timeToFirstToken"] == 123


def test_vercel_7_failed_embed_is_one_record_from_its_call_span() -> None:
    """AI SDK 7 names `embed`'s operation span like its provider call, and a failure leaves both
    without usage: the operation span is told by `ai.value`. The custom tracer's scope is no hint."""
    attrs = {"gen_ai.operation.name": "embeddings", "gen_ai.provider.name": "openai",
             "gen_ai.request.model": "text-embedding-3-small", "ai.settings.context.userId": "u-1",
             "http.response.status_code": 429}  # fmt: skip
    name = "embeddings text-embedding-3-small"
    operation = span(name, {**attrs, "ai.value": '"hi"'}, error="Rate limit", scope="app")
    call = span(name, {**attrs, "ai.values": ['"hi"']}, error="Rate limit", scope="app")
    record = only_record(request(operation, call))
    assert record["providerRequest"]["json"]["input"] == ["hi"]
    assert record["providerResponse"]["status"] == 429
    assert record["providerRequest"]["meta"]["Helicone-User-Id"] == "u-1"


def test_vercel_legacy_open_telemetry_context() -> None:
    """@ai-sdk/otel's `LegacyOpenTelemetry` (AI SDK 7) writes AI SDK 6's spans, the runtime context in
    place of `ai.telemetry.metadata.*`."""
    s = span(
        "ai.generateText.doGenerate",
        {
            "ai.operationId": "ai.generateText.doGenerate",
            "ai.model.provider": "openai.chat",
            "ai.model.id": "gpt-4o",
            "ai.prompt.messages": json.dumps([{"role": "user", "content": "hi"}]),
            "ai.settings.context.userId": "u-1",
            "ai.settings.context.tenant": "acme",
        },
    )
    meta = only_record(request(s))["providerRequest"]["meta"]
    assert (meta["Helicone-User-Id"], meta["Helicone-Property-tenant"]) == ("u-1", "acme")


# --- span events, agents, legacy indexed forms --------------------------------------------------


def test_content_in_span_events() -> None:
    s = span(
        "chat gpt-4o",
        {"gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o"},
        events=[
            ("gen_ai.system.message", 1, {"content": "Be kind."}),
            ("gen_ai.user.message", 2, {"content": "hi"}),
            (
                "gen_ai.choice",
                400,
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": json.dumps({"role": "assistant", "content": "hey"}),
                },
            ),
        ],
    )
    record = only_record(request(s))
    assert record["providerRequest"]["json"]["messages"] == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "hi"},
    ]
    choice = record["providerResponse"]["json"]["choices"][0]
    assert choice == {"index": 0, "message": {"role": "assistant", "content": "hey"}, "finish_reason": "stop"}


def test_agent_tool_and_workflow_spans_are_not_calls() -> None:
    spans = [
        span(
            "invoke_agent planner",
            {"gen_ai.operation.name": "invoke_agent", "gen_ai.usage.input_tokens": 900},
        ),
        span("execute_tool search", {"gen_ai.operation.name": "execute_tool"}),
        span("wf", {"traceloop.span.kind": "workflow", "traceloop.entity.input": '{"trunc'}),
        span("chain", {"openinference.span.kind": "CHAIN", "input.value": "x"}),
        span("GET /", {"http.request.method": "GET"}),
    ]
    result = map_request(request(*spans))
    assert (result.spans, result.calls, len(result.records), result.failures) == (5, 0, 0, [])


def test_legacy_indexed_tool_calls_and_functions() -> None:
    s = span(
        "openai.chat",
        {
            "llm.request.type": "chat",
            "gen_ai.system": "OpenAI",
            "gen_ai.request.model": "gpt-4",
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": "weather?",
            "llm.request.functions.0.name": "weather",
            "llm.request.functions.0.parameters": '{"type": "object"}',
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.finish_reason": "tool_calls",
            "gen_ai.completion.0.tool_calls.0.id": "call_9",
            "gen_ai.completion.0.tool_calls.0.name": "weather",
            "gen_ai.completion.0.tool_calls.0.arguments": '{"city": "Oslo"}',
            "gen_ai.usage.prompt_tokens": "11",
            "gen_ai.usage.completion_tokens": "4",
            "llm.usage.total_tokens": "15",
        },
    )
    record = only_record(request(s))
    assert record["providerRequest"]["json"]["tools"] == [
        {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}
    ]
    message = record["providerResponse"]["json"]["choices"][0]["message"]
    assert message["tool_calls"] == [
        {"id": "call_9", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}}
    ]
    assert record["providerResponse"]["json"]["usage"] == {
        "prompt_tokens": 11,
        "completion_tokens": 4,
        "total_tokens": 15,
    }


def test_ttft_from_the_first_chunk_event() -> None:
    s = span(
        "openai.chat",
        {**GENAI_CHAT, "gen_ai.is_streaming": True},
        start_ms=0,
        events=[("gen_ai.content.completion.chunk", 87, {}), ("gen_ai.content.completion.chunk", 90, {})],
    )
    assert only_record(request(s))["timing"]["timeToFirstToken"] == 87


# --- bodies: multimodal, Anthropic cache arithmetic ------------------------------------------------


IMAGE_INPUT = json.dumps(
    [
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": "What is this?"},
                {"type": "uri", "modality": "image", "uri": "https://example.com/cat.png"},
                {"type": "blob", "modality": "image", "mime_type": "image/png", "content": "iVBORw0KGgo="},
            ],
        }
    ]
)


def test_images_in_openai_shape() -> None:
    record = only_record(request(span("chat", {**GENAI_CHAT, "gen_ai.input.messages": IMAGE_INPUT})))
    assert record["providerRequest"]["json"]["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]


def test_images_cache_tokens_and_reasoning_in_anthropic_shape() -> None:
    attrs = {
        **GENAI_CHAT,
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-opus-4-1",
        "gen_ai.input.messages": IMAGE_INPUT,
        "gen_ai.output.messages": json.dumps(
            [
                {
                    "role": "assistant",
                    "parts": [{"type": "reasoning", "content": "hmm"}, {"type": "text", "content": "A cat."}],
                    "finish_reason": "length",
                }
            ]
        ),
        "gen_ai.usage.input_tokens": 100,  # OTel: includes the 30 cache reads and 20 cache writes
        "gen_ai.usage.cache_read.input_tokens": 30,
        "gen_ai.usage.cache_creation.input_tokens": 20,
        "gen_ai.usage.output_tokens": 9,
    }
    record = only_record(request(span("chat", attrs)))
    assert record["providerRequest"]["json"]["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
    ]
    response = record["providerResponse"]["json"]
    assert response["content"] == [
        {"type": "thinking", "thinking": "hmm"},
        {"type": "text", "text": "A cat."},
    ]
    assert response["stop_reason"] == "max_tokens"
    assert response["usage"] == {
        "input_tokens": 50,
        "output_tokens": 9,
        "cache_read_input_tokens": 30,
        "cache_creation_input_tokens": 20,
    }


# --- providers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "model", "extra", "want_provider", "want_wire", "want_url"),
    [
        (
            "az.ai.openai",
            "gpt-4o",
            {"url.full": "https://acme.openai.azure.com/openai/deployments/x/chat/completions"},
            "AZURE",
            "openai",
            "https://acme.openai.azure.com/openai/deployments/x/chat/completions",
        ),
        (
            "aws.bedrock",
            "anthropic.claude-3-5-sonnet",
            {},
            "AWS",
            "anthropic",
            "https://bedrock-runtime.{region}.amazonaws.com/model/anthropic.claude-3-5-sonnet/invoke",
        ),
        (
            "aws.bedrock",
            "amazon.nova-pro-v1:0",
            {},
            "AWS",
            "anthropic",
            "https://bedrock-runtime.{region}.amazonaws.com/model/amazon.nova-pro-v1%3A0/invoke",
        ),
        (
            "gcp.gemini",
            "gemini-2.5-flash",
            {},
            "GOOGLE",
            "gemini",
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent",
        ),
        ("groq", "llama-3.3-70b", {}, "GROQ", "openai", "https://api.groq.com/openai/v1/chat/completions"),
        (
            "mistral_ai",
            "mistral-large",
            {},
            "MISTRAL",
            "openai",
            "https://api.mistral.ai/v1/chat/completions",
        ),
        ("cohere", "command-r", {}, "COHERE", "openai", "https://api.cohere.com/compatibility/v1/chat/completions"),
        (
            "openai",
            "meta-llama/Llama-3.3-70B-Instruct-Turbo",
            {"gen_ai.openai.api_base": "https://api.together.xyz/v1"},
            "TOGETHER",
            "openai",
            "https://api.together.xyz/v1/chat/completions",
        ),
        (
            "openai",
            "gpt-4o",
            {"url.full": "https://acme.cognitiveservices.azure.com/openai/deployments/x/chat/completions"},
            "AZURE",
            "openai",
            "https://acme.cognitiveservices.azure.com/openai/deployments/x/chat/completions",
        ),
        ("Ollama", "llama3", {}, "CUSTOM", "openai", "http://localhost:11434/v1/chat/completions"),
        (
            "openai",
            "meta-llama/llama-3",
            {"gen_ai.openai.api_base": "https://openrouter.ai/api/v1"},
            "OPENROUTER",
            "openai",
            "https://openrouter.ai/api/v1/chat/completions",
        ),
        ("someone-new", "m1", {}, "CUSTOM", "openai", "/chat/completions"),
    ],
)
def test_provider_names_and_wire_formats(
    provider: str, model: str, extra: dict[str, Any], want_provider: str, want_wire: str, want_url: str | None
) -> None:
    attrs = {**GENAI_CHAT, "gen_ai.provider.name": provider, "gen_ai.request.model": model, **extra}
    record = only_record(request(span("chat", attrs)))
    assert record["provider"] == want_provider
    response = record["providerResponse"]["json"]
    assert ("content" in response) == (want_wire == "anthropic")
    assert ("choices" in response) == (want_wire == "openai")
    assert ("candidates" in response) == (want_wire == "gemini")
    if want_url is not None:
        assert record["providerRequest"]["url"] == want_url
    stored = stored_record(record)  # what Helicone's pipeline makes of it on the route it is sent to
    assert stored.provider == want_provider
    assert (stored.prompt_tokens, stored.completion_tokens) == (5, 2)
    assert stored.priced == (want_provider != "CUSTOM")


# --- errors as each SDK version words them ---------------------------------------------------------

ANTHROPIC_CHAT = {**GENAI_CHAT, "gen_ai.provider.name": "anthropic", "gen_ai.request.model": "claude-x"}


@pytest.mark.parametrize(
    ("wording", "want"),
    [
        # anthropic < 2.17: the body after "Error code: N - ", as Python's repr of a dict
        ("Error code: 429 - {'type': 'error', 'error': {'type': 'rate_limit_error', 'message': 'Slow down'}}",
         (429, "rate_limit_error", "Slow down")),
        # anthropic >= 2.17 (_error_classes.make_status_error): "N message (facts)", facts in a fixed order
        ("429 Slow down (request_id: req_011, path: /v1/messages, type: rate_limit_error)",
         (429, "rate_limit_error", "Slow down")),
        ("529 Overloaded (see status) (error_code: overloaded_now, path: /v1/messages, type: overloaded_error)"
         '\n\n{\n  "error_code": "overloaded_now",\n  "retry": true\n}',
         (529, "overloaded_error", "Overloaded (see status)")),
        ("400 status code (no body) (path: /v1/messages)", (400, "RateLimitError", "status code (no body)")),
    ],
)  # fmt: skip
def test_anthropic_sdk_error_wordings_give_the_providers_type_message_and_status(
    wording: str, want: tuple[int, str, str]
) -> None:
    result = map_request(request(span("chat", {**ANTHROPIC_CHAT, "error.type": "RateLimitError"}, error=wording)))
    value = result.records[0].value
    error = value["providerResponse"]["json"]["error"]
    assert (value["providerResponse"]["status"], error["type"], error["message"]) == want


# --- content that does not parse ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "raw"),
    [
        ("gen_ai.input.messages", "[1,2"),  # JSON cut short
        ("gen_ai.input.messages", "[1,2,3]"),  # a list, but of no messages
        ("gen_ai.output.messages", '{"role": "assistant", "parts": []}'),  # an object where a list belongs
    ],
)
def test_content_that_does_not_parse_is_kept_raw_and_marked(key: str, raw: str) -> None:
    attrs = {**GENAI_CHAT, key: raw}
    result = map_request(request(span("chat", attrs)))
    record = result.records[0]
    request_json, response_json = record.value["providerRequest"]["json"], record.value["providerResponse"]["json"]
    if key == "gen_ai.input.messages":
        assert request_json["messages"] == [{"role": "user", "content": raw}]
        assert response_json["choices"][0]["message"]["content"] == "hello"  # the rest of the span is kept
    else:
        assert response_json["choices"][0]["message"]["content"] == raw
        assert request_json["messages"][0]["content"] == "hi"
    assert record.unparsed == (key,)
    assert (contract.UNPARSED, key.encode()) in record.headers()


def test_empty_content_is_not_marked_unparsed() -> None:
    for empty in ("[]", "", "null"):
        attrs = {**GENAI_CHAT, "gen_ai.output.messages": empty}
        record = map_request(request(span("chat", attrs))).records[0]
        assert record.unparsed == ()
        assert contract.UNPARSED not in dict(record.headers())


# --- duplicates ----------------------------------------------------------------------------------


def test_native_sdk_error_span_in_another_trace_merges_by_time_containment() -> None:
    instrumented = span(
        "anthropic.chat",
        {
            **GENAI_CHAT,
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-x",
            "gen_ai.output.messages": "[]",
            "error.type": "RateLimitError",
        },
        start_ms=0,
        end_ms=300,
        error="Error code: 429 - {'type': 'error', 'error': {'type': 'rate_limit_error'}}",
    )
    native = span(
        "anthropic.messages.create",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-x",
            "http.response.status_code": "429",
            "error.type": "rate_limit_error",
        },
        start_ms=10,
        end_ms=290,
        error="",
        scope="com.anthropic.sdk.python",
    )
    result = map_request(request(instrumented, native))
    assert (len(result.records), result.duplicates) == (1, 1)
    record = result.records[0]
    assert record.span_id == instrumented[1].span_id.hex()  # built from the richer span
    assert record.value["providerResponse"]["status"] == 429
    assert record.value["providerResponse"]["json"]["error"]["type"] == "rate_limit_error"


def test_two_calls_of_one_model_in_parallel_are_not_merged_without_a_response_id() -> None:
    a = span("chat", {**GENAI_CHAT, "gen_ai.response.id": "a"}, start_ms=0, end_ms=100)
    b = span("chat", {**GENAI_CHAT, "gen_ai.response.id": "b"}, start_ms=10, end_ms=90)
    c = span("chat", GENAI_CHAT, start_ms=20, end_ms=80)
    assert len(map_request(request(a, b, c)).records) == 3


# --- broken input ----------------------------------------------------------------------------------


def test_broken_values_map_with_what_is_usable() -> None:
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": ["not", "a", "string"],
        "gen_ai.response.model": "gpt-4o-mini",
        # truncated at the attribute length limit:
        "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", "content": "cut he',
        "gen_ai.prompt.0.role": "user",
        "gen_ai.prompt.0.content": "fallback prompt",
        "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": "not-a-list"}, 7, None]),
        "gen_ai.usage.input_tokens": "12",
        "gen_ai.usage.output_tokens": "lots",
        "gen_ai.usage.total_tokens": True,
        "gen_ai.request.temperature": "0.5",
        "gen_ai.request.max_tokens": float("nan"),
        "gen_ai.response.finish_reasons": {"weird": "kvlist"},
        "gen_ai.tool.definitions": '[{"name": ""}, "junk", {"type": "function", "name": "ok"}]',
        "traceloop.association.properties.user_id": b"\xff\xfe",
    }
    record = only_record(request(span("chat", attrs)))
    req, resp = record["providerRequest"]["json"], record["providerResponse"]["json"]
    assert req["model"] == "gpt-4o-mini"  # the request model was unusable: the response model stands in
    assert req["messages"] == [{"role": "user", "content": "fallback prompt"}]
    assert req["temperature"] == 0.5
    assert "max_tokens" not in req
    assert req["tools"] == [{"type": "function", "function": {"name": "ok"}}]
    assert resp["usage"] == {"prompt_tokens": 12}
    # A message whose parts are not a list keeps its role and no content; 7 and null are not messages.
    assert resp["choices"] == [{"index": 0, "message": {"role": "assistant", "content": None}, "finish_reason": None}]
    assert "Helicone-User-Id" not in record["providerRequest"]["meta"]


def test_a_span_that_fails_to_map_is_reported_and_the_batch_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    real = mapper_module.dialect_genai.read

    def flaky(s: Any) -> Any:
        if s.name == "poison":
            raise RuntimeError("boom")
        return real(s)

    monkeypatch.setattr(mapper_module.dialect_genai, "read", flaky)
    good, bad = span("chat", GENAI_CHAT), span("poison", GENAI_CHAT)
    result = map_request(request(good, bad))
    assert len(result.records) == 1
    assert [(f.span_name, f.span_id, f.error) for f in result.failures] == [
        ("poison", bad[1].span_id.hex(), "RuntimeError: boom")
    ]


def test_end_before_start_is_clamped_so_start_is_never_after_end() -> None:
    record = only_record(request(span("chat", GENAI_CHAT, start_ms=500, end_ms=100)))
    assert record["timing"]["endTime"] == record["timing"]["startTime"]
    assert record["timing"]["startTime"] == {
        "seconds": (T0 // 1_000_000 + 500) // 1000,
        "milliseconds": (T0 // 1_000_000 + 500) % 1000,
    }


# --- privacy and context options ---------------------------------------------------------------


def test_omit_bodies_keeps_model_and_usage() -> None:
    options = MapOptions(omit_request=True, omit_response=True)
    record = only_record(request(span("chat", {**GENAI_CHAT, "gen_ai.request.temperature": 0.1})), options)
    assert record["providerRequest"]["json"] == {"model": "gpt-4o-mini", "temperature": 0.1}
    assert record["providerResponse"]["json"] == {
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }
    meta = record["providerRequest"]["meta"]
    assert (meta["Helicone-Omit-Request"], meta["Helicone-Omit-Response"]) == ("true", "true")


def test_redaction_of_patterns_and_attributes() -> None:
    attrs = {
        **GENAI_CHAT,
        "gen_ai.input.messages": json.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": "mail bob@example.com, card 4111 1111"}]}]
        ),
        "traceloop.association.properties.email": "bob@example.com",
    }
    options = MapOptions(redact_patterns=(r"[\w.]+@[\w.]+", r"\d{4} \d{4}"), redact_attributes=("gen_ai.output.*",))
    record = only_record(request(span("chat", attrs)), options)
    assert record["providerRequest"]["json"]["messages"][0]["content"] == "mail [REDACTED], card [REDACTED]"
    assert record["providerRequest"]["meta"]["Helicone-Property-email"] == "[REDACTED]"
    assert record["providerResponse"]["json"]["choices"] == []  # output attributes were removed
    assert "bob@" not in json.dumps(record)


def test_invalid_redaction_pattern_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="redact_patterns"):
        MapOptions(redact_patterns=("(unclosed",))


def test_resource_attributes_as_properties_and_helicone_style_keys() -> None:
    attrs = {
        **GENAI_CHAT,
        "traceloop.association.properties.Helicone-User-Id": "explicit-user",
        "traceloop.association.properties.user_id": "plain-user",
        "traceloop.association.properties.Helicone-Session-Path": "/a/b",
        "traceloop.association.properties.Helicone-Prompt-Id": "p-1",
        "gen_ai.conversation.id": "conv-1",
    }
    options = MapOptions(resource_properties=("service.name", "deployment.environment"))
    req = request(span("chat", attrs), resource={"service.name": "checkout", "deployment.environment": "prod"})
    meta = only_record(req, options)["providerRequest"]["meta"]
    assert meta["Helicone-User-Id"] == "explicit-user"  # Helicone-style keys win
    assert meta["Helicone-Session-Path"] == "/a/b"
    assert meta["Helicone-Prompt-Id"] == "p-1"
    assert meta["Helicone-Session-Id"] == "conv-1"
    assert meta["Helicone-Property-service.name"] == "checkout"
    assert meta["Helicone-Property-deployment.environment"] == "prod"


def test_openinference_falls_back_to_raw_input_and_output_values() -> None:
    s = span(
        "ChatCompletion",
        {
            "openinference.span.kind": "LLM",
            "llm.provider": "openai",
            "input.value": json.dumps(
                {"model": "gpt-4o", "messages": [{"role": "user", "content": "yo"}], "stream": True}
            ),
            "input.mime_type": "application/json",
            "output.value": json.dumps(
                {
                    "id": "chatcmpl-9",
                    "model": "gpt-4o-1",
                    "choices": [{"message": {"role": "assistant", "content": "sup"}}],
                }
            ),
            "output.mime_type": "application/json",
            "llm.token_count.prompt": 3,
            "tag.tags": ["a", "b"],
        },
    )
    record = only_record(request(s))
    assert record["providerRequest"]["json"]["messages"] == [{"role": "user", "content": "yo"}]
    assert record["providerRequest"]["json"]["stream"] is True
    response = stored_record(record).response
    assert response["id"] == "chatcmpl-9"
    assert response["choices"][0]["message"]["content"] == "sup"
    assert record["providerRequest"]["meta"]["Helicone-Property-tags"] == "a,b"


def test_content_in_operation_details_and_legacy_content_events() -> None:
    messages = [{"role": "user", "parts": [{"type": "text", "content": "ping"}]}]
    output = [{"role": "assistant", "parts": [{"type": "text", "content": "pong"}], "finish_reason": "stop"}]
    details = span(
        "chat",
        {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o"},
        events=[
            (
                "gen_ai.client.inference.operation.details",
                300,
                {"gen_ai.input.messages": json.dumps(messages), "gen_ai.output.messages": json.dumps(output)},
            )
        ],
    )
    legacy = span(
        "chat",
        {"gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o-legacy"},
        events=[
            ("gen_ai.content.prompt", 1, {"gen_ai.prompt": json.dumps([{"role": "user", "content": "ping"}])}),
            (
                "gen_ai.content.completion",
                2,
                {"gen_ai.completion": json.dumps([{"role": "assistant", "content": "pong"}])},
            ),
        ],
    )
    result = map_request(request(details, legacy))
    assert len(result.records) == 2
    for record in result.records:
        assert record.value["providerRequest"]["json"]["messages"] == [{"role": "user", "content": "ping"}]
        assert record.value["providerResponse"]["json"]["choices"][0]["message"]["content"] == "pong"


# --- evaluation events: Helicone scores ------------------------------------------------------------


def test_evaluation_events_become_scores_helicone_accepts() -> None:
    def evaluation(name: str, **attrs: Any) -> tuple[str, int, dict[str, Any]]:
        return ("gen_ai.evaluation.result", 10, {"gen_ai.evaluation.name": name, **attrs})

    call = span("chat", {**GENAI_CHAT, "gen_ai.response.id": "chatcmpl-1"}, span_id="00000000000000c1", events=[
        evaluation("relevance", **{"gen_ai.evaluation.score.value": 0.874}),
        evaluation("stars", **{"gen_ai.evaluation.score.value": 4.0}),
        evaluation("faithful", **{"gen_ai.evaluation.score.label": "Fail"}),
        evaluation("tone", **{"gen_ai.evaluation.score.label": "friendly"}),  # no number, no pass/fail: no score
    ])  # fmt: skip
    later = span("evaluate", {}, events=[evaluation("judge", **{"gen_ai.evaluation.score.value": 1,
                                                                "gen_ai.response.id": "chatcmpl-1"})])  # fmt: skip
    child = span("grade", {}, parent="00000000000000c1", events=[evaluation("child", **{
        "gen_ai.evaluation.score.value": 2})])  # fmt: skip
    [record] = map_request(request(call, later, child)).records
    assert record.scores == {"relevance_x100": 87, "stars": 4, "faithful": False, "judge": 1, "child": 2}
    header = dict(record.headers())["helicone-scores"]
    assert json.loads(header) == record.scores
    assert "scores" not in record.value  # the async-log body stays what Helicone's log routes accept


# --- OTel GenAI semantic conventions after 1.41 ------------------------------------------------------


def test_the_newest_genai_names() -> None:
    """cache_write (was cache_creation), time_to_first_chunk, request.stream, reasoning / blob / uri /
    file parts, finish_reasons and conversation.id, as semantic-conventions-genai writes them."""
    inputs = [{"role": "user", "parts": [
        {"type": "text", "content": "Compare these"},
        {"type": "blob", "modality": "image", "mime_type": "image/png", "content": "iVBORw0KGgo="},
        {"type": "uri", "modality": "image", "mime_type": "image/jpeg", "uri": "https://example.com/a.jpg"},
        {"type": "file", "modality": "document", "mime_type": "application/pdf", "file_id": "file-abc"},
    ]}]  # fmt: skip
    reasoning = {"type": "reasoning", "content": "Looking at both..."}
    outputs = [
        {
            "role": "assistant",
            "finish_reason": "stop",
            "parts": [reasoning, {"type": "text", "content": "They differ."}],
        }
    ]
    attrs = {
        **GENAI_CHAT, "gen_ai.provider.name": "anthropic", "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.input.messages": json.dumps(inputs), "gen_ai.output.messages": json.dumps(outputs),
        "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 20,
        "gen_ai.usage.cache_read.input_tokens": 60, "gen_ai.usage.cache_write.input_tokens": 30,
        "gen_ai.request.stream": True, "gen_ai.response.time_to_first_chunk": 0.25,
        "gen_ai.response.finish_reasons": ["stop"], "gen_ai.conversation.id": "conv-1",
    }  # fmt: skip
    record = only_record(request(span("chat", attrs)))
    content = record["providerRequest"]["json"]["messages"][0]["content"]
    assert [b["type"] for b in content] == ["text", "image", "image", "document"]
    assert content[1]["source"] == {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
    assert content[3]["source"] == {"type": "file", "file_id": "file-abc"}
    assert record["providerRequest"]["meta"]["Helicone-Session-Id"] == "conv-1"
    assert record["timing"]["timeToFirstToken"] == 250
    stored = stored_record(record)
    assert stored.is_stream
    assert stored.response["content"][0] == {"type": "thinking", "thinking": "Looking at both..."}
    assert stored.response["stop_reason"] == "end_turn"
    # Anthropic counts input without cache: 100 - 60 read - 30 written = 10, each cache count apart
    assert stored.response["usage"] == {"input_tokens": 10, "cache_read_input_tokens": 60,
                                        "cache_creation_input_tokens": 30, "output_tokens": 20}  # fmt: skip
    assert (stored.prompt_tokens, stored.cache_read_tokens) == (100, 60)


def test_record_ids_are_uuid5_of_trace_and_span_in_lower_case() -> None:
    import uuid

    from helicone_otel.semconv import record_id
    from helicone_otel.semconv.record import _NAMESPACE

    trace, span_id = "0AF7651916CD43DD8448EB211C80319C", "B7AD6B7169203331"
    expected = str(uuid.uuid5(_NAMESPACE, "0af7651916cd43dd8448eb211c80319c:b7ad6b7169203331"))
    assert record_id(trace, span_id) == record_id(trace.lower(), span_id.lower()) == expected


def test_spans_that_cannot_matter_are_counted_but_not_read() -> None:
    """The pre-filter decides on a span's encoding: no dialect key, no record and no conversion; an HTTP
    client span is read only beside a call (it completes the call's URL); a value that merely mentions
    a dialect key costs a closer look, nothing more."""
    from helicone_otel.semconv.span import relevant_spans

    http_attrs = {"http.request.method": "POST", "url.full": "https://bedrock-runtime.us-east-1.amazonaws.com/x"}
    parent = "00f067aa0ba902b7"
    plain = [span("GET /", {"http.route": "/", "http.response.status_code": 200}) for _ in range(3)]
    http_child = span("POST", http_attrs, parent=parent)
    mention = span("note", {"message": "see the gen_ai.usage docs"})
    views, total = relevant_spans(request(*plain, http_child))
    assert (views, total) == ([], 4)
    views, total = relevant_spans(request(*plain, http_child, mention))
    assert total == 5 and [v.name for v in views] == ["POST", "note"]
    result = map_request(request(*plain, mention))
    assert (result.spans, result.records, result.failures) == (4, [], [])
    chat = span("chat", GENAI_CHAT, span_id=parent)
    views, _ = relevant_spans(request(*plain, chat, http_child))
    assert [v.name for v in views] == ["chat", "POST"]


def test_key_families_are_found_by_whole_key_prefix_only() -> None:
    """`has_prefix` (which lets `indexed` / `with_prefix` skip a span without the family) matches a key's
    start, the first key's too, and never the middle of another key."""
    from helicone_otel.semconv.span import SpanView

    attrs = {"gen_ai.prompt.0.role": "user", "x.gen_ai.completion.0.content": "no", "gen_ai.completion.0.content": "hi"}
    view = SpanView("t", "s", "", "chat", "scope", 0, 1, 0, "", attrs)
    assert view.has_prefix("gen_ai.prompt.") and view.has_prefix("gen_ai.completion.")
    assert not view.has_prefix("completion.") and not view.has_prefix("llm.request.functions.")
    assert view.indexed("gen_ai.completion") == [{"content": "hi"}]
    assert view.indexed("llm.request.functions") == []
    assert view.with_prefix("x.") == {"gen_ai.completion.0.content": "no"}
    assert view.with_prefix("gen_ai.completion.0.") == {"content": "hi"}
    # a copy with other attributes (redaction, a merged call's timing) finds its own keys, not the original's
    redacted = dataclasses.replace(view, attrs={"llm.request.functions.0.name": "f"})
    assert redacted.has_prefix("llm.request.functions.") and not redacted.has_prefix("gen_ai.prompt.")
