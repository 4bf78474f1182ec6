"""The admin side every service serves: health (`/` liveness, `/ready` readiness with its reason) and
Prometheus metrics (`/metrics`), and the HTTP serving itself (a bound socket, uvicorn without its own
signal handling: each service owns SIGINT/SIGTERM and its shutdown order).

Readiness and the metrics text come from callables that may be plain or async: a process answers
from its own state, the collector's worker supervisor by asking its workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import inspect
import json
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from helicone_otel.config_reader import TlsConfig

log = logging.getLogger(__name__)
T = TypeVar("T")
Source = Callable[[], T | Awaitable[T]]


async def _value(source: Source[T]) -> T:
    result = source()
    return await result if inspect.isawaitable(result) else result


def health_app(ready: Source[tuple[bool, str]]) -> Starlette:
    async def live(_: Request) -> Response:
        return Response(json.dumps({"status": "Server available"}), media_type="application/json")

    async def readiness(_: Request) -> Response:
        ok, reason = await _value(ready)
        body = json.dumps({"status": "ready" if ok else "not ready", "reason": reason})
        return Response(body, status_code=200 if ok else 503, media_type="application/json")

    return Starlette(routes=[Route("/", live), Route("/ready", readiness)])


def metrics_app(render: Source[str]) -> Starlette:
    async def metrics(_: Request) -> Response:
        return PlainTextResponse(await _value(render), media_type="text/plain; version=0.0.4")

    return Starlette(routes=[Route("/metrics", metrics)])


CLOSE_WITHIN = 5  # seconds a server waits at shutdown for its open connections


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the service owns SIGINT/SIGTERM and the shutdown order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(endpoint: str, shared: bool = True) -> socket.socket:
    """A listening TCP socket; `shared`: with SO_REUSEPORT, so that worker processes can share the port."""
    host, _, port = endpoint.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, int(port)))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


async def start_http_server(
    app: Starlette, sock: socket.socket, tls: TlsConfig | None = None
) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    """Serve `app` on a bound socket (see `bind`); return once it is serving."""
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="off",
        ssl_certfile=tls.cert_file if tls else None,
        ssl_keyfile=tls.key_file if tls else None,
        timeout_keep_alive=30,
        # A connection that never closes (a client mid-request, a race with keep-alive) must not hold a
        # shutdown past its deadline: what is still in flight then was not acknowledged, and is sent again.
        timeout_graceful_shutdown=CLOSE_WITHIN,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
            raise OSError(f"cannot serve HTTP on {sock.getsockname()}")
        await asyncio.sleep(0.02)
    return server, task


class AdminServer:
    """An admin endpoint (health, metrics) of one process: its port is never shared. The OTLP ports are (the
    workers of one collector, and two versions overlapping in an upgrade, share them); an admin port shared
    would answer for either process at random. When another process holds it (an older collector still
    draining during an upgrade, or a second one started by mistake), a WARNING says so and the endpoint is
    taken as soon as it is free."""

    RETRY_EVERY = 1.0

    def __init__(self, app: Starlette, endpoint: str, what: str) -> None:
        self.app, self.endpoint, self.what = app, endpoint, what
        self._served: tuple[uvicorn.Server, asyncio.Task[None]] | None = None
        self._waiting: asyncio.Task[None] | None = None

    async def start(self) -> None:
        try:
            sock = bind(self.endpoint, shared=False)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            log.warning("the %s endpoint %s is in use by another process (is another instance running with this "
                        "configuration?); serving it once it is free", self.what, self.endpoint)  # fmt: skip
            self._waiting = asyncio.get_running_loop().create_task(self._when_free())
            return
        self._served = await start_http_server(self.app, sock)

    async def _when_free(self) -> None:
        while True:
            await asyncio.sleep(self.RETRY_EVERY)
            with contextlib.suppress(OSError):
                sock = bind(self.endpoint, shared=False)
                break
        self._served = await start_http_server(self.app, sock)
        log.info("serving the %s endpoint %s now", self.what, self.endpoint)

    async def stop(self) -> None:
        if self._waiting is not None:
            self._waiting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._waiting
        if self._served is not None:
            server, task = self._served
            server.should_exit = True
            await task
