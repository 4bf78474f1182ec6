"""OTLP logs and metrics reach the collector from the real opentelemetry-python exporters on both transports,
and from OTLP/JSON, and are answered as traces are: accepted and counted, then dropped (no pipeline takes them),
with the same authentication and errors."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from helpers import run_collector
from localkafka import LocalKafka
from opentelemetry._logs import LogRecord
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogs
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetrics
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogs
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetrics
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader


def emit(log_exporter: object, metric_exporter: object) -> None:
    """Two log records and three metric points through the SDK's own processors, as an app emits them."""
    logs = LoggerProvider()
    logs.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))  # type: ignore[arg-type]
    logger = logs.get_logger("test")
    logger.emit(LogRecord(body="first"))
    logger.emit(LogRecord(body="second"))
    logs.shutdown()
    reader = PeriodicExportingMetricReader(metric_exporter, export_interval_millis=60_000)  # type: ignore[arg-type]
    meters = MeterProvider(metric_readers=[reader])
    counter = meters.get_meter("test").create_counter("calls")
    for model in ("a", "b", "c"):
        counter.add(1, {"model": model})
    meters.shutdown()  # exports once, and says so if the export failed


def test_logs_and_metrics_are_accepted_counted_and_dropped_on_both_transports(
    kafka: LocalKafka, topic: str, tmp_path: Path
) -> None:
    with run_collector(tmp_path, kafka.bootstrap_servers, topic) as c:
        base = f"http://127.0.0.1:{c.http_port}"
        emit(HttpLogs(endpoint=f"{base}/v1/logs"), HttpMetrics(endpoint=f"{base}/v1/metrics"))
        grpc_endpoint = f"127.0.0.1:{c.grpc_port}"
        emit(GrpcLogs(endpoint=grpc_endpoint, insecure=True), GrpcMetrics(endpoint=grpc_endpoint, insecure=True))
        record = {"timeUnixNano": "1", "body": {"stringValue": "x"}, "traceId": "ab" * 16, "spanId": "cd" * 8}
        logs_json = {"resourceLogs": [{"scopeLogs": [{"logRecords": [record]}]}]}
        reply = httpx.post(f"{base}/v1/logs", json=logs_json, timeout=10)
        assert reply.status_code == 200 and reply.headers["content-type"] == "application/json", reply.text
        assert c.metric("otelcol_receiver_accepted_log_records") == 5
        assert c.metric("otelcol_receiver_accepted_metric_points") == 6
        assert c.metric("helicone_otel_dropped_log_records") == 5
        assert c.metric("helicone_otel_dropped_metric_points") == 6
        # the errors traces get
        assert httpx.post(f"{base}/v1/metrics", content=b"\xff\xff", headers={
            "content-type": "application/x-protobuf"}, timeout=10).status_code == 400  # fmt: skip
        assert httpx.post(f"{base}/v1/logs", content=b"x", headers={"content-type": "text/plain"}).status_code == 415
        bad_id = json.loads(json.dumps(logs_json))
        bad_id["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["traceId"] = "not hex"
        assert httpx.post(f"{base}/v1/logs", json=bad_id, timeout=10).status_code == 400
        assert c.metric("otelcol_receiver_accepted_log_records") == 5
    assert "Failed to export" not in (tmp_path / "collector.log").read_text()


def test_logs_and_metrics_need_the_same_credentials_as_traces(kafka: LocalKafka, topic: str, tmp_path: Path) -> None:
    def with_auth(text: str) -> str:
        return text.replace("    protocols:\n", "    auth: {bearer_tokens: [s3cret]}\n    protocols:\n", 1)

    empty: dict[str, list[object]] = {"resourceMetrics": []}
    with run_collector(tmp_path, kafka.bootstrap_servers, topic, edit=with_auth) as c:
        url = f"http://127.0.0.1:{c.http_port}/v1/metrics"
        assert httpx.post(url, json=empty, timeout=10).status_code == 401
        assert httpx.post(url, json=empty, headers={"authorization": "Bearer s3cret"}, timeout=10).status_code == 200
