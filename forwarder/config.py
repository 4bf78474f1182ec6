"""The forwarder's configuration: the `forwarder` section of `otel-config.yaml` (env-substituted).

forwarder:
  brokers: 127.0.0.1:9092
  topic: helicone-llm-logs
  group_id: helicone-otel-forwarder
  dead_letter_topic: helicone-llm-logs-dlq       # default: <topic>-dlq
  helicone_url: https://api.worker.helicone.ai
  api_key: ${env:HELICONE_API_KEY:-}            # used when a record carries no helicone-auth header
  concurrency: 16                                # posts in flight
  max_attempts: 8                                # per record, then dead-lettered
  request_timeout: 10s
  dedupe_window: 100000                          # recent record ids remembered
  metrics_address: 127.0.0.1:8889
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from helicone_otel.collector.config import ConfigError, _Section, substitute_env

DEFAULT_HELICONE_URL = "https://api.worker.helicone.ai"


@dataclass(frozen=True)
class ForwarderConfig:
    brokers: tuple[str, ...] = ("127.0.0.1:9092",)
    topic: str = "helicone-llm-logs"
    group_id: str = "helicone-otel-forwarder"
    dead_letter_topic: str = "helicone-llm-logs-dlq"
    helicone_url: str = DEFAULT_HELICONE_URL
    api_key: str | None = None
    concurrency: int = 16
    max_attempts: int = 8
    request_timeout: float = 10.0
    dedupe_window: int = 100_000
    metrics_address: str | None = None


def parse(raw: Any) -> ForwarderConfig:
    root = raw if isinstance(raw, dict) else {}
    s = _Section(root.get("forwarder"), "forwarder", {
        "brokers", "topic", "group_id", "dead_letter_topic", "helicone_url", "api_key", "concurrency",
        "max_attempts", "request_timeout", "dedupe_window", "metrics_address",
    })  # fmt: skip
    topic = s.text("topic", ForwarderConfig.topic)
    brokers = s.strings("brokers", ForwarderConfig.brokers)
    if not brokers:
        raise ConfigError("forwarder.brokers: expected a non-empty list of host:port")
    return ForwarderConfig(
        brokers=brokers,
        topic=topic,
        group_id=s.text("group_id", ForwarderConfig.group_id),
        dead_letter_topic=s.text("dead_letter_topic", f"{topic}-dlq"),
        helicone_url=s.text("helicone_url", DEFAULT_HELICONE_URL).rstrip("/"),
        api_key=s.text("api_key", "") or None,
        concurrency=s.integer("concurrency", 16, minimum=1),
        max_attempts=s.integer("max_attempts", 8, minimum=1),
        request_timeout=s.duration("request_timeout", 10.0),
        dedupe_window=s.integer("dedupe_window", 100_000),
        metrics_address=s.text("metrics_address", "") or None,
    )


def load(path: str | Path) -> ForwarderConfig:
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    return parse(substitute_env(raw))
