"""OTLP/gRPC transport: `TraceService/Export` on top of the shared `TraceHandler` (and the logs and metrics
services, counted and dropped by `other_signals`).

Retryable refusals carry `google.rpc.RetryInfo` in `grpc-status-details-bin`, which the OTLP gRPC
exporters honour; messages over the size limit are refused by gRPC itself with RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

from pathlib import Path

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import DecodeError, Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)

from helicone_otel.config_reader import TlsConfig
from helicone_otel.errors import PipelineError, Retryable, answer, client_wait
from helicone_otel.otlp_depth import decode_trace_request

from .other_signals import LOGS, METRICS, Signal, accept
from .receiver import TraceHandler

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


def _retry_details(message: str, seconds: float) -> tuple[tuple[str, bytes], ...]:
    info = error_details_pb2.RetryInfo(retry_delay=Duration(seconds=int(seconds), nanos=int(seconds % 1 * 1e9)))
    status = status_pb2.Status(code=code_pb2.UNAVAILABLE, message=message)
    status.details.add().Pack(info)
    return (("grpc-status-details-bin", status.SerializeToString()),)


_CODES = {code.value[0]: code for code in grpc.StatusCode}


class _TraceService:
    """`Export` with our own decoding, so a malformed message is INVALID_ARGUMENT, not UNKNOWN."""

    def __init__(self, handler: TraceHandler) -> None:
        self._handler = handler

    async def export(self, data: bytes, context: grpc.aio.ServicerContext) -> ExportTraceServiceResponse:
        headers = {k.lower(): v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
        try:
            request = decode_trace_request(data)
        except DecodeError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"not a valid ExportTraceServiceRequest: {exc}")
        try:
            return await self._handler.export(request, headers, "grpc", len(data))
        except PipelineError as exc:
            code = _CODES[answer(exc)[1]]
            details = _retry_details(str(exc), client_wait(exc)) if isinstance(exc, Retryable) else ()
            await context.abort(code, str(exc), trailing_metadata=details)
        raise AssertionError("unreachable: context.abort raises")

    def generic_handler(self) -> grpc.GenericRpcHandler:
        method = grpc.unary_unary_rpc_method_handler(
            self.export,
            request_deserializer=bytes,
            response_serializer=ExportTraceServiceResponse.SerializeToString,
        )
        return grpc.method_handlers_generic_handler(SERVICE, {"Export": method})


class _SignalService:
    """`Export` of an OTLP signal that is counted and dropped (`other_signals`): logs, metrics."""

    def __init__(self, handler: TraceHandler, signal: Signal) -> None:
        self._handler, self._signal = handler, signal

    async def export(self, data: bytes, context: grpc.aio.ServicerContext) -> Message:
        headers = {k.lower(): v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
        try:
            request = self._signal.request.FromString(data)
        except DecodeError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"not a valid {self._signal.request.__name__}: {exc}")
        try:
            return await accept(self._handler, self._signal, request, headers, "grpc")
        except PipelineError as exc:
            await context.abort(_CODES[answer(exc)[1]], str(exc))
        raise AssertionError("unreachable: context.abort raises")

    def generic_handler(self) -> grpc.GenericRpcHandler:
        method = grpc.unary_unary_rpc_method_handler(
            self.export, request_deserializer=bytes, response_serializer=lambda m: m.SerializeToString()
        )
        return grpc.method_handlers_generic_handler(self._signal.service, {"Export": method})


async def start_grpc_server(
    handler: TraceHandler, endpoint: str, max_message_bytes: int, tls: TlsConfig | None = None
) -> grpc.aio.Server:
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.so_reuseport", 1),
        ]
    )
    services = [
        _TraceService(handler).generic_handler(),
        *(_SignalService(handler, s).generic_handler() for s in (LOGS, METRICS)),
    ]
    server.add_generic_rpc_handlers(tuple(services))
    if tls is not None:
        assert tls.cert_file and tls.key_file
        credentials = grpc.ssl_server_credentials([(Path(tls.key_file).read_bytes(), Path(tls.cert_file).read_bytes())])
        port = server.add_secure_port(endpoint, credentials)
    else:
        port = server.add_insecure_port(endpoint)
    if port == 0:
        raise OSError(f"cannot listen for OTLP/gRPC on {endpoint}")
    await server.start()
    return server
