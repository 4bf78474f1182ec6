"""The helicone-otel collector: an OTLP gRPC + HTTP sidecar that forwards traces to Kafka."""

from .app import serve
from .config import CollectorConfig, ConfigError, load_config

__all__ = ["CollectorConfig", "ConfigError", "load_config", "serve"]
