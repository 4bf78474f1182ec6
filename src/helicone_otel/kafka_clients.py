"""Kafka client settings shared by every component that talks to Kafka (the collector's producer, the
forwarder's consumer, producer and admin client): SASL and TLS as aiokafka takes them."""

from __future__ import annotations

from typing import Any

from aiokafka.helpers import create_ssl_context

from helicone_otel.config_reader import SaslConfig, TlsConfig


def security_args(sasl: SaslConfig | None, tls: TlsConfig | None) -> dict[str, Any]:
    """aiokafka client arguments for SASL and TLS (every Kafka client here)."""
    ssl_context = None
    if tls is not None:
        ssl_context = create_ssl_context(cafile=tls.ca_file, certfile=tls.cert_file, keyfile=tls.key_file)
    protocol = {(False, False): "PLAINTEXT", (False, True): "SSL", (True, False): "SASL_PLAINTEXT"}.get(
        (sasl is not None, tls is not None), "SASL_SSL"
    )
    return {
        "security_protocol": protocol,
        "ssl_context": ssl_context,
        "sasl_mechanism": sasl.mechanism if sasl else "PLAIN",
        "sasl_plain_username": sasl.username if sasl else None,
        "sasl_plain_password": sasl.password if sasl else None,
    }
