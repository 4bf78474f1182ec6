"""The helicone-otel collector: an OTLP gRPC + HTTP sidecar that forwards traces to Kafka."""

from helicone_otel.config_reader import ConfigError

from .app import serve
from .config import CollectorConfig, load_config

__all__ = ["CollectorConfig", "ConfigError", "load_config", "serve"]
