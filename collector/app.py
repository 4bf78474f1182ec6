"""Runs one collector process: both OTLP transports around one handler, the spool and its drain.

A process is either the whole collector (`service.workers: 1`) or worker `index` of `count`
(supervised by `workers.py`): workers share the OTLP ports through SO_REUSEPORT, each owns the spool
directory `worker-<index>` and also drains what earlier runs with more workers left behind, and
serves its metrics and readiness on an internal loopback port for the supervisor to aggregate.

Shutdown order (SIGTERM/SIGINT): stop accepting (close the listeners, letting in-flight requests
finish), drain the spools to Kafka until empty or the deadline passes (the rest stays on disk for the
next start), close the spools, stop the producers (bounded, so a dead Kafka cannot hang us).
"""

from __future__ import annotations

import asyncio
import logging
import re
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from helicone_otel.admin import AdminServer, bind, health_app, metrics_app, start_http_server
from helicone_otel.kafka.sender import KafkaSender
from helicone_otel.lifecycle import finish_or_cancel, run_until_signal

from ._grpc import start_grpc_server
from ._http import create_app
from .config import CollectorConfig, SpoolConfig
from .content_join import ContentJoin
from .drain import SpoolDrain
from .kafka_receiver import KafkaReceiver
from .metrics import Metrics
from .receiver import TraceHandler
from .spool import Spool, SpoolInUse

log = logging.getLogger(__name__)
_WORKER_DIR = re.compile(r"^worker-(\d+)$")


@dataclass(frozen=True)
class WorkerRole:
    index: int
    count: int
    admin_port_file: Path  # where this worker writes the loopback port of its metrics/readiness


def _try_spool(settings: SpoolConfig, path: Path, opened: set[Path]) -> Spool | None:
    """The spool at `path`, or None while another live process owns it."""
    try:
        spool = Spool(path, settings.max_bytes, settings.fsync, settings.fsync_interval)
    except SpoolInUse:
        return None
    opened.add(path)
    if spool.torn_bytes:
        log.warning("%s: cut %d bytes of an unfinished write (never acknowledged)", path, spool.torn_bytes)
    if spool.size_bytes:
        log.info("%s: %d bytes from an earlier run will be sent first", path, spool.size_bytes)
    return spool


def _share(role: WorkerRole | None) -> tuple[int, int]:
    return (role.index, role.count) if role else (0, 1)


def _own_spool(settings: SpoolConfig, role: WorkerRole | None, opened: set[Path]) -> Spool:
    """This process's spool: `worker-<index>`, or, while another process owns that one (the old
    collector during an upgrade, which drains it before it exits), the next free `worker-N` of this
    worker's sequence (N = index + k * count)."""
    index, count = _share(role)
    root = Path(settings.directory)
    root.mkdir(parents=True, exist_ok=True)
    generation = 0
    while (own := _try_spool(settings, root / f"worker-{index + count * generation}", opened)) is None:
        generation += 1
    return own


def _left_spools(settings: SpoolConfig, role: WorkerRole | None, opened: set[Path]) -> list[Spool]:
    """The spools that fall to this worker to drain: `worker-N` with N modulo the worker count equal to
    its index, not opened yet and owned by no live process (their owner exited, or is gone)."""
    index, count = _share(role)
    found = []
    for path in sorted(Path(settings.directory).iterdir()):
        m = _WORKER_DIR.match(path.name)
        if (
            m
            and int(m.group(1)) % count == index
            and path not in opened
            and (spool := _try_spool(settings, path, opened))
        ):
            found.append(spool)
    return found


GRACE = 15.0  # seconds from SIGTERM to exit (a worker; its supervisor allows 10 more): within Kubernetes' 30
ADOPT_EVERY = 2.0  # seconds between looks for spools left by exited collectors
_CLOSE_MARGIN = 2.0  # of the deadline, kept for closing the producers and the admin servers


class Collector:
    """One collector process (`lifecycle.Service`): the OTLP listeners, the spool and its drains, the
    producers, the admin endpoints (or, as a worker, its loopback admin port)."""

    def __init__(self, config: CollectorConfig, role: WorkerRole | None = None) -> None:
        self.config = config
        self.role = role
        self.metrics = Metrics()
        timeout = max(e.producer.request_timeout for e in config.exporters)
        self.sender = KafkaSender(config.exporters, self.metrics, timeout=timeout)
        self.spools: list[Spool] = []
        self.drains: list[SpoolDrain] = []
        self._otlp_http: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []
        self._admin: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []  # a worker's loopback admin port
        self._own_admin: list[AdminServer] = []  # the configured health and metrics endpoints
        self._grpc: grpc.aio.Server | None = None
        self._kafka: KafkaReceiver | None = None
        self._join: ContentJoin | None = None
        self._opened: set[Path] = set()
        self._adopter: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None

    def ready(self) -> tuple[bool, str]:
        """Not ready, with the reason, while requests would be refused (spool or disk full) or Kafka cannot be
        reached (the producers' connections, looked at every second), or the spool is not moving."""
        if self._kafka is not None and self._kafka.failure is not None:
            return False, f"Kafka receiver: {self._kafka.failure}"
        full = next(filter(None, (s.full_reason() for s in self.spools)), None)
        if full is not None:
            return False, full
        waiting = sum(s.size_bytes for s in self.spools)
        kept = f"; {waiting} bytes waiting in the spool" if waiting else ""
        down = self.sender.unreachable()
        if down is not None:
            return False, f"Kafka unreachable: {down}{kept}"
        failing = next((d.failure for d in self.drains if d.failure is not None), None)
        if failing is not None and waiting:
            return False, f"{failing}{kept}"
        if self._join is not None and self._join.failure is not None:
            return False, f"join: {self._join.failure}"
        return True, "ok"

    async def start(self) -> None:
        config, metrics = self.config, self.metrics
        self._watcher = asyncio.get_running_loop().create_task(self.sender.watch())
        spool = None
        if config.spool is not None:
            spool = _own_spool(config.spool, self.role, self._opened)
            spools = self.spools = [spool, *_left_spools(config.spool, self.role, self._opened)]
            for s in spools:
                self._drain(s)
            self._adopter = asyncio.get_running_loop().create_task(self._adopt_freed_spools(config.spool))
            capacity = float(config.spool.max_bytes)
            metrics.gauge("helicone_otel_spool_bytes", lambda: float(sum(s.size_bytes for s in spools)))
            metrics.gauge("otelcol_exporter_queue_size", lambda: float(sum(s.size_bytes for s in spools)))
            metrics.gauge("otelcol_exporter_queue_capacity", lambda: capacity)
            metrics.gauge("helicone_otel_spool_oldest_age_seconds", lambda: max(s.oldest_age() for s in spools))
            metrics.gauge("helicone_otel_spool_full", lambda: float(any(s.refused is not None for s in spools)))
            metrics.gauge("helicone_otel_spool_disk_full", lambda: float(any(s.disk_full is not None for s in spools)))
        handler = TraceHandler(config, metrics, self.sender, spool)
        if config.kafka_receiver is not None:
            self._kafka = KafkaReceiver(config, handler, self.sender, metrics)
            self._kafka.start()
        if handler.joins:
            self._join = ContentJoin(config, handler, self.sender, metrics)
            self._join.start()
            metrics.gauge("helicone_otel_join_waiting_traces", lambda: float(self._join.waiting if self._join else 0))
        receiver = config.receiver
        if receiver.grpc_endpoint:
            self._grpc = await start_grpc_server(
                handler, receiver.grpc_endpoint, receiver.max_request_bytes, receiver.grpc_tls
            )
            log.info("OTLP/gRPC listening on %s", receiver.grpc_endpoint)
        if receiver.http_endpoint:
            app = create_app(handler, receiver.max_request_bytes, receiver.read_timeout)
            self._otlp_http.append(await start_http_server(app, bind(receiver.http_endpoint), receiver.http_tls))
            log.info("OTLP/HTTP listening on %s", receiver.http_endpoint)
        if self.role is not None:
            sock = bind("127.0.0.1:0")
            self._admin.append(await start_http_server(internal_admin(metrics, self.ready), sock))
            self.role.admin_port_file.write_text(str(sock.getsockname()[1]))
        else:
            if config.health_endpoint:
                self._own_admin.append(AdminServer(health_app(self.ready), config.health_endpoint, "health"))
            if config.metrics_endpoint:
                self._own_admin.append(AdminServer(metrics_app(metrics.render), config.metrics_endpoint, "metrics"))
            for server in self._own_admin:
                await server.start()

    def _drain(self, spool: Spool) -> None:
        drain = SpoolDrain(spool, self.sender, self.metrics)
        self.drains.append(drain)
        drain.start()

    async def _adopt_freed_spools(self, settings: SpoolConfig) -> None:
        """Every few seconds: drain the spools their owners left (an upgraded collector's predecessor
        that exited with records Kafka had not taken yet), while serving."""
        while True:
            await asyncio.sleep(ADOPT_EVERY)
            try:
                freed = _left_spools(settings, self.role, self._opened)
            except OSError as exc:
                log.warning("cannot look for spools to adopt: %s", exc)
                continue
            for spool in freed:
                log.info("adopted %s (%d bytes) from a collector that has exited", spool.directory, spool.size_bytes)
                self.spools.append(spool)
                self._drain(spool)

    async def done(self) -> None:
        await asyncio.get_running_loop().create_future()  # a collector never ends on its own

    async def shutdown(self, deadline: float) -> None:
        """Close the listeners (requests in hand are answered; the Kafka receiver delivers its fetch or
        leaves it uncommitted), send what the spool holds until the deadline (the rest stays for the
        next start), close the producers, then the admin servers."""
        loop = asyncio.get_running_loop()
        log.info("shutting down: closing listeners")
        if self._adopter is not None:
            self._adopter.cancel()
        await _stop_servers(self._otlp_http)
        if self._grpc is not None:
            await self._grpc.stop(grace=max(0.0, min(5.0, (deadline - loop.time()) / 3)))
        if self._kafka is not None:
            await self._kafka.shutdown(max(0.0, (deadline - loop.time()) / 2))
        if self._join is not None:  # what waits stays uncommitted for the next start
            await self._join.shutdown(max(0.0, min(5.0, (deadline - loop.time()) / 3)))
        left = max(0.0, deadline - loop.time() - _CLOSE_MARGIN)
        results = await asyncio.gather(*(d.drain(left) for d in self.drains))
        if self.drains:
            log.info("spool drained" if all(results) else "spool kept for the next start")
        for s in self.spools:
            await s.close()
        if self._watcher is not None:
            await finish_or_cancel(self._watcher, 0)
        await self.sender.stop(timeout=max(0.5, min(5.0, deadline - loop.time())))
        await _stop_servers(self._admin)
        for server in self._own_admin:
            await server.stop()
        log.info("stopped")


async def serve(
    config: CollectorConfig,
    stop: asyncio.Event | None = None,
    grace: float = GRACE,
    role: WorkerRole | None = None,
) -> None:
    """Serve until `stop` is set (or SIGINT/SIGTERM when `stop` is None), then stop within `grace`."""
    if stop is None:
        # A write past a file-size limit must fail with EFBIG (and be answered 503), not kill the process.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    await run_until_signal(Collector(config, role), grace, stop)


def internal_admin(metrics: Metrics, ready: Callable[[], tuple[bool, str]]) -> Starlette:
    """A worker's metrics (`/metrics`) and readiness (`/health/ready`) on one loopback app."""
    return Starlette(routes=[Mount("/health", health_app(ready)), Mount("/", metrics_app(metrics.render))])


async def _stop_servers(servers: list[tuple[uvicorn.Server, asyncio.Task[None]]]) -> None:
    for server, _ in servers:
        server.should_exit = True
    for _, task in servers:
        await task
