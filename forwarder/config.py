"""The forwarder's configuration: the `forwarder` section of `otel-config.yaml` (env-substituted).

forwarder:
  brokers: 127.0.0.1:9092
  topic: helicone-llm-logs
  group_id: helicone-otel-forwarder
  dead_letter_topic: helicone-llm-logs-dlq       # default: <topic>-dlq
  helicone_url: https://api.worker.helicone.ai     # Helicone's async log routes (OpenAI, Anthropic, Google, custom)
  helicone_api_url: https://api.helicone.ai       # its custom trace route (every other provider, priced by name)
  api_key: ${env:HELICONE_API_KEY:-}            # the key for records that bring none of their own
  api_key_header: helicone-auth                  # Kafka header with a per-record key ('' to ignore it)
  api_keys:                                      # or: a key per value of one Helicone property
    property: tenant                             #   (Helicone-Property-Tenant in providerRequest.meta)
    keys: {acme: sk-helicone-acme, globex: sk-helicone-globex}
  concurrency: 16                                # posts in flight
  max_attempts: 8                                # per record while others go through, then dead-lettered
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
    ConfigError,
    SaslConfig,
    Section,
    TlsConfig,
    client_tls_config,
    endpoint,
    read_document,
    sasl_config,
)
from helicone_otel.contract import (
    DEFAULT_TOPIC,
    HELICONE_API_URL,
    HELICONE_AUTH,
    HELICONE_WORKER_URL,
    dead_letter_topic,
)


@dataclass(frozen=True)
class ForwarderConfig:
    brokers: tuple[str, ...] = ("127.0.0.1:9092",)
    topic: str = DEFAULT_TOPIC
    group_id: str = "helicone-otel-forwarder"
    dead_letter_topic: str = dead_letter_topic(DEFAULT_TOPIC)
    helicone_url: str = HELICONE_WORKER_URL
    helicone_api_url: str = HELICONE_API_URL
    api_key: str | None = field(default=None, repr=False)
    api_key_header: str | None = HELICONE_AUTH
    api_key_property: str | None = None  # lower-case property name, e.g. "tenant"
    api_keys: dict[str, str] = field(default_factory=dict, repr=False)  # property value -> key
    concurrency: int = 16
    max_attempts: int = 8
    request_timeout: float = 10.0
    dedupe_window: int = 100_000
    admin_address: str | None = "127.0.0.1:8889"
    sasl: SaslConfig | None = None
    tls: TlsConfig | None = None


def parse(raw: Any) -> ForwarderConfig:
    root = raw if isinstance(raw, dict) else {}
    s = Section(root.get("forwarder"), "forwarder", {
        "brokers", "topic", "group_id", "dead_letter_topic", "helicone_url", "helicone_api_url", "api_key",
        "api_key_header", "api_keys", "concurrency", "max_attempts", "request_timeout", "dedupe_window",
        "admin_address", "sasl", "tls",
    })  # fmt: skip
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
    url, api_url = _url(s, "helicone_url", HELICONE_WORKER_URL), _url(s, "helicone_api_url", HELICONE_API_URL)
    admin = None  # '' turns the admin server off
    if s.text("admin_address", ForwarderConfig.admin_address or ""):
        admin = endpoint(s, "admin_address", ForwarderConfig.admin_address)
    return ForwarderConfig(
        brokers=brokers,
        topic=topic,
        group_id=s.text("group_id", ForwarderConfig.group_id),
        dead_letter_topic=s.text("dead_letter_topic", dead_letter_topic(topic)),
        helicone_url=url,
        helicone_api_url=api_url,
        api_key=s.text("api_key", "") or None,
        api_key_header=s.text("api_key_header", HELICONE_AUTH).lower() or None,
        api_key_property=prop,
        api_keys=keys,
        concurrency=s.integer("concurrency", 16, minimum=1),
        max_attempts=s.integer("max_attempts", 8, minimum=1),
        request_timeout=s.duration("request_timeout", 10.0),
        dedupe_window=s.integer("dedupe_window", 100_000),
        admin_address=admin,
        sasl=sasl_config(s),
        tls=client_tls_config(s),
    )


def _url(s: Section, name: str, default: str) -> str:
    url = s.text(name, default).rstrip("/")
    if not url.startswith(("http://", "https://")) or url.endswith("://"):
        raise ConfigError(f"{s.key(name)}: expected an http(s) URL, got {url!r}")
    return url


def load(path: str | Path) -> ForwarderConfig:
    return parse(read_document(path))
