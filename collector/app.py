"""Runs the collector: both OTLP transports around one handler, the Kafka sink behind it.

Shutdown order: stop accepting (close both listeners, letting in-flight requests finish), then flush
and stop the producer.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from ._grpc import start_grpc_server
from ._http import start_http_server
from .config import CollectorConfig
from .kafka_sink import KafkaSink
from .receiver import TraceHandler

log = logging.getLogger(__name__)


async def serve(config: CollectorConfig, stop: asyncio.Event | None = None) -> None:
    """Serve until `stop` is set (or SIGINT/SIGTERM when `stop` is None)."""
    stop = stop or _signal_event()
    sink = KafkaSink(config.exporter)
    handler = TraceHandler(sink)
    grpc_server = None
    http_server = None
    http_task = None
    try:
        if config.receiver.grpc_endpoint:
            grpc_server = await start_grpc_server(handler, config.receiver.grpc_endpoint)
            log.info("OTLP/gRPC listening on %s", config.receiver.grpc_endpoint)
        if config.receiver.http_endpoint:
            http_server, http_task = await start_http_server(handler, config.receiver.http_endpoint)
            log.info("OTLP/HTTP listening on %s", config.receiver.http_endpoint)
        await stop.wait()
    finally:
        log.info("shutting down")
        if http_server is not None and http_task is not None:
            http_server.should_exit = True
            await http_task
        if grpc_server is not None:
            await grpc_server.stop(grace=5)
        await sink.stop()


def _signal_event() -> asyncio.Event:
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, event.set)
    return event
