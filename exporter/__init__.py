"""helicone_otel.exporter: `HeliconeSpanExporter`, an OTel SpanExporter for `Traceloop.init(exporter=...)`
that ships spans in the background to the sidecar collector (OTLP) or straight to Helicone, and
`HeliconeLogExporter` beside it for the GenAI content some instrumentations put only in log records."""

from ._exporter import ConfigurationError, ExporterStats, HeliconeSpanExporter, flush_after, is_llm_span
from ._logs import HeliconeLogExporter

__all__ = [
    "ConfigurationError", "ExporterStats", "HeliconeLogExporter", "HeliconeSpanExporter", "flush_after", "is_llm_span",
]  # fmt: skip
