"""`HeliconeSpanExporter`: an OTel SpanExporter that never works on the application's thread.

`export()` only hands spans to a byte-bounded queue and returns SUCCESS at once, whatever processor
wraps it (Traceloop's `disable_batch=True` calls it on the app thread for every span). A background
thread takes batches and ships them through one transport:

- sidecar: `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` set -> the stock OTLP
  exporter (HTTP/protobuf, or gRPC per `OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL`);
- kafka: `HELICONE_OTEL_KAFKA_BROKERS` (and `HELICONE_OTEL_KAFKA_TOPIC`) -> records mapped in-process
  and produced straight to the topic, in the record contract;
- direct: otherwise, with `HELICONE_API_KEY` -> records mapped in-process, posted to Helicone's async
  log API (`HELICONE_BASE_URL`, default Helicone's US worker host).
`HELICONE_OTEL_EXPORTER_MODE` (otlp / kafka / helicone) overrides the choice.

Every setting resolves as: constructor argument, then environment variable, then default. When the
queue is full the oldest spans are dropped and counted (a warning is logged when drops start, then at
most once a minute). Nothing raises into the application. After `fork()` the child gets a fresh queue
and worker thread (gunicorn --preload, uwsgi, celery); `flush()` / `@flush_after` serve serverless
handlers that must ship before the runtime freezes.
"""

from __future__ import annotations

import atexit
import functools
import importlib.util
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from helicone_otel.semconv import LlmCall, LogEvent, MapOptions, SpanView, lacks_answer
from helicone_otel.semconv.mapper import describes_call
from helicone_otel.semconv.providers import calls_provider
from opentelemetry import context, trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from helicone_otel.contract import DEFAULT_TOPIC, HELICONE_API_URL, HELICONE_WORKER_URL

from ._join import InAppJoin
from ._queue import DroppingQueue
from ._transports import (
    HeliconeTransport,
    KafkaTransport,
    OtlpTransport,
    SendResult,
    Transport,
)

log = logging.getLogger(__name__)
_EXIT_FLUSH_SECONDS = 2.0
SETTLE = 0.1  # seconds a finished span waits for the other spans of its call (see `_settled`)
F = TypeVar("F", bound=Callable[..., Any])


class ConfigurationError(ValueError):
    """Neither an OTLP endpoint nor a Helicone API key is configured."""


@dataclass
class ExporterStats:
    queued: int = 0  # spans currently waiting
    exported: int = 0  # spans (sidecar) or records (direct) delivered
    dropped: int = 0  # spans dropped because the queue was full
    failed: int = 0  # given up after retries, or refused permanently
    filtered: int = 0  # spans skipped because they describe no LLM call
    unjoined: int = 0  # GenAI events (HeliconeLogExporter) whose span did not come within join_wait


def _approx_size(span: ReadableSpan) -> int:
    size = 200
    for key, value in (span.attributes or {}).items():
        size += len(key) + (len(value) if isinstance(value, str) else 16)
    return size + 64 * len(span.events)


def is_llm_span(span: ReadableSpan) -> bool:
    """Whether semconv would make a record of this span (cheap: dialect detection, nothing read), or
    the span is an SDK's own request to a provider's API, which completes its call's span (botocore's
    names the whole Bedrock model id)."""
    scope = span.instrumentation_scope.name if span.instrumentation_scope else ""
    view = SpanView(
        trace_id="", span_id="", parent_span_id="", name=span.name, scope=scope, start_ns=0, end_ns=0,
        status_code=span.status.status_code.value, status_message="", attrs=dict(span.attributes or {}),
    )  # fmt: skip
    try:
        return describes_call(view) or calls_provider(view.get_str("url.full", "http.url"))
    except Exception:
        return True  # when unsure, ship it: the receiving side decides


class HeliconeSpanExporter(SpanExporter):
    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        api_base_url: str | None = None,
        otlp_endpoint: str | None = None,
        mode: str | None = None,  # "otlp" | "helicone" | "kafka"; default: otlp when an OTLP endpoint is set
        kafka_brokers: str | None = None,
        kafka_topic: str | None = None,
        llm_spans_only: bool = True,
        max_queue_bytes: int = 32 * 1024 * 1024,
        max_batch_spans: int = 512,
        schedule_delay: float = 1.0,
        export_timeout: float = 30.0,
        options: MapOptions | None = None,
        join_wait: float = 10.0,
    ) -> None:
        endpoint = (
            otlp_endpoint
            or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        )
        self.api_key = api_key or os.environ.get("HELICONE_API_KEY")
        self.base_url = base_url or os.environ.get("HELICONE_BASE_URL") or HELICONE_WORKER_URL
        self.api_base_url = api_base_url or os.environ.get("HELICONE_API_URL") or HELICONE_API_URL
        self.kafka_brokers = kafka_brokers or os.environ.get("HELICONE_OTEL_KAFKA_BROKERS")
        self.kafka_topic = kafka_topic or os.environ.get("HELICONE_OTEL_KAFKA_TOPIC") or DEFAULT_TOPIC
        self.mode = (
            mode
            or os.environ.get("HELICONE_OTEL_EXPORTER_MODE")
            or ("otlp" if endpoint else "kafka" if self.kafka_brokers else "helicone" if self.api_key else None)
        )
        self.otlp_endpoint = otlp_endpoint  # None: the stock exporter reads the OTLP environment variables
        if (
            self.mode not in ("otlp", "helicone", "kafka")
            or (self.mode == "helicone" and not self.api_key)
            or (self.mode == "kafka" and not self.kafka_brokers)
        ):
            raise ConfigurationError(
                "HeliconeSpanExporter needs OTEL_EXPORTER_OTLP_ENDPOINT (a sidecar collector), HELICONE_API_KEY "
                "(straight to Helicone) or HELICONE_OTEL_KAFKA_BROKERS (straight to Kafka)"
            )
        if self.mode == "kafka" and importlib.util.find_spec("aiokafka") is None:
            raise ConfigurationError("the Kafka mode needs the kafka extra: pip install 'helicone-otel[kafka]'")
        self.llm_spans_only = llm_spans_only
        self.max_batch_spans = max_batch_spans
        self.schedule_delay = schedule_delay
        self.export_timeout = export_timeout
        self.options = options or MapOptions()
        self.join_wait = join_wait
        self._join: InAppJoin | None = None  # set by a HeliconeLogExporter, in the modes that map
        self.stats = ExporterStats()
        self._queue: DroppingQueue[ReadableSpan] = DroppingQueue(max_queue_bytes)
        self._last_drop_warning = 0.0
        self._shutdown = False
        self._start_worker()
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: (e := ref()) and e._after_fork())  # type: ignore[func-returns-value]
        # At exit: flush, not shut down. atexit runs last-registered first, so this runs before the SDK's
        # TracerProvider shutdown, whose BatchSpanProcessor still hands us its last spans and then
        # calls our shutdown().
        atexit.register(lambda: (e := ref()) and e.force_flush(int(_EXIT_FLUSH_SECONDS * 1000)))

    # --- the application's side: hand over and return --------------------------------------------

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown:
            return SpanExportResult.FAILURE
        try:
            if self._pid != os.getpid():  # forked without the at-fork hook (e.g. os.fork in C code)
                self._after_fork()
            dropped = 0
            for span in spans:
                dropped += self._queue.put(span, _approx_size(span))
            if dropped:
                self.stats.dropped += dropped
                now = time.monotonic()
                if now - self._last_drop_warning > 60:
                    self._last_drop_warning = now
                    log.warning("HeliconeSpanExporter queue full: dropped %d oldest spans so far", self.stats.dropped)
            if len(self._queue) >= self.max_batch_spans:
                self._wake.set()
        except Exception:  # nothing reaches the application
            log.exception("HeliconeSpanExporter could not queue spans")
        return SpanExportResult.SUCCESS

    def join_logs(self) -> None:
        """Wait for GenAI event log records (`HeliconeLogExporter` calls it): a call whose spans have no content
        is mapped once its events came, or after `join_wait` seconds."""
        if self._join is None and self.mode != "otlp" and self.join_wait > 0:
            self._join = InAppJoin(self.join_wait)

    def add_events(self, events: Sequence[LogEvent]) -> None:
        if self._join is not None and events:
            self._join.add(events)

    # --- the background side ----------------------------------------------------------------------

    def _make_transport(self) -> Transport:
        if self.mode == "otlp":
            return OtlpTransport(endpoint=self.otlp_endpoint)
        if self.mode == "kafka":
            assert self.kafka_brokers is not None
            return KafkaTransport(self.kafka_brokers, self.kafka_topic, self.options)
        assert self.api_key is not None
        return HeliconeTransport(
            self.api_key, self.base_url, self.api_base_url, self.options, timeout=min(10.0, self.export_timeout)
        )

    def _start_worker(self) -> None:
        self._pid = os.getpid()
        self._wake = threading.Event()
        self._flush_requests: list[threading.Event] = []
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._stop_deadline = float("inf")
        self._transport = self._make_transport()
        self._thread = threading.Thread(target=self._run, name="helicone-span-exporter", daemon=True)
        self._thread.start()

    def _after_fork(self) -> None:
        """In a forked child the parent's thread does not exist: start over with what was queued."""
        self._queue.reset()
        if self._join is not None:  # what waited is the parent's to ship
            self._join = InAppJoin(self.join_wait)
        self._start_worker()

    def _run(self) -> None:
        # Our own HTTP/gRPC calls must not be traced (Traceloop instruments requests): no feedback loop.
        context.attach(context.set_value(context._SUPPRESS_INSTRUMENTATION_KEY, True))
        while True:
            self._wake.wait(self.schedule_delay)
            self._wake.clear()
            with self._flush_lock:
                waiting, self._flush_requests = self._flush_requests, []
            self._ship_all(everything=bool(waiting) or self._stop.is_set())
            for event in waiting:
                event.set()
            if self._stop.is_set():
                return

    def _ship_all(self, everything: bool = False) -> None:
        """Ship what is queued; with a join, what waits for its events too (`everything`: a flush or shutdown
        asks for it all now)."""
        if self._join is not None:
            due, waiting = self._join.take(everything)
            self._ship(due, None)
            self._ship(waiting, lacks_answer)
        settled = None if everything else self._settled(time.time_ns())
        while True:
            batch = self._queue.take(self.max_batch_spans, settled)
            self.stats.queued = len(self._queue)
            if not batch:
                return
            if self.llm_spans_only:
                kept = [s for s in batch if is_llm_span(s)]
                self.stats.filtered += len(batch) - len(kept)
                batch = kept
            # lacks_answer, not lacks_content: a log processor may hand over a call's question before its answer
            self._ship(batch, None if everything else lacks_answer)
            if self._stop.is_set() and time.monotonic() > self._stop_deadline:
                return

    def _settled(self, now_ns: int) -> Callable[[ReadableSpan], bool]:
        """Whether a span ended at least `SETTLE` seconds (at most the schedule delay) ago: the spans of one call
        (an SDK's own span inside its instrumentation's, which ends a few milliseconds later) then travel in one
        batch and map to one record, instead of two when a round starts between their ends."""
        before = now_ns - int(min(SETTLE, self.schedule_delay) * 1e9)
        return lambda span: (span.end_time or 0) <= before

    def _ship(self, batch: list[ReadableSpan], hold: Callable[[LlmCall], bool] | None) -> None:
        """Send `batch`; with a join, the traces `hold` keeps back wait in it for another round."""
        if not batch:
            return
        join = self._join
        try:
            deadline = min(time.monotonic() + self.export_timeout, self._stop_deadline)
            if join is None:
                result = self._transport.send(batch, deadline)
            else:
                result = self._transport.send(batch, deadline, join.events(), hold)
                join.hold(batch, set(result.held))
                join.done(batch, set(result.held))
                self.stats.unjoined = join.dropped
        except Exception:
            log.exception("HeliconeSpanExporter failed to ship %d spans", len(batch))
            result = SendResult(failed=len(batch))
        self.stats.exported += result.sent
        self.stats.failed += result.failed

    # --- flush and shutdown -----------------------------------------------------------------------

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Ship everything queued now; True if done within the timeout."""
        if self._shutdown or not self._thread.is_alive():
            return len(self._queue) == 0
        done = threading.Event()
        with self._flush_lock:
            self._flush_requests.append(done)
        self._wake.set()
        return done.wait(timeout_millis / 1000) and len(self._queue) == 0

    def shutdown(self, timeout: float = 5.0) -> None:
        """Flush for at most `timeout` seconds, then stop the worker and the transport."""
        if self._shutdown:
            return
        self._shutdown = True
        self._stop_deadline = time.monotonic() + timeout
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("HeliconeSpanExporter: %d spans not shipped before the shutdown deadline", len(self._queue))
        try:
            self._transport.shutdown()
        except Exception:
            log.exception("HeliconeSpanExporter transport shutdown failed")

    def flush(self, timeout: float = 5.0) -> bool:
        """For serverless handlers: ship what is queued before the runtime freezes."""
        return self.force_flush(int(timeout * 1000))


def flush_after(exporter: HeliconeSpanExporter, timeout: float = 5.0, provider: Any = None) -> Callable[[F], F]:
    """Decorate a handler (AWS Lambda, ...) so spans are shipped before it returns, within `timeout` in all:
    first the tracer provider's span processors (`provider`, else the global one), since a batch processor in
    front of the exporter (Traceloop's) still holds spans the exporter has not seen, then the exporter's queue."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                deadline = time.monotonic() + timeout
                force_flush = getattr(provider or trace.get_tracer_provider(), "force_flush", None)
                if callable(force_flush):
                    force_flush(int(timeout * 1000))
                exporter.flush(max(0.0, deadline - time.monotonic()))

        return wrapper  # type: ignore[return-value]

    return decorate
