"""helicone_otel.forwarder: the separate service that consumes the records topic and delivers each
record to Helicone's async log API, at least once, with retries and a dead-letter topic."""

from .config import ForwarderConfig, load
from .routing import validate
from .service import Forwarder, serve

__all__ = ["Forwarder", "ForwarderConfig", "load", "serve", "validate"]
