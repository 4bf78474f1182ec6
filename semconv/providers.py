"""Which Helicone provider a call belongs to, which wire format its bodies take, and where it went.

Decided from the provider the span names, then refined by the API host it called (an OpenAI SDK
pointed at OpenRouter, Together or Azure is reported as "openai" by most instrumentations). The names
are the upper-case ones of Helicone's cost tables (`packages/cost/providers/mappings.ts`): a name that
is not there is never priced, so an unknown provider is `CUSTOM`, never a guess."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, unquote, urlsplit

from .model import LlmCall

Wire = Literal["openai", "anthropic", "gemini"]


@dataclass(frozen=True)
class Provider:
    name: str  # Helicone's provider name: OPENAI, ANTHROPIC, ... or CUSTOM
    wire: Wire  # the body format rebuilt for it
    base_url: str  # where calls go when the span does not say


OPENAI = Provider("OPENAI", "openai", "https://api.openai.com/v1")
ANTHROPIC = Provider("ANTHROPIC", "anthropic", "https://api.anthropic.com/v1")
GOOGLE = Provider("GOOGLE", "gemini", "https://generativelanguage.googleapis.com/v1beta")
# Bedrock is "AWS": Helicone's AWS cost rows hold Claude, Llama and Nova; its BEDROCK rows lack Nova.
# Both names reach the same Bedrock usage reader, which reads Anthropic's usage names only.
AWS = Provider("AWS", "anthropic", "https://bedrock-runtime.{region}.amazonaws.com")
AZURE = Provider("AZURE", "openai", "https://{resource}.openai.azure.com/openai")
GROQ = Provider("GROQ", "openai", "https://api.groq.com/openai/v1")
MISTRAL = Provider("MISTRAL", "openai", "https://api.mistral.ai/v1")
COHERE = Provider("COHERE", "openai", "https://api.cohere.com/compatibility/v1")
TOGETHER = Provider("TOGETHER", "openai", "https://api.together.xyz/v1")
OPENROUTER = Provider("OPENROUTER", "openai", "https://openrouter.ai/api/v1")
DEEPSEEK = Provider("DEEPSEEK", "openai", "https://api.deepseek.com/v1")
XAI = Provider("X", "openai", "https://api.x.ai/v1")
FIREWORKS = Provider("FIREWORKS", "openai", "https://api.fireworks.ai/inference/v1")
PERPLEXITY = Provider("PERPLEXITY", "openai", "https://api.perplexity.ai")
DEEPINFRA = Provider("DEEPINFRA", "openai", "https://api.deepinfra.com/v1/openai")
CEREBRAS = Provider("CEREBRAS", "openai", "https://api.cerebras.ai/v1")
OLLAMA = Provider("CUSTOM", "openai", "http://localhost:11434/v1")
CUSTOM = Provider("CUSTOM", "openai", "")

_BY_NAME = {
    "openai": OPENAI,
    "anthropic": ANTHROPIC,
    "azure": AZURE,
    "azure.ai.openai": AZURE,
    "az.ai.openai": AZURE,
    "azure_openai": AZURE,
    "azure.ai.inference": AZURE,
    "aws.bedrock": AWS,
    "bedrock": AWS,
    "aws_bedrock": AWS,
    "amazon-bedrock": AWS,
    "aws": AWS,
    "gcp.gemini": GOOGLE,
    "gcp.vertex_ai": GOOGLE,
    "gcp.gen_ai": GOOGLE,
    "google": GOOGLE,
    "gemini": GOOGLE,
    "vertex_ai": GOOGLE,
    "vertexai": GOOGLE,
    "google-vertex": GOOGLE,
    "google.generative-ai": GOOGLE,
    "groq": GROQ,
    "mistral_ai": MISTRAL,
    "mistralai": MISTRAL,
    "mistral": MISTRAL,
    "cohere": COHERE,
    "together": TOGETHER,
    "together_ai": TOGETHER,
    "togetherai": TOGETHER,
    "openrouter": OPENROUTER,
    "deepseek": DEEPSEEK,
    "xai": XAI,
    "x_ai": XAI,
    "fireworks_ai": FIREWORKS,
    "fireworks": FIREWORKS,
    "perplexity": PERPLEXITY,
    "deepinfra": DEEPINFRA,
    "cerebras": CEREBRAS,
    "ollama": OLLAMA,
}
# Host suffixes, first match wins (Helicone's own URL patterns in packages/cost/providers/mappings.ts).
_BY_HOST = {
    "openrouter.ai": OPENROUTER,
    "openai.azure.com": AZURE,
    "azure-api.net": AZURE,
    "cognitiveservices.azure.com": AZURE,
    "services.ai.azure.com": AZURE,
    "api.groq.com": GROQ,
    "api.mistral.ai": MISTRAL,
    "api.cohere.com": COHERE,
    "api.cohere.ai": COHERE,
    "api.together.xyz": TOGETHER,
    "api.together.ai": TOGETHER,
    "api.deepseek.com": DEEPSEEK,
    "api.x.ai": XAI,
    "api.fireworks.ai": FIREWORKS,
    "api.perplexity.ai": PERPLEXITY,
    "api.deepinfra.com": DEEPINFRA,
    "api.cerebras.ai": CEREBRAS,
    "generativelanguage.googleapis.com": GOOGLE,
    "aiplatform.googleapis.com": GOOGLE,
    "api.anthropic.com": ANTHROPIC,
    "api.openai.com": OPENAI,
    "amazonaws.com": AWS,
}


def _by_host(url: str | None) -> Provider | None:
    return _provider_of_host((urlsplit(url).hostname or "") if url else "")


@functools.lru_cache(maxsize=1024)
def _provider_of_host(host: str) -> Provider | None:
    for suffix, provider in _BY_HOST.items():
        if host == suffix or host.endswith("." + suffix):
            return provider
    return None


def calls_provider(url: str | None) -> bool:
    """Whether a URL is an LLM provider's API (an SDK's own HTTP span that completes a call's span)."""
    return _by_host(url) is not None


def resolve(provider: str | None, url: str | None, api_version: str | None = None) -> Provider:
    """`api_version` is set only by Azure OpenAI clients (the OpenAI SDK's `AzureOpenAI`), which most
    instrumentations report as plain "openai"."""
    found = _BY_NAME.get((provider or "").strip().lower().replace(" ", ""), CUSTOM)
    if found is OPENAI and api_version:
        found = AZURE
    return _by_host(url) or found


def bedrock_model_path(model: str) -> str:
    """A Bedrock model id as it stands in the runtime URL path (`amazon.nova-lite-v1%3A0`)."""
    return quote(model, safe="")


def bedrock_model_key(model: str) -> str:
    """The model name Helicone prices a Bedrock call by: its cost registry keys Claude on the id as
    given (`anthropic.claude-sonnet-4-20250514-v1:0`), its other rows on the id as it stands in the
    URL path (`amazon.nova-lite-v1%3A0`, `meta.llama3-8b-instruct-v1%3A0`)."""
    return model if "claude" in model else bedrock_model_path(model)


def bedrock_model_in(url: str | None) -> str | None:
    """The model id in a Bedrock runtime URL (`/model/us.amazon.nova-lite-v1%3A0/converse`): whole, where
    instrumentations report it without its region and vendor prefixes (`nova-lite-v1:0`)."""
    found = re.search(r"/model/([^/?]+)/(?:invoke|converse)", url or "")
    return unquote(found.group(1)) if found else None


def endpoint_url(provider: Provider, base: str, call: LlmCall) -> str:
    """The URL the call went to, rebuilt in the provider's own form when the span does not name it:
    Helicone reads the model from `/models/X` and `/model/X` paths, and a user reads the URL to see
    what was called (Azure's deployment and api-version, Bedrock's model and API)."""
    operation, stream, model = call.operation, bool(call.stream), call.request_model or call.response_model
    base = base.rstrip("/")
    if not base:
        provider = CUSTOM
    if provider is AZURE and "/deployments/" not in base and call.request_model:
        path = {"embeddings": "/embeddings", "text_completion": "/completions"}.get(operation, "/chat/completions")
        version = f"?api-version={call.api_version}" if call.api_version else ""
        return f"{base}/deployments/{call.request_model}{path}{version}"
    if provider is GOOGLE:
        action = {"embeddings": "batchEmbedContents"}.get(operation, "generateContent")
        if stream and operation != "embeddings":
            return f"{base}/models/{model or 'unknown'}:streamGenerateContent?alt=sse"
        return f"{base}/models/{model or 'unknown'}:{action}"
    if provider is AWS:
        action = "invoke-with-response-stream" if stream else "invoke"
        return f"{base}/model/{bedrock_model_path(model or 'unknown')}/{action}"
    if provider.wire == "anthropic":  # an Anthropic base URL is given with and without its /v1
        return base + ("/messages" if base.endswith("/v1") else "/v1/messages")
    return base + _OPENAI_PATHS.get(operation, "/chat/completions")


_OPENAI_PATHS = {"embeddings": "/embeddings", "text_completion": "/completions", "responses": "/responses"}
