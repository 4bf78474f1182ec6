"""The SDK's finished spans as semconv's `SpanView`s, without going through OTLP protobuf.

The in-process transports map on the application's machine: encoding each span to protobuf (the stock
OTLP encoder, pure Python) only for semconv to decode it again cost more than the mapping itself.
The SDK already holds attributes as plain values; sequences, which it keeps as tuples, become lists
as OTLP's array values do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from helicone_otel.semconv import SpanView
from helicone_otel.semconv.span import Event
from opentelemetry.sdk.trace import ReadableSpan


def plain(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in (attributes or {}).items()}


def span_ids(span: ReadableSpan) -> tuple[str, str]:
    """(trace id, span id) in hex, as OTLP spells them and mapping failures name them."""
    context = span.context
    return (f"{context.trace_id:032x}", f"{context.span_id:016x}") if context is not None else ("", "")


def span_views(spans: Sequence[ReadableSpan]) -> list[SpanView]:
    """The batch's spans as views; each resource's attributes are converted once, shared by its spans."""
    resources: dict[int, dict[str, Any]] = {}
    return [_view(span, resources) for span in spans]


def _view(span: ReadableSpan, resources: dict[int, dict[str, Any]]) -> SpanView:
    parent, resource = span.parent, span.resource
    attrs = resources.get(id(resource))
    if attrs is None:
        attrs = resources[id(resource)] = plain(resource.attributes if resource is not None else None)
    trace_id, span_id = span_ids(span)
    return SpanView(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=f"{parent.span_id:016x}" if parent is not None else "",
        name=span.name,
        scope=span.instrumentation_scope.name if span.instrumentation_scope is not None else "",
        start_ns=span.start_time or 0,
        end_ns=span.end_time or 0,
        status_code=span.status.status_code.value,
        status_message=span.status.description or "",
        attrs=plain(span.attributes),
        events=[Event(e.name, e.timestamp, plain(e.attributes)) for e in span.events],
        resource=attrs,
    )
