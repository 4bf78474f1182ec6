"""End to end: a real traceloop-sdk app (OpenAI and Anthropic SDKs against the fake provider) exports
with the stock OTLP exporters to the collector, and so does a real Vercel AI SDK app in Node (whose
exporter streams chunked requests); the records read back from Kafka equal what semconv makes of the
very same spans."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from helicone_otel.semconv import map_request
from helpers import pass_api_keys, read_topic, run_collector, run_traceloop_app
from localkafka import LocalKafka
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_traceloop_app_through_the_collector(kafka: LocalKafka, topic: str, tmp_path: Path, protocol: str) -> None:
    with run_collector(tmp_path, kafka.bootstrap_servers, topic, edit=pass_api_keys) as c:
        endpoint = c.http_url if protocol == "http/protobuf" else f"http://127.0.0.1:{c.grpc_port}"
        out = tmp_path / "capture"
        sent = run_traceloop_app(out, endpoint, "Helicone-Auth=Bearer sk-helicone-tenant-a",
                                 "grpc" if protocol == "grpc" else "http")  # fmt: skip
        expected = {r.id: r.value for r in map_request(sent).records}
        got = asyncio.run(read_topic(kafka.bootstrap_servers, topic, len(expected)))
        assert c.metric("otelcol_receiver_accepted_spans") == sum(
            len(ss.spans) for rs in sent.resource_spans for ss in rs.scope_spans
        )
    assert len(expected) == len(json.loads((out / "served.json").read_text())) == 11
    assert {json.loads(v)["id"]: json.loads(v) for _, v, _ in got} == expected
    for key, value, headers in got:
        record = json.loads(value)
        assert key.decode() == record["id"]
        assert headers["provider"].decode() == record["provider"]
        assert headers["service-name"] == b"capture-app"
        assert headers["helicone-auth"] == b"sk-helicone-tenant-a"
        assert b"sk-helicone-tenant-a" not in value
    assert "sk-helicone-tenant-a" not in c.log_path.read_text()


def test_vercel_ai_sdk_app_in_node_through_the_collector(kafka: LocalKafka, topic: str, tmp_path: Path) -> None:
    with run_collector(tmp_path, kafka.bootstrap_servers, topic) as c:
        out = tmp_path / "capture"
        proc = subprocess.run(
            [sys.executable, str(ROOT / "tests" / "support" / "capture.py"), "vercel", str(out)],
            env={**os.environ, "CAPTURE_OTLP_ENDPOINT": c.http_url}, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        sent = ExportTraceServiceRequest.FromString((out / "spans.pb").read_bytes())
        expected = {r.id: r.value for r in map_request(sent).records}
        try:
            got = asyncio.run(read_topic(kafka.bootstrap_servers, topic, len(expected)))
        except TimeoutError:
            accepted = c.metric("otelcol_receiver_accepted_spans")
            pytest.fail(f"the collector accepted {accepted} of 14 spans; the capture said:\n{proc.stderr[-3000:]}")
        assert c.metric("otelcol_receiver_accepted_spans") == 14
    assert len(expected) == len(json.loads((out / "served.json").read_text())) == 7
    assert {json.loads(v)["id"]: json.loads(v) for _, v, _ in got} == expected
    assert {h["service-name"] for _, _, h in got} == {b"capture-vercel-app"}
