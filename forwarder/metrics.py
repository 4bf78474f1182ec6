"""The forwarder's self-metrics: deliveries, retries, parked records, dead letters, duplicates, scores,
lag and post latency."""

from __future__ import annotations

from helicone_otel import metrics

NAMES: metrics.Help = {
    "helicone_otel_forwarder_delivered": ("counter", "Records Helicone accepted (2xx)."),
    "helicone_otel_forwarder_retried": ("counter", "Retries after 429, 5xx, timeouts or connection errors."),
    "helicone_otel_forwarder_dead_lettered": ("counter", "Records sent to the dead-letter topic."),
    "helicone_otel_forwarder_parked": ("counter", "Records sent to the parking topic, to be retried from there."),
    "helicone_otel_forwarder_duplicates": ("counter", "Records skipped as already delivered (same id)."),
    "helicone_otel_forwarder_scores_posted": ("counter", "Records whose evaluation scores Helicone accepted."),
    "helicone_otel_forwarder_scores_failed": ("counter", "Records whose evaluation scores Helicone refused."),
    "helicone_otel_forwarder_lag": ("gauge", "Records in the assigned partitions not yet consumed."),
    "helicone_otel_forwarder_post_latency_seconds": ("histogram", "Time of one POST to Helicone."),
}


class Metrics(metrics.Metrics):
    def __init__(self) -> None:
        super().__init__(NAMES)
