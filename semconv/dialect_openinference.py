"""OpenInference (Arize) spans: `openinference.span.kind` LLM or EMBEDDING, indexed
`llm.input_messages.*` / `llm.output_messages.*`, `llm.token_count.*`, and the raw request and response
JSON in `input.value` / `output.value`, used for what the indexed attributes leave out."""

from __future__ import annotations

from typing import Any

from . import common
from .model import LlmCall, Message, Usage
from .parts import normalize_tools, to_message, to_messages
from .span import SpanView, items, obj, parse_json

CALL_KINDS = {"LLM", "EMBEDDING"}


_RESPONSE_KEYS = ("choices", "output", "content", "candidates", "data", "embeddings")


def is_call(span: SpanView) -> bool:
    """An LLM or EMBEDDING span that shows an API call: an answer, token counts, embeddings or an error.
    LlamaIndex also labels LLM the steps that only prepare a call (`OpenAI._prepare_chat_with_tools`,
    whose output is the request it built): those are not calls."""
    kind = (span.get_str("openinference.span.kind") or "").upper()
    if kind not in CALL_KINDS:
        return False
    if span.status_code == common.STATUS_ERROR or kind == "EMBEDDING":
        return True
    if any(k.startswith(("llm.output_messages.", "llm.token_count.")) for k in span.attrs):
        return True
    output = span.get_json("output.value") if span.get_str("output.mime_type") == "application/json" else None
    if isinstance(output, dict):
        return any(k in output for k in _RESPONSE_KEYS)
    return bool(span.get_str("output.value"))  # text output: the answer itself


def _content_parts(contents: Any) -> list[dict[str, Any]]:
    out = []
    for item in items(contents):
        content = obj(item.get("message_content"))
        kind = content.get("type")
        if kind == "text":
            out.append({"type": "text", "text": content.get("text")})
        elif kind == "image":
            image = obj(content.get("image"))
            inner = obj(image.get("image"))
            out.append({"type": "image_url", "image_url": {"url": inner.get("url")}})
    return out


def _messages(span: SpanView, prefix: str) -> list[Message]:
    out: list[Message] = []
    for item in span.indexed(prefix):
        msg = obj(item.get("message"))
        calls = []
        for c in items(msg.get("tool_calls")):
            tc = obj(c.get("tool_call"))
            fn = obj(tc.get("function"))
            calls.append({"id": tc.get("id"), "function": {"name": fn.get("name"), "arguments": fn.get("arguments")}})
        content = msg.get("content")
        if content is None and msg.get("contents"):
            content = _content_parts(msg["contents"])
        message = to_message(
            {
                "role": msg.get("role"),
                "content": content,
                "tool_calls": calls,
                "tool_call_id": msg.get("tool_call_id"),
            }
        )
        if message is not None:
            out.append(message)
    return out


def read(span: SpanView) -> LlmCall:
    kind = (span.get_str("openinference.span.kind") or "").upper()
    call = LlmCall(dialect="openinference", operation="embeddings" if kind == "EMBEDDING" else "chat")
    request = span.get_json("input.value") if span.get_str("input.mime_type") != "text/plain" else None
    response = span.get_json("output.value") if span.get_str("output.mime_type") != "text/plain" else None
    request = obj(request)
    response = obj(response)
    params = span.get_json("llm.invocation_parameters")
    params = obj(params)

    if call.operation == "chat" and (
        response.get("object") == "response"
        or "instructions" in request
        or ("input" in request and "messages" not in request)
    ):
        call.operation = "responses"  # the OpenAI Responses API, told apart only by its raw bodies
    call.provider = span.get_str("llm.provider", "llm.system")
    call.request_model = (
        span.get_str("llm.request.model_name") or _str(params.get("model")) or _str(request.get("model"))
    )
    call.response_model = span.get_str("llm.response.model_name", "llm.model_name", "embedding.model_name")
    if call.response_model is None:
        call.response_model = _str(response.get("model"))
    call.response_id = _str(response.get("id"))

    call.messages = _messages(span, "llm.input_messages") or to_messages(request.get("messages"))
    call.output = _messages(span, "llm.output_messages")
    if not call.output and isinstance(response.get("choices"), list):
        call.output = to_messages([c.get("message") for c in response["choices"] if isinstance(c, dict)])
    finish = span.get_str("llm.finish_reason") or _str(response.get("stop_reason"))
    if finish:
        call.finish_reasons = [finish]
        for message in call.output:
            message.setdefault("finish_reason", finish)
    tools = [parse_json(t.get("tool", {}).get("json_schema")) for t in span.indexed("llm.tools")]
    call.tools = normalize_tools(tools or request.get("tools"))

    if call.operation == "embeddings":
        texts = [e.get("embedding", {}).get("text") for e in span.indexed("embedding.embeddings")]
        inputs = request.get("input")
        call.embedding_inputs = [t for t in texts if isinstance(t, str)] or (
            [inputs] if isinstance(inputs, str) else [str(i) for i in inputs] if isinstance(inputs, list) else []
        )

    for key in (
        "temperature",
        "top_p",
        "top_k",
        "max_tokens",
        "frequency_penalty",
        "presence_penalty",
        "seed",
        "n",
    ):
        if isinstance(params.get(key), (int, float)) and not isinstance(params.get(key), bool):
            call.params[key] = params[key]
    for key in ("stop", "stop_sequences"):
        if isinstance(params.get(key), (list, str)):
            call.params["stop"] = params[key]
    if isinstance(params.get("max_completion_tokens"), int):
        call.params["max_tokens"] = params["max_completion_tokens"]
    stream = params.get("stream", request.get("stream"))
    call.stream = stream if isinstance(stream, bool) else (True if common.chunk_events(span) else None)

    call.usage = Usage(
        input_tokens=span.get_int("llm.token_count.prompt"),
        output_tokens=span.get_int("llm.token_count.completion"),
        total_tokens=span.get_int("llm.token_count.total"),
        cache_read_tokens=span.get_int("llm.token_count.prompt_details.cache_read"),
        cache_write_tokens=span.get_int("llm.token_count.prompt_details.cache_write"),
        reasoning_tokens=span.get_int("llm.token_count.completion_details.reasoning"),
    )
    call.url = span.get_str("url.full")
    base_url = params.get("base_url")  # the OpenAI Agents SDK's client
    call.api_base = base_url if isinstance(base_url, str) and base_url.startswith(("http://", "https://")) else None
    return call


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
