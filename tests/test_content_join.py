"""The collector's join (collector/content_join.py): a real openai-v2 app, whose spans carry no content and whose
GenAI event log records carry all of it, exports both signals with the stock OTLP exporters behind batch processors
(different requests, as in production); each call must reach Kafka as one record holding the content, on both
transports and with several worker processes. A span whose log records never come goes out after `join_wait`;
log records whose span never comes are dropped and counted; a restart during the wait loses nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from capture_envs import EVENTS_PYTHON
from conftest import ROOT, create_topic
from helicone_otel.semconv import events_of, map_request
from helpers import read_topic, run_collector, start_collector, stop_collector
from localkafka import LocalKafka
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

PROTOBUF = {"content-type": "application/x-protobuf"}


def join_wait(seconds: float) -> Any:
    def edit(text: str) -> str:
        return text.replace("    topic:", f"    join_wait: {seconds}s\n    topic:", 1)

    return edit


Sent = tuple[ExportTraceServiceRequest, ExportLogsServiceRequest, list[Any]]


def run_app(kind: str, out: Path, endpoint: str, protocol: str) -> Sent:
    """The capture app of `kind` (tests/support/capture_events.py) exporting to the collector: what it sent."""
    assert EVENTS_PYTHON.exists(), "the events venv is missing: run `make test`"
    env = {**os.environ, "CAPTURE_OTLP_ENDPOINT": endpoint, "CAPTURE_OTLP_PROTOCOL": protocol}
    proc = subprocess.run([str(EVENTS_PYTHON), str(ROOT / "tests" / "support" / "capture_events.py"), kind, str(out)],
                          env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Failed to export" not in proc.stderr, proc.stderr[-3000:]
    spans = ExportTraceServiceRequest.FromString((out / "spans.pb").read_bytes())
    logs = ExportLogsServiceRequest.FromString((out / "logs.pb").read_bytes())
    return spans, logs, json.loads((out / "served.json").read_text())


def by_id(values: list[bytes]) -> dict[str, dict[str, Any]]:
    records = [json.loads(v) for v in values]
    return {r["providerRequest"]["meta"]["Helicone-Request-Id"]: r for r in records}


def served_messages(served: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m["role"], m.get("content") or "") for m in served["request"].get("messages", [])]


def record_messages(record: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m["role"], m.get("content") or "") for m in record["providerRequest"]["json"].get("messages", [])]


@pytest.mark.parametrize(("protocol", "workers"), [("http", 1), ("grpc", 1), ("http", 2)])
def test_content_only_in_log_records_reaches_kafka_in_each_calls_record(
    kafka: LocalKafka, tmp_path: Path, protocol: str, workers: int
) -> None:
    topic = f"join-{protocol}-{workers}-{time.monotonic_ns()}"
    asyncio.run(create_topic(kafka.bootstrap_servers, topic, partitions=4))  # the join topic gets as many
    extra = f"\n  workers: {workers}" if workers > 1 else ""

    def edit(text: str) -> str:
        return join_wait(20)(text).replace("service:\n", f"service:{extra}\n", 1)

    with run_collector(tmp_path, kafka.bootstrap_servers, topic, edit=edit) as c:
        endpoint = f"http://127.0.0.1:{c.http_port}" if protocol == "http" else f"127.0.0.1:{c.grpc_port}"
        spans, logs, served = run_app("openai-v2", tmp_path / "app", endpoint, protocol)
        got = asyncio.run(read_topic(kafka.bootstrap_servers, topic, len(served), timeout=60))
        time.sleep(1.0)  # nothing more may come: one record per call
        assert len(asyncio.run(read_topic(kafka.bootstrap_servers, topic, len(served), timeout=10))) == len(served)
        assert c.metric("helicone_otel_joined_records") == len(served)
        assert c.metric("helicone_otel_dropped_log_records") == 0
    records = by_id([value for _, value, _ in got])
    assert len(records) == len(served)
    expected = map_request(spans, events=events_of(logs))  # the same spans and events, joined in one process
    assert {r.id for r in expected.records} == set(records)
    for mapped in expected.records:
        assert records[mapped.id] == json.loads(mapped.json_bytes())
    starts = sorted(records.values(), key=lambda r: (r["timing"]["startTime"]["seconds"],
                                                     r["timing"]["startTime"]["milliseconds"]))  # fmt: skip
    for record, call in zip(starts, served, strict=True):
        assert record_messages(record) == served_messages(call) != []
        assert record["providerResponse"]["status"] == call["status"]


def post(c: Any, path: str, body: bytes) -> None:
    reply = httpx.post(f"http://127.0.0.1:{c.http_port}{path}", content=body, headers=PROTOBUF, timeout=10)
    assert reply.status_code == 200, reply.text


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> tuple[ExportTraceServiceRequest, ExportLogsServiceRequest]:
    out = tmp_path_factory.mktemp("openai-v2")
    proc = subprocess.run([str(EVENTS_PYTHON), str(ROOT / "tests" / "support" / "capture_events.py"), "openai-v2",
                           str(out), "openai.chat"], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    spans = ExportTraceServiceRequest.FromString((out / "spans.pb").read_bytes())
    logs = ExportLogsServiceRequest.FromString((out / "logs.pb").read_bytes())
    assert len(map_request(spans).records) == 1
    return spans, logs


def test_a_span_whose_log_records_never_come_is_recorded_after_the_wait(
    kafka: LocalKafka, topic: str, tmp_path: Path, captured: tuple[ExportTraceServiceRequest, ExportLogsServiceRequest]
) -> None:
    spans, _ = captured
    with run_collector(tmp_path, kafka.bootstrap_servers, topic, edit=join_wait(2)) as c:
        sent = time.monotonic()
        post(c, "/v1/traces", spans.SerializeToString())
        [(_, value, _)] = asyncio.run(read_topic(kafka.bootstrap_servers, topic, 1, timeout=30))
        assert time.monotonic() - sent >= 2.0  # it waited
        assert c.metric("helicone_otel_join_held_traces") == 1
    record = json.loads(value)
    assert record == json.loads(map_request(spans).records[0].json_bytes())  # what the spans alone hold


def test_log_records_whose_span_never_comes_are_dropped_and_counted(
    kafka: LocalKafka, topic: str, tmp_path: Path, captured: tuple[ExportTraceServiceRequest, ExportLogsServiceRequest]
) -> None:
    _, logs = captured
    events = sum(len(v) for v in events_of(logs).values())
    with run_collector(tmp_path, kafka.bootstrap_servers, topic, edit=join_wait(1)) as c:
        post(c, "/v1/logs", logs.SerializeToString())
        deadline = time.monotonic() + 20
        while c.metric("helicone_otel_dropped_log_records") < events and time.monotonic() < deadline:
            time.sleep(0.2)
        assert c.metric("helicone_otel_dropped_log_records") == events
        assert c.metric("helicone_otel_join_log_records") == events
        assert c.metric("helicone_otel_joined_records") == 0


def test_a_restart_during_the_wait_loses_nothing(
    kafka: LocalKafka, topic: str, tmp_path: Path, captured: tuple[ExportTraceServiceRequest, ExportLogsServiceRequest]
) -> None:
    """The span waits (60 s) when the collector stops; the log records come to the next collector, which reads
    the waiting span again from the join topic and makes the one, complete record."""
    spans, logs = captured
    with run_collector(tmp_path, kafka.bootstrap_servers, topic, edit=join_wait(60)) as c:
        post(c, "/v1/traces", spans.SerializeToString())
        deadline = time.monotonic() + 20
        while c.metric("helicone_otel_join_waiting_traces") < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert c.metric("helicone_otel_join_waiting_traces") == 1
        config, ports = tmp_path / "otel-config.yaml", (c.grpc_port, c.http_port, c.health_port, c.metrics_port)
    with pytest.raises(TimeoutError):  # no record yet
        asyncio.run(read_topic(kafka.bootstrap_servers, topic, 1, timeout=3))
    second = start_collector(config, ports, tmp_path / "second.log")
    try:
        post(second, "/v1/logs", logs.SerializeToString())
        [(_, value, _)] = asyncio.run(read_topic(kafka.bootstrap_servers, topic, 1, timeout=30))
        assert second.metric("helicone_otel_joined_records") == 1
    finally:
        stop_collector(second)
    record = json.loads(value)
    assert record == json.loads(map_request(spans, events=events_of(logs)).records[0].json_bytes())
    assert [m["role"] for m in record["providerRequest"]["json"]["messages"]] == ["system", "user"]


def test_no_join_when_join_wait_is_0(
    kafka: LocalKafka, topic: str, tmp_path: Path, captured: tuple[ExportTraceServiceRequest, ExportLogsServiceRequest]
) -> None:
    spans, logs = captured
    with run_collector(tmp_path, kafka.bootstrap_servers, topic, edit=join_wait(0)) as c:
        post(c, "/v1/logs", logs.SerializeToString())
        post(c, "/v1/traces", spans.SerializeToString())
        [(_, value, _)] = asyncio.run(read_topic(kafka.bootstrap_servers, topic, 1, timeout=30))
        assert c.metric("helicone_otel_dropped_log_records") == sum(len(v) for v in events_of(logs).values())
    assert json.loads(value) == json.loads(map_request(spans).records[0].json_bytes())
