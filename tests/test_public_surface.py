"""The deliberate public surface of each subpackage: a change here is a change for users."""

from __future__ import annotations

import importlib

import pytest

SURFACE = {
    "helicone_otel.semconv": [
        "SCHEMA", "LlmCall", "LogEvent", "MapFailure", "MapOptions", "MapResult", "Record", "SpanView", "Usage",
        "events_of", "iter_spans", "lacks_answer", "lacks_content", "map_request", "map_spans", "read_call",
        "record_id",
    ],
    "helicone_otel.exporter": [
        "ConfigurationError", "ExporterStats", "HeliconeLogExporter", "HeliconeSpanExporter", "flush_after",
        "is_llm_span",
    ],
    "helicone_otel.collector": ["CollectorConfig", "ConfigError", "load_config", "serve"],
    "helicone_otel.forwarder": ["Forwarder", "ForwarderConfig", "load", "serve", "validate"],
    "helicone_otel.custom": ["LlmCall", "llm_call", "log_llm_call"],
}  # fmt: skip


@pytest.mark.parametrize("module", sorted(SURFACE))
def test_public_names_are_exactly_these(module: str) -> None:
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == sorted(SURFACE[module])
    for name in mod.__all__:
        assert getattr(mod, name) is not None


# Which packages each component may import: semconv and the shared layer, never another component.
LAYERS = {
    "helicone_otel.semconv": set(),
    "helicone_otel.exporter": {"helicone_otel.semconv"},
    "helicone_otel.collector": {"helicone_otel.semconv"},
    "helicone_otel.forwarder": {"helicone_otel.semconv"},
}
COMPONENTS = set(LAYERS)


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_components_import_only_semconv_and_the_shared_layer(package: str) -> None:
    """Read from the source: every `helicone_otel.*` import of a component's modules, lazy ones too."""
    import ast
    from pathlib import Path

    directory = Path(importlib.import_module(package).__file__ or "").parent
    imported: set[str] = set()
    for path in directory.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    others = {c for c in COMPONENTS - {package} for name in imported if name == c or name.startswith(c + ".")}
    assert others <= LAYERS[package], f"{package} imports {sorted(others - LAYERS[package])}"
    assert any(name.startswith("helicone_otel.") for name in imported) or package == "helicone_otel.semconv"
