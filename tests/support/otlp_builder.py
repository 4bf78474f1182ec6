"""Hand-written OTLP for dialects that cannot run in this suite (the Vercel AI SDK is JavaScript) and
for broken input no real instrumentation emits on purpose."""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

T0 = 1_764_390_000_123_000_000  # 2025-11-29T04:20:00.123Z in ns


def any_value(value: Any) -> AnyValue:
    if isinstance(value, AnyValue):
        return value
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list):
        out = AnyValue()
        out.array_value.values.extend(any_value(v) for v in value)
        return out
    if isinstance(value, dict):
        out = AnyValue()
        out.kvlist_value.values.extend(KeyValue(key=k, value=any_value(v)) for k, v in value.items())
        return out
    raise TypeError(type(value))


def span(
    name: str = "chat",
    attrs: dict[str, Any] | None = None,
    *,
    trace_id: str | None = None,
    span_id: str | None = None,
    parent: str = "",
    start_ms: int = 0,
    end_ms: int = 500,
    error: str | None = None,
    events: list[tuple[str, int, dict[str, Any]]] = (),  # type: ignore[assignment]
    scope: str = "test.scope",
) -> tuple[str, Span]:
    s = Span(
        trace_id=bytes.fromhex(trace_id) if trace_id else os.urandom(16),
        span_id=bytes.fromhex(span_id) if span_id else os.urandom(8),
        parent_span_id=bytes.fromhex(parent) if parent else b"",
        name=name,
        start_time_unix_nano=T0 + start_ms * 1_000_000,
        end_time_unix_nano=T0 + end_ms * 1_000_000,
    )
    s.attributes.extend(KeyValue(key=k, value=any_value(v)) for k, v in (attrs or {}).items())
    for event_name, at_ms, event_attrs in events:
        event = s.events.add(name=event_name, time_unix_nano=T0 + at_ms * 1_000_000)
        event.attributes.extend(KeyValue(key=k, value=any_value(v)) for k, v in event_attrs.items())
    if error is not None:
        s.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message=error))
    return scope, s


def request(*spans: tuple[str, Span], resource: dict[str, Any] | None = None) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend(KeyValue(key=k, value=any_value(v)) for k, v in (resource or {}).items())
    for scope, s in spans:
        ss = rs.scope_spans.add()
        ss.scope.name = scope
        ss.spans.append(s)
    return req
