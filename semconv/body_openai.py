"""OpenAI wire-format bodies (chat completions, completions, embeddings, responses) from a call.

Used for OpenAI and every OpenAI-compatible provider, so Helicone reads model and usage where it
expects them: `usage.prompt_tokens` (cached included), `prompt_tokens_details.cached_tokens`,
`completion_tokens_details.reasoning_tokens`."""

from __future__ import annotations

import json
from typing import Any

from .model import LlmCall, Message, Part, Usage
from .parts import arguments_string, text_of

_FINISH = {
    "tool_call": "tool_calls",
    "tool_calls": "tool_calls",
    "tool-calls": "tool_calls",
    "tool_use": "tool_calls",
    "function_call": "tool_calls",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "content-filter": "content_filter",
}


def finish_reason(value: str | None) -> str | None:
    return _FINISH.get(value, value) if value else None


def _content(parts: list[Part]) -> str | list[dict[str, Any]] | None:
    if len(parts) == 1 and parts[0].get("type") == "text":  # most messages
        return text_of(parts)
    visible = [p for p in parts if p.get("type") in ("text", "uri", "blob", "file")]
    if not visible:
        return None
    if all(p["type"] == "text" for p in visible):
        return text_of(visible)
    out: list[dict[str, Any]] = []
    for p in visible:
        if p["type"] == "text":
            out.append({"type": "text", "text": p.get("content", "")})
        elif p["type"] == "uri":
            out.append({"type": "image_url", "image_url": {"url": p.get("uri")}})
        elif p["type"] == "file":  # an uploaded file, by id (GenAI semconv after 1.41)
            out.append({"type": "file", "file": {"file_id": p.get("file_id")}})
        else:
            out.append(
                {
                    "type": "image_url",
                    "image_url": {"url": f"data:{p.get('mime_type') or 'image/png'};base64,{p.get('content', '')}"},
                }
            )
    return out


def _tool_calls(parts: list[Part]) -> list[dict[str, Any]]:
    return [
        {
            "id": p.get("id"),
            "type": "function",
            "function": {"name": p.get("name"), "arguments": arguments_string(p.get("arguments"))},
        }
        for p in parts
        if p.get("type") == "tool_call"
    ]


def _response_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def chat_messages(call: LlmCall) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if call.system:
        out.append({"role": "system", "content": text_of(call.system)})
    for message in call.messages:
        parts = message["parts"]
        results = [p for p in parts if p.get("type") == "tool_call_response"]
        for r in results:
            out.append({"role": "tool", "tool_call_id": r.get("id"), "content": _response_text(r.get("response"))})
        if results and len(results) == len(parts):
            continue
        entry: dict[str, Any] = {"role": message["role"], "content": _content(parts)}
        calls = _tool_calls(parts)
        if calls:
            entry["tool_calls"] = calls
        out.append(entry)
    return out


def usage(u: Usage) -> dict[str, Any] | None:
    if not u.known():
        return None
    out: dict[str, Any] = {}
    if u.input_tokens is not None:
        out["prompt_tokens"] = u.input_tokens
    if u.output_tokens is not None:
        out["completion_tokens"] = u.output_tokens
    if u.total_tokens is not None:
        out["total_tokens"] = u.total_tokens
    elif u.input_tokens is not None and u.output_tokens is not None:
        out["total_tokens"] = u.input_tokens + u.output_tokens
    if u.cache_read_tokens:
        out["prompt_tokens_details"] = {"cached_tokens": u.cache_read_tokens}
    if u.reasoning_tokens:
        out["completion_tokens_details"] = {"reasoning_tokens": u.reasoning_tokens}
    return out


def _tools(call: LlmCall) -> list[dict[str, Any]]:
    return [{"type": "function", "function": t} for t in call.tools]


def request(call: LlmCall) -> dict[str, Any]:
    body: dict[str, Any] = {"model": call.request_model or call.response_model}
    if call.operation == "embeddings":
        body["input"] = call.embedding_inputs
        return body
    if call.operation == "responses":
        return _responses_request(call, body)
    if call.operation == "text_completion":
        body["prompt"] = "".join(text_of(m["parts"]) for m in call.messages)
    else:
        body["messages"] = chat_messages(call)
    body.update(call.params)
    if call.tools:
        body["tools"] = _tools(call)
    if call.stream is not None:
        body["stream"] = call.stream
    return body


def response(call: LlmCall) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if call.response_id:
        body["id"] = call.response_id
    model = call.response_model or call.request_model
    if call.operation == "embeddings":
        body.update({"object": "list", "model": model})
        u = call.usage
        if u.input_tokens is not None:
            body["usage"] = {
                "prompt_tokens": u.input_tokens,
                "total_tokens": u.total_tokens if u.total_tokens is not None else u.input_tokens,
            }
        return body
    if call.operation == "responses":
        return _responses_response(call, body, model)
    if call.operation == "text_completion":
        body.update({"object": "text_completion", "model": model})
        body["choices"] = [
            {"index": i, "text": text_of(m["parts"]), "finish_reason": finish_reason(_finish(call, m, i))}
            for i, m in enumerate(call.output)
        ]
    else:
        body.update({"object": "chat.completion", "model": model})
        body["choices"] = [_choice(call, m, i) for i, m in enumerate(call.output)]
    usage_body = usage(call.usage)
    if usage_body is not None:
        body["usage"] = usage_body
    return body


def _finish(call: LlmCall, message: Message, index: int) -> str | None:
    value = message.get("finish_reason")
    if isinstance(value, str):
        return value
    return call.finish_reasons[index] if index < len(call.finish_reasons) else None


def _choice(call: LlmCall, message: Message, index: int) -> dict[str, Any]:
    parts = message["parts"]
    msg: dict[str, Any] = {"role": "assistant", "content": _content(parts)}
    calls = _tool_calls(parts)
    if calls:
        msg["tool_calls"] = calls
    return {"index": index, "message": msg, "finish_reason": finish_reason(_finish(call, message, index))}


def _function_call(p: Part) -> dict[str, Any]:
    """A GenAI tool_call part as a Responses API `function_call` item."""
    return {"type": "function_call", "call_id": p.get("id"), "name": p.get("name"),
            "arguments": arguments_string(p.get("arguments"))}  # fmt: skip


def _responses_request(call: LlmCall, body: dict[str, Any]) -> dict[str, Any]:
    system = call.system + [p for m in call.messages if m["role"] in ("system", "developer") for p in m["parts"]]
    if system:
        body["instructions"] = text_of(system)
    items: list[dict[str, Any]] = []
    for message in call.messages:
        if message["role"] in ("system", "developer"):
            continue
        for p in message["parts"]:
            if p.get("type") == "tool_call":
                items.append(_function_call(p))
            elif p.get("type") == "tool_call_response":
                items.append(
                    {
                        "type": "function_call_output",
                        "call_id": p.get("id"),
                        "output": _response_text(p.get("response")),
                    }
                )
        text = text_of(message["parts"])
        if text:
            items.append({"role": message["role"], "content": text})
    body["input"] = items
    if call.tools:
        body["tools"] = [{"type": "function", **t} for t in call.tools]
    for key, value in call.params.items():
        body["max_output_tokens" if key == "max_tokens" else key] = value
    if call.stream is not None:
        body["stream"] = call.stream
    return body


def _responses_response(call: LlmCall, body: dict[str, Any], model: str | None) -> dict[str, Any]:
    body.update({"object": "response", "model": model, "status": "failed" if call.error else "completed"})
    output: list[dict[str, Any]] = []
    for message in call.output:
        text = text_of(message["parts"])
        if text:
            output.append({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]})
        for p in message["parts"]:
            if p.get("type") == "tool_call":
                output.append(_function_call(p))
    body["output"] = output
    u = call.usage
    if u.known():
        usage_body: dict[str, Any] = {}
        if u.input_tokens is not None:
            usage_body["input_tokens"] = u.input_tokens
        if u.output_tokens is not None:
            usage_body["output_tokens"] = u.output_tokens
        if u.input_tokens is not None and u.output_tokens is not None:
            usage_body["total_tokens"] = u.total_tokens or u.input_tokens + u.output_tokens
        if u.cache_read_tokens:
            usage_body["input_tokens_details"] = {"cached_tokens": u.cache_read_tokens}
        if u.reasoning_tokens:
            usage_body["output_tokens_details"] = {"reasoning_tokens": u.reasoning_tokens}
        body["usage"] = usage_body
    return body


def error_body(call: LlmCall) -> dict[str, Any]:
    assert call.error is not None
    return {"error": {"type": call.error.type, "message": call.error.message}}
