"""Records of provider SDKs beyond OpenAI and Anthropic (boto3 bedrock-runtime, google-genai, the OpenAI
SDK's AzureOpenAI, cohere, mistralai, the OpenAI SDK on Together's and Groq's hosts), instrumented by
traceloop-sdk and driven against the fake provider, read back the
way Helicone's pipeline reads them (`helicone_rules.stored_record`): each must be stored with its
provider, the model Helicone prices, and the tokens the provider answered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import Capture, run_capture
from helicone_otel.semconv import MapResult, map_request
from helicone_rules import Stored, stored_record


@pytest.fixture(scope="module")
def providers(tmp_path_factory: pytest.TempPathFactory) -> Capture:
    return run_capture("providers", Path(tmp_path_factory.mktemp("providers")))


@pytest.fixture(scope="module")
def mapped(providers: Capture) -> MapResult:
    return map_request(providers.request)


def by_scenario(mapped: MapResult, scenario: str) -> dict[str, Any]:
    found = [
        r.value
        for r in mapped.records
        if r.value["providerRequest"]["meta"].get("Helicone-Property-workflow") == scenario
    ]
    assert len(found) == 1, f"{scenario}: {len(found)} records"
    return found[0]


def test_one_record_per_call_and_none_for_http_spans(providers: Capture, mapped: MapResult) -> None:
    assert mapped.failures == []
    assert len(mapped.records) == len(providers.served) - 2  # botocore retried the throttled call twice
    # botocore's own HTTP spans (urllib3) are in the trace; they complete the Bedrock records, never add one
    assert sum(1 for rs in providers.request.resource_spans for ss in rs.scope_spans for s in ss.spans
               if s.name == "POST") >= 5  # fmt: skip


def test_bedrock_claude_invoke_model(providers: Capture, mapped: MapResult) -> None:
    served = providers.scenario("bedrock.claude")
    record = by_scenario(mapped, "bedrock.claude")
    assert record["providerRequest"]["url"].endswith("/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/invoke")
    request = record["providerRequest"]["json"]
    assert request["system"] == served["request"]["system"]
    assert request["messages"] == served["request"]["messages"]
    assert request["max_tokens"] == served["request"]["max_tokens"]
    got = stored_record(record)
    assert (got.provider, got.model) == ("AWS", "anthropic.claude-3-5-haiku-20241022-v1:0")
    usage = served["response"]["usage"]
    # OpenLLMetry's Bedrock instrumentation reports Anthropic's input_tokens and drops the cache counts:
    # the record keeps what the span says (21 uncached input tokens) and invents no cache reads.
    assert (got.prompt_tokens, got.completion_tokens) == (usage["input_tokens"], usage["output_tokens"])
    assert got.text == served["response"]["content"][0]["text"]
    assert got.priced


def test_bedrock_converse_keeps_its_cache_reads_apart(providers: Capture, mapped: MapResult) -> None:
    served = providers.scenario("bedrock.converse")
    record = by_scenario(mapped, "bedrock.converse")
    usage = served["response"]["usage"]
    body = record["providerResponse"]["json"]
    # Converse's inputTokens already exclude cache reads: nothing is subtracted from them again
    assert body["usage"]["input_tokens"] == usage["inputTokens"]
    assert body["usage"]["cache_read_input_tokens"] == usage["cacheReadInputTokens"]
    assert body["usage"]["output_tokens"] == usage["outputTokens"]
    got = stored_record(record)
    # the span says "nova-lite-v1:0"; the model id Bedrock was called with comes from botocore's request
    assert (got.provider, got.model) == ("AWS", "us.amazon.nova-lite-v1%3A0")
    assert record["providerRequest"]["url"].endswith("/model/us.amazon.nova-lite-v1%3A0/converse")
    assert record["providerRequest"]["json"]["temperature"] == served["request"]["inferenceConfig"]["temperature"]
    assert got.text == served["response"]["output"]["message"]["content"][0]["text"]
    assert got.priced


def test_bedrock_throttling_keeps_its_429(providers: Capture, mapped: MapResult) -> None:
    record = by_scenario(mapped, "bedrock.error")
    assert record["providerResponse"]["status"] == 429
    assert "Too many requests" in record["providerResponse"]["json"]["error"]["message"]
    assert stored_record(record).model == "anthropic.claude-error-429"


def gemini_checks(providers: Capture, record: dict[str, Any], scenario: str) -> Stored:
    served = providers.scenario(scenario)
    assert record["providerRequest"]["url"].endswith("/models/gemini-2.5-flash:generateContent")
    request = record["providerRequest"]["json"]
    assert request["contents"] == served["request"]["contents"]
    assert request["systemInstruction"]["parts"] == served["request"]["systemInstruction"]["parts"]
    assert served["request"]["generationConfig"] == {"temperature": 0.2, "maxOutputTokens": 50}
    assert "generationConfig" not in request  # OpenLLMetry 0.62 records none of them for google-genai
    got = stored_record(record)
    meta = served["response"]["usageMetadata"]
    assert (got.provider, got.model) == ("GOOGLE", "gemini-2.5-flash")
    assert (got.prompt_tokens, got.completion_tokens, got.cache_read_tokens) == (
        meta["promptTokenCount"], meta["candidatesTokenCount"], meta["cachedContentTokenCount"],
    )  # fmt: skip
    assert got.priced
    return got


def test_gemini_generate_content_in_its_native_shape(providers: Capture, mapped: MapResult) -> None:
    got = gemini_checks(providers, by_scenario(mapped, "gemini.chat"), "gemini.chat")
    assert got.text == providers.scenario("gemini.chat")["response"]["candidates"][0]["content"]["parts"][0]["text"]


def test_gemini_stream_what_the_span_does_not_carry(providers: Capture, mapped: MapResult) -> None:
    """OpenLLMetry 0.62's google-genai instrumentation marks no stream and keeps only the last chunk's
    text: the record says what the span says (usage intact), and no more."""
    record = by_scenario(mapped, "gemini.stream")
    got = gemini_checks(providers, record, "gemini.stream")
    assert got.text == " Paris."
    assert "timeToFirstToken" not in record["timing"]


def test_gemini_rate_limit_is_a_429(providers: Capture, mapped: MapResult) -> None:
    record = by_scenario(mapped, "gemini.error")
    assert record["providerResponse"]["status"] == 429
    assert record["providerResponse"]["json"]["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert stored_record(record).model == "gemini-error-429"


def test_azure_openai_is_azure_with_its_deployment_url(providers: Capture, mapped: MapResult) -> None:
    served = providers.scenario("azure.chat")
    record = by_scenario(mapped, "azure.chat")
    assert served["path"] == "/openai/deployments/my-gpt4o-deployment/chat/completions"
    assert record["providerRequest"]["url"].endswith(
        "/openai/deployments/my-gpt4o-deployment/chat/completions?api-version=2024-10-21"
    )
    assert record["providerRequest"]["json"]["messages"] == served["request"]["messages"]
    got = stored_record(record)
    usage = served["response"]["usage"]
    assert (got.provider, got.model) == ("AZURE", served["response"]["model"])  # priced by the model, not deployment
    assert (got.prompt_tokens, got.completion_tokens, got.cache_read_tokens) == (
        usage["prompt_tokens"], usage["completion_tokens"], usage["prompt_tokens_details"]["cached_tokens"],
    )  # fmt: skip
    assert got.priced


@pytest.mark.parametrize(
    ("scenario", "provider", "stream"),
    [("cohere.chat", "COHERE", False), ("cohere.stream", "COHERE", True), ("mistral.chat", "MISTRAL", False),
     ("mistral.stream", "MISTRAL", True), ("together.stream", "TOGETHER", True), ("groq.chat", "GROQ", False)],
)  # fmt: skip
def test_openai_compatible_providers_are_priced_under_their_own_name(
    providers: Capture, mapped: MapResult, scenario: str, provider: str, stream: bool
) -> None:
    served = providers.scenario(scenario)
    record = by_scenario(mapped, scenario)
    got = stored_record(record)
    assert (got.provider, got.is_stream) == (provider, stream)
    assert ("textBody" in record["providerResponse"]) == stream
    assert got.priced
    response = served["response"]
    if provider == "COHERE":  # Cohere's v2 API: usage in billed units, text in content blocks
        billed = response["usage"]["billed_units"]
        assert (got.prompt_tokens, got.completion_tokens) == (billed["input_tokens"], billed["output_tokens"])
        assert got.text == response["message"]["content"][0]["text"]
        assert got.model == served["request"]["model"]  # Cohere's answer names no model; the request's is read
    else:
        usage = response["usage"]
        assert (got.prompt_tokens, got.completion_tokens) == (usage["prompt_tokens"], usage["completion_tokens"])
        assert got.text == response["choices"][0]["message"]["content"]
        assert got.model == response["model"]
    if provider in ("TOGETHER", "GROQ"):  # reached by their real host names (through the fake as a proxy)
        host = {"TOGETHER": "api.together.xyz", "GROQ": "api.groq.com"}[provider]
        assert record["providerRequest"]["url"].startswith(f"http://{host}/")
        assert record["providerRequest"]["json"]["messages"] == served["request"]["messages"]


def test_mistral_what_the_instrumentation_does_not_carry(mapped: MapResult) -> None:
    """OpenLLMetry 0.62 with mistralai 1.12 records the first prompt's role and no content; the SDK's own
    spans (`mistralai_sdk_tracer`) carry no content either and are not taken for a second call."""
    record = by_scenario(mapped, "mistral.chat")
    assert record["providerRequest"]["json"]["messages"] == [{"role": "user", "content": None}]


def test_cohere_embed_keeps_each_text_apart(providers: Capture, mapped: MapResult) -> None:
    served = providers.scenario("cohere.embed")
    record = by_scenario(mapped, "cohere.embed")
    assert record["providerRequest"]["json"]["input"] == served["request"]["texts"] == ["hello", "world"]
    # the span records no usage for embed calls (the API's billed_units never reach it): no cost, none invented
    assert "usage" not in record["providerResponse"]["json"]


@pytest.mark.parametrize(
    ("scenario", "url_end", "model"),
    [
        ("bedrock.stream", "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/invoke-with-response-stream",
         "anthropic.claude-3-5-haiku-20241022-v1:0"),
        ("bedrock.converse_stream", "/model/us.amazon.nova-lite-v1%3A0/converse-stream", "us.amazon.nova-lite-v1%3A0"),
    ],
)  # fmt: skip
def test_bedrock_streams(providers: Capture, mapped: MapResult, scenario: str, url_end: str, model: str) -> None:
    """Bedrock streams in AWS's binary event stream, which Helicone's Bedrock reader does not parse from
    a log body: the record is the assembled JSON on the streaming URL (the call's own HTTP span, a
    sibling of the LLM span here, names it)."""
    served = providers.scenario(scenario)
    record = by_scenario(mapped, scenario)
    assert record["providerRequest"]["url"].endswith(url_end)
    got = stored_record(record)
    assert (got.provider, got.model) == ("AWS", model)
    assert got.text == "Paris is the capital of France."
    usage = served["response"]["usage"]
    if "inputTokens" in usage:  # Converse: input tokens exclude cache reads
        assert (got.prompt_tokens, got.cache_read_tokens) == (usage["inputTokens"] + usage["cacheReadInputTokens"],
                                                              usage["cacheReadInputTokens"])  # fmt: skip
    else:  # the instrumentation reports Anthropic's input_tokens and drops the cache counts
        assert got.prompt_tokens == usage["input_tokens"]
    assert got.priced


@pytest.mark.parametrize(
    ("scenario", "model"),
    [("bedrock.llama", "meta.llama3-8b-instruct-v1%3A0"), ("bedrock.titan", "amazon.titan-text-express-v1")],
)
def test_bedrock_llama_and_titan_text_completions(
    providers: Capture, mapped: MapResult, scenario: str, model: str
) -> None:
    served = providers.scenario(scenario)
    record = by_scenario(mapped, scenario)
    got = stored_record(record)
    assert (got.provider, got.model) == ("AWS", model)  # Llama 3 8B is priced by this very name
    response = served["response"]
    if "generation" in response:  # Llama
        text, tokens = response["generation"], (response["prompt_token_count"], response["generation_token_count"])
    else:  # Titan
        text, tokens = response["results"][0]["outputText"], (
            response["inputTextTokenCount"], response["results"][0]["tokenCount"])  # fmt: skip
    assert got.text == text
    assert (got.prompt_tokens, got.completion_tokens) == tokens
    assert got.priced


def test_gemini_tool_definitions_and_calls(providers: Capture, mapped: MapResult) -> None:
    served = providers.scenario("gemini.tool_call")
    record = by_scenario(mapped, "gemini.tool_call")
    [sent] = served["request"]["tools"][0]["functionDeclarations"]
    [tool] = record["providerRequest"]["json"]["tools"][0]["functionDeclarations"]
    assert (tool["name"], tool["description"]) == (sent["name"], sent["description"])
    assert tool["parameters"] == sent["parameters_json_schema"]
    answered = served["response"]["candidates"][0]["content"]["parts"]
    assert record["providerResponse"]["json"]["candidates"][0]["content"]["parts"] == answered
    assert stored_record(record).priced
