"""Health (`:13133`: `/` liveness, `/ready` readiness) and Prometheus metrics (`:8888/metrics`).

Readiness and the metrics text come from callables that may be plain or async: a process answers
from its own state, the worker supervisor by asking its workers.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

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
