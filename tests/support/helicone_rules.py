"""What Helicone's own pipeline stores for a posted record: provider, model, tokens, stream flag.

Written from Helicone's source (upstream commit 67df07b; file names below), independently of this
project's encoders, so that a test can ask "would Helicone price this record?" and fail when a record
breaks one of its rules:
- worker routes (`worker/src/routers/api/apiRouter.ts`): the route decides the provider; the stored
  request is the whole envelope, so no request model is read; `isStream` is `json.stream == true`;
  the model comes from the response's `model`, then the URL path (`/models/X`, `/model/X`).
- the custom trace route (`valhalla/jawn/src/managers/customTraceManager.ts`): the provider is the
  body's `provider` (default OPENAI); the stored request is `providerRequest.json`, so its `model` is
  read; the path is unknown (`async-unknown-path`); the body reader still treats the call as a stream
  when `json.stream` is true (`ResponseBodyHandler.processBody`).
- `Helicone-Model-Override` in meta wins over every other model (`calculateModel`).
- stream readers read usage only from SSE text in `textBody` (`*StreamProcessor.ts`); the JSON readers
  read OpenAI / Responses names (`genericBodyProcessor.ts`), Anthropic names, Gemini `usageMetadata`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

WORKER = {"/oai/v1/log": "OPENAI", "/anthropic/v1/log": "ANTHROPIC", "/googleapis/v1/log": "GOOGLE",
          "/custom/v1/log": "CUSTOM"}  # fmt: skip
CUSTOM_TRACE = "/v1/trace/custom/log"
# Names with rows in packages/cost/providers/mappings.ts (and so a cost); CUSTOM and lower case have none.
PRICED = {"OPENAI", "ANTHROPIC", "GOOGLE", "AZURE", "AWS", "BEDROCK", "GROQ", "MISTRAL", "COHERE", "TOGETHER",
          "OPENROUTER", "DEEPSEEK", "X", "FIREWORKS", "PERPLEXITY", "DEEPINFRA", "CEREBRAS"}  # fmt: skip


@dataclass
class Stored:
    provider: str
    model: str
    is_stream: bool
    prompt_tokens: int | None = None  # as Helicone's reader reports them
    completion_tokens: int | None = None
    cache_read_tokens: int | None = None
    response: dict[str, Any] = field(default_factory=dict)  # the response body as the reader assembled it
    text: str = ""  # the completion text the reader found

    @property
    def priced(self) -> bool:
        """Helicone would look the call up in its cost tables: a provider it has tables for, a model and
        tokens. (Whether its table has a row for that very model is the table's business: Titan has none.)"""
        return self.provider in PRICED and bool(self.model) and bool(self.prompt_tokens or self.completion_tokens)


def _sse(text: str) -> list[Any]:
    out = []
    for line in text.splitlines():
        if line.startswith("data: ") and line[6:].strip() != "[DONE]":
            out.append(json.loads(line[6:]))
    return out


def _openai_stream(chunks: list[Any]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    choices: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        body.update({k: chunk[k] for k in ("id", "model") if k in chunk})
        if chunk.get("usage"):
            body["usage"] = chunk["usage"]
        if chunk.get("type") == "response.completed":  # Responses API
            return dict(chunk["response"])
        for c in chunk.get("choices") or []:
            choice = choices.setdefault(c.get("index", 0), {"message": {"role": "assistant", "content": None}})
            delta = c.get("delta") or {}
            if delta.get("content") is not None:
                choice["message"]["content"] = (choice["message"]["content"] or "") + delta["content"]
            for call in delta.get("tool_calls") or []:
                calls = choice["message"].setdefault("tool_calls", [])
                calls.append({k: v for k, v in call.items() if k != "index"})
            if "text" in c:
                choice["text"] = choice.get("text", "") + c["text"]
            if c.get("finish_reason"):
                choice["finish_reason"] = c["finish_reason"]
    body["choices"] = [choices[i] for i in sorted(choices)]
    return body


def _anthropic_stream(events: list[Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"content": []}
    for event in events:
        if event.get("type") == "message_start":
            message = event["message"]
            body.update({k: v for k, v in message.items() if k != "content"})
        elif event.get("type") == "content_block_start":
            body["content"].append(dict(event["content_block"]))
        elif event.get("type") == "content_block_delta":
            block, delta = body["content"][event["index"]], event["delta"]
            if delta["type"] == "text_delta":
                block["text"] = block.get("text", "") + delta["text"]
            elif delta["type"] == "input_json_delta":
                block["input"] = json.loads(delta["partial_json"])
            elif delta["type"] == "thinking_delta":
                block["thinking"] = block.get("thinking", "") + delta["thinking"]
        elif event.get("type") == "message_delta":
            body["stop_reason"] = event["delta"].get("stop_reason")
            if "usage" in event:
                body["usage"] = {**body.get("usage", {}), **event["usage"]}
    return body


def _usage(provider: str, body: dict[str, Any]) -> tuple[int | None, int | None, int | None]:
    meta = body.get("usageMetadata")
    if isinstance(meta, dict):  # googleBodyProcessor: Gemini's own counts
        return meta.get("promptTokenCount"), meta.get("candidatesTokenCount"), meta.get("cachedContentTokenCount")
    usage = body.get("usage")
    if not isinstance(usage, dict):
        return None, None, None
    if provider in ("ANTHROPIC", "AWS", "BEDROCK", "GOOGLE") and "input_tokens" in usage:
        cache = usage.get("cache_read_input_tokens")
        total_in = (usage.get("input_tokens") or 0) + (cache or 0) + (usage.get("cache_creation_input_tokens") or 0)
        return total_in, usage.get("output_tokens"), cache
    details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details") or {}
    prompt = usage.get("prompt_tokens", usage.get("input_tokens"))
    completion = usage.get("completion_tokens", usage.get("output_tokens"))
    return prompt, completion, details.get("cached_tokens")


def _text(body: dict[str, Any]) -> str:
    if isinstance(body.get("content"), list):
        return "".join(b.get("text", "") for b in body["content"] if b.get("type") == "text")
    if isinstance(body.get("candidates"), list):
        return "".join(
            p.get("text", "") for c in body["candidates"] for p in c.get("content", {}).get("parts", []) if "text" in p
        )
    if isinstance(body.get("output"), list):
        return "".join(c.get("text", "") for o in body["output"] for c in o.get("content") or [] if "text" in c)
    return "".join((c.get("message") or {}).get("content") or c.get("text") or "" for c in body.get("choices") or [])


_PATH_MODEL = (re.compile(r"/engines/([^/]+)"), re.compile(r"models/([^/:?]+)"), re.compile(r"/model/([^/:?]+)"))


def stored(path: str, body: dict[str, Any]) -> Stored:
    """What Helicone stores when `body` is posted to `path`."""
    request, response = body["providerRequest"], body["providerResponse"]
    meta = {k.lower(): v for k, v in request.get("meta", {}).items()}
    if path in WORKER:
        provider = WORKER[path]
        request_model = None
        url_path = request.get("url", "")
    else:
        assert path == CUSTOM_TRACE, path
        provider = body.get("provider") or "OPENAI"
        request_model = request["json"].get("model")
        url_path = "async-unknown-path"
    is_stream = request["json"].get("stream") is True
    if response.get("textBody"):  # DBLoggable.ts: `if (providerResponse.textBody)`, a null one is no stream
        frames = _sse(response["textBody"])
        if provider == "GOOGLE":
            assembled: dict[str, Any] = {}
            for frame in frames:
                assembled.setdefault("candidates", []).extend(frame.get("candidates", []))
                assembled.update({k: v for k, v in frame.items() if k != "candidates"})
        elif provider == "ANTHROPIC" or "claude" in str(request_model or meta.get("helicone-model-override", "")):
            assembled = _anthropic_stream(frames)
        else:
            assembled = _openai_stream(frames)
    else:
        assembled = response["json"]
    path_model = next((m.group(1) for rx in _PATH_MODEL if (m := rx.search(url_path))), None)
    model = meta.get("helicone-model-override") or assembled.get("model") or request_model or path_model or ""
    prompt, completion, cache = _usage(provider, assembled)
    return Stored(provider, model, is_stream, prompt, completion, cache, assembled, _text(assembled))


def stored_record(value: dict[str, Any]) -> Stored:
    """What Helicone stores for a record posted where this project's route rule sends it."""
    from helicone_otel.contract import log_route

    return stored(log_route(value["provider"]).path, value)


def response_of(value: dict[str, Any]) -> dict[str, Any]:
    """A record's response body as Helicone reads it: the JSON, or the SSE text assembled."""
    return stored_record(value).response
