"""The collector, as `make run` starts it, takes spans from the stock OTLP exporters to Kafka."""

from __future__ import annotations

import asyncio
import gzip
import json
from pathlib import Path

import httpx
import pytest
from helicone_otel.collector import ConfigError, load_config
from helpers import read_topic, run_collector
from localkafka import LocalKafka
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter

from helicone_otel.otlp_json import parse_request


def _emit(exporter: SpanExporter, names: list[str]) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "smoke"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("smoke-test")
    for name in names:
        with tracer.start_as_current_span(name) as span:
            span.set_attribute("gen_ai.operation.name", "chat")
    provider.shutdown()


def _span_names(values: list[bytes]) -> list[str]:
    names: list[str] = []
    for value in values:
        request = ExportTraceServiceRequest()
        request.ParseFromString(value)
        names.extend(s.name for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans)
    return names


def test_stock_exporters_reach_kafka_over_http_and_grpc(kafka: LocalKafka, topic: str, tmp_path: Path) -> None:
    with run_collector(tmp_path, kafka.bootstrap_servers, topic) as (grpc_port, http_port):
        _emit(HttpExporter(endpoint=f"http://127.0.0.1:{http_port}/v1/traces"), ["h1", "h2"])
        _emit(GrpcExporter(endpoint=f"127.0.0.1:{grpc_port}", insecure=True), ["g1"])
        records = asyncio.run(read_topic(kafka.bootstrap_servers, topic, 3))
    assert sorted(_span_names([r[1] for r in records])) == ["g1", "h1", "h2"]
    assert all(r[2]["content-type"] == b"application/x-protobuf" for r in records)


def test_http_answers_per_spec_for_json_gzip_and_bad_input(kafka: LocalKafka, topic: str, tmp_path: Path) -> None:
    span = {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "eee19b7ec3c1b174",
        "name": "j",
        "kind": 3,
    }
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": [span], "unknownField": 1}]}]}
    with run_collector(tmp_path, kafka.bootstrap_servers, topic) as (_, http_port):
        url = f"http://127.0.0.1:{http_port}/v1/traces"
        ok = httpx.post(url, json=doc)
        assert (ok.status_code, ok.headers["content-type"], ok.json()) == (200, "application/json", {})
        gz = httpx.post(
            url,
            content=gzip.compress(ExportTraceServiceRequest().SerializeToString()),
            headers={"content-type": "application/x-protobuf", "content-encoding": "gzip"},
        )
        assert (gz.status_code, gz.headers["content-type"]) == (200, "application/x-protobuf")
        bad = httpx.post(url, content=b"\xff\x00garbage", headers={"content-type": "application/x-protobuf"})
        assert bad.status_code == 400
        bad_id = httpx.post(url, json={"resourceSpans": [{"scopeSpans": [{"spans": [{**span, "spanId": "zz"}]}]}]})
        assert bad_id.status_code == 400 and "spanId" in bad_id.json()["message"]
        assert httpx.post(url, content=b"x", headers={"content-type": "text/plain"}).status_code == 415
        bomb = gzip.compress(b"\0" * (65 * 1024 * 1024))
        big = httpx.post(
            url, content=bomb, headers={"content-type": "application/x-protobuf", "content-encoding": "gzip"}
        )
        assert big.status_code == 413
        records = asyncio.run(read_topic(kafka.bootstrap_servers, topic, 1))
    assert _span_names([records[0][1]]) == ["j"]
    request = ExportTraceServiceRequest()
    request.ParseFromString(records[0][1])
    assert request.resource_spans[0].scope_spans[0].spans[0].span_id.hex() == "eee19b7ec3c1b174"


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("receivers: {otlp: {protocols: {grcp: {}}}}", "receivers.otlp.protocols.grcp: unknown key"),
        (
            "receivers: {otlp: {protocols: {http: {endpoint: nope}}}}",
            "receivers.otlp.protocols.http.endpoint",
        ),
        (
            "exporters: {kafka: {encoding: avro}}\nreceivers: {otlp: {protocols: {grpc: {}}}}",
            "exporters.kafka.encoding",
        ),
        (
            "receivers: {otlp: {protocols: {grpc: {endpoint: '${env:NOPE_NOT_SET}'}}}}",
            "NOPE_NOT_SET is not set",
        ),
        ("receivers: [", "not valid YAML"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, yaml_text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("$", r"\$")):
        load_config(path, environ={})


def test_env_substitution_with_defaults(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "receivers: {otlp: {protocols: {grpc: {endpoint: '${env:G:-127.0.0.1:1234}'}}}}\n"
        "exporters: {kafka: {brokers: '${env:B}', topic: '${env:T:-x}'}}\n"
    )
    config = load_config(path, environ={"B": "a:1,b:2"})
    assert config.receiver.grpc_endpoint == "127.0.0.1:1234"
    assert config.receiver.http_endpoint is None
    assert config.exporter.brokers == ("a:1", "b:2")
    assert config.exporter.topic == "x"


def test_shipped_config_is_valid() -> None:
    config = load_config(Path(__file__).resolve().parents[1] / "otel-config.yaml", environ={})
    assert config.receiver.grpc_endpoint == "127.0.0.1:4317"
    assert config.receiver.http_endpoint == "127.0.0.1:4318"
    assert config.exporter.topic == "helicone-llm-logs"


def test_starts_without_kafka_and_answers_retryable_errors(tmp_path: Path) -> None:
    import grpc
    from localkafka import free_port
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

    span = {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "name": "j"}
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    with run_collector(tmp_path, f"127.0.0.1:{free_port()}", "nowhere") as (grpc_port, http_port):
        reply = httpx.post(f"http://127.0.0.1:{http_port}/v1/traces", json=doc, timeout=30)
        assert reply.status_code == 503
        assert int(reply.headers["retry-after"]) >= 1
        assert "Kafka" in reply.json()["message"]
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)
            with pytest.raises(grpc.RpcError) as err:
                stub.Export(parse_request(json.dumps(doc)), timeout=30)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
