"""The forwarder's configuration: the `forwarder` section of `otel-config.yaml` (env-substituted).

forwarder:
  brokers: 127.0.0.1:9092
  topic: helicone-llm-logs
  group_id: helicone-otel-forwarder
  dead_letter_topic: helicone-llm-logs-dlq       # default: <topic>-dlq
  parking_topic: helicone-llm-logs-parked        # default: <topic>-parked; records retried later, from there
  helicone_url: https://api.worker.helicone.ai     # Helicone's async log routes (OpenAI, Anthropic, Google, custom)
  helicone_api_url: https://api.helicone.ai       # its custom trace route (every other provider, priced by name)
  api_key: ${env:HELICONE_API_KEY:-}            # the key for records that bring none of their own
  api_key_header: helicone-auth                  # Kafka header with a per-record key ('' to ignore it)
  api_keys:                                      # or: a key per value of one Helicone property
    property: tenant                             #   (Helicone-Property-Tenant in providerRequest.meta)
    keys: {acme: sk-helicone-acme, globex: sk-helicone-globex}
  concurrency: 16                                # posts in flight
  max_attempts: 8                                # per record (within 5s) while others go through, then parked
  dead_letter_after: 60m                         # a parked record refused this long while others go through
  max_uncommitted: 500                           # records in hand per partition (a crash posts them again)
  request_timeout: 10s
  dedupe_window: 100000                          # recent record ids remembered
  admin_address: 127.0.0.1:8889                  # /metrics, / (live), /ready; '' turns it off
  sasl: {mechanism: PLAIN, username: ..., password: ...}   # as in exporters.kafka
  tls: {ca_file: ..., cert_file: ..., key_file: ...}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helicone_otel.config_reader import (
    ENDPOINT,
    INTERNAL,
    ConfigError,
    SaslConfig,
    Section,
    TlsConfig,
    at_least,
    read_document,
    read_section,
    section_keys,
)
from helicone_otel.contract import (
    DEFAULT_TOPIC,
    HELICONE_API_URL,
    HELICONE_AUTH,
    HELICONE_WORKER_URL,
    dead_letter_topic,
)
from helicone_otel.kafka.cluster import Cluster


@dataclass(frozen=True)
class ForwarderConfig:
    """Each field is a key of the `forwarder` section, but `api_key_property` (read from `api_keys`)."""

    brokers: tuple[str, ...] = ("127.0.0.1:9092",)
    topic: str = DEFAULT_TOPIC
    group_id: str = "helicone-otel-forwarder"
    dead_letter_topic: str = dead_letter_topic(DEFAULT_TOPIC)  # default: <topic>-dlq
    parking_topic: str = f"{DEFAULT_TOPIC}-parked"  # default: <topic>-parked
    helicone_url: str = HELICONE_WORKER_URL
    helicone_api_url: str = HELICONE_API_URL
    api_key: str | None = field(default=None, repr=False)
    api_key_header: str | None = HELICONE_AUTH
    api_key_property: str | None = field(default=None, metadata=INTERNAL)  # lower-case property, e.g. "tenant"
    api_keys: dict[str, str] = field(default_factory=dict, repr=False)  # property value -> key
    concurrency: int = field(default=16, metadata=at_least(1))
    max_attempts: int = field(default=8, metadata=at_least(1))
    dead_letter_after: float = 3600.0
    max_uncommitted: int = field(default=500, metadata=at_least(1))
    request_timeout: float = 10.0
    dedupe_window: int = 100_000
    admin_address: str | None = field(default="127.0.0.1:8889", metadata=ENDPOINT)
    sasl: SaslConfig | None = None
    tls: TlsConfig | None = None

    @property
    def cluster(self) -> Cluster:
        return Cluster(self.brokers, self.sasl, self.tls)


def parse(raw: Any) -> ForwarderConfig:
    root = raw if isinstance(raw, dict) else {}
    s = Section(root.get("forwarder"), "forwarder", section_keys(ForwarderConfig))
    topic = s.text("topic", ForwarderConfig.topic)
    brokers = s.strings("brokers", ForwarderConfig.brokers)
    if not brokers:
        raise ConfigError("forwarder.brokers: expected a non-empty list of host:port")
    prop, keys = None, {}
    if "api_keys" in s:
        by = s.section("api_keys", {"property", "keys"})
        prop = by.text("property", "").lower().removeprefix("helicone-property-") or None
        if prop is None:
            raise ConfigError(f"{by.key('property')}: required with api_keys")
        table = by.value.get("keys")
        if not isinstance(table, dict) or not all(isinstance(v, str) and v for v in table.values()):
            raise ConfigError(f"{by.key('keys')}: expected a mapping of property value to API key")
        keys = {str(k): v for k, v in table.items()}
    return read_section(
        ForwarderConfig,
        s,
        brokers=brokers,
        topic=topic,
        dead_letter_topic=s.text("dead_letter_topic", dead_letter_topic(topic)),
        parking_topic=s.text("parking_topic", f"{topic}-parked"),
        helicone_url=_url(s, "helicone_url", HELICONE_WORKER_URL),
        helicone_api_url=_url(s, "helicone_api_url", HELICONE_API_URL),
        api_key_header=s.text("api_key_header", HELICONE_AUTH).lower() or None,
        api_key_property=prop,
        api_keys=keys,
    )


def _url(s: Section, name: str, default: str) -> str:
    url = s.text(name, default).rstrip("/")
    if not url.startswith(("http://", "https://")) or url.endswith("://"):
        raise ConfigError(f"{s.key(name)}: expected an http(s) URL, got {url!r}")
    return url


def load(path: str | Path) -> ForwarderConfig:
    return parse(read_document(path))
