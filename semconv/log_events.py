"""GenAI events that arrive as OTLP log records, put back on the spans they describe.

OpenTelemetry's GenAI events are log records (the Events API writes to the Logs SDK), and several
instrumentations put a call's content only there: the official openai-v2 and google-genai ones, OpenLLMetry
with `use_attributes=False`. A log record names its call's span by `trace_id` / `span_id`; `attach` puts
its content where the span conventions would have put it, so that the span dialects read it as they read
everything else (one reader per rule):
- `gen_ai.client.inference.operation.details` (the latest conventions) carries the span's own attributes
  (`gen_ai.input.messages`, `gen_ai.output.messages`, `gen_ai.system_instructions`, ...): each one the span
  lacks is set on it;
- every other `gen_ai.*` event (`gen_ai.user.message`, `gen_ai.choice`, ...) becomes a span event of its name,
  its body's fields as attributes beside its own (these events were span events before they were logs).
The collector reads log records from OTLP (`from_proto`), the in-app exporter from the Logs SDK.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from .span import Event, SpanView, any_value, attributes

DETAILS = "gen_ai.client.inference.operation.details"
EVENT_NAME = "event.name"  # where SDKs before the LogRecord.event_name field (proto 1.5) put the name
SpanKey = tuple[str, str]  # (trace id, span id) in hex


@dataclass(frozen=True, slots=True)
class LogEvent:
    """One GenAI event log record, decoupled from protobuf and from the Logs SDK."""

    trace_id: str
    span_id: str
    name: str
    time_ns: int
    attrs: dict[str, Any]
    body: Any


def proto_event_name(record: LogRecord) -> str:
    """The record's event name: its own field, else the `event.name` attribute older SDKs set; "" if none."""
    if record.event_name:
        return record.event_name
    for kv in record.attributes:
        if kv.key == EVENT_NAME:
            return kv.value.string_value
    return ""


def is_genai_event(record: LogRecord) -> bool:
    """Whether the record is a GenAI event that names a span it can join."""
    return len(record.trace_id) == 16 and len(record.span_id) == 8 and proto_event_name(record).startswith("gen_ai.")


def genai_records(logs: ExportLogsServiceRequest) -> Iterator[LogRecord]:
    for rl in logs.resource_logs:
        for sl in rl.scope_logs:
            for record in sl.log_records:
                if is_genai_event(record):
                    yield record


def from_proto(record: LogRecord) -> LogEvent:
    attrs = attributes(record.attributes)
    attrs.pop(EVENT_NAME, None)
    return LogEvent(record.trace_id.hex(), record.span_id.hex(), proto_event_name(record),
                    record.time_unix_nano or record.observed_time_unix_nano, attrs, any_value(record.body))  # fmt: skip


def events_of(logs: ExportLogsServiceRequest) -> dict[SpanKey, list[LogEvent]]:
    """The GenAI events of an OTLP logs request, by the span they name (for `map_request(events=...)`)."""
    return by_span(from_proto(record) for record in genai_records(logs))


def by_span(events: Iterable[LogEvent]) -> dict[SpanKey, list[LogEvent]]:
    """Events grouped by the span they name, in their order."""
    out: dict[SpanKey, list[LogEvent]] = {}
    for event in events:
        out.setdefault((event.trace_id, event.span_id), []).append(event)
    return out


def attach(span: SpanView, events: Iterable[LogEvent]) -> None:
    """Put each event's content on `span` (in place; see the module's docstring)."""
    for event in events:
        if event.name == DETAILS:
            for key, value in event.attrs.items():
                span.attrs.setdefault(key, value)
            continue
        attrs = dict(event.attrs)
        if isinstance(event.body, dict):
            attrs.update(event.body)
        elif event.body is not None:  # a bare value is the content itself
            attrs["content"] = event.body
        span.events.append(Event(event.name, event.time_ns, attrs))
    span.events.sort(key=lambda e: e.time_ns)


def attach_all(spans: Iterable[SpanView], events: Mapping[SpanKey, list[LogEvent]]) -> set[SpanKey]:
    """Attach `events` to the spans they name; the keys of those that named none of `spans`."""
    left = set(events)
    for span in spans:
        key = (span.trace_id, span.span_id)
        if key in left:
            attach(span, events[key])
            left.discard(key)
    return left
