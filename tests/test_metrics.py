"""Each service's /metrics shows its own metrics, each with its type and help text."""

from __future__ import annotations

import pytest
from helicone_otel.collector.metrics import Metrics as CollectorMetrics
from helicone_otel.forwarder.metrics import Metrics as ForwarderMetrics


def test_each_service_renders_only_its_own_metrics() -> None:
    collector, forwarder = CollectorMetrics().render(), ForwarderMetrics().render()
    assert "otelcol_receiver_accepted_spans 0" in collector
    assert "helicone_otel_forwarder" not in collector
    assert "helicone_otel_forwarder_delivered 0" in forwarder
    assert "otelcol_" not in forwarder and "helicone_otel_spool" not in forwarder
    for text in (collector, forwarder):
        names = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
        helps = [line.split()[2] for line in text.splitlines() if line.startswith("# HELP")]
        assert names == helps and len(names) == len(set(names))


def test_counters_labels_and_histograms_render() -> None:
    metrics = ForwarderMetrics()
    metrics.add("helicone_otel_forwarder_delivered", 3)
    metrics.observe("helicone_otel_forwarder_post_latency_seconds", 0.02)
    text = metrics.render()
    assert "helicone_otel_forwarder_delivered 3" in text
    assert 'helicone_otel_forwarder_post_latency_seconds_bucket{le="0.025"} 1' in text
    assert "helicone_otel_forwarder_post_latency_seconds_count 1" in text


def test_a_name_the_table_does_not_declare_is_refused() -> None:
    from helicone_otel.metrics import Metrics

    registry = Metrics({"declared_total": ("counter", "A declared counter.")})
    registry.add("declared_total")
    for use in (lambda: registry.add("declard_total"), lambda: registry.set("other", 1),
                lambda: registry.observe("other", 0.1), lambda: registry.gauge("other", lambda: 0.0)):  # fmt: skip
        with pytest.raises(KeyError, match="not declared"):
            use()
    assert "declard_total" not in registry.render()
