"""The one OTLP trace handler that both transports call; it knows nothing of gRPC or HTTP.

A request is answered only once its records are durable: appended to the spool (or, without a
spool, acknowledged by Kafka). Errors reaching a transport are of four kinds, mapped once at each
boundary by `helicone_otel.errors.answer`: `InvalidRequest` (HTTP 400 / INVALID_ARGUMENT),
`Unauthenticated` (401 / UNAUTHENTICATED), `Unavailable` (503 + Retry-After / UNAVAILABLE +
RetryInfo) and, inside a 200, partial success for spans that can never be accepted (invalid ids).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping, Sequence

from helicone_otel.semconv import LogEvent, MapOptions, lacks_content
from helicone_otel.semconv.log_events import SpanKey
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from helicone_otel.contract import CONTENT_TYPE, dead_letter_headers
from helicone_otel.errors import Unauthenticated, Unavailable
from helicone_otel.kafka.output import ExporterConfig
from helicone_otel.kafka.records import Encoded, Hold, KafkaRecord, encode, held_records, span_count
from helicone_otel.kafka.sender import KafkaSender, KafkaUnavailable

from .config import CollectorConfig
from .metrics import Metrics
from .spool import Spool, SpoolFull

log = logging.getLogger(__name__)


def _drop_invalid_spans(request: ExportTraceServiceRequest) -> int:
    """Remove spans whose ids are not 16/8 bytes (the spec calls them invalid); return how many."""
    rejected = 0
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            bad = [i for i, s in enumerate(ss.spans) if len(s.trace_id) != 16 or len(s.span_id) != 8]
            for i in reversed(bad):
                del ss.spans[i]
            rejected += len(bad)
    return rejected


def _bearer(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class TraceHandler:
    """Authenticates, validates, encodes and makes durable; shared by the gRPC and HTTP transports."""

    def __init__(self, config: CollectorConfig, metrics: Metrics, sender: KafkaSender, spool: Spool | None) -> None:
        self.config = config
        self.metrics = metrics
        self.sender = sender
        self.spool = spool
        self._inflight = 0
        self._tokens = [t.encode() for t in config.receiver.bearer_tokens]
        # the exporters whose records wait for their content at a join (`helicone_json`, `join_wait` > 0)
        self.joins = tuple(e for e in config.exporters if e.encoding == "helicone_json" and e.join_wait > 0)

    def authenticate(self, headers: Mapping[str, str]) -> str | None:
        """Check the collector's bearer token (when configured); return the app's Helicone API key. A header
        that names a bearer credential but holds none (`Authorization: Bearer `) is refused, not taken as
        no key: it is an app whose key variable came out empty."""
        authorization = headers.get("authorization")
        for name in ("authorization", "helicone-auth"):
            value = headers.get(name)
            if value is not None and _bearer(value) is None and value.strip().lower() in ("", "bearer"):
                raise Unauthenticated(f"empty credential in the {name} header")
        if self._tokens:
            token = (_bearer(authorization) or "").encode()
            if not any(hmac.compare_digest(token, t) for t in self._tokens):
                raise Unauthenticated("missing or invalid bearer token")
            authorization = None  # it carried the collector's token, not a Helicone key
        if not self.config.receiver.api_keys:
            return None
        helicone = headers.get("helicone-auth")
        return _bearer(helicone) or (helicone.strip() if helicone else None) or _bearer(authorization)

    async def export(
        self, request: ExportTraceServiceRequest, headers: Mapping[str, str], transport: str, size: int
    ) -> ExportTraceServiceResponse:
        total = span_count(request)
        try:
            api_key = self.authenticate(headers)
        except Unauthenticated:
            self.metrics.add("otelcol_receiver_refused_spans", total, transport=transport)
            raise
        response = ExportTraceServiceResponse()
        rejected = _drop_invalid_spans(request)
        if rejected:
            response.partial_success.rejected_spans = rejected
            response.partial_success.error_message = (
                f"{rejected} spans rejected: trace_id must be 16 bytes and span_id 8 bytes"
            )
            self.metrics.add("otelcol_receiver_refused_spans", rejected, transport=transport)
        spans = total - rejected
        if spans == 0:
            return response
        budget = self.config.receiver.max_inflight_bytes
        if self._inflight + size > budget and self._inflight > 0:
            self.metrics.add("otelcol_receiver_refused_spans", spans, transport=transport)
            raise Unavailable(f"collector is busy: {self._inflight} bytes in flight (budget {budget})", 1.0)
        self._inflight += size
        try:
            records = self.encode(request, api_key)
            await self.make_durable(records, spans, transport)
        finally:
            self._inflight -= size
        self.metrics.add("otelcol_receiver_accepted_spans", spans, transport=transport)
        return response

    def encode(self, request: ExportTraceServiceRequest, api_key: str | None) -> list[KafkaRecord]:
        """The records of every pipeline's exporters for `request` (mapping happens here); with a join, a
        trace whose call has no content on its spans goes to the exporter's join topic instead."""
        records: list[KafkaRecord] = []
        for pipeline in self.config.pipelines:
            for exporter in pipeline.exporters:
                hold = lacks_content if exporter.join_wait > 0 else None
                encoded = self.encode_for(exporter, pipeline.options, request, api_key, hold)
                records.extend(encoded.records)
                if encoded.held:
                    records.extend(held_records(request, encoded.held, exporter, api_key))
                    self.metrics.add("helicone_otel_join_held_traces", len(encoded.held))
        return records

    def encode_for(
        self, exporter: ExporterConfig, options: MapOptions, request: ExportTraceServiceRequest, api_key: str | None,
        hold: Hold | None, events: Mapping[SpanKey, list[LogEvent]] | None = None,
    ) -> Encoded:  # fmt: skip
        """One exporter's records for `request`; a request that fails to map goes raw to its dead-letter topic."""
        partitions = self.sender.partitions(exporter.name)
        try:
            encoded = encode(request, exporter, options, api_key, partitions, hold, events)
        except Exception as exc:  # mapping is business logic and may fail; forwarding may not
            log.exception("encoding for exporter %s failed; forwarding the request raw", exporter.name)
            encoded = _raw_dead_letter(request, exporter.name, exporter.dead_letter_topic, exc)
            encoded.mapping_failures = span_count(request)
        self.metrics.add("helicone_otel_mapping_failed_spans", encoded.mapping_failures)
        self.metrics.add("helicone_otel_records_truncated", encoded.truncated)
        self.metrics.add("helicone_otel_records_unparsed_content", encoded.unparsed)
        return encoded

    async def make_durable(self, records: Sequence[KafkaRecord], spans: int, transport: str) -> None:
        """Spool `records` (or, without a spool, have Kafka acknowledge them); the errors say why not."""
        try:
            if self.spool is not None:
                await self.spool.append(records, spans)
            elif records:
                await self.sender.deliver(records)
        except SpoolFull as exc:
            self.metrics.add("otelcol_exporter_enqueue_failed_spans", spans)
            self.metrics.add("otelcol_receiver_refused_spans", spans, transport=transport)
            raise Unavailable(str(exc), 5.0) from exc
        except OSError as exc:
            log.error("spool write failed: %s", exc)
            self.metrics.add("otelcol_exporter_enqueue_failed_spans", spans)
            self.metrics.add("otelcol_receiver_refused_spans", spans, transport=transport)
            raise Unavailable(f"cannot store the request: {exc.strerror or exc}", 5.0) from exc
        except KafkaUnavailable as exc:
            self.metrics.add("otelcol_exporter_send_failed_spans", spans)
            self.metrics.add("otelcol_receiver_refused_spans", spans, transport=transport)
            raise Unavailable(str(exc), 2.0) from exc


def _raw_dead_letter(request: ExportTraceServiceRequest, exporter: str, topic: str, exc: Exception) -> Encoded:
    headers = dead_letter_headers([(CONTENT_TYPE, b"application/x-protobuf")], f"{type(exc).__name__}: {exc}")
    return Encoded(records=[KafkaRecord(topic, None, request.SerializeToString(), headers, exporter)])
