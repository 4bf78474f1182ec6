"""One Kafka output: where its records go, in which encoding, and how they are produced. It is an
`exporters.kafka[/name]` section of the collector's config, and what the exporter's Kafka mode builds
from its arguments; each field is a key of that section (`config_reader.read_section`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from helicone_otel.config_reader import INTERNAL, SIZE, SaslConfig, TlsConfig
from helicone_otel.contract import DEFAULT_TOPIC, dead_letter_topic, join_topic

from .cluster import Cluster

Encoding = Literal["helicone_json", "otlp_proto", "otlp_json"]


@dataclass(frozen=True)
class ProducerConfig:
    # aiokafka compresses lz4 at level 9 (LZ4HC): zstd-3 is faster and smaller
    compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = "zstd"
    linger_ms: int = 5
    max_batch_bytes: int = field(default=1024 * 1024, metadata=SIZE)
    request_timeout: float = 30.0


@dataclass(frozen=True)
class ExporterConfig:
    name: str = field(default="kafka", metadata=INTERNAL)
    brokers: tuple[str, ...] = ("127.0.0.1:9092",)
    topic: str = DEFAULT_TOPIC
    encoding: Encoding = "helicone_json"
    dead_letter_topic: str = dead_letter_topic(DEFAULT_TOPIC)  # default: <topic>-dlq
    partition_by: Literal["record_id", "trace_id"] = "record_id"  # trace_id: one trace stays on one partition
    max_message_bytes: int = field(default=1_000_000, metadata=SIZE)
    pass_api_keys: bool = False
    # helicone_json: a call whose spans carry no content waits up to join_wait for its GenAI event log records
    # on join_topic (keyed by trace id), then goes out with what it has; 0 turns the join off
    join_topic: str = join_topic(DEFAULT_TOPIC)  # default: <topic>-join
    join_wait: float = 10.0
    producer: ProducerConfig = field(default_factory=ProducerConfig)
    sasl: SaslConfig | None = None
    tls: TlsConfig | None = None

    @property
    def cluster(self) -> Cluster:
        return Cluster(self.brokers, self.sasl, self.tls)
