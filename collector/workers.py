"""Several worker processes, so the receive-map-produce path is not capped at one core.

Python maps spans on one core per process, so `service.workers: N` (or `auto`, one per core) starts N
copies of the collector that share the OTLP ports through SO_REUSEPORT (the kernel spreads
connections over them). This supervisor serves the configured health and metrics endpoints for all
of them (metrics summed across workers, ready only when every worker is), restarts a worker that
dies, and on SIGTERM passes the signal on and waits for every worker to drain.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import aiohttp
from starlette.applications import Starlette

from helicone_otel.admin import AdminServer, health_app, metrics_app

from .config import CollectorConfig

log = logging.getLogger(__name__)
MIN_OF = ("helicone_otel_kafka_up",)  # aggregated as the minimum: up only if every worker is
MAX_OF = ("helicone_otel_spool_oldest_age_seconds", "otelcol_exporter_queue_capacity")


def aggregate(texts: list[str]) -> str:
    """Sum Prometheus text series across workers (min/max for the few that are not additive)."""
    order: list[str] = []
    values: dict[str, float] = {}
    for text in texts:
        for line in text.splitlines():
            if line.startswith("#"):
                if line not in values and line not in order:
                    order.append(line)
                continue
            series, _, value = line.rpartition(" ")
            if not series:
                continue
            number = float(value)
            if series not in values:
                order.append(series)
                values[series] = number
            elif series.startswith(MIN_OF):
                values[series] = min(values[series], number)
            elif series.startswith(MAX_OF):
                values[series] = max(values[series], number)
            else:
                values[series] += number
    # A worker that has not yet counted a labelled family shows it as one unlabelled 0: not a series of its own.
    labelled = {series.split("{", 1)[0] for series in values if "{" in series}
    order = [line for line in order if not (line in labelled and values[line] == 0)]
    return "\n".join(line if line.startswith("#") else f"{line} {values[line]:g}" for line in order) + "\n"


class Supervisor:
    """The parent of `workers` collector processes sharing the ports (`lifecycle.Service`): starts them,
    restarts one that exits, serves their aggregated metrics and readiness, and stops them."""

    def __init__(self, config_path: str, config: CollectorConfig, workers: int) -> None:
        self.config_path = config_path
        self.config = config
        self.count = workers
        self.rundir = Path(tempfile.mkdtemp(prefix="helicone-otel-workers-"))
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.exit_codes: list[int] = []
        self._servers: list[AdminServer] = []

    def _port_file(self, index: int) -> Path:
        return self.rundir / f"worker-{index}.port"

    def _start(self, index: int) -> None:
        self._port_file(index).unlink(missing_ok=True)
        args = [sys.executable, "-m", "helicone_otel.cli", "collector", "--config", self.config_path,
                "--worker", f"{index}/{self.count}", "--admin-port-file", str(self._port_file(index))]  # fmt: skip
        self.procs[index] = subprocess.Popen(args)
        log.info("started worker %d of %d (pid %d)", index, self.count, self.procs[index].pid)

    async def _worker_get(self, index: int, path: str, session: aiohttp.ClientSession) -> tuple[int, str] | None:
        """A worker's answer on its loopback admin port: (status, body), or None when it does not answer."""
        try:
            port = int(self._port_file(index).read_text())
            async with session.get(f"http://127.0.0.1:{port}{path}") as reply:
                return reply.status, await reply.text()
        except (OSError, ValueError, aiohttp.ClientError, TimeoutError):
            return None

    async def _ask_workers(self, path: str) -> list[tuple[int, str] | None]:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            return await asyncio.gather(*(self._worker_get(i, path, session) for i in range(self.count)))

    async def _metrics(self) -> str:
        """Every worker's metrics, aggregated."""
        return aggregate([text for status, text in filter(None, await self._ask_workers("/metrics")) if status == 200])

    async def _ready(self) -> tuple[bool, str]:
        """Ready when every worker is; otherwise which ones are not, and why."""
        replies = await self._ask_workers("/health/ready")
        problems = [
            f"worker {i}: " + (json.loads(r[1]).get("reason", "not ready") if r is not None else "not answering")
            for i, r in enumerate(replies)
            if r is None or r[0] != 200
        ]
        return not problems, "; ".join(problems) or "ok"

    def _admin_apps(self) -> list[tuple[str, Starlette, str]]:
        apps = []
        if self.config.health_endpoint:
            apps.append((self.config.health_endpoint, health_app(self._ready), "health"))
        if self.config.metrics_endpoint:
            apps.append((self.config.metrics_endpoint, metrics_app(self._metrics), "metrics"))
        return apps

    async def start(self) -> None:
        for index in range(self.count):
            self._start(index)
        for endpoint, app, what in self._admin_apps():
            server = AdminServer(app, endpoint, what)
            await server.start()
            self._servers.append(server)

    async def done(self) -> None:
        """Never ends on its own: a worker that exits is started again."""
        while True:
            for index, proc in list(self.procs.items()):
                if proc.poll() is not None:
                    log.error("worker %d exited with %s; restarting it", index, proc.returncode)
                    self._start(index)
            await asyncio.sleep(1.0)

    async def shutdown(self, deadline: float) -> None:
        """SIGTERM every worker (each stops within its own grace), kill those still running at the
        deadline, then close the admin servers."""
        loop = asyncio.get_running_loop()
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for index, proc in self.procs.items():
            while proc.poll() is None and loop.time() < deadline:
                await asyncio.sleep(0.05)
            if proc.poll() is None:
                log.error("worker %d did not stop by the deadline; killing it", index)
                proc.kill()
            self.exit_codes.append(proc.wait())
        for server in self._servers:
            await server.stop()


def worker_count(configured: int) -> int:
    return configured if configured > 0 else (os.cpu_count() or 1)
