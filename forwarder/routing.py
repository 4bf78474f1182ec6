"""Where a record goes and with which key: one decision, made for each record the forwarder delivers
and for each one a dry run checks (`dry_run.py`), so that the two cannot disagree."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from helicone_otel.contract import log_route
from helicone_otel.errors import Permanent

from .config import ForwarderConfig


def validate(value: bytes) -> dict[str, Any]:
    """The record as Helicone's async-log body, or Permanent naming what is wrong with it."""
    try:
        body = json.loads(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Permanent(f"not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise Permanent("not a JSON object")
    for key in ("providerRequest", "providerResponse", "timing"):
        if not isinstance(body.get(key), dict):
            raise Permanent(f"{key} missing")
    if not isinstance(body["providerResponse"].get("status"), int):
        raise Permanent("providerResponse.status missing")
    return body


@dataclass(frozen=True)
class Destination:
    route: str  # the route's path, e.g. /oai/v1/log
    url: str
    key: str
    key_from: str  # where the key came from: "header <name>", "property <name>=<value>", "api_key"


def destination(config: ForwarderConfig, headers: dict[str, str], body: dict[str, Any]) -> Destination:
    """Where the validated record `body` (with its lower-cased Kafka `headers`) is posted, and with which
    key: the record's own (header), else the key mapped to its property value, else the configured one.
    Raises Permanent when there is no key at all."""
    route = log_route(str(body.get("provider") or headers.get("provider") or "CUSTOM"))
    url = route.url(config.helicone_url, config.helicone_api_url)
    key, key_from = _key(config, headers, body)
    if not key:
        raise Permanent("no Helicone API key: none in the record's header or property, none configured")
    return Destination(route.path, url, key, key_from)


def _key(config: ForwarderConfig, headers: dict[str, str], body: dict[str, Any]) -> tuple[str | None, str]:
    if config.api_key_header and headers.get(config.api_key_header):
        return headers[config.api_key_header], f"header {config.api_key_header}"
    if config.api_key_property:
        meta = body["providerRequest"].get("meta")
        wanted = "helicone-property-" + config.api_key_property
        for name, value in (meta if isinstance(meta, dict) else {}).items():
            if str(name).lower() == wanted and str(value) in config.api_keys:
                return config.api_keys[str(value)], f"property {config.api_key_property}={value}"
    return config.api_key, "api_key"
