"""One test per rule of the record contract that decides whether Helicone prices a record (route,
shape, stream text, URL, model override), each read back through `helicone_rules.stored`, which does
what Helicone's worker and jawn code do with a posted body. Breaking a rule fails its test: a stream
sent as JSON loses its Anthropic usage, a Bedrock call on a worker route is stored as CUSTOM, ..."""

from __future__ import annotations

import json
from typing import Any

import pytest
from helicone_otel.semconv import map_request
from helicone_rules import stored, stored_record
from otlp_builder import request, span

from helicone_otel.contract import CUSTOM_TRACE_PATH, log_route

MESSAGES = json.dumps([{"role": "user", "parts": [{"type": "text", "content": "hi"}]}])
OUTPUT = json.dumps(
    [{"role": "assistant", "parts": [{"type": "text", "content": "hello there"}], "finish_reason": "stop"}]
)


def call(provider: str, model: str, **extra: Any) -> dict[str, Any]:
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        "gen_ai.input.messages": MESSAGES,
        "gen_ai.output.messages": OUTPUT,
        "gen_ai.usage.input_tokens": 40,
        "gen_ai.usage.output_tokens": 7,
        "gen_ai.usage.cache_read.input_tokens": 30,
        **extra,
    }
    error = attrs.pop("error", None)
    result = map_request(request(span("chat", attrs, error=error)))
    assert result.failures == [] and len(result.records) == 1
    return result.records[0].value


@pytest.mark.parametrize(
    ("provider", "host", "path"),
    [
        ("OPENAI", "worker", "/oai/v1/log"),
        ("ANTHROPIC", "worker", "/anthropic/v1/log"),
        ("GOOGLE", "worker", "/googleapis/v1/log"),
        ("CUSTOM", "worker", "/custom/v1/log"),
        ("AZURE", "api", CUSTOM_TRACE_PATH),
        ("AWS", "api", CUSTOM_TRACE_PATH),
        ("COHERE", "api", CUSTOM_TRACE_PATH),
        ("TOGETHER", "api", CUSTOM_TRACE_PATH),
    ],
)
def test_the_route_is_the_one_that_stores_the_records_provider(provider: str, host: str, path: str) -> None:
    route = log_route(provider)
    assert (route.host, route.path) == (host, path)
    assert route.url("https://w.example", "https://a.example").startswith(f"https://{host[0]}.example/")


def test_a_custom_route_record_would_lose_its_cost() -> None:
    """Why the rule exists: the worker's custom route stores every provider as CUSTOM (no cost)."""
    record = call("azure.ai.openai", "gpt-4o")
    assert stored("/custom/v1/log", record).priced is False
    assert stored_record(record).priced is True
    assert stored_record(record).provider == "AZURE"


@pytest.mark.parametrize(
    ("provider", "model", "stored_provider"),
    [
        ("openai", "gpt-4o-mini", "OPENAI"),
        ("anthropic", "claude-sonnet-4-5", "ANTHROPIC"),
        ("gcp.gemini", "gemini-2.5-flash", "GOOGLE"),
        ("groq", "llama-3.3-70b-versatile", "GROQ"),
        ("mistral_ai", "mistral-large-latest", "MISTRAL"),
    ],
)
def test_streams_carry_the_providers_sse_text_with_usage(provider: str, model: str, stored_provider: str) -> None:
    record = call(provider, model, **{"gen_ai.request.stream": True, "gen_ai.response.time_to_first_chunk": 0.12})
    response = record["providerResponse"]
    assert response["json"] == {} and response["textBody"].startswith(("data: ", "event: "))
    assert record["providerRequest"]["json"]["stream"] is True
    assert record["timing"]["timeToFirstToken"] == 120
    got = stored_record(record)
    assert got.is_stream and got.provider == stored_provider
    assert (got.prompt_tokens, got.completion_tokens, got.cache_read_tokens) == (40, 7, 30)
    assert got.text == "hello there"
    assert got.priced


def test_an_anthropic_stream_as_json_would_not_be_priced() -> None:
    """Helicone's Anthropic stream reader reads SSE only: the JSON form of the same call loses usage."""
    record = call("anthropic", "claude-sonnet-4-5", **{"gen_ai.request.stream": True})
    got = stored_record(record)
    assert got.prompt_tokens == 40 and got.priced
    assert "usage" not in got.response or got.response["usage"]["input_tokens"] == 10  # 40 - 30 cache reads


def test_together_streams_say_usage_null_until_the_last_chunk() -> None:
    record = call("openai", "meta-llama/Llama-3.3-70B-Instruct-Turbo", **{
        "gen_ai.request.stream": True, "gen_ai.openai.api_base": "https://api.together.xyz/v1",
    })  # fmt: skip
    frames = [line[6:] for line in record["providerResponse"]["textBody"].splitlines() if line.startswith("data: ")]
    chunks = [json.loads(f) for f in frames if f != "[DONE]"]
    assert frames[-1] == "[DONE]"
    assert all("usage" in c for c in chunks)
    assert [c["usage"] is None for c in chunks] == [True] * (len(chunks) - 1) + [False]
    assert stored_record(record).priced


def test_gemini_is_written_in_its_native_shape_with_tools_and_usage() -> None:
    tools = json.dumps([{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}])
    # the latest conventions count the reasoning tokens within the output tokens (11 = 7 candidates + 4 thoughts, as
    # the official google-genai instrumentation reports them); Gemini's own candidatesTokenCount leaves them out
    record = call("gcp.gemini", "gemini-2.5-flash", **{"gen_ai.tool.definitions": tools,
                                                       "gen_ai.usage.output_tokens": 11,
                                                       "gen_ai.usage.reasoning.output_tokens": 4})  # fmt: skip
    body = record["providerRequest"]["json"]
    assert body["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]
    assert body["tools"] == [{"functionDeclarations": [{"name": "get_weather", "parameters": {"type": "object"}}]}]
    response = record["providerResponse"]["json"]
    assert response["candidates"][0]["content"] == {"role": "model", "parts": [{"text": "hello there"}]}
    assert response["candidates"][0]["finishReason"] == "STOP"
    assert response["usageMetadata"] == {"promptTokenCount": 40, "candidatesTokenCount": 7, "totalTokenCount": 51,
                                         "cachedContentTokenCount": 30, "thoughtsTokenCount": 4}  # fmt: skip
    got = stored_record(record)
    assert got.model == "gemini-2.5-flash"  # from the URL path: Gemini's body names only modelVersion
    assert (got.prompt_tokens, got.completion_tokens) == (40, 7)


def test_a_gemini_rate_limit_keeps_its_429() -> None:
    record = call("gcp.gemini", "gemini-2.5-flash", **{
        "gen_ai.output.messages": "[]", "error": "429 RESOURCE_EXHAUSTED. {'error': {'code': 429, 'message': "
        "'Resource has been exhausted', 'status': 'RESOURCE_EXHAUSTED'}}", "error.type": "ClientError",
    })  # fmt: skip
    assert record["providerResponse"]["status"] == 429
    assert record["providerResponse"]["json"]["error"]["status"] == "RESOURCE_EXHAUSTED"


@pytest.mark.parametrize(
    ("model", "override"),
    [
        ("anthropic.claude-3-5-haiku-20241022-v1:0", "anthropic.claude-3-5-haiku-20241022-v1:0"),
        ("us.amazon.nova-lite-v1:0", "us.amazon.nova-lite-v1%3A0"),
        ("meta.llama3-8b-instruct-v1:0", "meta.llama3-8b-instruct-v1%3A0"),
    ],
)
def test_bedrock_records_name_the_model_as_helicone_prices_it(model: str, override: str) -> None:
    record = call("aws.bedrock", model)
    meta = record["providerRequest"]["meta"]
    assert meta["Helicone-Model-Override"] == override
    assert record["providerRequest"]["url"].endswith(f"/model/{model.replace(':', '%3A')}/invoke")
    got = stored_record(record)
    assert got.provider == "AWS" and got.model == override
    # Bedrock's usage reader reads Anthropic's names: input without cache reads, cache reads apart
    assert record["providerResponse"]["json"]["usage"] == {"input_tokens": 10, "output_tokens": 7,
                                                           "cache_read_input_tokens": 30}  # fmt: skip
    assert (got.prompt_tokens, got.completion_tokens, got.cache_read_tokens) == (40, 7, 30)
    assert got.priced


def test_a_bedrock_stream_is_sent_as_json_on_the_streaming_url() -> None:
    record = call("aws.bedrock", "anthropic.claude-3-5-haiku-20241022-v1:0", **{"gen_ai.request.stream": True})
    assert record["providerRequest"]["url"].endswith("/invoke-with-response-stream")
    assert "stream" not in record["providerRequest"]["json"]  # Bedrock picks streaming by URL, not by body
    assert record["providerResponse"]["json"]["usage"]["output_tokens"] == 7
    assert stored_record(record).priced


def test_an_error_record_names_its_model() -> None:
    record = call("openai", "gpt-4o-mini", **{"gen_ai.output.messages": "[]", "gen_ai.usage.input_tokens": 0,
                                               "gen_ai.usage.output_tokens": 0, "error": "Error code: 429 - slow down",
                                               "gen_ai.usage.cache_read.input_tokens": 0})  # fmt: skip
    assert record["providerResponse"]["status"] == 429
    assert "model" not in record["providerResponse"]["json"]
    assert stored_record(record).model == "gpt-4o-mini"  # by Helicone-Model-Override; else ""
    assert record["providerRequest"]["meta"]["Helicone-Model-Override"] == "gpt-4o-mini"


def test_a_users_own_model_override_is_kept() -> None:
    record = call("aws.bedrock", "us.amazon.nova-lite-v1:0", **{
        "traceloop.association.properties.Helicone-Model-Override": "my-model"})  # fmt: skip
    assert record["providerRequest"]["meta"]["Helicone-Model-Override"] == "my-model"
