"""The in-app join: GenAI event log records meet their spans in the exporter's background thread, as they meet at
the collector's join (`collector.content_join`), so that the in-process modes map a call with the content an
instrumentation put only in log records (`semconv.log_events`).

`HeliconeLogExporter` adds events from the Logs SDK's processor. A batch whose trace holds a call without its
content or its answer (`lacks_answer`: a log processor may hand over a call's question before its answer) is not
mapped yet: its spans wait here, mapped again each round, until their events came, or `wait` has passed, or a
flush or shutdown asks for everything now. Events whose span has not come within `wait` are dropped and counted
(`ExporterStats.unjoined`). Only an exporter that was given a log exporter holds anything.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from helicone_otel.semconv import LogEvent
from helicone_otel.semconv.log_events import SpanKey, by_span
from opentelemetry.sdk.trace import ReadableSpan

from ._views import span_ids


@dataclass
class _Held:
    since: float
    spans: list[ReadableSpan] = field(default_factory=list)


class InAppJoin:
    def __init__(self, wait: float) -> None:
        self.wait = wait
        self.dropped = 0  # events whose span did not come within `wait`
        self._lock = threading.Lock()
        self._events: list[tuple[float, LogEvent]] = []  # the app's threads append; the worker reads
        self._held: dict[str, _Held] = {}  # by trace id; the worker's own

    def add(self, events: Sequence[LogEvent]) -> None:
        """From the app's threads (the log exporter): as cheap as a list append."""
        now = time.monotonic()
        with self._lock:
            self._events.extend((now, e) for e in events)

    def events(self) -> dict[SpanKey, list[LogEvent]]:
        with self._lock:
            return by_span(e for _, e in self._events)

    def hold(self, spans: Sequence[ReadableSpan], traces: set[str]) -> None:
        """Keep the spans of `traces` for a later round."""
        now = time.monotonic()
        for span in spans:
            trace_id = span_ids(span)[0]
            if trace_id in traces:
                self._held.setdefault(trace_id, _Held(now)).spans.append(span)

    def take(self, everything: bool = False) -> tuple[list[ReadableSpan], list[ReadableSpan]]:
        """(spans whose wait is over, spans still waiting), both no longer held."""
        now = time.monotonic()
        due: list[ReadableSpan] = []
        waiting: list[ReadableSpan] = []
        for held in self._held.values():
            (due if everything or now - held.since >= self.wait else waiting).extend(held.spans)
        self._held.clear()
        return due, waiting

    def done(self, spans: Sequence[ReadableSpan], held: set[str]) -> None:
        """Forget the events of the traces `spans` made records of, and those that waited too long for a span."""
        traces = {span_ids(s)[0] for s in spans} - held
        now = time.monotonic()
        with self._lock:
            kept: list[tuple[float, LogEvent]] = []
            for arrived, event in self._events:
                if event.trace_id in traces:
                    continue
                if now - arrived >= self.wait and event.trace_id not in self._held:
                    self.dropped += 1
                    continue
                kept.append((arrived, event))
            self._events = kept
