"""Gemini `generateContent` bodies from a call, for Google (AI Studio and Vertex).

Helicone's Google reader (`googleBodyProcessor.ts`) reads usage only from Gemini's own
`usageMetadata`; an OpenAI-shaped body there keeps the prompt tokens and loses the completion tokens.
So Google calls are written in Gemini's native shape: `contents` / `systemInstruction` / `tools`
(`functionDeclarations`) / `generationConfig` in the request, `candidates` / `usageMetadata` /
`modelVersion` in the response."""

from __future__ import annotations

from typing import Any

from .model import LlmCall, Message, Part
from .parts import arguments_object

_FINISH = {
    "stop": "STOP",
    "end_turn": "STOP",
    "tool_calls": "STOP",
    "tool_call": "STOP",
    "length": "MAX_TOKENS",
    "max_tokens": "MAX_TOKENS",
    "content_filter": "SAFETY",
}
_CONFIG = {
    "temperature": "temperature",
    "top_p": "topP",
    "top_k": "topK",
    "max_tokens": "maxOutputTokens",
    "stop": "stopSequences",
    "n": "candidateCount",
    "seed": "seed",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
}
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}  # fmt: skip


def _part(p: Part) -> dict[str, Any] | None:
    kind = p.get("type")
    if kind == "text":
        return {"text": p.get("content", "")}
    if kind == "reasoning":
        return {"text": p.get("content", ""), "thought": True}
    if kind == "tool_call":
        args = arguments_object(p.get("arguments"))
        return {"functionCall": {"name": p.get("name"), "args": args if isinstance(args, dict) else {}}}
    if kind == "tool_call_response":
        response = p.get("response")
        return {
            "functionResponse": {
                "name": p.get("name") or p.get("id"),
                "response": response if isinstance(response, dict) else {"result": response},
            }
        }
    if kind == "blob":
        return {"inlineData": {"mimeType": p.get("mime_type"), "data": p.get("content")}}
    if kind in ("uri", "file"):
        return {"fileData": {"fileUri": p.get("uri") or p.get("file_id"), "mimeType": p.get("mime_type")}}
    return None


def _parts(parts: list[Part]) -> list[dict[str, Any]]:
    return [g for g in (_part(p) for p in parts) if g is not None]


def _content(message: Message) -> dict[str, Any]:
    role = "model" if message["role"] == "assistant" else "user"
    return {"role": role, "parts": _parts(message["parts"])}


def request(call: LlmCall) -> dict[str, Any]:
    if call.operation == "embeddings":
        model = call.request_model or call.response_model
        return {
            "requests": [
                {"model": f"models/{model}", "content": {"parts": [{"text": t}]}} for t in call.embedding_inputs
            ]
        }
    body: dict[str, Any] = {}  # the model is not in Gemini's body: it is in the URL, where Helicone reads it
    system = list(call.system)
    contents = []
    for message in call.messages:
        if message["role"] in ("system", "developer"):
            system.extend(message["parts"])
        else:
            contents.append(_content(message))
    body["contents"] = contents
    if system:
        body["systemInstruction"] = {"parts": _parts(system)}
    if call.tools:
        body["tools"] = [{"functionDeclarations": call.tools}]
    config = {_CONFIG[k]: v for k, v in call.params.items() if k in _CONFIG}
    if config:
        body["generationConfig"] = config
    return body


def usage(call: LlmCall) -> dict[str, Any] | None:
    u = call.usage
    if not u.known():
        return None
    out: dict[str, Any] = {}
    if u.input_tokens is not None:
        out["promptTokenCount"] = u.input_tokens  # Gemini counts cached content inside, as OTel does
    # Gemini's candidatesTokenCount leaves the thoughts out
    candidates = u.output_tokens
    if candidates is not None and u.output_includes_reasoning:
        candidates -= u.reasoning_tokens or 0
    if candidates is not None:
        out["candidatesTokenCount"] = candidates
    if u.total_tokens is not None:
        out["totalTokenCount"] = u.total_tokens
    elif u.input_tokens is not None and candidates is not None:
        out["totalTokenCount"] = u.input_tokens + candidates + (u.reasoning_tokens or 0)
    if u.cache_read_tokens:
        out["cachedContentTokenCount"] = u.cache_read_tokens
    if u.reasoning_tokens:
        out["thoughtsTokenCount"] = u.reasoning_tokens
    return out


def _finish(call: LlmCall, message: Message, index: int) -> str | None:
    value = message.get("finish_reason")
    if not isinstance(value, str):
        value = call.finish_reasons[index] if index < len(call.finish_reasons) else None
    return _FINISH.get(value.lower(), value.upper()) if value else None


def response(call: LlmCall) -> dict[str, Any]:
    if call.operation == "embeddings":
        return {"embeddings": []}  # the vectors are not in any span
    body: dict[str, Any] = {"candidates": []}
    for i, message in enumerate(call.output):
        candidate: dict[str, Any] = {"content": _content(message), "index": i}
        finish = _finish(call, message, i)
        if finish:
            candidate["finishReason"] = finish
        body["candidates"].append(candidate)
    u = usage(call)
    if u is not None:
        body["usageMetadata"] = u
    model = call.response_model or call.request_model
    if model:
        body["modelVersion"] = model
    if call.response_id:
        body["responseId"] = call.response_id
    return body


def error_body(call: LlmCall) -> dict[str, Any]:
    assert call.error is not None
    status = _STATUS.get(call.error.status, "UNKNOWN")
    return {"error": {"code": call.error.status, "message": call.error.message, "status": status}}
