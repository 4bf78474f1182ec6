"""The collector's configuration: `otel-config.yaml` in the OpenTelemetry Collector's own shape.

Only what this collector implements is accepted; anything else is an error that names the key, so a
typo never silently falls back to a default. `${env:VAR}` and `${env:VAR:-default}` are substituted
in string values before validation, as the Collector does. Sizes take bytes or `64MiB`; durations
take seconds or `100ms` / `5s` / `2m`.

    receivers.otlp            protocols.grpc / protocols.http (endpoint, tls), auth.bearer_tokens,
                              max_request_bytes, max_inflight_bytes, api_keys (accept per-request keys)
    processors.helicone       omit_request, omit_response, redact_patterns, redact_attributes,
                              resource_properties
    exporters.kafka[/name]    brokers, topic, encoding, dead_letter_topic, partition_by,
                              max_message_bytes, pass_api_keys, producer.*, sasl.*, tls.*
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
    ConfigError,
    SaslConfig,
    Section,
    TlsConfig,
    client_tls_config,
    endpoint,
    read_document,
    sasl_config,
    tls_config,
)
from helicone_otel.contract import DEFAULT_TOPIC, dead_letter_topic

ENCODINGS = ("helicone_json", "otlp_proto", "otlp_json")
COMPRESSIONS = ("none", "gzip", "snappy", "lz4", "zstd")


@dataclass(frozen=True)
class ReceiverConfig:
    grpc_endpoint: str | None = "127.0.0.1:4317"
    http_endpoint: str | None = "127.0.0.1:4318"
    grpc_tls: TlsConfig | None = None
    http_tls: TlsConfig | None = None
    bearer_tokens: tuple[str, ...] = ()
    api_keys: bool = True  # read a per-request Helicone key (Helicone-Auth / Authorization) for passthrough
    max_request_bytes: int = 64 * 1024 * 1024  # after decompression
    max_inflight_bytes: int = 256 * 1024 * 1024
    read_timeout: float = 30.0  # for an HTTP request body to arrive


@dataclass(frozen=True)
class ProducerConfig:
    compression: str = "zstd"  # aiokafka compresses lz4 at level 9 (LZ4HC): zstd-3 is faster and smaller
    linger_ms: int = 5
    max_batch_bytes: int = 1024 * 1024
    request_timeout: float = 30.0


@dataclass(frozen=True)
class ExporterConfig:
    name: str = "kafka"
    brokers: tuple[str, ...] = ("127.0.0.1:9092",)
    topic: str = DEFAULT_TOPIC
    encoding: str = "helicone_json"
    dead_letter_topic: str = dead_letter_topic(DEFAULT_TOPIC)
    partition_by: Literal["record_id", "trace_id"] = "record_id"  # trace_id: one trace stays on one partition
    max_message_bytes: int = 1_000_000
    pass_api_keys: bool = False
    producer: ProducerConfig = field(default_factory=ProducerConfig)
    sasl: SaslConfig | None = None
    tls: TlsConfig | None = None


@dataclass(frozen=True)
class SpoolConfig:
    directory: str = "./spool"
    max_bytes: int = 1024**3
    fsync: str = "always"  # always (group commit) | interval | never
    fsync_interval: float = 0.1


@dataclass(frozen=True)
class PipelineConfig:
    name: str
    options: MapOptions
    exporters: tuple[ExporterConfig, ...]


@dataclass(frozen=True)
class CollectorConfig:
    receiver: ReceiverConfig = field(default_factory=ReceiverConfig)
    pipelines: tuple[PipelineConfig, ...] = (PipelineConfig("traces", MapOptions(), (ExporterConfig(),)),)
    spool: SpoolConfig | None = field(default_factory=SpoolConfig)
    health_endpoint: str | None = "127.0.0.1:13133"
    metrics_endpoint: str | None = "127.0.0.1:8888"
    workers: int = 1  # 0: one per core ("auto")
    log_level: str | None = None  # None: as the command line says
    log_encoding: str = "console"  # or json

    @property
    def exporters(self) -> tuple[ExporterConfig, ...]:
        seen: dict[str, ExporterConfig] = {}
        for pipeline in self.pipelines:
            for exporter in pipeline.exporters:
                seen.setdefault(exporter.name, exporter)
        return tuple(seen.values())


def _receiver(root: Section) -> ReceiverConfig:
    receivers = root.section("receivers", {"otlp"})
    otlp = receivers.section(
        "otlp", {"protocols", "auth", "api_keys", "max_request_bytes", "max_inflight_bytes", "read_timeout"}
    )
    protocols = otlp.section("protocols", {"grpc", "http"})
    if not protocols.value:
        raise ConfigError("receivers.otlp.protocols: enable at least one of grpc, http")
    endpoints: dict[str, str | None] = {}
    tls: dict[str, TlsConfig | None] = {}
    for name, default in (("grpc", "127.0.0.1:4317"), ("http", "127.0.0.1:4318")):
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
    return ReceiverConfig(
        grpc_endpoint=endpoints["grpc"],
        http_endpoint=endpoints["http"],
        grpc_tls=tls["grpc"],
        http_tls=tls["http"],
        bearer_tokens=tokens,
        api_keys=otlp.flag("api_keys", True),
        max_request_bytes=otlp.size("max_request_bytes", ReceiverConfig.max_request_bytes),
        max_inflight_bytes=otlp.size("max_inflight_bytes", ReceiverConfig.max_inflight_bytes),
        read_timeout=otlp.duration("read_timeout", ReceiverConfig.read_timeout),
    )


def _exporter(name: str, s: Section) -> ExporterConfig:
    brokers = s.strings("brokers", ExporterConfig.brokers)
    if not brokers:
        raise ConfigError(f"{s.key('brokers')}: expected a non-empty list of host:port")
    producer = s.section("producer", {"compression", "linger_ms", "max_batch_bytes", "request_timeout"})
    topic = s.text("topic", ExporterConfig.topic)
    return ExporterConfig(
        name=name,
        brokers=brokers,
        topic=topic,
        encoding=s.text("encoding", ExporterConfig.encoding, ENCODINGS),
        dead_letter_topic=s.text("dead_letter_topic", dead_letter_topic(topic)),
        partition_by="trace_id"
        if s.text("partition_by", "record_id", ("record_id", "trace_id")) == "trace_id"
        else "record_id",
        max_message_bytes=s.size("max_message_bytes", ExporterConfig.max_message_bytes),
        pass_api_keys=s.flag("pass_api_keys", False),
        producer=ProducerConfig(
            compression=producer.text("compression", "zstd", COMPRESSIONS),
            linger_ms=producer.integer("linger_ms", 5),
            max_batch_bytes=producer.size("max_batch_bytes", ProducerConfig.max_batch_bytes),
            request_timeout=producer.duration("request_timeout", ProducerConfig.request_timeout),
        ),
        sasl=sasl_config(s),
        tls=client_tls_config(s),
    )


def parse_config(raw: Any) -> CollectorConfig:
    """Validate an already-loaded (and env-substituted) YAML document."""
    # `forwarder` is the forwarder's own section (helicone_otel.forwarder reads it).
    root = Section(raw, "", {"receivers", "processors", "exporters", "extensions", "service", "forwarder"})
    receiver = _receiver(root)

    processors_section = root.section("processors", {"helicone"})
    options: dict[str, MapOptions] = {}
    if "helicone" in processors_section:
        p = processors_section.section(
            "helicone", {"omit_request", "omit_response", "redact_patterns", "redact_attributes", "resource_properties"}
        )
        try:
            options["helicone"] = MapOptions(
                omit_request=p.flag("omit_request", False),
                omit_response=p.flag("omit_response", False),
                redact_patterns=p.strings("redact_patterns"),
                redact_attributes=p.strings("redact_attributes"),
                resource_properties=p.strings("resource_properties"),
            )
        except ValueError as exc:
            raise ConfigError(f"processors.helicone.{exc}") from exc

    exporters_raw = root.value.get("exporters") or {}
    if not isinstance(exporters_raw, dict):
        raise ConfigError("exporters: expected a mapping")
    exporters: dict[str, ExporterConfig] = {}
    allowed = {
        "brokers", "topic", "encoding", "dead_letter_topic", "partition_by", "max_message_bytes", "pass_api_keys",
        "producer", "sasl", "tls",
    }  # fmt: skip
    for name in exporters_raw:
        if not (name == "kafka" or str(name).startswith("kafka/")):
            raise ConfigError(f"exporters.{name}: unknown exporter type (supported: kafka, kafka/<name>)")
        exporters[name] = _exporter(name, Section(exporters_raw[name], f"exporters.{name}", allowed))
    if not exporters:
        exporters["kafka"] = ExporterConfig()

    extensions = root.section("extensions", {"file_storage", "health_check"})
    spool = None
    if "file_storage" in extensions:
        f = extensions.section("file_storage", {"directory", "max_bytes", "fsync", "fsync_interval"})
        spool = SpoolConfig(
            directory=f.text("directory", SpoolConfig.directory),
            max_bytes=f.size("max_bytes", SpoolConfig.max_bytes),
            fsync=f.text("fsync", "always", ("always", "interval", "never")),
            fsync_interval=f.duration("fsync_interval", SpoolConfig.fsync_interval),
        )
    health = None
    if "health_check" in extensions:
        health = endpoint(extensions.section("health_check", {"endpoint"}), "endpoint", "127.0.0.1:13133")

    service = root.section("service", {"pipelines", "extensions", "telemetry", "workers"})
    metrics = None
    telemetry = service.section("telemetry", {"metrics", "logs"})
    logs = telemetry.section("logs", {"level", "encoding"})
    log_level = logs.text("level", "").upper() or None
    if log_level and log_level not in ("DEBUG", "INFO", "WARNING", "WARN", "ERROR"):
        raise ConfigError(f"service.telemetry.logs.level: {log_level.lower()!r} is not one of debug, info, warn, error")
    log_encoding = logs.text("encoding", "console", ("console", "json"))
    if "metrics" in telemetry:
        metrics = endpoint(telemetry.section("metrics", {"address"}), "address", "127.0.0.1:8888")
    workers = 0 if service.value.get("workers") == "auto" else service.integer("workers", 1, minimum=1)
    pipelines_section = service.section("pipelines", set(service.value.get("pipelines") or {}) or {"traces"})
    pipelines: list[PipelineConfig] = []
    for name in pipelines_section.value:
        if not (name == "traces" or str(name).startswith("traces/")):
            raise ConfigError(f"service.pipelines.{name}: only traces pipelines are supported")
        p = pipelines_section.section(name, {"receivers", "processors", "exporters"})
        if p.strings("receivers", ("otlp",)) != ("otlp",):
            raise ConfigError(f"{p.key('receivers')}: only [otlp] is supported")
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
    return CollectorConfig(
        receiver,
        tuple(pipelines),
        spool,
        health,
        metrics,
        workers,
        {"WARN": "WARNING"}.get(log_level or "", log_level),
        log_encoding,
    )


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> CollectorConfig:
    """Read, substitute and validate a configuration file."""
    return parse_config(read_document(path, environ))
