"""Builds the Helicone log record (the Kafka contract, record-format.md) from one LLM call."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from . import body_anthropic, body_openai
from .model import LlmCall
from .options import MapOptions, omit_content
from .providers import endpoint_path, resolve
from .span import SpanView

SCHEMA = "async-log/v1"
# Fixed namespace: the same (trace id, span id) gives the same record id in every process, forever.
_NAMESPACE = uuid.UUID("8f0c2a56-4b9e-5d7a-9a51-0c7e1f6b2d43")


def record_json(value: dict[str, Any]) -> bytes:
    """A record's value as it goes on Kafka: compact UTF-8 JSON."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def record_id(trace_id: str, span_id: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{trace_id.lower()}:{span_id.lower()}"))


@dataclass(frozen=True)
class Record:
    """One Helicone async-log body plus the facts that travel beside it as Kafka headers."""

    id: str
    provider: str
    trace_id: str
    span_id: str
    service_name: str | None
    value: dict[str, Any]

    def json_bytes(self) -> bytes:
        return record_json(self.value)

    def headers(self) -> list[tuple[str, bytes]]:
        out = [
            ("content-type", b"application/json"),
            ("helicone-schema", SCHEMA.encode()),
            ("trace-id", self.trace_id.encode()),
            ("span-id", self.span_id.encode()),
            ("provider", self.provider.encode()),
        ]
        if self.service_name:
            out.append(("service-name", self.service_name.encode()))
        return out


def timestamp(ns: int) -> dict[str, int]:
    """Nanoseconds since the epoch as the async-log API's `{seconds, milliseconds}`."""
    ms_total = ns // 1_000_000
    return {"seconds": ms_total // 1000, "milliseconds": ms_total % 1000}


def _url(call: LlmCall, base_url: str, path: str) -> str:
    if call.url:
        return call.url
    base = call.api_base or base_url
    return base.rstrip("/") + path if base else path


def build(span: SpanView, call: LlmCall, options: MapOptions) -> Record:
    model = call.request_model or call.response_model
    provider = resolve(call.provider, call.url or call.api_base, model)
    wire = body_anthropic if provider.wire == "anthropic" and call.operation == "chat" else body_openai
    rid = record_id(span.trace_id, span.span_id)

    request_json = wire.request(call)
    if call.error is not None:
        status = call.error.status
        response_json = wire.error_body(call)
    else:
        status = call.http_status if call.http_status is not None and call.http_status < 400 else 200
        response_json = wire.response(call)

    meta = dict(call.meta)
    for key in options.resource_properties:
        value = span.resource.get(key)
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            meta[f"Helicone-Property-{key}"] = str(value)
    if options.omit_request:
        request_json = omit_content(request_json, request=True)
        meta["Helicone-Omit-Request"] = "true"
    if options.omit_response:
        response_json = omit_content(response_json, request=False)
        meta["Helicone-Omit-Response"] = "true"

    end_ns = max(span.end_ns, span.start_ns)
    timing: dict[str, Any] = {"startTime": timestamp(span.start_ns), "endTime": timestamp(end_ns)}
    if call.ttft_ms is not None:
        timing["timeToFirstToken"] = call.ttft_ms

    value = {
        "id": rid,
        "provider": provider.name,
        "providerRequest": {
            "url": _url(call, provider.base_url, endpoint_path(provider, call.operation)),
            "json": options.redact(request_json),
            "meta": options.redact(meta) | {"Helicone-Request-Id": rid},
        },
        "providerResponse": {"json": options.redact(response_json), "status": status, "headers": {}},
        "timing": timing,
    }
    service = span.resource.get("service.name")
    return Record(rid, provider.name, span.trace_id, span.span_id, service if isinstance(service, str) else None, value)
