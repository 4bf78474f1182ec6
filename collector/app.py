"""Runs the collector: both OTLP transports around one handler, the spool and its drain behind it.

Shutdown order (SIGTERM/SIGINT): stop accepting (close the listeners, letting in-flight requests
finish), drain the spool to Kafka until it is empty or the deadline passes (the rest stays on disk
for the next start), close the spool, stop the producers (bounded, so a dead Kafka cannot hang us).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

from ._grpc import start_grpc_server
from ._http import create_app, start_http_server
from .admin import health_app, metrics_app
from .config import CollectorConfig
from .drain import SpoolDrain
from .metrics import Metrics
from .producer import KafkaSender
from .receiver import TraceHandler
from .spool import Spool

log = logging.getLogger(__name__)


async def serve(config: CollectorConfig, stop: asyncio.Event | None = None, drain_timeout: float = 10.0) -> None:
    """Serve until `stop` is set (or SIGINT/SIGTERM when `stop` is None)."""
    stop = stop or _signal_event()
    metrics = Metrics()
    timeout = max(e.producer.request_timeout for e in config.exporters)
    sender = KafkaSender(config.exporters, metrics, timeout=timeout)
    spool = drain = None
    if config.spool is not None:
        spool = Spool(
            Path(config.spool.directory), config.spool.max_bytes, config.spool.fsync, config.spool.fsync_interval
        )
        if spool.torn_bytes:
            log.warning("spool: cut %d bytes of an unfinished write at its end (never acknowledged)", spool.torn_bytes)
        if spool.size_bytes:
            log.info("spool: %d bytes from the last run will be sent first", spool.size_bytes)
        drain = SpoolDrain(spool, sender, metrics)
        drain.start()
        metrics.gauge("helicone_otel_spool_bytes", lambda: float(spool.size_bytes if spool else 0))
        metrics.gauge("otelcol_exporter_queue_size", lambda: float(spool.size_bytes if spool else 0))
        metrics.gauge("otelcol_exporter_queue_capacity", lambda: float(config.spool.max_bytes if config.spool else 0))
        metrics.gauge("helicone_otel_spool_oldest_age_seconds", lambda: spool.oldest_age() if spool else 0.0)
    handler = TraceHandler(config, metrics, sender, spool)

    def ready() -> tuple[bool, str]:
        if drain is not None and drain.failing_since is not None and spool is not None and spool.size_bytes:
            return False, f"Kafka unreachable; {spool.size_bytes} bytes waiting in the spool"
        if (
            drain is None
            and metrics.get("helicone_otel_kafka_up") == 0
            and metrics.total("helicone_otel_records_produced")
        ):
            return False, "Kafka unreachable"
        return True, "ok"

    servers = []
    grpc_server = None
    try:
        receiver = config.receiver
        if receiver.grpc_endpoint:
            grpc_server = await start_grpc_server(
                handler, receiver.grpc_endpoint, receiver.max_request_bytes, receiver.grpc_tls
            )
            log.info("OTLP/gRPC listening on %s", receiver.grpc_endpoint)
        if receiver.http_endpoint:
            app = create_app(handler, receiver.max_request_bytes, receiver.read_timeout)
            servers.append(await start_http_server(app, receiver.http_endpoint, receiver.http_tls))
            log.info("OTLP/HTTP listening on %s", receiver.http_endpoint)
        if config.health_endpoint:
            servers.append(await start_http_server(health_app(ready), config.health_endpoint))
        if config.metrics_endpoint:
            servers.append(await start_http_server(metrics_app(metrics), config.metrics_endpoint))
        await stop.wait()
    finally:
        log.info("shutting down: closing listeners")
        otlp_http = servers[:1] if receiver.http_endpoint else []
        for server, task in otlp_http:
            server.should_exit = True
            await task
        if grpc_server is not None:
            await grpc_server.stop(grace=5)
        if drain is not None:
            emptied = await drain.drain(drain_timeout)
            log.info("spool drained" if emptied else "spool kept for the next start")
        if spool is not None:
            await spool.close()
        await sender.stop()
        for server, task in servers[len(otlp_http) :]:
            server.should_exit = True
            await task
        log.info("stopped")


def _signal_event() -> asyncio.Event:
    # A write past a file-size limit must fail with EFBIG (and be answered 503), not kill the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, event.set)
    return event
