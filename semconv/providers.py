"""Which Helicone provider a call belongs to, which wire format its bodies take, and where it went.

Decided from the provider the span names, then refined by the API host it called (an OpenAI SDK
pointed at OpenRouter or Azure is reported as "openai" by most instrumentations)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Provider:
    name: str  # Helicone's provider name: OPENAI, ANTHROPIC, ... or CUSTOM
    wire: str  # "openai" or "anthropic": the body format rebuilt for it
    base_url: str  # where calls go when the span does not say
    log_route: str  # Helicone's async log route for this provider


def _p(name: str, base_url: str, wire: str = "openai", route: str = "/custom/v1/log") -> Provider:
    return Provider(name, wire, base_url, route)


OPENAI = _p("OPENAI", "https://api.openai.com/v1", route="/oai/v1/log")
ANTHROPIC = _p("ANTHROPIC", "https://api.anthropic.com/v1", "anthropic", "/anthropic/v1/log")
AZURE = _p("AZURE", "https://{resource}.openai.azure.com/openai")
BEDROCK = _p("BEDROCK", "https://bedrock-runtime.us-east-1.amazonaws.com")
GOOGLE = _p("GOOGLE", "https://generativelanguage.googleapis.com/v1beta/openai", route="/googleapis/v1/log")
GROQ = _p("GROQ", "https://api.groq.com/openai/v1")
MISTRAL = _p("MISTRAL", "https://api.mistral.ai/v1")
COHERE = _p("COHERE", "https://api.cohere.com/compatibility/v1")
OPENROUTER = _p("OPENROUTER", "https://openrouter.ai/api/v1")
OLLAMA = _p("CUSTOM", "http://localhost:11434/v1")
CUSTOM = _p("CUSTOM", "")

_BY_NAME = {
    "openai": OPENAI,
    "anthropic": ANTHROPIC,
    "azure": AZURE,
    "azure.ai.openai": AZURE,
    "az.ai.openai": AZURE,
    "azure_openai": AZURE,
    "azure.ai.inference": AZURE,
    "aws.bedrock": BEDROCK,
    "bedrock": BEDROCK,
    "aws_bedrock": BEDROCK,
    "amazon-bedrock": BEDROCK,
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
    "openrouter": OPENROUTER,
    "ollama": OLLAMA,
}
_BY_HOST = {
    "openrouter.ai": OPENROUTER,
    "openai.azure.com": AZURE,
    "api.groq.com": GROQ,
    "api.mistral.ai": MISTRAL,
    "api.cohere.com": COHERE,
    "api.cohere.ai": COHERE,
    "generativelanguage.googleapis.com": GOOGLE,
    "aiplatform.googleapis.com": GOOGLE,
    "api.anthropic.com": ANTHROPIC,
    "amazonaws.com": BEDROCK,
}


def resolve(provider: str | None, url: str | None, model: str | None) -> Provider:
    found = _BY_NAME.get((provider or "").strip().lower().replace(" ", ""), CUSTOM)
    host = (urlsplit(url).hostname or "") if url else ""
    for suffix, by_host in _BY_HOST.items():
        if host == suffix or host.endswith("." + suffix):
            found = by_host
            break
    if found is BEDROCK and model and ("anthropic" in model or "claude" in model):
        return Provider(BEDROCK.name, "anthropic", BEDROCK.base_url, BEDROCK.log_route)
    return found


def endpoint_path(provider: Provider, operation: str) -> str:
    if provider.wire == "anthropic":
        return "/messages"
    return {"embeddings": "/embeddings", "text_completion": "/completions", "responses": "/responses"}.get(
        operation, "/chat/completions"
    )


HELICONE_WORKER_URL = "https://api.worker.helicone.ai"  # where the async log routes are served (US)


def log_route(helicone_provider: str) -> str:
    """Helicone's async log route for a record's `provider` (`/oai/v1/log`, ...; else `/custom/v1/log`)."""
    for known in (OPENAI, ANTHROPIC, GOOGLE):
        if known.name == helicone_provider:
            return known.log_route
    return CUSTOM.log_route
