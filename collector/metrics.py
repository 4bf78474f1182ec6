"""Self-metrics in Prometheus text form, named as the OpenTelemetry Collector names them
(`otelcol_receiver_accepted_spans`, ...) plus the spool and produce latency. API keys never appear in
labels: the only labels are transport and exporter names."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_HELP = {
    "otelcol_receiver_accepted_spans": ("counter", "Spans acknowledged to clients."),
    "otelcol_receiver_refused_spans": ("counter", "Spans refused (bad data, auth, backpressure)."),
    "otelcol_exporter_sent_spans": ("counter", "Spans whose records Kafka acknowledged."),
    "otelcol_exporter_send_failed_spans": ("counter", "Spans whose records could not be produced; retried."),
    "otelcol_exporter_enqueue_failed_spans": ("counter", "Spans not spooled (spool full or disk error)."),
    "otelcol_exporter_queue_size": ("gauge", "Records spooled and not yet acknowledged by Kafka."),
    "otelcol_exporter_queue_capacity": ("gauge", "Spool capacity in bytes."),
    "helicone_otel_records_produced": ("counter", "Kafka records acknowledged by the broker."),
    "helicone_otel_records_dead_lettered": ("counter", "Records sent to a dead-letter topic."),
    "helicone_otel_records_dropped": ("counter", "Records that could go nowhere, not even a dead-letter topic."),
    "helicone_otel_records_truncated": ("counter", "Records whose largest values were cut to fit."),
    "helicone_otel_mapping_failed_spans": ("counter", "Spans semconv could not map (sent raw to the DLQ)."),
    "helicone_otel_spool_bytes": ("gauge", "Bytes in the spool not yet acknowledged by Kafka."),
    "helicone_otel_spool_oldest_age_seconds": ("gauge", "Age of the oldest spooled frame."),
    "helicone_otel_kafka_up": ("gauge", "1 when the last produce succeeded, 0 after a failure."),
    "helicone_otel_produce_latency_seconds": ("histogram", "Time from produce to broker acknowledgement."),
    # the forwarder's
    "helicone_otel_forwarder_delivered": ("counter", "Records Helicone accepted (2xx)."),
    "helicone_otel_forwarder_retried": ("counter", "Retries after 429, 5xx, timeouts or connection errors."),
    "helicone_otel_forwarder_dead_lettered": ("counter", "Records sent to the dead-letter topic."),
    "helicone_otel_forwarder_duplicates": ("counter", "Records skipped as already delivered (same id)."),
    "helicone_otel_forwarder_scores_posted": ("counter", "Records whose evaluation scores Helicone accepted."),
    "helicone_otel_forwarder_scores_failed": ("counter", "Records whose evaluation scores Helicone refused."),
    "helicone_otel_forwarder_lag": ("gauge", "Records in the assigned partitions not yet consumed."),
    "helicone_otel_forwarder_post_latency_seconds": ("histogram", "Time of one POST to Helicone."),
}


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels) + "}" if labels else ""


class Metrics:
    def __init__(self) -> None:
        self.values: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
        self.histograms: dict[str, list[float]] = {}
        self.gauges: dict[str, Callable[[], float]] = {}

    def add(self, name: str, value: float = 1, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        series = self.values[name]
        series[key] = series.get(key, 0) + value

    def set(self, name: str, value: float, **labels: str) -> None:
        self.values[name][tuple(sorted(labels.items()))] = value

    def gauge(self, name: str, read: Callable[[], float]) -> None:
        self.gauges[name] = read

    def observe(self, name: str, seconds: float) -> None:
        counts = self.histograms.setdefault(name, [0.0] * (len(LATENCY_BUCKETS) + 3))
        counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        counts[-2] += seconds  # sum
        counts[-1] += 1  # count

    def get(self, name: str, **labels: str) -> float:
        if name in self.gauges:
            return self.gauges[name]()
        return self.values.get(name, {}).get(tuple(sorted(labels.items())), 0)

    def total(self, name: str) -> float:
        return sum(self.values.get(name, {}).values())

    def render(self) -> str:
        lines: list[str] = []
        for name, (kind, text) in _HELP.items():
            lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
            if name in self.gauges:
                lines.append(f"{name} {self.gauges[name]()}")
            elif kind == "histogram":
                counts = self.histograms.get(name, [0.0] * (len(LATENCY_BUCKETS) + 3))
                cumulative = 0.0
                for bound, count in zip((*LATENCY_BUCKETS, float("inf")), counts, strict=False):
                    cumulative += count
                    le = "+Inf" if bound == float("inf") else repr(bound)
                    lines.append(f'{name}_bucket{{le="{le}"}} {cumulative:g}')
                lines += [f"{name}_sum {counts[-2]}", f"{name}_count {counts[-1]:g}"]
            else:
                series = self.values.get(name) or {(): 0}
                lines += [f"{name}{_labels(key)} {value:g}" for key, value in sorted(series.items())]
        return "\n".join(lines) + "\n"
