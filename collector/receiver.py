"""The one OTLP trace handler that both transports call; it knows nothing of gRPC or HTTP.

A request is acknowledged only after its data is durable downstream (here: acknowledged by Kafka),
so every error that reaches a transport is one of two kinds, mapped once at each boundary:
`InvalidRequest` (permanent: HTTP 400 / INVALID_ARGUMENT) and `Unavailable` (retryable: HTTP 503 with
Retry-After / UNAVAILABLE).
"""

from __future__ import annotations

from typing import Protocol

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


class InvalidRequest(ValueError):
    """The request can never succeed as sent (bad encoding, bad data)."""


class Unavailable(RuntimeError):
    """The request may succeed later; `retry_after` is a hint in seconds."""

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TraceSink(Protocol):
    async def send(self, request: ExportTraceServiceRequest) -> None:
        """Return once the request is durable; raise `Unavailable` otherwise."""


def span_count(request: ExportTraceServiceRequest) -> int:
    return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)


class TraceHandler:
    """Accepts decoded export requests and hands them to the sink."""

    def __init__(self, sink: TraceSink) -> None:
        self._sink = sink

    async def export(self, request: ExportTraceServiceRequest) -> ExportTraceServiceResponse:
        if span_count(request):
            await self._sink.send(request)
        return ExportTraceServiceResponse()
