"""OTel GenAI spans, every generation: the latest JSON attributes (`gen_ai.input.messages`, ...),
OpenLLMetry's legacy indexed attributes (`gen_ai.prompt.{i}.*`, `llm.*`), and content carried in span
events (`gen_ai.*.message`, `gen_ai.choice`, `gen_ai.content.*`, `...inference.operation.details`).
All three are read by one extractor, newest form first, because one span may mix generations."""

from __future__ import annotations

import ast
import json
from typing import Any

from opentelemetry.proto.trace.v1.trace_pb2 import Span

from . import common
from .model import LlmCall, Message, Usage
from .parts import normalize_tools, text_of, to_message, to_messages, to_parts
from .span import SpanView, items, obj, parse_json

CALL_OPERATIONS = {
    "chat": "chat",
    "text_completion": "text_completion",
    "completion": "text_completion",
    "generate_content": "chat",
    "embeddings": "embeddings",
    "embedding": "embeddings",
    "responses": "responses",
    "response": "responses",
}
NON_CALL_KINDS = {"workflow", "task", "agent", "tool"}
_EVENT_ROLES = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
_FLOAT_PARAMS = {
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
}
_INT_PARAMS = {
    "top_k": "gen_ai.request.top_k",
    "seed": "gen_ai.request.seed",
}


def is_call(span: SpanView) -> bool:
    operation = span.get_str("gen_ai.operation.name")
    if operation:
        return operation.lower() in CALL_OPERATIONS
    request_type = span.get_str("llm.request.type")
    if request_type:
        return request_type.lower() in ("chat", "completion", "embedding", "embeddings")
    if (span.get_str("traceloop.span.kind") or "").lower() in NON_CALL_KINDS:
        return False
    model = span.get_str("gen_ai.request.model", "gen_ai.response.model")
    if span.get_str("gen_ai.system"):
        return bool(model or span.attrs.get("gen_ai.prompt.0.role"))
    return _bare_failure(span) is not None


def bare_failure_candidate(span: Span, scope: str) -> bool:
    """On a span not yet read: whether it may be such a bare failed call (see `_bare_failure`)."""
    return span.status.code == common.STATUS_ERROR and scope.startswith(_BARE_FAILURE_SCOPE)


def _bare_failure(span: SpanView) -> tuple[str, str, str] | None:
    """(provider, operation, model) of a failed call whose span kept only its name `{operation} {model}`
    and its instrumentation's scope: OpenLIT's Anthropic spans of failed calls carry no attribute."""
    if span.status_code != common.STATUS_ERROR or not span.scope.startswith(_BARE_FAILURE_SCOPE):
        return None
    operation, _, model = span.name.partition(" ")
    if operation.lower() not in CALL_OPERATIONS or not model:
        return None
    return span.scope[len(_BARE_FAILURE_SCOPE) :], operation.lower(), model


_BARE_FAILURE_SCOPE = "openlit.instrumentation."


def _operation(span: SpanView) -> str:
    bare = None if "gen_ai.operation.name" in span.attrs else _bare_failure(span)
    op = (span.get_str("gen_ai.operation.name", "llm.request.type") or (bare[1] if bare else "chat")).lower()
    if op in ("embedding", "embeddings"):
        return "embeddings"
    # OpenLLMetry's OpenAI instrumentation says "chat" for Responses API calls too; its agents
    # instrumentation names every model call "openai.response", Chat Completions ones included
    by_name = span.name in ("openai.response", "openai.responses") and "openai_agents" not in span.scope
    if op in ("responses", "response") or by_name:
        return "responses"
    return CALL_OPERATIONS.get(op, "chat")


def _indexed_messages(span: SpanView, prefix: str) -> list[Message]:
    out: list[Message] = []
    for item in span.indexed(prefix):
        calls = [
            {
                "type": "function",
                "id": c.get("id"),
                "function": {"name": c.get("name"), "arguments": c.get("arguments")},
            }
            for c in items(item.get("tool_calls"))
        ]
        message = to_message(
            {
                "role": item.get("role") or ("assistant" if prefix.endswith("completion") else "user"),
                "content": item.get("content"),
                "tool_calls": calls,
                "tool_call_id": item.get("tool_call_id"),
                "finish_reason": item.get("finish_reason"),
            }
        )
        if message is not None:
            out.append(message)
    return out


def _event_messages(span: SpanView) -> tuple[list[Message], list[Message]]:
    inputs: list[Message] = []
    outputs: list[Message] = []
    for event in span.events:
        attrs = event.attrs
        if event.name in _EVENT_ROLES:
            message = to_message(
                {
                    "role": attrs.get("role") or _EVENT_ROLES[event.name],
                    "content": attrs.get("content"),
                    "tool_calls": parse_json(attrs.get("tool_calls")),
                    "tool_call_id": attrs.get("id"),
                }
            )
            if message:
                inputs.append(message)
        elif event.name == "gen_ai.choice":
            body = parse_json(attrs.get("message")) or {"content": attrs.get("content")}
            if not body.get("tool_calls") and attrs.get("tool_calls"):  # OpenLLMetry's: beside the message
                body = {**body, "tool_calls": parse_json(attrs["tool_calls"])}
            message = to_message({"role": "assistant", **body, "finish_reason": attrs.get("finish_reason")})
            if message:
                outputs.append(message)
        elif event.name == "gen_ai.content.prompt":
            inputs.extend(to_messages(parse_json(attrs.get("gen_ai.prompt"))))
        elif event.name == "gen_ai.content.completion":
            outputs.extend(to_messages(parse_json(attrs.get("gen_ai.completion"))))
        elif event.name == "gen_ai.client.inference.operation.details":
            inputs.extend(to_messages(parse_json(attrs.get("gen_ai.input.messages"))))
            outputs.extend(to_messages(parse_json(attrs.get("gen_ai.output.messages"))))
    return inputs, outputs


def _tools(span: SpanView) -> list[dict[str, Any]]:
    defs = span.get_json("gen_ai.tool.definitions")
    raw = defs if isinstance(defs, list) else span.indexed("llm.request.functions")
    return normalize_tools(raw)


# Emitters whose input token count leaves cache reads and writes out (the provider's own convention),
# where OTel GenAI counts them in: OpenLLMetry's Bedrock instrumentation copies Anthropic's
# `input_tokens` (InvokeModel) and Converse's `inputTokens`, OpenLIT's Anthropic instrumentation
# Anthropic's `input_tokens`, all without cache. Every other emitter read here counts them in
# (OpenLLMetry's and pydantic-ai's Anthropic spans add them up, LiteLLM reports OpenAI's convention).
_INPUT_WITHOUT_CACHE_SCOPES = ("opentelemetry.instrumentation.bedrock", "openlit.instrumentation.anthropic")


def read_usage(span: SpanView) -> Usage:
    usage = _usage(span)
    if span.scope.startswith(_INPUT_WITHOUT_CACHE_SCOPES) and usage.input_tokens is not None:
        usage.input_tokens += (usage.cache_read_tokens or 0) + (usage.cache_write_tokens or 0)
    if "metadata.usage_object" in span.attrs:
        _litellm_usage(span.attrs["metadata.usage_object"], usage)
    usage.output_includes_reasoning = span.get_int("gen_ai.usage.reasoning.output_tokens") is not None
    return usage


def _litellm_usage(raw: Any, usage: Usage) -> None:
    """LiteLLM's default spans keep cache and reasoning counts only in `metadata.usage_object`, a Python
    repr of its OpenAI-convention usage (prompt tokens include cached ones, as OTel counts them)."""
    if not isinstance(raw, str) or not raw.startswith("{") or len(raw) > 20_000:
        return
    try:
        found = ast.literal_eval(raw)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return
    prompt, completion = obj(obj(found).get("prompt_tokens_details")), obj(obj(found).get("completion_tokens_details"))
    for name, value in (
        ("cache_read_tokens", prompt.get("cached_tokens")),
        ("cache_write_tokens", prompt.get("cache_write_tokens")),
        ("reasoning_tokens", completion.get("reasoning_tokens")),
    ):
        if getattr(usage, name) is None and isinstance(value, int) and not isinstance(value, bool):
            setattr(usage, name, value)


def _litellm_api_base(span: SpanView) -> str | None:
    base = obj(span.get_json("hidden_params")).get("api_base") if "litellm.call_id" in span.attrs else None
    return base if isinstance(base, str) and base.startswith(("http://", "https://")) else None


def _litellm_provider(span: SpanView) -> str | None:
    """LiteLLM names no provider on some spans (embeddings) but routes by `provider/model`."""
    model = span.get_str("litellm.provider.model") or ""
    return model.split("/", 1)[0] if "/" in model else None


def _add_function_calls(span: SpanView, output: list[Message]) -> None:
    """LiteLLM reports tool calls as `gen_ai.completion.{i}.function_call.{name,arguments}` beside JSON
    output messages that hold none."""
    for i, item in enumerate(span.indexed("gen_ai.completion")):
        fn = obj(item.get("function_call"))
        if not isinstance(fn.get("name"), str):
            continue
        while len(output) <= i:
            output.append({"role": "assistant", "parts": []})
        if not any(p.get("type") == "tool_call" for p in output[i]["parts"]):
            output[i]["parts"].append({"type": "tool_call", "id": fn.get("id"), "name": fn["name"],
                                       "arguments": fn.get("arguments")})  # fmt: skip


def _usage(span: SpanView) -> Usage:
    return Usage(
        input_tokens=span.get_int("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
        output_tokens=span.get_int("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
        total_tokens=span.get_int("gen_ai.usage.total_tokens", "llm.usage.total_tokens"),
        cache_read_tokens=span.get_int("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens"),
        cache_write_tokens=span.get_int(
            "gen_ai.usage.cache_creation.input_tokens",
            "gen_ai.usage.cache_write.input_tokens",
            "gen_ai.usage.cache_creation_input_tokens",
        ),
        reasoning_tokens=span.get_int(
            "gen_ai.usage.reasoning_tokens",
            "gen_ai.usage.reasoning.output_tokens",
            "gen_ai.usage.details.reasoning_tokens",  # pydantic-ai
            "llm.usage.reasoning_tokens",
        ),
    )


def _response_model(span: SpanView, requested: str | None) -> str | None:
    """OpenLLMetry's OpenAI instrumentation cuts `org/` off the model a provider answered with
    (Together's `meta-llama/Llama-3.3-70B-Instruct-Turbo`, OpenRouter's `openai/gpt-4o`), the form
    Helicone's cost rows need. Put back the requested model's `org/` when the rest is the same model."""
    model = span.get_str("gen_ai.response.model")
    if model and requested and "/" in requested and "/" not in model:
        org, name = requested.rsplit("/", 1)
        if model.lower().startswith(name.lower()):
            return f"{org}/{model}"
    return model


def _unparsed(span: SpanView, key: str, role: str, unparsed: list[str]) -> list[Message]:
    """The last resort for a content attribute that gave no message (and nothing else had the content): unless
    it is empty, it did not parse (JSON cut short, a list of other things, an object), so it is kept as one
    message of its raw text, so that Helicone shows what was sent, and named in `unparsed`: content is never
    dropped without a word."""
    raw = span.attrs.get(key)
    if raw is None or raw == [] or (isinstance(raw, str) and raw.strip() in ("", "[]", "null")):
        return []
    unparsed.append(key)
    text = raw if isinstance(raw, str) else json.dumps(raw, default=str)
    return [{"role": role, "parts": [{"type": "text", "content": text}]}]


def read(span: SpanView) -> LlmCall:
    call = LlmCall(dialect="genai", operation=_operation(span))
    call.provider = span.get_str("gen_ai.provider.name", "gen_ai.system") or _litellm_provider(span)
    if call.operation == "text_completion" and (call.provider or "").lower() == "anthropic":
        call.operation = "chat"  # OpenLLMetry <= 0.53 labels Anthropic Messages calls "completion"
    call.request_model = span.get_str("gen_ai.request.model")
    if call.provider is None and call.request_model is None and (bare := _bare_failure(span)):
        call.provider, call.request_model = bare[0], bare[2]
    call.response_model = _response_model(span, call.request_model)
    call.response_id = span.get_str("gen_ai.response.id")

    system = span.get_json("gen_ai.system_instructions")
    if isinstance(system, list):
        call.system = to_parts(system)
    elif isinstance(span.attrs.get("gen_ai.system_instructions"), str):
        call.system = to_parts(span.attrs["gen_ai.system_instructions"])
    event_in, event_out = _event_messages(span) if span.events else ([], [])
    call.messages = (
        to_messages(span.get_json("gen_ai.input.messages"))
        or _indexed_messages(span, "gen_ai.prompt")
        or event_in
        or _unparsed(span, "gen_ai.input.messages", "user", call.unparsed)
    )
    system_messages = [m for m in call.messages if m["role"] in ("system", "developer")]
    if call.system and text_of(call.system) == "".join(text_of(m["parts"]) for m in system_messages):
        call.system = []  # OpenLIT sends the system prompt both ways: once is what the app sent
    call.output = (
        to_messages(span.get_json("gen_ai.output.messages"))
        or _indexed_messages(span, "gen_ai.completion")
        or event_out
        or _unparsed(span, "gen_ai.output.messages", "assistant", call.unparsed)
    )
    _add_function_calls(span, call.output)
    call.tools = _tools(span)
    if call.operation == "embeddings":
        # one input per text part: Cohere's instrumentation puts all of a call's texts in one message
        call.embedding_inputs = [
            p["content"] for m in call.messages for p in m["parts"] if p.get("type") == "text" and "content" in p
        ]
        call.messages = []

    for name, key in _FLOAT_PARAMS.items():
        if (number := span.get_float(key)) is not None:
            call.params[name] = number
    for name, key in _INT_PARAMS.items():
        if (count := span.get_int(key)) is not None:
            call.params[name] = count
    max_tokens = span.get_int("gen_ai.request.max_tokens", "gen_ai.request.max_output_tokens")
    if max_tokens is not None:
        call.params["max_tokens"] = max_tokens
    stop = span.attrs.get("gen_ai.request.stop_sequences")
    if isinstance(stop, list) and stop:
        call.params["stop"] = [str(s) for s in stop]
    choices = span.get_int("gen_ai.request.choice.count")
    if choices is not None and choices != 1:
        call.params["n"] = choices

    call.stream = span.get_bool("gen_ai.is_streaming", "gen_ai.request.stream", "llm.is_streaming")
    if call.stream is None and (common.chunk_events(span) or span.get_float(*common.TTFT_SECONDS) is not None):
        call.stream = True  # only streams have a first chunk
    call.usage = read_usage(span)
    reasons = span.attrs.get("gen_ai.response.finish_reasons")
    if isinstance(reasons, str):
        reasons = parse_json(reasons) if reasons.startswith("[") else [reasons]  # LiteLLM writes a JSON list
    call.finish_reasons = [str(r) for r in reasons] if isinstance(reasons, list) else []
    call.native_stop_reason = span.get_str("anthropic.message.stop_reason")
    call.url = span.get_str("url.full")
    call.api_base = span.get_str("gen_ai.openai.api_base", "llm.openai.api_base") or _litellm_api_base(span)
    call.api_version = span.get_str("gen_ai.openai.api_version", "llm.openai.api_version")
    return call
