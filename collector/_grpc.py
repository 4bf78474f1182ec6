"""OTLP/gRPC transport: `TraceService/Export` on top of the shared `TraceHandler`."""

from __future__ import annotations

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from .receiver import InvalidRequest, TraceHandler, Unavailable


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, handler: TraceHandler) -> None:
        self._handler = handler

    async def Export(
        self, request: ExportTraceServiceRequest, context: grpc.aio.ServicerContext
    ) -> ExportTraceServiceResponse:
        try:
            return await self._handler.export(request)
        except InvalidRequest as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except Unavailable as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        raise AssertionError("unreachable: context.abort raises")


async def start_grpc_server(handler: TraceHandler, endpoint: str) -> grpc.aio.Server:
    server = grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceService(handler), server)  # type: ignore[no-untyped-call]
    if server.add_insecure_port(endpoint) == 0:
        raise OSError(f"cannot listen for OTLP/gRPC on {endpoint}")
    await server.start()
    return server
