"""Health (`:13133`: `/` liveness, `/ready` readiness) and Prometheus metrics (`:8888/metrics`)."""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from .metrics import Metrics


def health_app(ready: Callable[[], tuple[bool, str]]) -> Starlette:
    async def live(_: Request) -> Response:
        return Response(json.dumps({"status": "Server available"}), media_type="application/json")

    async def readiness(_: Request) -> Response:
        ok, reason = ready()
        body = json.dumps({"status": "ready" if ok else "not ready", "reason": reason})
        return Response(body, status_code=200 if ok else 503, media_type="application/json")

    return Starlette(routes=[Route("/", live), Route("/ready", readiness)])


def metrics_app(metrics: Metrics) -> Starlette:
    async def render(_: Request) -> Response:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    return Starlette(routes=[Route("/metrics", render)])
