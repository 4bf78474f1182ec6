"""Helicone's async-log API on the sidecar: `POST /oai/v1/log`, `/anthropic/v1/log`,
`/googleapis/v1/log` and `/custom/v1/log` (the manual logger's route, `url: custom-model-nopath`), with
Helicone's request and answer shapes, so that an app posting to Helicone's worker only changes the base
URL. A body is validated as Helicone's worker validates it (400 `{"error": "Invalid providerRequest:
'url' should be a string"}`, 401 without an Authorization header), becomes a record of the contract
(docs/record-format.md) and is made durable like any other (spool, or Kafka's acknowledgement); the
forwarder then posts it to the same route of Helicone. The typed models give the API its OpenAPI page
(`/docs`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from helicone_otel.semconv.record import timestamp
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from helicone_otel import contract
from helicone_otel.errors import PipelineError, answer, http_headers
from helicone_otel.kafka.records import KafkaRecord

from .receiver import TraceHandler

ROUTES = {"/oai/v1/log": "OPENAI", "/anthropic/v1/log": "ANTHROPIC", "/googleapis/v1/log": "GOOGLE",
          "/custom/v1/log": "CUSTOM"}  # fmt: skip
MAX_BODY_BYTES = 10 * 1024 * 1024  # Helicone's worker refuses larger bodies
TRANSPORT = "async_log"


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")  # what Helicone does not check travels as it came


class Instant(_Open):
    seconds: int | float  # an int stays an int in the record
    milliseconds: int | float


class Timing(_Open):
    startTime: Instant
    endTime: Instant
    timeToFirstToken: int | float | None = None


class ProviderRequest(_Open):
    url: str
    json_: Any = Field(alias="json")
    meta: dict[str, str]


class ProviderResponse(_Open):
    json_: Any = Field(alias="json")
    status: int
    headers: dict[str, str]
    textBody: str | None = None
    cost: int | float | None = None


class AsyncLog(_Open):
    """Helicone's `AsyncLogModel` (worker/src/lib/models/AsyncLog.ts)."""

    providerRequest: ProviderRequest
    providerResponse: ProviderResponse
    timing: Timing | None = None


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _invalid(exc: RequestValidationError) -> JSONResponse:
    """The first problem, worded as Helicone's worker words it: `Invalid providerResponse: 'status'
    should be a number`."""
    first = exc.errors()[0]
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    if not loc:
        return _error(400, f"Invalid body: {first.get('msg', 'not a JSON object')}")
    if len(loc) == 1:
        return _error(400, f"One of the required fields is missing or invalid: '{loc[0]}' ({first.get('msg')})")
    return _error(400, f"Invalid {loc[0]}: '{'.'.join(loc[1:])}' {first.get('msg', 'is invalid').lower()}")


def _value(log: dict[str, Any], provider: str, headers: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    """The body as a record of the contract, and its id: Helicone-* headers of the post merged into
    `meta` (as the worker merges them), a request id, the provider, and timing (now, when the body has
    none, as Helicone does)."""
    request = log["providerRequest"]
    meta = dict(request["meta"])
    for name, header in headers.items():
        if name.startswith("helicone-") and name != contract.HELICONE_AUTH:
            meta.setdefault("-".join(p.capitalize() for p in name.split("-")), header)
    record_id = meta.get("Helicone-Request-Id") or str(uuid.uuid4())
    meta["Helicone-Request-Id"] = record_id
    instant = timestamp(time.time_ns())
    value = {**log, "id": record_id, "provider": provider, "providerRequest": {**request, "meta": meta}}
    if not value.get("timing"):
        value["timing"] = {"startTime": instant, "endTime": instant}
    return record_id, value


class BodyLimit:
    """Refuses a body over `limit` bytes (Helicone's 400 "Payload too large") before it is read whole:
    by its Content-Length, or, for a chunked body, once the bytes received pass the limit (the rest
    is not read, and the app's answer to the truncated body is replaced)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        too_large = PlainTextResponse("Payload too large", status_code=400)
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length", b"0")
        if not length.isdigit() or int(length) > self.limit:
            return await too_large(scope, receive, send)
        received, over = 0, False

        async def limited() -> Message:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request" and not over:
                received += len(message.get("body", b""))
                if received > self.limit:
                    over = True
                    return {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def replying(message: Message) -> None:
            if not over:
                await send(message)
            elif message["type"] == "http.response.start":
                await too_large(scope, receive, send)

        await self.app(scope, limited, replying)


def create_async_log_app(handler: TraceHandler) -> ASGIApp:
    app = FastAPI(title="helicone-otel: Helicone's async-log API on the sidecar", openapi_url="/openapi.json")
    app.add_exception_handler(RequestValidationError, lambda _, exc: _invalid(exc))
    exporters = [e for e in handler.config.exporters if e.encoding == "helicone_json"]
    # each exporter's pipeline options: its redact_patterns hold on this route as on the OTLP ones
    options = {e.name: p.options for p in handler.config.pipelines for e in p.exporters}

    async def log(body: AsyncLog, request: Request) -> Response:
        provider = ROUTES[request.url.path]
        headers = {k.lower(): v for k, v in request.headers.items()}
        if not headers.get("authorization") and not headers.get(contract.HELICONE_AUTH):
            return PlainTextResponse("Unauthorized", status_code=401)
        if not exporters:
            return _error(404, "this collector has no exporter with encoding helicone_json for async logs")
        try:
            api_key = handler.authenticate(headers)
            record_id, value = _value(body.model_dump(by_alias=True, exclude_unset=True), provider, headers)
            own = ((contract.CONTENT_TYPE, b"application/json"), (contract.HELICONE_SCHEMA, contract.SCHEMA.encode()),
                   (contract.PROVIDER, provider.encode()))  # fmt: skip
            auth = ((contract.HELICONE_AUTH, api_key.encode()),) if api_key else ()
            records = [KafkaRecord(e.topic, record_id.encode(), orjson.dumps(options[e.name].redact(value)),
                                   own + (auth if e.pass_api_keys else ()), e.name) for e in exporters]  # fmt: skip
            await handler.make_durable(records, 1, TRANSPORT)
        except PipelineError as exc:  # a wrong token: 401; Kafka down and no spool, the spool full: 503
            return JSONResponse({"error": str(exc)}, status_code=answer(exc)[0], headers=http_headers(exc))
        return PlainTextResponse("ok")

    for path in ROUTES:
        app.add_api_route(path, log, methods=["POST"], response_class=PlainTextResponse,
                          summary=f"Log one {ROUTES[path]} call asynchronously, as Helicone's worker does")  # fmt: skip
    return BodyLimit(app, MAX_BODY_BYTES)
