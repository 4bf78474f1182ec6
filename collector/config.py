"""The collector's configuration: `otel-config.yaml` in the OpenTelemetry Collector's own shape.

Only the parts this collector implements are accepted; anything else is an error that names the key,
so a typo never silently falls back to a default. `${env:VAR}` and `${env:VAR:-default}` are
substituted in string values before validation, as the Collector does.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_ENV = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(ValueError):
    """The configuration is invalid; the message names the offending key path."""


@dataclass(frozen=True)
class OtlpReceiverConfig:
    grpc_endpoint: str | None = "127.0.0.1:4317"
    http_endpoint: str | None = "127.0.0.1:4318"


@dataclass(frozen=True)
class KafkaExporterConfig:
    brokers: tuple[str, ...] = ("127.0.0.1:9092",)
    topic: str = "helicone-llm-logs"
    encoding: str = "otlp_proto"


@dataclass(frozen=True)
class CollectorConfig:
    receiver: OtlpReceiverConfig = field(default_factory=OtlpReceiverConfig)
    exporter: KafkaExporterConfig = field(default_factory=KafkaExporterConfig)


def substitute_env(value: Any, environ: Mapping[str, str] | None = None) -> Any:
    """Replace `${env:VAR}` / `${env:VAR:-default}` in every string inside `value`."""
    env = os.environ if environ is None else environ
    if isinstance(value, str):

        def repl(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env and env[name] != "":
                return env[name]
            if default is not None:
                return default
            raise ConfigError(f"environment variable {name} is not set and has no default")

        return _ENV.sub(repl, value)
    if isinstance(value, dict):
        return {k: substitute_env(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute_env(v, env) for v in value]
    return value


def _mapping(value: Any, path: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: expected a mapping, got {type(value).__name__}")
    return value


def _only(section: dict[str, Any], path: str, allowed: set[str]) -> None:
    unknown = sorted(set(section) - allowed)
    if unknown:
        raise ConfigError(f"{path}.{unknown[0]}: unknown key (allowed: {', '.join(sorted(allowed))})")


def _endpoint(protocols: dict[str, Any], name: str) -> str | None:
    if name not in protocols:
        return None
    section = _mapping(protocols[name], f"receivers.otlp.protocols.{name}")
    _only(section, f"receivers.otlp.protocols.{name}", {"endpoint"})
    endpoint = str(section.get("endpoint", getattr(OtlpReceiverConfig, f"{name}_endpoint")))
    host, sep, port = endpoint.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"receivers.otlp.protocols.{name}.endpoint: expected host:port, got {endpoint!r}")
    return endpoint


def parse_config(raw: Any) -> CollectorConfig:
    """Validate an already-loaded (and env-substituted) YAML document."""
    doc = _mapping(raw, "<root>")
    _only(doc, "<root>", {"receivers", "processors", "exporters", "extensions", "service"})

    receivers = _mapping(doc.get("receivers"), "receivers")
    _only(receivers, "receivers", {"otlp"})
    otlp = _mapping(receivers.get("otlp"), "receivers.otlp")
    _only(otlp, "receivers.otlp", {"protocols"})
    protocols = _mapping(otlp.get("protocols"), "receivers.otlp.protocols")
    _only(protocols, "receivers.otlp.protocols", {"grpc", "http"})
    if not protocols:
        raise ConfigError("receivers.otlp.protocols: enable at least one of grpc, http")
    receiver = OtlpReceiverConfig(_endpoint(protocols, "grpc"), _endpoint(protocols, "http"))

    exporters = _mapping(doc.get("exporters"), "exporters")
    _only(exporters, "exporters", {"kafka"})
    kafka = _mapping(exporters.get("kafka"), "exporters.kafka")
    _only(kafka, "exporters.kafka", {"brokers", "topic", "encoding"})
    brokers = kafka.get("brokers", list(KafkaExporterConfig.brokers))
    if isinstance(brokers, str):
        brokers = [b.strip() for b in brokers.split(",") if b.strip()]
    if not isinstance(brokers, list) or not brokers:
        raise ConfigError("exporters.kafka.brokers: expected a non-empty list of host:port")
    encoding = str(kafka.get("encoding", KafkaExporterConfig.encoding))
    if encoding not in {"otlp_proto"}:
        raise ConfigError(f"exporters.kafka.encoding: unsupported encoding {encoding!r} (supported: otlp_proto)")
    exporter = KafkaExporterConfig(
        tuple(str(b) for b in brokers), str(kafka.get("topic", "helicone-llm-logs")), encoding
    )

    service = _mapping(doc.get("service"), "service")
    _only(service, "service", {"pipelines", "extensions", "telemetry"})
    pipelines = _mapping(service.get("pipelines"), "service.pipelines")
    _only(pipelines, "service.pipelines", {"traces"})
    traces = _mapping(pipelines.get("traces"), "service.pipelines.traces")
    _only(traces, "service.pipelines.traces", {"receivers", "processors", "exporters"})
    if traces.get("receivers", ["otlp"]) != ["otlp"]:
        raise ConfigError("service.pipelines.traces.receivers: only [otlp] is supported")
    if traces.get("exporters", ["kafka"]) != ["kafka"]:
        raise ConfigError("service.pipelines.traces.exporters: only [kafka] is supported")
    return CollectorConfig(receiver, exporter)


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> CollectorConfig:
    """Read, substitute and validate a configuration file."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    return parse_config(substitute_env(raw, environ))
