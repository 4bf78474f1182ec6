"""`HeliconeLogExporter`: the Logs SDK's exporter beside `HeliconeSpanExporter`, for the instrumentations that put a
call's content only in GenAI event log records, behind the processor of the global `LoggerProvider` they emit to
(Traceloop's `logging_exporter=` takes Python `logging` records only: see the README).

In the modes that map in the app (Kafka, straight to Helicone) it hands each GenAI event to its span exporter's join
(`_join`), on the app's thread and at the cost of a list append; every other log record is left out (counted in
`filtered`). Beside a sidecar (OTLP mode) it is the stock OTLP log exporter, and the collector joins.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from helicone_otel.semconv import LogEvent
from helicone_otel.semconv.log_events import EVENT_NAME
from opentelemetry.sdk._logs import export as _export

from ._exporter import HeliconeSpanExporter
from ._views import plain

# opentelemetry-sdk 1.39 renamed LogExporter / LogExportResult to LogRecordExporter / LogRecordExportResult
_Base: Any = getattr(_export, "LogRecordExporter", None) or _export.LogExporter
_SUCCESS: Any = (getattr(_export, "LogRecordExportResult", None) or _export.LogExportResult).SUCCESS

log = logging.getLogger(__name__)


def genai_event(item: Any) -> LogEvent | None:
    """The GenAI event of a Logs SDK record (`ReadableLogRecord`, or `LogData` of older SDKs), if it is one."""
    record = getattr(item, "log_record", item)
    attrs = plain(record.attributes)
    name = getattr(record, "event_name", None) or attrs.get(EVENT_NAME) or ""
    if not isinstance(name, str) or not name.startswith("gen_ai.") or not record.trace_id or not record.span_id:
        return None
    attrs.pop(EVENT_NAME, None)
    body = record.body
    return LogEvent(f"{record.trace_id:032x}", f"{record.span_id:016x}", name,
                    record.timestamp or record.observed_timestamp or 0, attrs, _plain_body(body))  # fmt: skip


def _plain_body(value: Any) -> Any:
    """The body as OTLP would carry it: mappings as dicts, sequences as lists."""
    if isinstance(value, dict):
        return {str(k): _plain_body(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_body(v) for v in value]
    return value


class HeliconeLogExporter(_Base):  # type: ignore[misc]
    def __init__(self, spans: HeliconeSpanExporter) -> None:
        self.spans = spans
        self.filtered = 0
        self._otlp: Any = None
        if spans.mode == "otlp":
            self._otlp = _otlp_log_exporter(spans.otlp_endpoint)
        else:
            spans.join_logs()

    def export(self, batch: Sequence[Any]) -> Any:
        if self._otlp is not None:
            return self._otlp.export(batch)
        try:
            events = [e for e in map(genai_event, batch) if e is not None]
            self.filtered += len(batch) - len(events)
            self.spans.add_events(events)
        except Exception:  # nothing reaches the application
            log.exception("HeliconeLogExporter could not take log records")
        return _SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return bool(self._otlp.force_flush(timeout_millis)) if self._otlp is not None else True

    def shutdown(self) -> None:
        if self._otlp is not None:
            self._otlp.shutdown()


def _otlp_log_exporter(endpoint: str | None) -> Any:
    protocol = os.environ.get(
        "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    )
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as Grpc

        return Grpc(endpoint=endpoint) if endpoint else Grpc()
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as Http

    return Http(endpoint=endpoint.rstrip("/") + "/v1/logs") if endpoint else Http()
