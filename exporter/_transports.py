"""Where exported spans go: the sidecar collector over OTLP, or Helicone's async log API directly.

Each transport takes a batch of ReadableSpans on the exporter's background thread and returns a
small result; none raises. The OTLP transport reuses the stock opentelemetry-python exporters, so the
standard OTLP environment variables (endpoint, headers, timeout, compression, protocol) and their
retry policy apply unchanged. The Helicone transport maps spans with semconv and posts each record,
retrying 429/5xx/connection errors with jittered backoff (honouring Retry-After) within a deadline.
"""

from __future__ import annotations

import http.client
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from helicone_otel.semconv import LlmCall, LogEvent, MapOptions, SpanView, map_spans
from helicone_otel.semconv.log_events import SpanKey, attach_all
from helicone_otel.semconv.record import record_json
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from helicone_otel.contract import dead_letter_topic, log_route, score_url
from helicone_otel.errors import Permanent, Retryable, Unavailable, http_failure
from helicone_otel.retry import Backoff, Interrupted, retry_after, retry_sync

from ._poster import Poster
from ._views import span_ids, span_views

log = logging.getLogger(__name__)
Events = Mapping[SpanKey, list[LogEvent]]
Hold = Callable[[LlmCall], bool]


def joined_views(spans: Sequence[ReadableSpan], events: Events | None) -> list[SpanView]:
    """The spans as views, with the GenAI events that name them attached."""
    views = span_views(spans)
    if events:
        attach_all(views, events)
    return views


@dataclass(frozen=True)
class SendResult:
    sent: int = 0  # spans (OTLP) or records (Helicone) accepted
    failed: int = 0  # given up on: permanent errors, or retries exhausted within the deadline
    held: frozenset[str] = frozenset()  # traces `hold` kept back: not sent (the in-app join, `_join`)


class Transport(Protocol):
    def send(self, spans: Sequence[ReadableSpan], deadline: float, events: Events | None = None,
             hold: Hold | None = None) -> SendResult:  # fmt: skip
        """`events` / `hold`: for the transports that map (see `semconv.map_spans`)."""
        ...

    def shutdown(self) -> None: ...


class OtlpTransport:
    """The sidecar: the stock OTLP exporter (HTTP/protobuf, or gRPC when the protocol env var says so)."""

    def __init__(self, protocol: str | None = None, endpoint: str | None = None) -> None:
        protocol = protocol or os.environ.get(
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        )
        self.exporter: SpanExporter
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Grpc

            self.exporter = Grpc(endpoint=endpoint) if endpoint else Grpc()
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http

            self.exporter = Http(endpoint=endpoint.rstrip("/") + "/v1/traces") if endpoint else Http()

    def send(self, spans: Sequence[ReadableSpan], deadline: float, events: Events | None = None,
             hold: Hold | None = None) -> SendResult:  # fmt: skip
        try:
            ok = self.exporter.export(spans) == SpanExportResult.SUCCESS
        except Exception:  # the stock exporters should not raise; never let it reach the worker loop
            log.exception("OTLP export failed")
            ok = False
        return SendResult(sent=len(spans)) if ok else SendResult(failed=len(spans))

    def shutdown(self) -> None:
        self.exporter.shutdown()


class HeliconeTransport:
    """Straight to Helicone's async log API, one POST per record, on the provider's route."""

    def __init__(
        self, api_key: str, base_url: str, api_base_url: str, options: MapOptions, timeout: float = 10.0
    ) -> None:
        self.base_url, self.api_base_url = base_url, api_base_url
        self.options = options
        self.timeout = timeout
        self.poster = Poster()
        self.headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        self._stop = threading.Event()

    def send(self, spans: Sequence[ReadableSpan], deadline: float, events: Events | None = None,
             hold: Hold | None = None) -> SendResult:  # fmt: skip
        result = map_spans(joined_views(spans, events), self.options, hold)
        bodies: list[tuple[str, str, bytes, dict[str, Any]]] = []
        for record in result.records:
            bodies.append((self._url(record.provider), record.id, record.json_bytes(), record.scores))
        for failure in result.failures:  # still sent, in the simplest valid form, rather than dropped
            minimal = _minimal_body(failure.trace_id, failure.span_id, failure.span_name, spans)
            bodies.append((self._url("CUSTOM"), minimal["id"], record_json(minimal), {}))
        sent = failed = 0
        for url, record_id, data, scores in bodies:
            if not self._post(url, data, deadline):
                failed += 1
                continue
            sent += 1
            if scores:  # after the record: scores name a request Helicone has logged
                self._post(score_url(self.api_base_url, record_id), record_json({"scores": scores}), deadline)
        return SendResult(sent=sent, failed=failed, held=frozenset(result.held))

    def _url(self, provider: str) -> str:
        return log_route(provider).url(self.base_url, self.api_base_url)

    def _post(self, url: str, data: bytes, deadline: float) -> bool:
        def attempt() -> None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Unavailable("the export deadline passed")
            try:
                status, headers, body = self.poster.post(url, data, self.headers, min(self.timeout, remaining))
            except (OSError, http.client.HTTPException) as exc:
                raise Unavailable(f"Helicone unreachable: {exc!r}") from exc
            except ValueError as exc:  # a URL that cannot be posted to
                raise Permanent(str(exc)) from exc
            if status >= 300:
                reason = f"Helicone answered {status}: {body[:200].decode(errors='replace')}"
                raise http_failure(status, reason, retry_after(headers.get("Retry-After")))

        try:
            retry_sync(attempt, Backoff(0.5), deadline=deadline, stop=self._stop)
        except Permanent as exc:
            log.warning("Helicone refused a record: %s", exc)
            return False
        except (Retryable, Interrupted) as exc:
            log.debug("record not sent: %s", exc)
            return False
        return True

    def shutdown(self) -> None:
        self._stop.set()
        self.poster.close()


def _as_otlp(
    spans: Sequence[ReadableSpan], wanted: dict[tuple[str, str], str]
) -> Iterator[tuple[ExportTraceServiceRequest, str, str]]:
    """The spans named in `wanted` (trace id, span id), each as a one-span OTLP request."""
    for span in spans:
        ids = span_ids(span)
        if ids in wanted:
            yield encode_spans([span]), ids[0], ids[1]


def _minimal_body(trace_id: str, span_id: str, name: str, spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    from helicone_otel.semconv import record_id
    from helicone_otel.semconv.record import timestamp

    span = next((s for s in spans if s.context is not None and f"{s.context.span_id:016x}" == span_id), None)
    start = (span.start_time or 0) if span else 0
    end = max((span.end_time or start) if span else 0, start)
    rid = record_id(trace_id, span_id)

    return {
        "id": rid,
        "provider": "CUSTOM",
        "providerRequest": {"url": "/", "json": {"span": name}, "meta": {"Helicone-Request-Id": rid}},
        "providerResponse": {"json": {}, "status": 200, "headers": {}},
        "timing": {"startTime": timestamp(start), "endTime": timestamp(end)},
    }


class KafkaTransport:
    """Records straight to a Kafka topic (no sidecar): the shared Kafka layer's encoding and idempotent
    producer, as the collector uses them, driven by an event loop owned by the exporter's worker thread."""

    def __init__(self, brokers: str, topic: str, options: MapOptions) -> None:
        from helicone_otel.kafka import sender
        from helicone_otel.kafka.output import ExporterConfig
        from helicone_otel.metrics import Metrics

        self.config = ExporterConfig(
            brokers=tuple(b.strip() for b in brokers.split(",") if b.strip()), topic=topic,
            dead_letter_topic=dead_letter_topic(topic),
        )  # fmt: skip
        self.options = options
        self.metrics = Metrics(sender.METRICS)
        self._loop: Any = None
        self._sender: Any = None
        self._stop = threading.Event()

    def send(self, spans: Sequence[ReadableSpan], deadline: float, events: Events | None = None,
             hold: Hold | None = None) -> SendResult:  # fmt: skip
        import asyncio

        from helicone_otel.kafka.records import helicone_records
        from helicone_otel.kafka.sender import KafkaSender, KafkaUnavailable

        result = map_spans(joined_views(spans, events), self.options, hold)
        held = frozenset(result.held)
        encoded = helicone_records(result, self.config, None, lambda failed: _as_otlp(spans, failed))
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._sender = KafkaSender([self.config], self.metrics, timeout=10.0)
        try:
            delivery = self._sender.delivery(encoded.records)
            retry_sync(lambda: self._loop.run_until_complete(delivery()), Backoff(0.5), deadline=deadline,
                       stop=self._stop)  # fmt: skip
        except (KafkaUnavailable, Interrupted) as exc:
            log.debug("records not sent: %s", exc)
            return SendResult(failed=len(encoded.records), held=held)
        return SendResult(sent=len(encoded.records), held=held)

    def shutdown(self) -> None:
        self._stop.set()
        if self._loop is not None and not self._loop.is_running():
            self._loop.run_until_complete(self._sender.stop(timeout=5.0))
            self._loop.close()
