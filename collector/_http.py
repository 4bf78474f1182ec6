"""OTLP/HTTP transport: `POST /v1/traces`, protobuf or JSON, on top of the shared `TraceHandler` (and
`/v1/logs`, `/v1/metrics`, counted and dropped by `other_signals`).

Bodies are read with a running cap and decompressed with a running cap, so neither a huge body nor a
gzip bomb can make the process allocate more than `max_body_bytes`. Replies use the request's content
type; errors carry a `google.rpc.Status`.
"""

from __future__ import annotations

import asyncio
import json
import zlib

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc import status_pb2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from helicone_otel.errors import InvalidRequest, PipelineError, TooLarge, answer, http_headers
from helicone_otel.otlp_depth import decode_trace_request
from helicone_otel.otlp_json import OtlpJsonError, parse_request

from .async_log import create_async_log_app
from .other_signals import SIGNALS, accept, parse_json
from .receiver import TraceHandler

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024


def _reply(content_type: str, message: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    if content_type == JSON:
        body = json.dumps(json_format.MessageToDict(message, use_integers_for_enums=True)).encode()  # type: ignore[arg-type]
    else:
        body = message.SerializeToString()  # type: ignore[attr-defined]
    return Response(body, status_code=status, media_type=content_type, headers=headers)


def _error(content_type: str, status: int, code: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return _reply(content_type, status_pb2.Status(code=code, message=message), status, headers)


def _decompress(data: bytes, encoding: str, limit: int) -> bytes:
    if encoding in ("", "identity"):
        return data
    if encoding == "gzip":
        decoder = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        decoder = zlib.decompressobj()
    else:
        raise InvalidRequest(f"unsupported Content-Encoding {encoding!r} (supported: gzip, deflate)")
    try:
        out = decoder.decompress(data, limit + 1)
    except zlib.error as exc:
        raise InvalidRequest(f"body is not valid {encoding}: {exc}") from exc
    if len(out) > limit:
        raise TooLarge
    if not decoder.eof:
        raise InvalidRequest(f"body is truncated {encoding}")
    return out


def create_app(
    handler: TraceHandler, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, read_timeout: float = 30.0
) -> Starlette:
    """The OTLP/HTTP app: `POST /v1/traces`, and Helicone's own OTLP routes, so that an app logging with
    Helicone's async clients (`helicone-async`: `/v1/trace/log-python`, protobuf; `@helicone/async`:
    `/v1/trace/log`, OTLP/JSON) only changes its base URL to the sidecar's. Their
    `Authorization: Bearer <Helicone key>` is read as the app's key, as on `/v1/traces`."""

    async def read(request: Request) -> bytes:
        """The body, read with a running cap and within `read_timeout`, then decompressed with a running cap."""
        chunks: list[bytes] = []
        size = 0
        async with asyncio.timeout(read_timeout):  # a slow client cannot hold a request forever
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_body_bytes:
                    raise TooLarge
                chunks.append(chunk)
        encoding = request.headers.get("content-encoding", "").strip().lower()
        return _decompress(b"".join(chunks), encoding, max_body_bytes)

    async def endpoint(request: Request) -> Response:
        raw_type = request.headers.get("content-type", "")
        content_type = raw_type.split(";")[0].strip().lower()
        reply_type = JSON if content_type == JSON else PROTOBUF
        if content_type not in (PROTOBUF, JSON):
            return _error(PROTOBUF, 415, 3, f"unsupported Content-Type {raw_type!r}: use {PROTOBUF} or {JSON}")
        signal = SIGNALS.get(request.url.path)
        what = signal.request.__name__ if signal else "ExportTraceServiceRequest"
        try:
            body = await read(request)
            headers = {k.lower(): v for k, v in request.headers.items()}
            result: object
            if signal is None:
                message = parse_request(body) if content_type == JSON else decode_trace_request(body)
                result = await handler.export(message, headers, "http", len(body))
            else:
                other = parse_json(signal, body) if content_type == JSON else signal.request.FromString(body)
                result = await accept(handler, signal, other, headers, "http")
        except TimeoutError:
            return _error(reply_type, 408, 4, f"request body not received within {read_timeout:g}s")
        except TooLarge as exc:
            return _failure(reply_type, exc, f"request body exceeds {max_body_bytes} bytes after decompression")
        except OtlpJsonError as exc:
            return _failure(reply_type, InvalidRequest(str(exc)))
        except DecodeError as exc:
            return _failure(reply_type, InvalidRequest(f"body is not a valid {what}: {exc}"))
        except PipelineError as exc:
            return _failure(reply_type, exc)
        return _reply(reply_type, result)

    paths = ("/v1/traces", "/v1/trace/log-python", "/v1/trace/log", *SIGNALS)
    routes: list[BaseRoute] = [Route(path, endpoint, methods=["POST"]) for path in paths]
    return Starlette(routes=[*routes, Mount("/", app=create_async_log_app(handler))])


def _failure(reply_type: str, exc: PipelineError, message: str | None = None) -> Response:
    """An error as its HTTP answer (`errors.answer`), with the headers a client acts on."""
    status, code = answer(exc)
    return _error(reply_type, status, code, message or str(exc), http_headers(exc))
