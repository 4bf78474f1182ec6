"""The deliberate public surface of each subpackage: a change here is a change for users."""

from __future__ import annotations

import importlib

import pytest

SURFACE = {
    "helicone_otel.semconv": [
        "SCHEMA", "LlmCall", "MapFailure", "MapOptions", "MapResult", "Record", "SpanView", "Usage", "iter_spans",
        "map_request", "map_spans", "read_call", "record_id",
    ],
    "helicone_otel.exporter": [
        "ConfigurationError", "ExporterStats", "HeliconeSpanExporter", "flush_after", "is_llm_span",
    ],
    "helicone_otel.collector": ["CollectorConfig", "ConfigError", "load_config", "serve"],
    "helicone_otel.forwarder": ["Forwarder", "ForwarderConfig", "load", "serve", "validate"],
}  # fmt: skip


@pytest.mark.parametrize("module", sorted(SURFACE))
def test_public_names_are_exactly_these(module: str) -> None:
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == sorted(SURFACE[module])
    for name in mod.__all__:
        assert getattr(mod, name) is not None
