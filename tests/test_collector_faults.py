"""Faults a sidecar meets, on real parts: the spool on a real 2 MiB filesystem while the broker is frozen 30 s, the
broker killed, a spool at its byte limit. Every acknowledged record is counted in Kafka at the end; readiness
must tell the truth within about two seconds."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import create_topic
from google.protobuf.message import DecodeError
from helicone_otel.semconv import record_id
from helpers import Collector, read_topic, run_collector, start_collector, stop_collector
from localkafka import LocalKafka
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from helicone_otel.otlp_depth import CUT_VALUE, MAX_VALUE_DEPTH, decode_trace_request
from helicone_otel.otlp_json import parse_request, request_to_dict

PADDING = "x" * 3000  # a ~4 KB record per span: 10 requests/s fill 2 MiB in about five seconds


HI = '[{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]'  # content on the span: nothing to join


class BigSender:
    """Posts 10 LLM spans a request, each with 3 KB of prompt; remembers which the collector acknowledged."""

    def __init__(self) -> None:
        self.acked: set[str] = set()
        self.statuses: list[tuple[float, int]] = []
        self.n = 0

    def post(self, url: str) -> int:
        spans: list[dict[str, Any]] = []
        for _ in range(10):
            self.n += 1
            spans.append({
                "traceId": f"{self.n:032x}", "spanId": f"{self.n:016x}", "name": "openai.chat",
                "startTimeUnixNano": str(time.time_ns()), "endTimeUnixNano": str(time.time_ns() + 1000),
                "attributes": [
                    {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                    {"key": "gen_ai.provider.name", "value": {"stringValue": "openai"}},
                    {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
                    {"key": "gen_ai.input.messages", "value": {"stringValue":
                        f'[{{"role": "user", "parts": [{{"type": "text", "content": "{PADDING}{self.n}"}}]}}]'}},
                ],
            })  # fmt: skip
        try:
            status = httpx.post(url, json={"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}, timeout=15)
            code = status.status_code
        except httpx.HTTPError:
            code = 0
        self.statuses.append((time.monotonic(), code))
        if code == 200:
            self.acked |= {record_id(s["traceId"], s["spanId"]) for s in spans}
        return code


def ready(c: Collector) -> tuple[int, str]:
    reply = httpx.get(f"http://127.0.0.1:{c.health_port}/ready", timeout=5)
    return reply.status_code, reply.text


@contextlib.contextmanager
def small_filesystem(path: Path, size: str = "2m") -> Iterator[Path]:
    path.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                             capture_output=True, text=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a {size} tmpfs here: {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def topic_count(kafka: LocalKafka, topic: str) -> int:
    async def count() -> int:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers)
        await consumer.start()
        try:
            tp = TopicPartition(topic, 0)
            return int((await consumer.end_offsets([tp]))[tp])
        finally:
            await consumer.stop()

    return asyncio.run(count())


def test_full_disk_recovers_by_itself_loses_nothing_and_replays_nothing(own_kafka: LocalKafka, tmp_path: Path) -> None:
    topic = "full-disk"
    asyncio.run(create_topic(own_kafka.bootstrap_servers, topic))
    assert own_kafka.proc is not None
    with small_filesystem(tmp_path / "small") as disk:
        spool = disk / "spool"

        def on_small_disk(text: str) -> str:
            return text.replace(f"directory: '{tmp_path / 'spool'}'", f"directory: '{spool}'")

        sender = BigSender()
        not_ready: list[str] = []
        with run_collector(tmp_path, own_kafka.bootstrap_servers, topic, edit=on_small_disk) as c:
            for _ in range(20):  # 2 s with the broker up
                assert sender.post(c.http_url) == 200
                time.sleep(0.1)
            os.kill(own_kafka.proc.pid, signal.SIGSTOP)
            frozen_until = time.monotonic() + 30  # as long as the trial
            try:
                while time.monotonic() < frozen_until:
                    sender.post(c.http_url)
                    status, text = ready(c)
                    if status != 200:
                        not_ready.append(text)
                    time.sleep(0.1)
            finally:
                os.kill(own_kafka.proc.pid, signal.SIGCONT)
            back = time.monotonic()
            refused = [code for at, code in sender.statuses if code != 200]
            assert refused, "the 2 MiB disk never filled: the test proves nothing"
            assert any("disk full" in text for text in not_ready), not_ready
            first_200 = None
            while time.monotonic() < back + 20:
                if sender.post(c.http_url) == 200 and first_200 is None:
                    first_200 = time.monotonic() - back
                time.sleep(0.1)
            assert first_200 is not None and first_200 <= 5, f"200 again after {first_200} s"
            assert [code for _, code in sender.statuses[-20:]] == [200] * 20  # and stays so
            records = asyncio.run(read_topic(own_kafka.bootstrap_servers, topic, len(sender.acked), timeout=60))
            got = {json.loads(value)["id"] for _, value, _ in records}
            assert sender.acked <= got, f"{len(sender.acked - got)} acknowledged records lost"
            deadline = time.monotonic() + 15
            while c.metric("helicone_otel_spool_bytes") > 0 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert ready(c)[0] == 200
            ports = (c.grpc_port, c.http_port, c.health_port, c.metrics_port)
        on_disk = sum(f.stat().st_size for f in spool.rglob("*.seg"))
        assert on_disk < 64 * 1024, f"{on_disk} delivered bytes still on the disk"
        delivered = topic_count(own_kafka, topic)
        again = start_collector(tmp_path / "otel-config.yaml", ports, tmp_path / "collector2.log")
        try:
            time.sleep(3)
            assert topic_count(own_kafka, topic) == delivered  # the restart replayed nothing committed
            assert "from an earlier run" not in (tmp_path / "collector2.log").read_text()
        finally:
            assert stop_collector(again) == 0


def test_ready_turns_within_two_seconds_of_a_broker_kill_and_back_after(own_kafka: LocalKafka, tmp_path: Path) -> None:
    topic = "killed"
    asyncio.run(create_topic(own_kafka.bootstrap_servers, topic))
    sender = BigSender()
    with run_collector(tmp_path, own_kafka.bootstrap_servers, topic) as c:
        assert sender.post(c.http_url) == 200
        deadline = time.monotonic() + 10
        while c.metric("helicone_otel_kafka_up") != 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ready(c)[0] == 200 and c.metric("helicone_otel_kafka_up") == 1
        assert own_kafka.proc is not None
        own_kafka.proc.kill()
        killed = time.monotonic()
        own_kafka.proc.wait()
        while ready(c)[0] == 200 and time.monotonic() < killed + 10:
            time.sleep(0.05)
        took = time.monotonic() - killed
        status, text = ready(c)
        assert status == 503 and "Kafka unreachable" in text, text
        assert took <= 2.0, f"not ready {took:.1f} s after the kill"
        assert c.metric("helicone_otel_kafka_up") == 0
        own_kafka.proc = None
        own_kafka.start()
        deadline = time.monotonic() + 30
        while ready(c)[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert ready(c)[0] == 200 and c.metric("helicone_otel_kafka_up") == 1
    log = (tmp_path / "collector.log").read_text()
    assert log.count("WARNING helicone_otel.kafka.sender: Kafka unreachable") == 1, log[-3000:]
    assert log.count("Kafka is reachable again") == 1
    assert " ERROR aiokafka" not in log, log[-3000:]


def test_a_full_spool_is_not_ready_and_says_why(own_kafka: LocalKafka, tmp_path: Path) -> None:
    own_kafka.stop(keep_data=True)  # Kafka down: the spool only fills

    def small_spool(text: str) -> str:
        return text.replace("fsync: always}", "fsync: always, max_bytes: 100KiB}")

    sender = BigSender()
    with run_collector(tmp_path, own_kafka.bootstrap_servers, "nowhere", edit=small_spool) as c:
        codes = [sender.post(c.http_url) for _ in range(6)]
        assert 200 in codes and 503 in codes, codes
        status, text = ready(c)
        assert status == 503 and "spool full" in text, text
        assert c.metric("helicone_otel_spool_full") == 1


def test_content_that_does_not_parse_reaches_kafka_raw_marked_and_counted(
    kafka: LocalKafka, topic: str, tmp_path: Path
) -> None:
    span = {
        "traceId": "ab" * 16, "spanId": "cd" * 8, "name": "openai.chat",
        "startTimeUnixNano": str(time.time_ns()), "endTimeUnixNano": str(time.time_ns() + 1000),
        "attributes": [
            {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
            {"key": "gen_ai.provider.name", "value": {"stringValue": "openai"}},
            {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
            {"key": "gen_ai.input.messages", "value": {"stringValue": "[1,2"}},
        ],
    }  # fmt: skip
    with run_collector(tmp_path, kafka.bootstrap_servers, topic) as c:
        reply = httpx.post(c.http_url, json={"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}, timeout=10)
        assert reply.status_code == 200
        [(_, value, headers)] = asyncio.run(read_topic(kafka.bootstrap_servers, topic, 1))
        assert json.loads(value)["providerRequest"]["json"]["messages"] == [{"role": "user", "content": "[1,2"}]
        assert headers["helicone-unparsed"] == b"gen_ai.input.messages"
        assert c.metric("helicone_otel_records_unparsed_content") == 1


def deep_request(levels: int) -> ExportTraceServiceRequest:
    """An LLM span with one attribute nested `levels` kvlists deep (protobuf alone refuses past ~33)."""
    value = AnyValue(string_value="leaf")
    for i in range(levels):
        outer = AnyValue()
        outer.kvlist_value.values.add(key=f"k{i}").value.CopyFrom(value)
        value = outer
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add(
        name="openai.chat", trace_id=bytes.fromhex("12" * 16), span_id=bytes.fromhex("34" * 8),
        start_time_unix_nano=time.time_ns(), end_time_unix_nano=time.time_ns() + 1000,
    )  # fmt: skip
    for key, text in (("gen_ai.operation.name", "chat"), ("gen_ai.provider.name", "openai"),
                      ("gen_ai.request.model", "gpt-4o-mini")):  # fmt: skip
        span.attributes.add(key=key).value.string_value = text
    span.attributes.add(key="app.deep").value.CopyFrom(value)
    span.attributes.add(key="gen_ai.input.messages").value.string_value = HI
    return request


def cut_depth(value: AnyValue) -> tuple[int, str]:
    depth = 0
    while value.HasField("kvlist_value"):
        value, depth = value.kvlist_value.values[0].value, depth + 1
    return depth, value.string_value


def test_decoding_cuts_only_the_too_deep_value() -> None:
    data = deep_request(40).SerializeToString()
    with pytest.raises(DecodeError):
        ExportTraceServiceRequest.FromString(data)  # what the runtime alone does
    for request in (decode_trace_request(data), parse_request(json.dumps(request_to_dict(deep_request(40))))):
        span = request.resource_spans[0].scope_spans[0].spans[0]
        assert [a.key for a in span.attributes][:3] == ["gen_ai.operation.name", "gen_ai.provider.name",
                                                        "gen_ai.request.model"]  # fmt: skip
        assert cut_depth(span.attributes[3].value) == (MAX_VALUE_DEPTH + 1, CUT_VALUE)
    shallow = deep_request(10)
    assert decode_trace_request(shallow.SerializeToString()) == shallow  # nothing cut that protobuf takes
    with pytest.raises(DecodeError):
        decode_trace_request(b"\x0a\x05garbage-that-is-no-request")


def test_a_too_deep_attribute_costs_only_that_value_on_both_transports(
    kafka: LocalKafka, topic: str, tmp_path: Path
) -> None:
    import grpc

    data = deep_request(40).SerializeToString()
    with run_collector(tmp_path, kafka.bootstrap_servers, topic) as c:
        reply = httpx.post(c.http_url, content=data, headers={"content-type": "application/x-protobuf"}, timeout=10)
        assert reply.status_code == 200, reply.text
        body = json.dumps(request_to_dict(deep_request(40)))
        reply = httpx.post(c.http_url, content=body, headers={"content-type": "application/json"}, timeout=10)
        assert reply.status_code == 200, reply.text
        with grpc.insecure_channel(f"127.0.0.1:{c.grpc_port}") as channel:
            export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
            export(data, timeout=10)
        records = asyncio.run(read_topic(kafka.bootstrap_servers, topic, 3))
    assert {json.loads(value)["providerRequest"]["json"]["model"] for _, value, _ in records} == {"gpt-4o-mini"}
