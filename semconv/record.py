"""Builds the Helicone log record (the Kafka contract, record-format.md) from one LLM call."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson

from helicone_otel import contract
from helicone_otel.contract import SCHEMA

from . import body_anthropic, body_gemini, body_openai, stream
from .model import LlmCall
from .options import MapOptions, omit_content
from .providers import AWS, TOGETHER, Provider, bedrock_model_in, bedrock_model_key, endpoint_url, resolve
from .span import SpanView

# Fixed namespace: the same (trace id, span id) gives the same record id in every process, forever.
_NAMESPACE = uuid.UUID("8f0c2a56-4b9e-5d7a-9a51-0c7e1f6b2d43")


def record_json(value: dict[str, Any]) -> bytes:
    """A record's value as it goes on Kafka: compact UTF-8 JSON (orjson; a value it refuses, such as an
    integer over 64 bits, goes through the standard library). NaN and infinities become null."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


_NAMESPACE_BYTES = _NAMESPACE.bytes


def record_id(trace_id: str, span_id: str) -> str:
    """`uuid5(_NAMESPACE, "{trace_id}:{span_id}")` in lower case, spelled out (uuid5 itself costs more
    than the rest of a span's id handling)."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + f"{trace_id.lower()}:{span_id.lower()}".encode()).digest())
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest[:16].hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


@dataclass(frozen=True)
class Record:
    """One Helicone async-log body plus the facts that travel beside it as Kafka headers."""

    id: str
    provider: str
    trace_id: str
    span_id: str
    service_name: str | None
    value: dict[str, Any]
    scores: dict[str, int | bool] = field(default_factory=dict)  # posted to Helicone's score API after it
    unparsed: tuple[str, ...] = ()  # content attributes that did not parse, kept as raw text in the value

    def json_bytes(self) -> bytes:
        return record_json(self.value)

    def headers(self) -> list[tuple[str, bytes]]:
        out = [
            (contract.CONTENT_TYPE, b"application/json"),
            (contract.HELICONE_SCHEMA, SCHEMA.encode()),
            (contract.TRACE_ID, self.trace_id.encode()),
            (contract.SPAN_ID, self.span_id.encode()),
            (contract.PROVIDER, self.provider.encode()),
        ]
        if self.service_name:
            out.append((contract.SERVICE_NAME, self.service_name.encode()))
        if self.scores:
            out.append((contract.SCORES, record_json(self.scores)))
        if self.unparsed:
            out.append((contract.UNPARSED, ",".join(self.unparsed).encode()))
        return out


def timestamp(ns: int) -> dict[str, int]:
    """Nanoseconds since the epoch as the async-log API's `{seconds, milliseconds}`."""
    ms_total = ns // 1_000_000
    return {"seconds": ms_total // 1000, "milliseconds": ms_total % 1000}


def _body_writer(provider: Provider, call: LlmCall) -> Any:
    if provider.wire == "gemini":
        return body_gemini
    if provider.wire == "anthropic" and (
        call.operation == "chat" or (provider is AWS and call.operation != "embeddings")
    ):
        return body_anthropic  # Bedrock's text completions (Llama, Titan) too: its usage reader wants these names
    return body_openai


def _stream_text(writer: Any, provider: Provider, operation: str, body: dict[str, Any]) -> str:
    """The response as its provider streams it, in the framing of the body writer that built it."""
    if writer is body_gemini:
        return stream.gemini(body)
    if writer is body_anthropic:
        return stream.anthropic(body)
    if operation == "responses":
        return stream.openai_responses(body)
    if operation == "text_completion":
        return stream.openai_completion(body)
    return stream.openai_chat(body, null_usage=provider is TOGETHER)


def build(span: SpanView, call: LlmCall, options: MapOptions) -> Record:
    """The record of one call, in the route and shape Helicone prices it by (docs/record-format.md)."""
    provider = resolve(call.provider, call.url or call.api_base, call.api_version)
    if provider is AWS and (whole := bedrock_model_in(call.url)):
        call = dataclasses.replace(call, request_model=whole)  # instrumentations cut region and vendor off
    model = call.request_model or call.response_model
    writer = _body_writer(provider, call)
    rid = record_id(span.trace_id, span.span_id)
    # Bedrock streams are picked by URL and travel as binary event stream, which Helicone's Bedrock
    # reader does not parse from a log: they are sent as the assembled JSON on the streaming URL
    streamed = bool(call.stream) and call.error is None and call.operation != "embeddings" and provider is not AWS

    request_json = writer.request(call)
    if call.error is not None:
        status = call.error.status
        response_json = writer.error_body(call)
    else:
        status = call.http_status if call.http_status is not None and call.http_status < 400 else 200
        response_json = writer.response(call)
    if provider is AWS:
        request_json.pop("stream", None)  # not in Bedrock's bodies
        if writer is body_openai and "usage" in response_json:  # embeddings: Helicone reads Anthropic's names
            response_json["usage"] = {"input_tokens": response_json["usage"].get("prompt_tokens"), "output_tokens": 0}

    meta = dict(call.meta)
    for key in options.resource_properties:
        value = span.resource.get(key)
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            meta[f"Helicone-Property-{key}"] = str(value)
    if model and "Helicone-Model-Override" not in meta and (provider is AWS or call.error is not None):
        # the response names no model (errors; Bedrock): Helicone would store the call with model ""
        meta["Helicone-Model-Override"] = bedrock_model_key(model) if provider is AWS else model
    if options.omit_request:
        request_json = omit_content(request_json, request=True)
        meta["Helicone-Omit-Request"] = "true"
    if options.omit_response:
        response_json = omit_content(response_json, request=False)
        meta["Helicone-Omit-Response"] = "true"

    # a stream's span may end before its chunks arrive (OpenInference's LlamaIndex): events are the call too
    end_ns = max(span.end_ns, span.start_ns, *(e.time_ns for e in span.events))
    timing: dict[str, Any] = {"startTime": timestamp(span.start_ns), "endTime": timestamp(end_ns)}
    if call.ttft_ms is not None:
        timing["timeToFirstToken"] = call.ttft_ms

    response_json = options.redact(response_json)
    # streams as the provider's SSE text: Helicone's stream readers read usage from nothing else, and
    # pick a stream reader by `stream` in the request (even Gemini's, whose own body has no such key)
    if streamed:
        request_json["stream"] = True
    body = (
        {"json": {}, "textBody": _stream_text(writer, provider, call.operation, response_json)}
        if streamed
        else {"json": response_json}
    )
    base = call.api_base or provider.base_url
    url = call.url or endpoint_url(provider, base, call)
    value = {
        "id": rid,
        "provider": provider.name,
        "providerRequest": {
            "url": url,
            "json": options.redact(request_json),
            "meta": options.redact(meta) | {"Helicone-Request-Id": rid},
        },
        "providerResponse": body | {"status": status, "headers": {}},
        "timing": timing,
    }
    service = span.resource.get("service.name")
    service_name = service if isinstance(service, str) else None
    return Record(
        rid, provider.name, span.trace_id, span.span_id, service_name, value, dict(call.scores), tuple(call.unparsed)
    )
