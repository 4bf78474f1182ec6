"""Vercel AI SDK spans. From its legacy tracer (`ai` v4-v6, and @ai-sdk/otel's `LegacyOpenTelemetry`):
the provider-call spans `ai.*.doGenerate` / `ai.*.doStream` / `ai.*.doEmbed`; their parents
(`ai.generateText`, ...) aggregate several calls and are not calls themselves.

From AI SDK 7's `OpenTelemetry` integration (@ai-sdk/otel): GenAI semconv spans, read as GenAI, the
calls being `chat {model}` (under `invoke_agent {model}` > `step {n}`) and the inner one of the two
`embeddings {model}` spans; beside GenAI's keys, the integration's opt-in AI SDK attributes (its
`usage`, `embedding` and `runtimeContext` options) carry reasoning tokens, embedding inputs and the
runtime context the app chose to trace."""

from __future__ import annotations

from typing import Any

from . import common, dialect_genai
from .model import LlmCall, Usage
from .parts import normalize_tools, text_part, to_messages
from .span import SpanView, parse_json

CALL_SUFFIXES = (".doGenerate", ".doStream", ".doEmbed")
V7_SCOPE = "gen_ai"  # the OpenTelemetry integration's tracer unless the app passes its own


def _operation_id(span: SpanView) -> str:
    return span.get_str("ai.operationId") or span.name


def _is_legacy(span: SpanView) -> bool:
    return _operation_id(span).startswith("ai.") and ("ai.operationId" in span.attrs or "ai.model.id" in span.attrs)


def _is_v7(span: SpanView) -> bool:
    """AI SDK 7's GenAI spans: by the integration's tracer, or by its own `ai.*` keys beside GenAI's."""
    return "gen_ai.operation.name" in span.attrs and (span.scope == V7_SCOPE or span.has_prefix("ai."))


def is_call(span: SpanView) -> bool:
    if _is_legacy(span):
        return _operation_id(span).endswith(CALL_SUFFIXES)
    if not dialect_genai.is_call(span):  # invoke_agent, step ("agent_step"), execute_tool
        return False
    return span.get_str("gen_ai.operation.name") != "embeddings" or _is_embedding_call(span)


def _is_embedding_call(span: SpanView) -> bool:
    """AI SDK 7 names an embedding operation span like the provider calls inside it (`embeddings {model}`,
    same keys), and only a call gets usage. A span without usage (a failure) counts unless it is `embed`'s
    operation span (`ai.value`, with the `embedding` option): without that option, and for `embedMany`,
    a failure gives two records rather than none."""
    if "gen_ai.usage.input_tokens" in span.attrs:
        return True
    return span.status_code == common.STATUS_ERROR and "ai.value" not in span.attrs


def is_vercel(span: SpanView) -> bool:
    return _is_legacy(span) or _is_v7(span)


def read(span: SpanView) -> LlmCall:
    if not _is_legacy(span):
        return _read_v7(span)
    op = _operation_id(span)
    call = LlmCall(dialect="vercel", operation="embeddings" if op.endswith(".doEmbed") else "chat")
    provider = span.get_str("ai.model.provider", "gen_ai.system") or ""
    call.provider = provider.split(".")[0] or None
    call.request_model = span.get_str("ai.model.id", "gen_ai.request.model")
    call.response_model = span.get_str("ai.response.model", "gen_ai.response.model")
    call.response_id = span.get_str("ai.response.id", "gen_ai.response.id")
    call.messages = to_messages(span.get_json("ai.prompt.messages"))
    if not call.messages:
        prompt = span.get_json("ai.prompt")
        if isinstance(prompt, dict):
            call.messages = to_messages(prompt.get("messages")) or (
                [{"role": "user", "parts": [text_part(prompt["prompt"])]}]
                if isinstance(prompt.get("prompt"), str)
                else []
            )
            if isinstance(prompt.get("system"), str):
                call.system = [text_part(prompt["system"])]
    tools = span.attrs.get("ai.prompt.tools")
    call.tools = normalize_tools(tools)

    parts: list[dict[str, Any]] = []
    text = span.get_str("ai.response.text")
    if text:
        parts.append(text_part(text))
    calls = span.get_json("ai.response.toolCalls")
    for c in calls if isinstance(calls, list) else []:
        if isinstance(c, dict):
            args = c.get("input", c.get("args"))
            parts.append(
                {
                    "type": "tool_call",
                    "id": c.get("toolCallId"),
                    "name": c.get("toolName"),
                    "arguments": parse_json(args) if isinstance(args, str) and parse_json(args) else args,
                }
            )
    finish = span.get_str("ai.response.finishReason")
    if parts:
        call.output = [{"role": "assistant", "parts": parts, **({"finish_reason": finish} if finish else {})}]
    if finish:
        call.finish_reasons = [finish]

    if call.operation == "embeddings":
        values = span.attrs.get("ai.values")
        values = values if isinstance(values, list) else [span.attrs.get("ai.value")]
        call.embedding_inputs = [_text(v) for v in values if v is not None]

    settings = {
        "temperature": "ai.settings.temperature",
        "top_p": "ai.settings.topP",
        "top_k": "ai.settings.topK",
        "frequency_penalty": "ai.settings.frequencyPenalty",
        "presence_penalty": "ai.settings.presencePenalty",
        "seed": "ai.settings.seed",
    }
    for name, key in settings.items():
        value = span.get_float(key)
        if value is not None:
            call.params[name] = int(value) if name in ("top_k", "seed") else value
    max_tokens = span.get_int("ai.settings.maxOutputTokens", "ai.settings.maxTokens")
    if max_tokens is not None:
        call.params["max_tokens"] = max_tokens
    stop = span.attrs.get("ai.settings.stopSequences")
    if isinstance(stop, list) and stop:
        call.params["stop"] = [str(s) for s in stop]

    call.stream = op.endswith(".doStream")
    call.usage = Usage(
        input_tokens=span.get_int(
            "ai.usage.inputTokens", "ai.usage.promptTokens", "ai.usage.tokens", "gen_ai.usage.input_tokens"
        ),
        output_tokens=span.get_int("ai.usage.outputTokens", "ai.usage.completionTokens", "gen_ai.usage.output_tokens"),
        total_tokens=span.get_int("ai.usage.totalTokens"),
        cache_read_tokens=span.get_int("ai.usage.cachedInputTokens"),
        reasoning_tokens=span.get_int("ai.usage.reasoningTokens"),
    )
    call.meta = _context(span)
    return call


def _read_v7(span: SpanView) -> LlmCall:
    """A GenAI span, completed with what AI SDK 7 says only in its own keys."""
    call = dialect_genai.read(span)
    call.dialect = "vercel"
    if call.usage.reasoning_tokens is None:
        call.usage.reasoning_tokens = span.get_int("ai.usage.outputTokenDetails.reasoningTokens")
    values = span.attrs.get("ai.values")  # JSON-encoded, one per input
    if call.operation == "embeddings" and not call.embedding_inputs and isinstance(values, list):
        call.embedding_inputs = [_text(v) for v in values if v is not None]
    call.meta = _context(span)
    return call


def _context(span: SpanView) -> dict[str, str]:
    """The runtime context the app chose to trace (`telemetry.includeRuntimeContext`), `ai.settings.context.*`:
    AI SDK 7 has no `metadata` (v6's `ai.telemetry.metadata.*`, read by `common.read_context`). Its
    `OpenTelemetry` integration puts it on the operation, step and embedding spans, not on `chat`."""
    meta: dict[str, str] = {}
    for key, value in span.with_prefix("ai.settings.context.").items():
        common.add_context(meta, key, value)
    return meta


def _text(value: Any) -> str:
    decoded = parse_json(value) if isinstance(value, str) else value
    return decoded if isinstance(decoded, str) else value if isinstance(value, str) else str(value)
