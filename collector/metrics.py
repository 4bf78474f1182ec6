"""The collector's self-metrics, named as the OpenTelemetry Collector names them
(`otelcol_receiver_accepted_spans`, ...) plus the spool, produce latency and mapping counters; the only
labels are transport and exporter names."""

from __future__ import annotations

from helicone_otel import metrics
from helicone_otel.kafka import sender

NAMES: metrics.Help = {
    "otelcol_receiver_accepted_spans": ("counter", "Spans acknowledged to clients."),
    "otelcol_receiver_refused_spans": ("counter", "Spans refused (bad data, auth, backpressure)."),
    "otelcol_receiver_accepted_log_records": ("counter", "OTLP log records acknowledged to clients."),
    "otelcol_receiver_accepted_metric_points": ("counter", "OTLP metric data points acknowledged to clients."),
    "helicone_otel_dropped_log_records": (
        "counter",
        "Log records accepted and dropped (reason: no pipeline takes "
        "them, not a GenAI event, no span came within join_wait).",
    ),
    "helicone_otel_join_held_traces": (
        "counter",
        "Traces sent to the join topic: a call without content on its spans.",
    ),
    "helicone_otel_join_log_records": ("counter", "GenAI event log records sent to the join topic."),
    "helicone_otel_join_waiting_traces": ("gauge", "Traces waiting at the join for their content or for join_wait."),
    "helicone_otel_joined_records": ("counter", "Records mapped at the join (reason: complete, or waited)."),
    "helicone_otel_dropped_metric_points": ("counter", "Metric points accepted and dropped: no pipeline takes them."),
    "otelcol_exporter_sent_spans": ("counter", "Spans whose records Kafka acknowledged."),
    "otelcol_exporter_send_failed_spans": ("counter", "Spans whose records could not be produced; retried."),
    "otelcol_exporter_enqueue_failed_spans": ("counter", "Spans not spooled (spool full or disk error)."),
    "otelcol_exporter_queue_size": ("gauge", "Records spooled and not yet acknowledged by Kafka."),
    "otelcol_exporter_queue_capacity": ("gauge", "Spool capacity in bytes."),
    "helicone_otel_records_truncated": ("counter", "Records whose largest values were cut to fit."),
    "helicone_otel_records_unparsed_content": ("counter", "Records keeping content that did not parse as raw text."),
    "helicone_otel_mapping_failed_spans": ("counter", "Spans semconv could not map (sent raw to the DLQ)."),
    "helicone_otel_spool_bytes": ("gauge", "Bytes in the spool not yet acknowledged by Kafka."),
    "helicone_otel_spool_oldest_age_seconds": ("gauge", "Age of the oldest spooled frame."),
    "helicone_otel_spool_full": ("gauge", "1 while the spool refuses requests for its max_bytes."),
    "helicone_otel_spool_disk_full": ("gauge", "1 while the spool's disk has no room for the last request."),
    **sender.METRICS,
}


class Metrics(metrics.Metrics):
    def __init__(self) -> None:
        super().__init__(NAMES)
