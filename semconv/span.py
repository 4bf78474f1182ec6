"""A read-only view of one OTLP span with its resource and scope, and tolerant attribute readers.

OTLP attribute values arrive as `AnyValue` (string, int, double, bool, bytes, array, kvlist); ints may
arrive as strings and JSON may arrive as a string or as structure. Every reader here returns None for
a value it cannot use instead of raising, so one broken attribute never loses the span.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span


def any_value(value: AnyValue, depth: int = 0) -> Any:
    """Convert an OTLP AnyValue into plain Python (str, int, float, bool, bytes, list, dict, None)."""
    kind = value.WhichOneof("value")
    if kind is None or depth > 32:
        return None
    if kind == "array_value":
        return [any_value(v, depth + 1) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value, depth + 1) for kv in value.kvlist_value.values}
    return getattr(value, kind)


_SCALARS = frozenset(("string_value", "bool_value", "int_value", "double_value", "bytes_value"))


def attributes(kvs: Iterable[KeyValue]) -> dict[str, Any]:
    """A repeated KeyValue field as a dict; non-empty strings, by far the most common, take the
    shortest path (one field read; an empty string is told from an unset value by `WhichOneof`)."""
    out: dict[str, Any] = {}
    for kv in kvs:
        value = kv.value
        text = value.string_value
        if text:
            out[kv.key] = text
            continue
        kind = value.WhichOneof("value")
        out[kv.key] = getattr(value, kind) if kind in _SCALARS else any_value(value)
    return out


@dataclass(slots=True)
class Event:
    name: str
    time_ns: int
    attrs: dict[str, Any]


@dataclass(slots=True)
class SpanView:
    """What the mapper needs of a span, decoupled from protobuf."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    scope: str
    start_ns: int
    end_ns: int
    status_code: int
    status_message: str
    attrs: dict[str, Any]
    events: list[Event] = field(default_factory=list)
    resource: dict[str, Any] = field(default_factory=dict)
    raw: Span | None = None
    _keys: str | None = field(default=None, init=False, repr=False, compare=False)  # keys "\n"-joined, once asked

    # --- tolerant readers ---------------------------------------------------------------------

    def get_str(self, *keys: str) -> str | None:
        """The first key holding a non-empty scalar, as a string."""
        for key in keys:
            value = self.attrs.get(key)
            if value is None:  # most keys a reader asks for are absent
                continue
            if isinstance(value, str):
                if value:
                    return value
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                return str(value)
        return None

    def get_int(self, *keys: str) -> int | None:
        for key in keys:
            raw = self.attrs.get(key)
            if raw is not None and (value := to_int(raw)) is not None:
                return value
        return None

    def get_float(self, *keys: str) -> float | None:
        for key in keys:
            raw = self.attrs.get(key)
            if raw is not None and (value := to_float(raw)) is not None:
                return value
        return None

    def get_bool(self, *keys: str) -> bool | None:
        for key in keys:
            raw = self.attrs.get(key)
            if raw is not None and (value := to_bool(raw)) is not None:
                return value
        return None

    def get_json(self, *keys: str) -> Any:
        """The first key holding JSON (a JSON string or already structured); None when unparseable."""
        for key in keys:
            raw = self.attrs.get(key)
            if raw is not None and (value := parse_json(raw)) is not None:
                return value
        return None

    def indexed(self, prefix: str) -> list[dict[str, Any]]:
        """Collect `prefix.{i}.rest` attributes into a list of nested dicts ordered by i."""
        return indexed(self.attrs, prefix) if self.has_prefix(prefix + ".") else []

    def with_prefix(self, prefix: str) -> dict[str, Any]:
        if not self.has_prefix(prefix):
            return {}
        return {k[len(prefix) :]: v for k, v in self.attrs.items() if k.startswith(prefix) and len(k) > len(prefix)}

    def has_prefix(self, prefix: str) -> bool:
        """Whether any attribute key starts with `prefix`: one substring search in the keys joined once,
        so that a reader of a key family the span does not have costs nothing."""
        if self._keys is None:
            self._keys = "\n" + "\n".join(self.attrs)
        return "\n" + prefix in self._keys


def to_int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            number = to_float(text)
            return int(number) if number is not None and number.is_integer() else None
    return None


def to_float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def to_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def parse_json(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return value
    if isinstance(value, (str, bytes)) and value:
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            pass
        try:  # what orjson refuses but Python's JSON reads: NaN, Infinity, very deep nesting
            return json.loads(value)
        except (ValueError, RecursionError):
            return None
    return None


def indexed(attrs: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """Collect indexed attributes into nested dicts, ordered by their first index.

    `{"p.0.role": "user", "p.0.tool_calls.1.name": "f"}` -> `[{"role": "user", "tool_calls": {"1": {...}}}]`.

    Nested indices stay dicts keyed by their index string; `items()` turns them into ordered lists.
    """
    root: dict[str, Any] = {}
    dotted = prefix + "."
    for key, value in attrs.items():
        if not key.startswith(dotted):
            continue
        parts = key[len(dotted) :].split(".")
        if not parts[0].isdigit() or len(parts) < 2:
            continue
        node = root
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value
    return items(root)


def items(node: Any) -> list[dict[str, Any]]:
    """The values of a dict keyed by index strings, ordered by index; [] for anything else."""
    if not isinstance(node, dict):
        return []
    return [node[k] for k in sorted((k for k in node if k.isdigit()), key=int) if isinstance(node[k], dict)]


def view_of(span: Span, scope: str, resource: dict[str, Any]) -> SpanView:
    status = span.status
    return SpanView(
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_span_id=span.parent_span_id.hex(),
        name=span.name,
        scope=scope,
        start_ns=span.start_time_unix_nano,
        end_ns=span.end_time_unix_nano,
        status_code=status.code,
        status_message=status.message,
        attrs=attributes(span.attributes),
        events=[Event(e.name, e.time_unix_nano, attributes(e.attributes)) for e in span.events] if span.events else [],
        resource=resource,
        raw=span,
    )


def iter_spans(request: ExportTraceServiceRequest) -> Iterator[SpanView]:
    for rs in request.resource_spans:
        resource = attributes(rs.resource.attributes)
        for ss in rs.scope_spans:
            for span in ss.spans:
                yield view_of(span, ss.scope.name, resource)


# Every attribute key and event name a dialect decides on (`gen_ai.*` includes the evaluation events,
# `traceloop.*` the span kinds, `ai.operationId` / `ai.model.id` the Vercel AI SDK's), as they stand in
# a span's encoding; and the URL keys of the HTTP client spans that complete a call's span.
_CALL_MARKERS = (b"gen_ai.", b"llm.", b"openinference.span.kind", b"traceloop.", b"ai.operationId", b"ai.model.id")
_HTTP_MARKERS = (b"url.full", b"http.url")


def _marked(data: bytes, markers: tuple[bytes, ...]) -> bool:
    """Whether `data` holds any marker (a loop: `any()` over a generator costs more than the search)."""
    for marker in markers:  # noqa: SIM110
        if marker in data:
            return True
    return False


def relevant_spans(
    request: ExportTraceServiceRequest, keep: Callable[[Span, str], bool] | None = None
) -> tuple[list[SpanView], int]:
    """The spans mapping can use, and how many spans the request holds: decided on each span's encoded
    bytes before any attribute is converted, as most spans of a traced app are no LLM call. A span is
    kept when its encoding names a key a dialect reads (a value that merely contains one only costs a
    closer look) or `keep(span, scope)` says so; HTTP client spans are kept, for completing calls, only
    when the request has a call."""
    views: list[SpanView] = []
    total = 0
    calls = False
    for rs in request.resource_spans:
        resource: dict[str, Any] | None = None
        for ss in rs.scope_spans:
            scope = ss.scope.name
            for span in ss.spans:
                total += 1
                data = span.SerializeToString()
                if _marked(data, _CALL_MARKERS) or (keep is not None and keep(span, scope)):
                    calls = True
                elif not (span.parent_span_id and _marked(data, _HTTP_MARKERS)):
                    continue
                if resource is None:
                    resource = attributes(rs.resource.attributes)
                views.append(view_of(span, scope, resource))
    return (views if calls else []), total


def obj(value: Any) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty one: for reading nested optional structure."""
    return value if isinstance(value, dict) else {}
