"""The forwarder against a real Kafka and the fake Helicone: exactly once in the happy path, no loss
across SIGKILL, the dead-letter topic gets exactly the permanently rejected records."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from conftest import create_topic
from fakehelicone import FakeHelicone
from helicone_otel.collector.config import ExporterConfig
from helicone_otel.collector.encoding import encode
from helicone_otel.semconv import MapOptions
from helpers import read_topic
from localkafka import LocalKafka
from otlp_builder import request, span

KEY = "sk-helicone-test"


def records(n: int, start: int = 0) -> list[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    attrs = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o"}
    spans = [span("chat", attrs, span_id=f"{start + i + 1:016x}") for i in range(n)]
    encoded = encode(request(*spans), ExporterConfig(pass_api_keys=True), MapOptions(), api_key=KEY)
    return [(r.key or b"", r.value, list(r.headers)) for r in encoded.records]


async def produce(bootstrap: str, topic: str, items: list[tuple[bytes, bytes, list[tuple[str, bytes]]]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        for key, value, headers in items:
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


@pytest.fixture
def helicone() -> Iterator[FakeHelicone]:
    fake = FakeHelicone(KEY)
    yield fake
    fake.close()


def start_forwarder(
    tmp_path: Path, brokers: str, topic: str, url: str, *extra: str, metrics_port: int = 0
) -> subprocess.Popen[bytes]:
    config = tmp_path / "forwarder.yaml"
    metrics = f", metrics_address: '127.0.0.1:{metrics_port}'" if metrics_port else ""
    config.write_text(
        f"forwarder: {{brokers: ['{brokers}'], topic: {topic}, group_id: g-{topic}, helicone_url: '{url}', "
        f"max_attempts: 3, request_timeout: 2s{metrics}}}\n"
    )
    log = open(tmp_path / "forwarder.log", "ab")  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen(
        [sys.executable, "-m", "helicone_otel.cli", "forward", "--config", str(config), *extra],
        stdout=subprocess.PIPE if extra else log, stderr=log, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    log.close()
    return proc


def wait_for(predicate: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_every_record_delivered_exactly_once_and_sigterm_leaves_cleanly(
    kafka: LocalKafka, topic: str, helicone: FakeHelicone, tmp_path: Path
) -> None:
    items = records(50)
    asyncio.run(produce(kafka.bootstrap_servers, topic, items))
    proc = start_forwarder(tmp_path, kafka.bootstrap_servers, topic, helicone.url)
    try:
        wait_for(lambda: len(helicone.accepted) >= 50)
        time.sleep(1.0)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    ids = [body["id"] for _, body in helicone.accepted]
    assert sorted(ids) == sorted(json.loads(v)["id"] for _, v, _ in items)
    assert len(ids) == len(set(ids)) == 50
    assert {route for route, _ in helicone.accepted} == {"/oai/v1/log"}


def test_sigkill_and_restart_lose_nothing_and_poison_goes_to_the_dead_letter_topic(
    kafka: LocalKafka, topic: str, helicone: FakeHelicone, tmp_path: Path
) -> None:
    asyncio.run(create_topic(kafka.bootstrap_servers, f"{topic}-dlq"))
    items = records(40)
    poison = [(b"p1", b"{not json", [("helicone-auth", KEY.encode())])]
    asyncio.run(produce(kafka.bootstrap_servers, topic, items[:20] + poison + items[20:]))
    helicone.script = ["500", "429"] + ["ok"] * 10 + ["400"]  # transient errors, then one refusal
    proc = start_forwarder(tmp_path, kafka.bootstrap_servers, topic, helicone.url)
    wait_for(lambda: len(helicone.accepted) >= 10)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    more = records(10, start=1000)
    asyncio.run(produce(kafka.bootstrap_servers, topic, more))
    proc = start_forwarder(tmp_path, kafka.bootstrap_servers, topic, helicone.url)
    try:
        expected = {json.loads(v)["id"] for _, v, _ in items + more}
        # all but the one record Helicone refuses with 400 (that one goes to the dead-letter topic)
        wait_for(lambda: len({b["id"] for _, b in helicone.accepted}) >= len(expected) - 1)
        time.sleep(1.0)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    delivered = {body["id"] for _, body in helicone.accepted}
    dead = asyncio.run(read_topic(kafka.bootstrap_servers, f"{topic}-dlq", 2))
    dead_ids = {json.loads(v)["id"] for _, v, _ in dead if v.startswith(b'{"')}
    assert delivered | dead_ids == expected  # nothing lost: delivered, or dead-lettered for a reason
    assert len(dead_ids) == 1  # exactly the one Helicone refused with 400
    errors = sorted(h["error"].decode() for _, _, h in dead)
    assert errors[0].startswith("HTTP 400") and errors[1].startswith("not JSON")


def test_dry_run_validates_and_posts_nothing(
    kafka: LocalKafka, topic: str, helicone: FakeHelicone, tmp_path: Path
) -> None:
    asyncio.run(produce(kafka.bootstrap_servers, topic, [*records(3), (b"x", b"[]", [])]))
    proc = start_forwarder(tmp_path, kafka.bootstrap_servers, topic, helicone.url, "--dry-run")
    assert proc.stdout is not None
    lines = [json.loads(proc.stdout.readline()) for _ in range(4)]
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    assert [line.get("route") for line in lines[:3]] == ["/oai/v1/log"] * 3
    assert lines[3]["invalid"] == "not a JSON object"
    assert helicone.accepted == [] and helicone.attempts == 0


def test_an_outage_waits_instead_of_dead_lettering_and_the_lag_drains(
    kafka: LocalKafka, topic: str, helicone: FakeHelicone, tmp_path: Path
) -> None:
    from localkafka import free_port

    port = free_port()

    def metric(name: str) -> float:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + " "))

    helicone.script = ["500"] * 60  # Helicone down for 60 attempts, far beyond max_attempts (3) per record
    asyncio.run(produce(kafka.bootstrap_servers, topic, records(20)))
    proc = start_forwarder(tmp_path, kafka.bootstrap_servers, topic, helicone.url, metrics_port=port)
    try:
        wait_for(lambda: helicone.attempts >= 20)
        wait_for(lambda: metric("helicone_otel_forwarder_lag") > 0, timeout=30)  # the lag shows the outage
        wait_for(lambda: len(helicone.accepted) >= 20, timeout=120)
        wait_for(lambda: metric("helicone_otel_forwarder_lag") == 0, timeout=30)
        assert metric("helicone_otel_forwarder_dead_lettered") == 0
        assert metric("helicone_otel_forwarder_retried") >= 40
        assert metric("helicone_otel_forwarder_delivered") == 20
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
