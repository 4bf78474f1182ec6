"""OTLP conformance of the collector, over both transports, against the real process and Kafka."""

from __future__ import annotations

import asyncio
import gzip
import http.client
import json
import ssl
import zlib
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2, status_pb2
from helpers import Collector, read_topic, run_collector
from localkafka import LocalKafka, free_port
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from helicone_otel.otlp_json import parse_request

PB = {"content-type": "application/x-protobuf"}
HI = '[{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]'  # content on the span: nothing to join
SPAN = {
    "traceId": "5b8efff798038103d269b633813fc60c",
    "spanId": "eee19b7ec3c1b174",
    "name": "openai.chat",
    "kind": 3,
    "startTimeUnixNano": "1764390000000000000",
    "endTimeUnixNano": 1764390000500000000,
    "attributes": [
        {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
        {"key": "gen_ai.provider.name", "value": {"stringValue": "openai"}},
        {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
        {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "7"}},
        {
            "key": "gen_ai.input.messages",
            "value": {"stringValue": '[{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]'},
        },
    ],
}


def doc(*spans: dict) -> dict:
    return {"resourceSpans": [{"scopeSpans": [{"spans": list(spans), "unknownField": 1}]}]}


@pytest.fixture
def collector(kafka: LocalKafka, topic: str, tmp_path: Path) -> Iterator[Collector]:
    with run_collector(tmp_path, kafka.bootstrap_servers, topic) as c:
        yield c


def test_json_in_json_out_with_hex_ids_and_the_record_on_kafka(
    collector: Collector, kafka: LocalKafka, topic: str
) -> None:
    reply = httpx.post(collector.http_url, json=doc(SPAN))
    assert (reply.status_code, reply.headers["content-type"], reply.json()) == (200, "application/json", {})
    [(key, value, headers)] = asyncio.run(read_topic(kafka.bootstrap_servers, topic, 1))
    record = json.loads(value)
    assert key.decode() == record["id"]
    assert headers["trace-id"] == b"5b8efff798038103d269b633813fc60c"
    assert headers["span-id"] == b"eee19b7ec3c1b174"
    assert headers["helicone-schema"] == b"async-log/v1"
    assert record["providerResponse"]["json"]["usage"]["prompt_tokens"] == 7
    assert record["timing"]["startTime"] == {"seconds": 1764390000, "milliseconds": 0}


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "identity"])
def test_protobuf_with_each_content_encoding(collector: Collector, encoding: str) -> None:
    body = parse_request(json.dumps(doc(SPAN))).SerializeToString()
    data = {"gzip": gzip.compress, "deflate": zlib.compress, "identity": lambda b: b}[encoding](body)
    reply = httpx.post(collector.http_url, content=data, headers={**PB, "content-encoding": encoding})
    assert (reply.status_code, reply.headers["content-type"]) == (200, "application/x-protobuf")
    assert ExportTraceServiceResponse.FromString(reply.content) == ExportTraceServiceResponse()


def test_empty_request_succeeds(collector: Collector) -> None:
    reply = httpx.post(collector.http_url, content=b"", headers=PB)
    assert reply.status_code == 200
    assert httpx.post(collector.http_url, json={}).status_code == 200


def test_bad_input_gets_status_bodies_and_the_collector_keeps_serving(collector: Collector) -> None:
    def status_of(reply: httpx.Response) -> status_pb2.Status:
        if reply.headers["content-type"] == "application/json":
            return status_pb2.Status(**{k: v for k, v in reply.json().items() if k in ("code", "message")})
        return status_pb2.Status.FromString(reply.content)

    cases = [
        (b"\xff\x00garbage", PB, 400, "not a valid ExportTraceServiceRequest"),
        (ExportTraceServiceRequest().SerializeToString()[:0] + b"\x0a\x05\x12", PB, 400, "not a valid"),
        (b'{"resourceSpans": [', {"content-type": "application/json"}, 400, "not valid JSON"),
        (json.dumps(doc({**SPAN, "spanId": "zz"})).encode(), {"content-type": "application/json"}, 400, "spanId"),
        (json.dumps({"resourceSpans": "nope"}).encode(), {"content-type": "application/json"}, 400, "array"),
        (b"x", {"content-type": "text/plain"}, 415, "unsupported Content-Type"),
        (b"x", {**PB, "content-encoding": "br"}, 400, "unsupported Content-Encoding"),
        (gzip.compress(b"abc")[:-6], {**PB, "content-encoding": "gzip"}, 400, "truncated"),
        (b"not gzip", {**PB, "content-encoding": "gzip"}, 400, "not valid gzip"),
    ]
    for body, headers, code, message in cases:
        reply = httpx.post(collector.http_url, content=body, headers=headers)
        assert reply.status_code == code, (body[:20], reply.text)
        assert message in status_of(reply).message
    assert httpx.post(collector.http_url, json=doc(SPAN)).status_code == 200


def test_size_limit_is_enforced_after_decompression(collector: Collector) -> None:
    bomb = gzip.compress(b"\0" * (65 * 1024 * 1024))  # 64 KiB on the wire, 65 MiB inside
    reply = httpx.post(collector.http_url, content=bomb, headers={**PB, "content-encoding": "gzip"})
    assert reply.status_code == 413
    big = b"\0" * (100 * 1024 * 1024)  # 100 MB, refused while it streams in
    assert httpx.post(collector.http_url, content=big, headers=PB, timeout=60).status_code == 413
    assert httpx.post(collector.http_url, json=doc(SPAN)).status_code == 200


def test_partial_success_for_invalid_ids(collector: Collector, kafka: LocalKafka, topic: str) -> None:
    request = parse_request(json.dumps(doc(SPAN)))
    bad = request.resource_spans[0].scope_spans[0].spans.add()
    bad.CopyFrom(request.resource_spans[0].scope_spans[0].spans[0])
    bad.trace_id = b"\x01\x02"
    reply = httpx.post(collector.http_url, content=request.SerializeToString(), headers=PB)
    assert reply.status_code == 200
    response = ExportTraceServiceResponse.FromString(reply.content)
    assert response.partial_success.rejected_spans == 1
    assert "trace_id must be 16 bytes" in response.partial_success.error_message
    assert len(asyncio.run(read_topic(kafka.bootstrap_servers, topic, 1))) == 1


def test_grpc_export_and_errors(collector: Collector) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{collector.grpc_port}") as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        assert stub.Export(parse_request(json.dumps(doc(SPAN))), timeout=10) == ExportTraceServiceResponse()
        too_big = ExportTraceServiceRequest()
        span = too_big.resource_spans.add().scope_spans.add().spans.add()
        span.name = "x" * (65 * 1024 * 1024)
        with pytest.raises(grpc.RpcError) as err:
            stub.Export(too_big, timeout=30)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        with pytest.raises(grpc.RpcError) as err:
            channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")(b"\xff\xff", timeout=10)
        assert err.value.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.INVALID_ARGUMENT)
        assert stub.Export(parse_request(json.dumps(doc(SPAN))), timeout=10) == ExportTraceServiceResponse()


def test_bearer_token_auth_on_both_protocols(kafka: LocalKafka, topic: str, tmp_path: Path) -> None:
    def with_auth(text: str) -> str:
        return text.replace("    protocols:\n", "    auth: {bearer_tokens: [s3cret, other]}\n    protocols:\n", 1)

    with run_collector(tmp_path, kafka.bootstrap_servers, topic, edit=with_auth) as c:
        assert httpx.post(c.http_url, json=doc(SPAN)).status_code == 401
        assert httpx.post(c.http_url, json=doc(SPAN), headers={"authorization": "Bearer nope"}).status_code == 401
        ok = httpx.post(c.http_url, json=doc(SPAN), headers={"authorization": "Bearer other"})
        assert ok.status_code == 200
        assert "s3cret" not in c.log_path.read_text()
        with grpc.insecure_channel(f"127.0.0.1:{c.grpc_port}") as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)
            with pytest.raises(grpc.RpcError) as err:
                stub.Export(parse_request(json.dumps(doc(SPAN))), timeout=10)
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
            stub.Export(parse_request(json.dumps(doc(SPAN))), timeout=10, metadata=[("authorization", "Bearer s3cret")])
        assert c.metric("otelcol_receiver_refused_spans") == 3


def test_an_empty_bearer_credential_is_refused(kafka: LocalKafka, topic: str, tmp_path: Path) -> None:
    """An app whose key variable came out empty sends `Authorization: Bearer `: 401, not a record without a key."""
    with run_collector(tmp_path, kafka.bootstrap_servers, topic) as c:
        for name, value in (("authorization", "Bearer "), ("authorization", "Bearer"), ("helicone-auth", "Bearer ")):
            # http.client sends the trailing space as such an app does (httpx refuses to)
            conn = http.client.HTTPConnection("127.0.0.1", c.http_port, timeout=10)
            conn.request("POST", "/v1/traces", json.dumps(doc(SPAN)), {"content-type": "application/json", name: value})
            reply = conn.getresponse()
            assert reply.status == 401, (name, value, reply.read())
            conn.close()
        assert httpx.post(c.http_url, json=doc(SPAN), headers={"authorization": "Bearer sk-x"}).status_code == 200


def test_kafka_unreachable_and_spool_full_answer_retryable_with_hints(tmp_path: Path) -> None:
    brokers = f"127.0.0.1:{free_port()}"  # nothing listens there
    with run_collector(tmp_path, brokers, "nowhere") as c:
        # The collector started without Kafka; with a spool it still accepts (durable on disk).
        assert httpx.post(c.http_url, json=doc(SPAN)).status_code == 200
        ready = httpx.get(f"http://127.0.0.1:{c.health_port}/ready", timeout=10)
        live = httpx.get(f"http://127.0.0.1:{c.health_port}/", timeout=10)
        assert live.status_code == 200
        for _ in range(50):
            if ready.status_code == 503:
                break
            asyncio.run(asyncio.sleep(0.2))
            ready = httpx.get(f"http://127.0.0.1:{c.health_port}/ready", timeout=10)
        assert ready.status_code == 503 and "spool" in ready.json()["reason"]
    (tmp_path / "small").mkdir()

    def small_spool(text: str) -> str:
        return text.replace("fsync: always}", "fsync: always, max_bytes: 2KiB}").replace("/spool'", "/small/spool'")

    with run_collector(tmp_path, brokers, "nowhere", edit=small_spool) as c:
        big = doc(*[{**SPAN, "spanId": f"{i:016x}"} for i in range(1, 20)])
        reply = httpx.post(c.http_url, json=big)
        assert reply.status_code == 503
        assert int(reply.headers["retry-after"]) >= 1
        with grpc.insecure_channel(f"127.0.0.1:{c.grpc_port}") as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)
            with pytest.raises(grpc.RpcError) as err:
                stub.Export(parse_request(json.dumps(big)), timeout=10)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        details = dict(err.value.trailing_metadata())["grpc-status-details-bin"]
        status = status_pb2.Status.FromString(details)
        info = error_details_pb2.RetryInfo()
        assert status.details[0].Unpack(info) and info.retry_delay.seconds >= 1
        assert c.metric("otelcol_exporter_enqueue_failed_spans") == 38


def test_ack_kafka_mode_without_spool(tmp_path: Path, kafka: LocalKafka, topic: str) -> None:
    with run_collector(tmp_path, kafka.bootstrap_servers, topic, spool=False) as c:
        assert httpx.post(c.http_url, json=doc(SPAN)).status_code == 200
        assert len(asyncio.run(read_topic(kafka.bootstrap_servers, topic, 1))) == 1
    with run_collector(tmp_path, f"127.0.0.1:{free_port()}", topic, spool=False) as c:
        reply = httpx.post(c.http_url, json=doc(SPAN), timeout=30)
        assert reply.status_code == 503 and int(reply.headers["retry-after"]) >= 1


def test_slow_client_gets_408_and_others_are_served_meanwhile(kafka: LocalKafka, topic: str, tmp_path: Path) -> None:
    import socket

    def short_timeout(text: str) -> str:
        return text.replace("    protocols:\n", "    read_timeout: 1s\n    protocols:\n", 1)

    with run_collector(tmp_path, kafka.bootstrap_servers, topic, edit=short_timeout) as c:
        slow = socket.create_connection(("127.0.0.1", c.http_port))
        slow.sendall(
            b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
            b"Content-Length: 1000\r\n\r\n" + b"\x0a" * 10
        )
        assert httpx.post(c.http_url, json=doc(SPAN)).status_code == 200  # not blocked by the slow one
        slow.settimeout(10)
        answer = slow.recv(4096)
        slow.close()
        assert answer.startswith(b"HTTP/1.1 408")


def test_tls_on_both_protocols_and_json_logs(kafka: LocalKafka, topic: str, tmp_path: Path) -> None:
    import subprocess

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    tls = f"tls: {{cert_file: '{cert}', key_file: '{key}'}}"

    def with_tls(text: str) -> str:
        text = text.replace('grpc: {endpoint: "127.0.0.1:', f'grpc: {{{tls}, endpoint: "127.0.0.1:')
        text = text.replace('http: {endpoint: "127.0.0.1:', f'http: {{{tls}, endpoint: "127.0.0.1:')
        return text.replace("  telemetry: {", "  telemetry: {logs: {encoding: json}, ", 1)

    with run_collector(tmp_path, kafka.bootstrap_servers, topic, edit=with_tls) as c:
        https = c.http_url.replace("http://", "https://")
        context = ssl.create_default_context(cafile=str(cert))
        assert httpx.post(https, json=doc(SPAN), verify=context).status_code == 200
        with pytest.raises(httpx.HTTPError):
            httpx.post(c.http_url, json=doc(SPAN), timeout=5)  # plain HTTP to a TLS port
        credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        with grpc.secure_channel(f"127.0.0.1:{c.grpc_port}", credentials) as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)
            assert stub.Export(parse_request(json.dumps(doc(SPAN))), timeout=10) == ExportTraceServiceResponse()
        assert len(asyncio.run(read_topic(kafka.bootstrap_servers, topic, 2))) == 2
    lines = [json.loads(line) for line in c.log_path.read_text().splitlines() if line.startswith("{")]
    assert any(entry["msg"].startswith("OTLP/HTTP listening") for entry in lines)
    assert {"ts", "level", "logger", "msg"} <= set(lines[0])
