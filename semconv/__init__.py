"""helicone_otel.semconv: the one place that understands GenAI span dialects and builds Helicone
log records from them (OTel GenAI latest and legacy, OpenLLMetry, OpenInference, Vercel AI SDK)."""

from helicone_otel.contract import SCHEMA

from .mapper import MapFailure, MapResult, map_request, map_spans, read_call
from .model import LlmCall, Usage
from .options import MapOptions
from .record import Record, record_id
from .span import SpanView, iter_spans

__all__ = [
    "SCHEMA",
    "LlmCall",
    "MapFailure",
    "MapOptions",
    "MapResult",
    "Record",
    "SpanView",
    "Usage",
    "iter_spans",
    "map_request",
    "map_spans",
    "read_call",
    "record_id",
]
