"""Span facts that every dialect reads the same way: errors and HTTP status, streaming and time to
first token, and the Helicone context (user, session, properties) from every dialect's keys."""

from __future__ import annotations

import ast
import functools
import json
import re
from typing import Any

from .model import CallError
from .span import SpanView, parse_json

STATUS_ERROR = 2
# "Error code: 429 - ..." (OpenAI, Anthropic SDKs), "status_code: 429", "HTTP 429", google-genai's
# "429 RESOURCE_EXHAUSTED. {...}" and botocore's "An error occurred (429) when calling ..."
_ERROR_CODE = re.compile(
    r"(?:Error code|status(?:_code)?|HTTP)[:= ]+(\d{3})\b|^(\d{3}) [A-Z_]{4,}\b|error occurred \((\d{3})\)",
    re.IGNORECASE,
)
_SDK_PREFIX = re.compile(r"^Error code: \d{3} - ")  # how the OpenAI and Anthropic SDKs word HTTP errors
# The Anthropic SDK from 2.17 words them "429 Slow down (request_id: req_1, path: /v1/messages, type:
# rate_limit_error)": the status, the body's error.message, then the facts it has in that order, and after a blank
# line the error's details as JSON when it has any.
_ANTHROPIC_ERROR = re.compile(r"(\d{3}) (.*) \(((?:error_code|request_id|path|type): [^()\n]*)\)(?:\n\n.*)?", re.DOTALL)
# time to first token in seconds: GenAI semconv after 1.41, pydantic-ai / logfire, older servers
TTFT_SECONDS = (
    "gen_ai.response.time_to_first_chunk",
    "gen_ai.client.operation.time_to_first_chunk",
    "gen_ai.server.time_to_first_token",
)
# span events at each streamed chunk (OpenLLMetry) or at the first one (OpenInference's LlamaIndex)
CHUNK_EVENTS = ("gen_ai.content.completion.chunk", "llm.content.completion.chunk", "First Token Stream Event")


def exception_event(span: SpanView) -> dict[str, Any]:
    for event in span.events:
        if event.name == "exception":
            return event.attrs
    return {}


def http_status(span: SpanView) -> int | None:
    status = span.get_int("http.response.status_code", "http.status_code")
    return status if status is not None and 100 <= status <= 599 else None


def read_error(span: SpanView, status: int | None) -> CallError | None:
    """The call's error, or None when the call succeeded (status OK/unset and no error attributes)."""
    exc = exception_event(span)
    failed = span.status_code == STATUS_ERROR or (status is not None and status >= 400)
    if not failed:
        return None
    message = exc.get("exception.message") or span.status_message or None
    if not isinstance(message, str):
        message = None
    worded = _ANTHROPIC_ERROR.fullmatch(message) if message else None
    if status is None or status < 400:
        found = _ERROR_CODE.search(message or "") or _ERROR_CODE.search(span.status_message or "")
        code = int(next(g for g in found.groups() if g)) if found else int(worded[1]) if worded else 0
        status = code if 400 <= code <= 599 else 500
    err_type = span.get_str("error.type") or _short_type(exc.get("exception.type"))
    detail = _provider_error(message) or (_anthropic_error(worded) if worded else None)
    if detail:
        err_type = detail.get("type") or err_type
        message = detail.get("message") or message
    elif message and _SDK_PREFIX.match(message):
        message = _SDK_PREFIX.sub("", message, count=1)
    return CallError(status=status, type=err_type, message=message)


def _short_type(value: Any) -> str | None:
    return value.rsplit(".", 1)[-1] if isinstance(value, str) and value else None


def _provider_error(message: str | None) -> dict[str, str] | None:
    """SDK errors read `Error code: 429 - {'type': 'error', 'error': {...}}`: recover the provider's body."""
    if not message or "{" not in message:
        return None
    body_text = message[message.index("{") :].strip()
    body: Any = parse_json(body_text)
    if body is None:
        try:
            body = ast.literal_eval(body_text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, str):  # a wrapper quoting the SDK's own message (OpenAI Agents SDK spans)
        return _provider_error(error)
    if not isinstance(error, dict):
        return None
    return {k: str(error[k]) for k in ("type", "message") if isinstance(error.get(k), str)}


def _anthropic_error(worded: re.Match[str]) -> dict[str, str]:
    """The provider's error type and message back from the Anthropic SDK's wording (see _ANTHROPIC_ERROR)."""
    facts = dict(item.split(": ", 1) for item in worded[3].split(", ") if ": " in item)
    detail = {"message": worded[2]}
    if facts.get("type"):
        detail["type"] = facts["type"]
    return detail


def chunk_events(span: SpanView) -> list[int]:
    return [e.time_ns for e in span.events if e.name in CHUNK_EVENTS]


def ttft_ms(span: SpanView) -> int | None:
    """Time to first token in ms: from an attribute when present, else the first chunk event."""
    seconds = span.get_float(*TTFT_SECONDS)
    if seconds is not None and seconds >= 0:
        return round(seconds * 1000)
    ms = span.get_float("ai.response.msToFirstChunk", "llm.response.time_to_first_token_ms")
    if ms is not None and ms >= 0:
        return round(ms)
    chunks = chunk_events(span)
    if chunks and span.start_ns and min(chunks) >= span.start_ns:
        return round((min(chunks) - span.start_ns) / 1e6)
    return None


# --- context: Helicone headers from every dialect's keys -------------------------------------------

_HELICONE_KEYS = {
    "helicone-user-id": "Helicone-User-Id",
    "helicone-session-id": "Helicone-Session-Id",
    "helicone-session-path": "Helicone-Session-Path",
    "helicone-session-name": "Helicone-Session-Name",
    "helicone-prompt-id": "Helicone-Prompt-Id",
    "helicone-request-id": "Helicone-Request-Id",
    "helicone-omit-request": "Helicone-Omit-Request",
    "helicone-omit-response": "Helicone-Omit-Response",
    "helicone-model-override": "Helicone-Model-Override",
}
_PLAIN_KEYS = {
    "user_id": "Helicone-User-Id",
    "userid": "Helicone-User-Id",
    "user.id": "Helicone-User-Id",
    "session_id": "Helicone-Session-Id",
    "sessionid": "Helicone-Session-Id",
    "session.id": "Helicone-Session-Id",
    "session_path": "Helicone-Session-Path",
    "session_name": "Helicone-Session-Name",
    "prompt_id": "Helicone-Prompt-Id",
}
_PROPERTY = "helicone-property-"
_HEADER_SAFE = re.compile(r"[^A-Za-z0-9_.\-]")


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (str, int, float)):
        text = str(value)
        return text if text else None
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return None


def add_context(meta: dict[str, str], key: str, value: Any, *, overwrite: bool = False) -> None:
    """Put one context key into Helicone headers: Helicone-style keys as they are, the well-known
    user/session/prompt keys on their header, anything else as a Helicone-Property-<key>."""
    if value is None or not key:
        return
    text = _scalar(value)
    if text is None:
        return
    header = _header(key)
    if overwrite or header not in meta:
        meta[header] = text


@functools.lru_cache(maxsize=4096)
def _header(key: str) -> str:
    """The Helicone header a context key goes to (the same few keys come with every span)."""
    lower = key.lower()
    if lower in _HELICONE_KEYS:
        return _HELICONE_KEYS[lower]
    if lower.startswith(_PROPERTY) and len(key) > len(_PROPERTY):
        return "Helicone-Property-" + _HEADER_SAFE.sub("_", key[len(_PROPERTY) :])
    if lower in _PLAIN_KEYS:
        return _PLAIN_KEYS[lower]
    return "Helicone-Property-" + _HEADER_SAFE.sub("_", key)


def read_context(span: SpanView) -> dict[str, str]:
    """Helicone headers from association properties, OpenInference, GenAI and Vercel context keys.

    Explicit Helicone-style keys win over well-known keys, which win over inferred ones."""
    meta: dict[str, str] = {}
    for key, value in span.with_prefix("traceloop.association.properties.").items():
        add_context(meta, key, value, overwrite=key.lower().startswith("helicone-"))
    for key, value in span.with_prefix("ai.telemetry.metadata.").items():
        add_context(meta, key, value)
    oi_metadata = span.get_json("metadata")
    if isinstance(oi_metadata, dict):
        for key, value in oi_metadata.items():
            add_context(meta, str(key), value)
    for key in ("user.id", "session.id"):
        add_context(meta, key, span.get_str(key))
    tags = span.attrs.get("tag.tags")
    if isinstance(tags, list) and tags:
        add_context(meta, "tags", ",".join(str(t) for t in tags))
    add_context(meta, "session_id", span.get_str("gen_ai.conversation.id"))
    add_context(meta, "user_id", span.get_str("gen_ai.user", "llm.user"))
    workflow = span.get_str("traceloop.workflow.name")
    if workflow:
        add_context(meta, "workflow", workflow)
    return meta
