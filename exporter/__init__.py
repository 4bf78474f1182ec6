"""helicone_otel.exporter: `HeliconeSpanExporter`, an OTel SpanExporter for `Traceloop.init(exporter=...)`
that ships spans in the background to the sidecar collector (OTLP) or straight to Helicone."""

from ._exporter import ConfigurationError, ExporterStats, HeliconeSpanExporter, flush_after, is_llm_span

__all__ = ["ConfigurationError", "ExporterStats", "HeliconeSpanExporter", "flush_after", "is_llm_span"]
