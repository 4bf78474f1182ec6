"""The collector's configuration: `otel-config.yaml` in the OpenTelemetry Collector's own shape.

Only what this collector implements is accepted; anything else is an error that names the key, so a
typo never silently falls back to a default. `${env:VAR}` and `${env:VAR:-default}` are substituted
in string values before validation, as the Collector does. Sizes take bytes or `64MiB`; durations
take seconds or `100ms` / `5s` / `2m`.

    receivers.otlp            protocols.grpc / protocols.http (endpoint, tls), auth.bearer_tokens,
                              max_request_bytes, max_inflight_bytes, api_keys (accept per-request keys)
    receivers.kafka           brokers, topic, encoding, group_id, initial_offset, max_fetch_records,
                              sasl.*, tls.* (the mapping stage: spans another collector produced)
    processors.helicone       omit_request, omit_response, redact_patterns, redact_attributes,
                              resource_properties
    exporters.kafka[/name]    brokers, topic, encoding, dead_letter_topic, partition_by,
                              max_message_bytes, pass_api_keys, join_topic, join_wait, producer.*,
                              sasl.*, tls.*
    extensions.file_storage   directory, max_bytes, fsync, fsync_interval (the write-ahead spool;
                              without it a request is acknowledged only once Kafka acknowledged it)
    extensions.health_check   endpoint
    service                   pipelines.traces[/name], workers, telemetry.metrics.address
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from helicone_otel.semconv import MapOptions

from helicone_otel.config_reader import (
    INTERNAL,
    SIZE,
    ConfigError,
    SaslConfig,
    Section,
    TlsConfig,
    at_least,
    endpoint,
    read_document,
    read_section,
    section_keys,
    tls_config,
)
from helicone_otel.contract import SPANS_TOPIC, dead_letter_topic, join_topic
from helicone_otel.kafka.cluster import Cluster
from helicone_otel.kafka.output import ExporterConfig, ProducerConfig

__all__ = [
    "CollectorConfig", "ConfigError", "ExporterConfig", "KafkaReceiverConfig", "PipelineConfig", "ProducerConfig",
    "ReceiverConfig", "SpoolConfig", "load_config", "parse_config",
]  # fmt: skip


@dataclass(frozen=True)
class ReceiverConfig:
    """`receivers.otlp`: the endpoints and TLS are read from its `protocols`, the tokens from `auth`."""

    grpc_endpoint: str | None = field(default="127.0.0.1:4317", metadata=INTERNAL)
    http_endpoint: str | None = field(default="127.0.0.1:4318", metadata=INTERNAL)
    grpc_tls: TlsConfig | None = field(default=None, metadata=INTERNAL)
    http_tls: TlsConfig | None = field(default=None, metadata=INTERNAL)
    bearer_tokens: tuple[str, ...] = field(default=(), metadata=INTERNAL)
    api_keys: bool = True  # read a per-request Helicone key (Helicone-Auth / Authorization) for passthrough
    max_request_bytes: int = field(default=64 * 1024 * 1024, metadata=SIZE)  # after decompression
    max_inflight_bytes: int = field(default=256 * 1024 * 1024, metadata=SIZE)
    read_timeout: float = 30.0  # for an HTTP request body to arrive


@dataclass(frozen=True)
class KafkaReceiverConfig:
    """`receivers.kafka`: the spans an ingest collector produced (`encoding: otlp_proto`), read by a
    consumer group; a collector with this receiver is the mapping stage of a two-stage deployment."""

    brokers: tuple[str, ...] = ("127.0.0.1:9092",)
    topic: str = SPANS_TOPIC
    encoding: Literal["otlp_proto"] = "otlp_proto"
    group_id: str = "helicone-otel-mapping"
    initial_offset: Literal["earliest", "latest"] = "earliest"  # where a new group starts
    max_fetch_records: int = field(default=500, metadata=at_least(1))  # Kafka records fetched together
    max_batch_bytes: int = field(default=1024 * 1024, metadata=SIZE)  # of a fetch's OTLP, mapped together
    sasl: SaslConfig | None = None
    tls: TlsConfig | None = None

    @property
    def cluster(self) -> Cluster:
        return Cluster(self.brokers, self.sasl, self.tls)


@dataclass(frozen=True)
class SpoolConfig:
    """`extensions.file_storage`: the write-ahead spool."""

    directory: str = "./spool"
    max_bytes: int = field(default=1024**3, metadata=SIZE)
    fsync: Literal["always", "interval", "never"] = "always"  # always: group commit
    fsync_interval: float = 0.1


@dataclass(frozen=True)
class PipelineConfig:
    name: str
    options: MapOptions
    exporters: tuple[ExporterConfig, ...]


@dataclass(frozen=True)
class CollectorConfig:
    """The whole file. The defaults are what an empty file gives: both OTLP protocols on loopback, one
    `kafka` exporter to a local broker, no spool (a request is acknowledged once Kafka acknowledged
    its records), no health or metrics endpoint, one process."""

    receiver: ReceiverConfig = field(default_factory=ReceiverConfig)
    kafka_receiver: KafkaReceiverConfig | None = None
    pipelines: tuple[PipelineConfig, ...] = (PipelineConfig("traces", MapOptions(), (ExporterConfig(),)),)
    spool: SpoolConfig | None = None
    health_endpoint: str | None = None
    metrics_endpoint: str | None = None
    workers: int = 1  # 0: one per core ("auto")
    log_level: str | None = None  # None: as the command line says
    log_encoding: Literal["console", "json"] = "console"

    @property
    def exporters(self) -> tuple[ExporterConfig, ...]:
        seen: dict[str, ExporterConfig] = {}
        for pipeline in self.pipelines:
            for exporter in pipeline.exporters:
                seen.setdefault(exporter.name, exporter)
        return tuple(seen.values())


_NO_OTLP = ReceiverConfig(grpc_endpoint=None, http_endpoint=None)


def _receiver(root: Section) -> ReceiverConfig:
    receivers = root.section("receivers", {"otlp", "kafka"})
    if "receivers" not in root:
        return ReceiverConfig()
    if "otlp" not in receivers:
        if "kafka" not in receivers:
            raise ConfigError("receivers: configure otlp, kafka or both")
        return _NO_OTLP
    otlp = receivers.section("otlp", section_keys(ReceiverConfig) | {"protocols", "auth"})
    protocols = otlp.section("protocols", {"grpc", "http"})
    if not protocols.value:
        raise ConfigError("receivers.otlp.protocols: enable at least one of grpc, http")
    endpoints: dict[str, str | None] = {}
    tls: dict[str, TlsConfig | None] = {}
    for name, default in (("grpc", ReceiverConfig.grpc_endpoint), ("http", ReceiverConfig.http_endpoint)):
        if name in protocols:
            proto = protocols.section(name, {"endpoint", "tls"})
            endpoints[name] = endpoint(proto, "endpoint", default)
            tls[name] = tls_config(proto, "tls", server=True)
        else:
            endpoints[name], tls[name] = None, None
    auth = otlp.section("auth", {"bearer_tokens"})
    tokens = auth.strings("bearer_tokens")
    if "bearer_tokens" in auth and not tokens:
        raise ConfigError("receivers.otlp.auth.bearer_tokens: empty list (remove auth to disable it)")
    return read_section(
        ReceiverConfig, otlp, grpc_endpoint=endpoints["grpc"], http_endpoint=endpoints["http"], grpc_tls=tls["grpc"],
        http_tls=tls["http"], bearer_tokens=tokens,
    )  # fmt: skip


def _kafka_receiver(root: Section) -> KafkaReceiverConfig | None:
    receivers = root.section("receivers", {"otlp", "kafka"})
    if "kafka" not in receivers:
        return None
    s = receivers.section("kafka", section_keys(KafkaReceiverConfig))
    brokers = s.strings("brokers", KafkaReceiverConfig.brokers)
    if not brokers:
        raise ConfigError(f"{s.key('brokers')}: expected a non-empty list of host:port")
    return read_section(KafkaReceiverConfig, s, brokers=brokers)


def _exporter(name: str, s: Section) -> ExporterConfig:
    brokers = s.strings("brokers", ExporterConfig.brokers)
    if not brokers:
        raise ConfigError(f"{s.key('brokers')}: expected a non-empty list of host:port")
    topic = s.text("topic", ExporterConfig.topic)
    dlq = s.text("dead_letter_topic", dead_letter_topic(topic))
    join = s.text("join_topic", join_topic(topic))
    return read_section(ExporterConfig, s, name=name, brokers=brokers, topic=topic, dead_letter_topic=dlq,
                        join_topic=join)  # fmt: skip


def _optional(parent: Section, key: str, cls: type[Any]) -> Any:
    return read_section(cls, parent.section(key, section_keys(cls))) if key in parent else None


def parse_config(raw: Any) -> CollectorConfig:
    """Validate an already-loaded (and env-substituted) YAML document; an empty one gives
    `CollectorConfig()`."""
    # `forwarder` is the forwarder's own section (helicone_otel.forwarder reads it).
    root = Section(raw, "", {"receivers", "processors", "exporters", "extensions", "service", "forwarder"})
    receiver = _receiver(root)
    kafka_receiver = _kafka_receiver(root)
    defined_receivers = [name for name in ("otlp", "kafka") if name in (root.value.get("receivers") or {"otlp": {}})]

    processors_section = root.section("processors", {"helicone"})
    options: dict[str, MapOptions] = {}
    if "helicone" in processors_section:
        try:
            options["helicone"] = _optional(processors_section, "helicone", MapOptions)
        except ValueError as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"processors.helicone.{exc}") from exc

    exporters_raw = root.value.get("exporters") or {}
    if not isinstance(exporters_raw, dict):
        raise ConfigError("exporters: expected a mapping")
    exporters: dict[str, ExporterConfig] = {}
    for name in exporters_raw:
        if not (name == "kafka" or str(name).startswith("kafka/")):
            raise ConfigError(f"exporters.{name}: unknown exporter type (supported: kafka, kafka/<name>)")
        exporters[name] = _exporter(
            name, Section(exporters_raw[name], f"exporters.{name}", section_keys(ExporterConfig))
        )
    if not exporters:
        exporters["kafka"] = ExporterConfig()

    extensions = root.section("extensions", {"file_storage", "health_check"})
    spool = _optional(extensions, "file_storage", SpoolConfig)
    health = None
    if "health_check" in extensions:
        health = endpoint(extensions.section("health_check", {"endpoint"}), "endpoint", "127.0.0.1:13133")

    service = root.section("service", {"pipelines", "extensions", "telemetry", "workers"})
    telemetry = service.section("telemetry", {"metrics", "logs"})
    logs = telemetry.section("logs", {"level", "encoding"})
    log_level = logs.text("level", "").upper() or None
    if log_level and log_level not in ("DEBUG", "INFO", "WARNING", "WARN", "ERROR"):
        raise ConfigError(f"service.telemetry.logs.level: {log_level.lower()!r} is not one of debug, info, warn, error")
    log_encoding: Literal["console", "json"] = (
        "json" if logs.text("encoding", "console", ("console", "json")) == "json" else "console"
    )
    metrics = None
    if "metrics" in telemetry:
        metrics = endpoint(telemetry.section("metrics", {"address"}), "address", "127.0.0.1:8888")
    workers = 0 if service.value.get("workers") == "auto" else service.integer("workers", 1, minimum=1)
    pipelines_section = service.section("pipelines", set(service.value.get("pipelines") or {}) or {"traces"})
    pipelines: list[PipelineConfig] = []
    for name in pipelines_section.value:
        if not (name == "traces" or str(name).startswith("traces/")):
            raise ConfigError(f"service.pipelines.{name}: only traces pipelines are supported")
        p = pipelines_section.section(name, {"receivers", "processors", "exporters"})
        # One handler feeds every pipeline from every receiver: each pipeline names all of them.
        if sorted(p.strings("receivers", tuple(defined_receivers))) != sorted(defined_receivers):
            raise ConfigError(f"{p.key('receivers')}: every pipeline takes all configured receivers "
                              f"({', '.join(defined_receivers)})")  # fmt: skip
        chosen: list[ExporterConfig] = []
        for exporter_name in p.strings("exporters", ("kafka",)):
            if exporter_name not in exporters:
                raise ConfigError(f"{p.key('exporters')}: {exporter_name!r} is not defined under exporters")
            chosen.append(exporters[exporter_name])
        pipeline_options = MapOptions()
        for processor in p.strings("processors"):
            if processor not in options:
                raise ConfigError(f"{p.key('processors')}: {processor!r} is not defined under processors")
            pipeline_options = options[processor]
        pipelines.append(PipelineConfig(str(name), pipeline_options, tuple(chosen)))
    if not pipelines:
        pipelines.append(PipelineConfig("traces", MapOptions(), (next(iter(exporters.values())),)))
    level = {"WARN": "WARNING"}.get(log_level or "", log_level)
    return CollectorConfig(
        receiver, kafka_receiver, tuple(pipelines), spool, health, metrics, workers, level, log_encoding
    )


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> CollectorConfig:
    """Read, substitute and validate a configuration file."""
    return parse_config(read_document(path, environ))
