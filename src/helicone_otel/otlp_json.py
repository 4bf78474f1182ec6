"""OTLP/JSON to and from protobuf messages, with the spec's hex trace and span ids.

protobuf's json_format reads `bytes` fields as base64, and would silently turn a hex id into garbage,
so ids are converted (and checked) before parsing and after printing.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from helicone_otel.otlp_depth import cut_json_values

_ID_LENGTHS = {"traceId": 16, "spanId": 8, "parentSpanId": 8}


class OtlpJsonError(ValueError):
    """The document is not a valid OTLP/JSON export request; the message says where."""


def _convert_ids(obj: dict[str, Any], where: str, to_proto: bool) -> None:
    for key, size in _ID_LENGTHS.items():
        value = obj.get(key)
        if value in (None, ""):
            continue
        if not isinstance(value, str):
            raise OtlpJsonError(f"{where}.{key}: expected a hex string")
        if to_proto:
            try:
                raw = bytes.fromhex(value)
            except ValueError as exc:
                raise OtlpJsonError(_not_hex(f"{where}.{key}", value, size)) from exc
            if len(raw) != size:
                raise OtlpJsonError(f"{where}.{key}: expected {size} bytes, got {len(raw)}")
            obj[key] = base64.b64encode(raw).decode()
        else:
            obj[key] = base64.b64decode(value).hex()


def _not_hex(where: str, value: str, size: int) -> str:
    """Says so when an id is base64: what protobuf's own JSON mapping writes, but OTLP/JSON does not."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) == size:
        return (f"{where}: {value!r} is a base64 id (protobuf's JSON mapping); OTLP/JSON ids are hex, "
                f"here {raw.hex()!r}")  # fmt: skip
    return f"{where}: not hex: {value[:40]!r}"


def _walk_spans(doc: dict[str, Any], to_proto: bool) -> None:
    for i, rs in enumerate(_list(doc, "resourceSpans", "")):
        for j, ss in enumerate(_list(rs, "scopeSpans", f"resourceSpans[{i}]")):
            for k, span in enumerate(_list(ss, "spans", f"resourceSpans[{i}].scopeSpans[{j}]")):
                where = f"resourceSpans[{i}].scopeSpans[{j}].spans[{k}]"
                if not isinstance(span, dict):
                    raise OtlpJsonError(f"{where}: expected an object")
                _convert_ids(span, where, to_proto)
                for n, link in enumerate(_list(span, "links", where)):
                    if isinstance(link, dict):
                        _convert_ids(link, f"{where}.links[{n}]", to_proto)


def _list(obj: Any, key: str, where: str) -> list[Any]:
    if not isinstance(obj, dict):
        raise OtlpJsonError(f"{where or '<root>'}: expected an object")
    value = obj.get(key) or []
    if not isinstance(value, list):
        raise OtlpJsonError(f"{where}.{key}: expected an array".lstrip("."))
    return value


def parse_request(data: bytes | str) -> ExportTraceServiceRequest:
    """Parse an OTLP/JSON `ExportTraceServiceRequest`; unknown fields are ignored."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise OtlpJsonError(f"not valid JSON: {exc}") from exc
    _walk_spans(doc, to_proto=True)
    request = ExportTraceServiceRequest()
    try:
        try:
            json_format.ParseDict(doc, request, ignore_unknown_fields=True)
        except json_format.ParseError:
            if not cut_json_values(doc):  # a value nested too deep costs only that value
                raise
            request = ExportTraceServiceRequest()
            json_format.ParseDict(doc, request, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise OtlpJsonError(str(exc)) from exc
    except (binascii.Error, ValueError, TypeError) as exc:
        raise OtlpJsonError(f"invalid value: {exc}") from exc
    return request


def request_to_dict(request: ExportTraceServiceRequest) -> dict[str, Any]:
    """The OTLP/JSON form of a request (hex ids), as a dict."""
    doc: dict[str, Any] = json_format.MessageToDict(request, use_integers_for_enums=True)
    _walk_spans(doc, to_proto=False)
    return doc
