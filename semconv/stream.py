"""A streamed call's response as the provider's own SSE text, rebuilt from the finished response body.

Helicone's stream processors read usage only from SSE text (`providerResponse.textBody`), each in its
provider's framing: OpenAI `data: {chunk}` lines ending `data: [DONE]` with usage on the last chunk
(Together wants `"usage": null` on every other chunk), Anthropic `message_start` (model, input usage)
through `message_delta` (output usage), Gemini `data: {candidates, usageMetadata}`. The span holds the
whole response, not its chunks, so each stream is written as the fewest chunks that carry it."""

from __future__ import annotations

import json
from typing import Any


def _frame(data: Any, event: str | None = None) -> str:
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return (f"event: {event}\n" if event else "") + f"data: {text}\n\n"


def openai_chat(body: dict[str, Any], null_usage: bool = False) -> str:
    """Chat completion chunks: one delta per choice, a finish chunk, then usage when known."""
    base: dict[str, Any] = {k: body[k] for k in ("id", "created", "model") if k in body}
    base["object"] = "chat.completion.chunk"
    extra: dict[str, Any] = {"usage": None} if null_usage else {}
    chunks: list[dict[str, Any]] = []
    for choice in body.get("choices", []):
        message = choice.get("message", {})
        delta: dict[str, Any] = {"role": "assistant"}
        if message.get("content") is not None:
            delta["content"] = message["content"]
        if message.get("tool_calls"):
            delta["tool_calls"] = [{"index": i, **c} for i, c in enumerate(message["tool_calls"])]
        index = choice.get("index", 0)
        chunks.append({**base, "choices": [{"index": index, "delta": delta, "finish_reason": None}], **extra})
        finish = choice.get("finish_reason")
        chunks.append({**base, "choices": [{"index": index, "delta": {}, "finish_reason": finish}], **extra})
    if "usage" in body:
        chunks.append({**base, "choices": [], "usage": body["usage"]})
    elif null_usage and chunks:
        chunks[-1].pop("usage")
    return "".join(_frame(c) for c in chunks) + _frame("[DONE]")


def openai_completion(body: dict[str, Any]) -> str:
    base = {k: body[k] for k in ("id", "created", "model", "object") if k in body}
    chunks = [{**base, "choices": [c]} for c in body.get("choices", [])]
    if "usage" in body:
        chunks.append({**base, "choices": [], "usage": body["usage"]})
    return "".join(_frame(c) for c in chunks) + _frame("[DONE]")


def openai_responses(body: dict[str, Any]) -> str:
    """Responses API events: created, then completed with the whole response (which holds usage)."""
    created = {k: v for k, v in body.items() if k not in ("output", "usage")} | {"status": "in_progress", "output": []}
    return _frame({"type": "response.created", "response": created}, "response.created") + _frame(
        {"type": "response.completed", "response": body}, "response.completed"
    )


def anthropic(body: dict[str, Any]) -> str:
    usage = dict(body.get("usage") or {})
    output_tokens = usage.pop("output_tokens", None)
    start = {k: v for k, v in body.items() if k not in ("content", "stop_reason", "usage")}
    start |= {"content": [], "stop_reason": None, "stop_sequence": None}
    if body.get("usage"):
        start["usage"] = usage | {"output_tokens": 0}
    frames = [_frame({"type": "message_start", "message": start}, "message_start")]
    for i, block in enumerate(body.get("content", [])):
        kind = block.get("type")
        if kind == "text":
            opening: dict[str, Any] = {"type": "text", "text": ""}
            delta: dict[str, Any] = {"type": "text_delta", "text": block.get("text", "")}
        elif kind == "tool_use":
            opening = {**block, "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block.get("input", {}))}
        elif kind == "thinking":
            opening = {"type": "thinking", "thinking": ""}
            delta = {"type": "thinking_delta", "thinking": block.get("thinking", "")}
        else:
            continue
        frames.append(
            _frame({"type": "content_block_start", "index": i, "content_block": opening}, "content_block_start")
        )
        frames.append(_frame({"type": "content_block_delta", "index": i, "delta": delta}, "content_block_delta"))
        frames.append(_frame({"type": "content_block_stop", "index": i}, "content_block_stop"))
    final: dict[str, Any] = {"type": "message_delta", "delta": {"stop_reason": body.get("stop_reason")}}
    if output_tokens is not None:
        final["usage"] = {"output_tokens": output_tokens}
    frames.append(_frame(final, "message_delta"))
    frames.append(_frame({"type": "message_stop"}, "message_stop"))
    return "".join(frames)


def gemini(body: dict[str, Any]) -> str:
    """`streamGenerateContent?alt=sse`: one chunk with the candidates and the usage."""
    return _frame(body)


def frames(text: str) -> list[tuple[str | None, Any]]:
    """The (event, data) frames of SSE text as this module writes it, data JSON-decoded where it is
    JSON: what a size limit cuts inside, before `render` writes the stream again."""
    out: list[tuple[str | None, Any]] = []
    for block in text.split("\n\n"):
        event, data = None, None
        for line in block.split("\n"):
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
        if data is not None:
            try:
                out.append((event, json.loads(data) if data != "[DONE]" else data))
            except ValueError:
                out.append((event, data))
    return out


def render(stream_frames: list[tuple[str | None, Any]]) -> str:
    return "".join(_frame(data, event) for event, data in stream_frames)
