"""helicone_otel.semconv: the one place that understands GenAI span dialects and builds Helicone
log records from them (OTel GenAI latest and legacy, OpenLLMetry, OpenInference, Vercel AI SDK)."""

from helicone_otel.contract import SCHEMA

from .log_events import LogEvent, events_of
from .mapper import MapFailure, MapResult, lacks_answer, lacks_content, map_request, map_spans, read_call
from .model import LlmCall, Usage
from .options import MapOptions
from .record import Record, record_id
from .span import SpanView, iter_spans

__all__ = [
    "SCHEMA",
    "LlmCall",
    "LogEvent",
    "MapFailure",
    "MapOptions",
    "MapResult",
    "Record",
    "SpanView",
    "Usage",
    "events_of",
    "iter_spans",
    "lacks_answer",
    "lacks_content",
    "map_request",
    "map_spans",
    "read_call",
    "record_id",
]
