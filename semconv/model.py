"""The one normalized shape every dialect is read into, and every provider body is written from.

Messages use the OTel GenAI JSON shape (`{"role", "parts": [...], "finish_reason"?}`), the richest of
the dialects; token counts use OTel semantics (input tokens INCLUDE cached and cache-write tokens).
`None` always means unknown: nothing downstream may turn it into a value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Message = dict[str, Any]
Part = dict[str, Any]


@dataclass(slots=True)
class Usage:
    input_tokens: int | None = None  # includes cache_read and cache_write, as OTel GenAI counts
    output_tokens: int | None = None
    total_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    # output_tokens counts reasoning_tokens in (the latest conventions' `gen_ai.usage.reasoning.output_tokens`
    # is a part of the output, as OpenAI's reasoning tokens are of its completion tokens); Gemini's own
    # candidatesTokenCount leaves them out
    output_includes_reasoning: bool = False

    def known(self) -> bool:
        """Whether any token count was recorded. All-zero counts are not a measurement (no call reads
        zero input tokens): instrumentations write them when the API's usage never reached them."""
        counts = [c for c in (self.input_tokens, self.output_tokens, self.total_tokens) if c is not None]
        return any(c != 0 for c in counts)


@dataclass(slots=True)
class CallError:
    status: int
    type: str | None
    message: str | None


@dataclass(slots=True)
class LlmCall:
    """One LLM call as read from one span (before de-duplication and body building)."""

    dialect: str
    operation: str = "chat"  # chat | text_completion | embeddings | responses
    provider: str | None = None  # as the span names it (gen_ai.provider.name, llm.provider, ...)
    request_model: str | None = None
    response_model: str | None = None
    response_id: str | None = None
    system: list[Part] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    output: list[Message] = field(default_factory=list)
    tools: list[dict[str, Any]] = field(default_factory=list)  # {"name", "description"?, "parameters"?}
    embedding_inputs: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)  # temperature, max_tokens, top_p, stop, ...
    stream: bool | None = None
    usage: Usage = field(default_factory=Usage)
    finish_reasons: list[str] = field(default_factory=list)
    native_stop_reason: str | None = None  # the provider's own word, when a span reports it
    ttft_ms: int | None = None
    http_status: int | None = None
    error: CallError | None = None
    url: str | None = None
    api_base: str | None = None
    api_version: str | None = None  # Azure OpenAI's api-version
    meta: dict[str, str] = field(default_factory=dict)  # Helicone-* headers from the span's context
    scores: dict[str, int | bool] = field(default_factory=dict)  # from gen_ai.evaluation.result events
    unparsed: list[str] = field(default_factory=list)  # content attributes kept as their raw text

    def richness(self) -> int:
        """How much of the call this span describes; the richer of two duplicate spans wins."""
        return (
            4 * bool(self.messages or self.system or self.embedding_inputs)
            + 4 * bool(self.output)
            + 2 * self.usage.known()
            + bool(self.tools)
            + bool(self.params)
        )
