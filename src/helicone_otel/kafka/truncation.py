"""Making an oversized record fit Kafka's size limit without dropping it: the largest string values
are cut, each with a marker saying how much was cut. A Helicone record is cut in its request and
response bodies, a streamed response inside its SSE frames (so that it stays SSE that Helicone's
stream readers parse); spans forwarded as OTLP are cut in their attribute values."""

from __future__ import annotations

import json
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from helicone_otel.semconv import stream
from helicone_otel.semconv.record import record_json

TRUNCATION_MARKER = "…[truncated {n} bytes by helicone-otel]"


def _cut(text: str, excess: int) -> str:
    keep = max(len(text) - excess - 64, 0)
    return text[:keep] + TRUNCATION_MARKER.format(n=len(text.encode()) - len(text[:keep].encode()))


def _string_slots(node: Any, out: list[tuple[int, Any, Any]]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str):
                out.append((len(value), node, key))
            else:
                _string_slots(value, out)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            if isinstance(value, str):
                out.append((len(value), node, index))
            else:
                _string_slots(value, out)


def fit_record(value: dict[str, Any], limit: int) -> tuple[dict[str, Any], bytes]:
    """Cut the largest strings of the request and response bodies until the record fits. A streamed
    response (SSE text) is cut inside its frames, so that it stays SSE that Helicone's readers parse."""
    value = json.loads(json.dumps(value))  # work on a copy
    response = value["providerResponse"]
    sse = stream.frames(response["textBody"]) if isinstance(response.get("textBody"), str) else None
    for _ in range(64):
        if sse is not None:
            response["textBody"] = stream.render(sse)
        data = record_json(value)
        if len(data) <= limit:
            return value, data
        slots: list[tuple[int, Any, Any]] = []
        _string_slots(value["providerRequest"]["json"], slots)
        _string_slots(response["json"], slots)
        _string_slots([data for _, data in sse or [] if not isinstance(data, str)], slots)
        if not slots:
            break
        _, container, key = max(slots, key=lambda s: s[0])
        container[key] = _cut(container[key], len(data) - limit)
    raise ValueError(f"record {value.get('id')} cannot be cut below {limit} bytes")


def fit_spans(request: ExportTraceServiceRequest, limit: int) -> tuple[bytes, bool]:
    """Serialize; if over `limit`, cut the largest string attribute values (span and events) to fit."""
    data = request.SerializeToString()
    if len(data) <= limit:
        return data, False
    request = ExportTraceServiceRequest.FromString(data)
    for _ in range(64):
        values: list[AnyValue] = []
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    values.extend(kv.value for kv in span.attributes if kv.value.HasField("string_value"))
                    for event in span.events:
                        values.extend(kv.value for kv in event.attributes if kv.value.HasField("string_value"))
        if not values:
            break
        largest = max(values, key=lambda v: len(v.string_value))
        largest.string_value = _cut(largest.string_value, len(data) - limit)
        data = request.SerializeToString()
        if len(data) <= limit:
            return data, True
    raise ValueError(f"spans cannot be cut below {limit} bytes")
