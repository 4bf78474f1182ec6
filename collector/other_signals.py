"""OTLP logs and metrics: received on both transports, as the OpenTelemetry Collector receives them, and counted.
GenAI event log records (the content some instrumentations put only there) go to the join topic of every exporter
that joins (`collector.content_join`); every other log record and every metric point is dropped, since no pipeline
here sends them on.

An app's SDK exports all three signals to one endpoint (Traceloop exports metrics by default): answering 404 on
`/v1/metrics` and `/v1/logs` made it log `Failed to export batch code: 404` on every export. They get the same
limits, authentication and answers as traces (`_http`, `_grpc`); what arrives is counted in
`otelcol_receiver_accepted_log_records` / `otelcol_receiver_accepted_metric_points` and, where nothing takes it
on, in `helicone_otel_dropped_log_records` / `helicone_otel_dropped_metric_points`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from helicone_otel.semconv.log_events import genai_records
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest, ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

from helicone_otel.kafka.records import join_logs_records
from helicone_otel.otlp_json import OtlpJsonError

from .metrics import Metrics
from .receiver import TraceHandler


@dataclass(frozen=True)
class Signal:
    """One OTLP signal that is counted and dropped: its messages, its gRPC service, how its items are counted."""

    name: str  # logs | metrics
    request: type[Message]
    response: type[Message]
    service: str  # gRPC service name
    accepted: str  # counter of accepted items
    dropped: str
    count: Callable[[Any], int]


def _log_records(request: ExportLogsServiceRequest) -> int:
    return sum(len(scope.log_records) for rl in request.resource_logs for scope in rl.scope_logs)


def _metric_points(request: ExportMetricsServiceRequest) -> int:
    points = 0
    for rm in request.resource_metrics:
        for scope in rm.scope_metrics:
            for metric in scope.metrics:
                kind = metric.WhichOneof("data")
                points += len(getattr(metric, kind).data_points) if kind else 0
    return points


LOGS = Signal("logs", ExportLogsServiceRequest, ExportLogsServiceResponse,
              "opentelemetry.proto.collector.logs.v1.LogsService", "otelcol_receiver_accepted_log_records",
              "helicone_otel_dropped_log_records", _log_records)  # fmt: skip
METRICS = Signal("metrics", ExportMetricsServiceRequest, ExportMetricsServiceResponse,
                 "opentelemetry.proto.collector.metrics.v1.MetricsService", "otelcol_receiver_accepted_metric_points",
                 "helicone_otel_dropped_metric_points", _metric_points)  # fmt: skip
SIGNALS = {"/v1/logs": LOGS, "/v1/metrics": METRICS}


def parse_json(signal: Signal, data: bytes) -> Message:
    """An OTLP/JSON request of `signal`: its hex trace and span ids (log records, exemplars) as protobuf wants."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise OtlpJsonError(f"not valid JSON: {exc}") from exc
    _hex_ids_to_base64(doc)
    message = signal.request()
    try:
        json_format.ParseDict(doc, message, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise OtlpJsonError(str(exc)) from exc
    return message


def _hex_ids_to_base64(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("traceId", "spanId") and isinstance(value, str) and value:
                try:
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError as exc:
                    raise OtlpJsonError(f"{key}: not hex: {value[:40]!r}") from exc
            else:
                _hex_ids_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            _hex_ids_to_base64(item)


async def accept(
    handler: TraceHandler, signal: Signal, request: Message, headers: Mapping[str, str], transport: str
) -> Message:
    """Authenticate as for traces (a wrong or empty credential is refused), count; the GenAI events of a logs
    request go to each joining exporter's join topic (acknowledged once durable, like spans), the rest is dropped.
    The empty response."""
    api_key = handler.authenticate(headers)
    items = signal.count(request)
    metrics: Metrics = handler.metrics
    joins = handler.joins if isinstance(request, ExportLogsServiceRequest) else ()
    events = 0
    if joins and isinstance(request, ExportLogsServiceRequest):
        events = sum(1 for _ in genai_records(request))
        if events:
            records = [r for exporter in joins for r in join_logs_records(request, exporter, api_key)]
            await handler.make_durable(records, 0, transport)
            metrics.add("helicone_otel_join_log_records", events)
    metrics.add(signal.accepted, items, transport=transport)
    if items - events:
        reason = "not a GenAI event" if joins else "no pipeline"
        metrics.add(signal.dropped, items - events, reason=reason)
    return signal.response()
