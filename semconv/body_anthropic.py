"""Anthropic Messages API bodies from a call, for Anthropic (and Claude on Bedrock).

Anthropic's `usage.input_tokens` excludes cache reads and writes, which OTel GenAI input tokens
include: they are subtracted here, and reported under `cache_read_input_tokens` /
`cache_creation_input_tokens`."""

from __future__ import annotations

import json
from typing import Any

from .model import LlmCall, Part, Usage
from .parts import arguments_object, text_of

_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_call": "tool_use",
    "tool_calls": "tool_use",
    "tool-calls": "tool_use",
    "function_call": "tool_use",
}


def stop_reason(call: LlmCall) -> str | None:
    if call.native_stop_reason:
        return call.native_stop_reason
    for message in call.output:
        if isinstance(message.get("finish_reason"), str):
            return _STOP.get(message["finish_reason"], message["finish_reason"])
    return _STOP.get(call.finish_reasons[0], call.finish_reasons[0]) if call.finish_reasons else None


def _block(p: Part) -> dict[str, Any] | None:
    kind = p.get("type")
    if kind == "text":
        return {"type": "text", "text": p.get("content", "")}
    if kind == "blob":
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": p.get("mime_type"), "data": p.get("content")},
        }
    if kind == "uri":
        return {"type": "image", "source": {"type": "url", "url": p.get("uri")}}
    if kind == "file":
        block = "image" if p.get("modality") == "image" else "document"
        return {"type": block, "source": {"type": "file", "file_id": p.get("file_id")}}
    if kind == "tool_call":
        args = arguments_object(p.get("arguments"))
        return {
            "type": "tool_use",
            "id": p.get("id"),
            "name": p.get("name"),
            "input": args if args is not None else {},
        }
    if kind == "tool_call_response":
        response = p.get("response")
        return {
            "type": "tool_result",
            "tool_use_id": p.get("id"),
            "content": response if isinstance(response, str) else json.dumps(response),
        }
    if kind == "reasoning":
        return {"type": "thinking", "thinking": p.get("content", "")}
    return None


def _blocks(parts: list[Part]) -> list[dict[str, Any]]:
    return [b for b in (_block(p) for p in parts) if b is not None]


def usage(u: Usage) -> dict[str, Any] | None:
    if not u.known():
        return None
    out: dict[str, Any] = {}
    cached = (u.cache_read_tokens or 0) + (u.cache_write_tokens or 0)
    if u.input_tokens is not None:
        out["input_tokens"] = u.input_tokens - cached if u.input_tokens >= cached else u.input_tokens
    if u.output_tokens is not None:
        out["output_tokens"] = u.output_tokens
    if u.cache_read_tokens:
        out["cache_read_input_tokens"] = u.cache_read_tokens
    if u.cache_write_tokens:
        out["cache_creation_input_tokens"] = u.cache_write_tokens
    return out


def request(call: LlmCall) -> dict[str, Any]:
    body: dict[str, Any] = {"model": call.request_model or call.response_model}
    system = list(call.system)
    messages: list[dict[str, Any]] = []
    for message in call.messages:
        if message["role"] == "system":
            system.extend(message["parts"])
            continue
        role = "assistant" if message["role"] == "assistant" else "user"
        blocks = _blocks(message["parts"])
        content: Any = blocks[0]["text"] if len(blocks) == 1 and blocks[0]["type"] == "text" else blocks
        messages.append({"role": role, "content": content})
    if "max_tokens" in call.params:
        body["max_tokens"] = call.params["max_tokens"]
    if system:
        body["system"] = text_of(system) if all(p.get("type") == "text" for p in system) else _blocks(system)
    body["messages"] = messages
    for key in ("temperature", "top_p", "top_k"):
        if key in call.params:
            body[key] = call.params[key]
    if "stop" in call.params:
        stop = call.params["stop"]
        body["stop_sequences"] = stop if isinstance(stop, list) else [stop]
    if call.tools:
        body["tools"] = [
            {
                "name": t["name"],
                **({"description": t["description"]} if "description" in t else {}),
                "input_schema": t.get("parameters", {"type": "object"}),
            }
            for t in call.tools
        ]
    if call.stream is not None:
        body["stream"] = call.stream
    return body


def response(call: LlmCall) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if call.response_id:
        body["id"] = call.response_id
    body.update({"type": "message", "role": "assistant", "model": call.response_model or call.request_model})
    body["content"] = [b for m in call.output for b in _blocks(m["parts"])]
    body["stop_reason"] = stop_reason(call)
    u = usage(call.usage)
    if u is not None:
        body["usage"] = u
    return body


def error_body(call: LlmCall) -> dict[str, Any]:
    assert call.error is not None
    return {"type": "error", "error": {"type": call.error.type, "message": call.error.message}}
