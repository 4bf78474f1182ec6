"""The forwarder against a real Kafka and the fake Helicone: exactly once in the happy path and across
a rebalance between two instances, no loss across SIGKILL, the dead-letter topic gets exactly the
permanently rejected records, health that tells an outage; and the small pure parts (key choice,
the committable prefix, configuration errors)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from conftest import create_topic
from fakehelicone import FakeHelicone
from helicone_otel.collector.config import ExporterConfig
from helicone_otel.forwarder.config import ForwarderConfig, parse
from helicone_otel.forwarder.progress import Progress
from helicone_otel.forwarder.routing import destination
from helicone_otel.forwarder.service import Forwarder
from helicone_otel.semconv import MapOptions
from helpers import metric, read_topic
from localkafka import LocalKafka
from otlp_builder import request, span

from helicone_otel.config_reader import ConfigError
from helicone_otel.errors import Permanent
from helicone_otel.kafka.records import encode

KEY = "sk-helicone-test"


def records(n: int, start: int = 0, provider: str = "openai") -> list[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    attrs = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": provider, "gen_ai.request.model": "m-1"}
    spans = [span("chat", attrs, span_id=f"{start + i + 1:016x}") for i in range(n)]
    encoded = encode(request(*spans), ExporterConfig(pass_api_keys=True), MapOptions(), api_key=KEY)
    return [(r.key or b"", r.value, list(r.headers)) for r in encoded.records]


async def produce(bootstrap: str, topic: str, items: list[tuple[bytes, bytes, list[tuple[str, bytes]]]],
                  max_request_size: int = 1024 * 1024) -> None:  # fmt: skip
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, max_request_size=max_request_size)
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
    tmp_path: Path, brokers: str, topic: str, url: str, *extra: str, metrics_port: int = 0, settings: str = ""
) -> subprocess.Popen[bytes]:
    config = tmp_path / "forwarder.yaml"
    admin = f"'127.0.0.1:{metrics_port}'" if metrics_port else "''"
    config.write_text(
        f"forwarder: {{brokers: ['{brokers}'], topic: {topic}, group_id: g-{topic}, helicone_url: '{url}', "
        f"helicone_api_url: '{url}', "
        f"max_attempts: 3, request_timeout: 2s, admin_address: {admin}{settings}}}\n"
    )
    log = open(tmp_path / "forwarder.log", "ab")  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen(
        [sys.executable, "-m", "helicone_otel.cli", "forward", "--config", str(config), *extra],
        stdout=subprocess.PIPE if extra else log, stderr=log, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    log.close()
    return proc


def ready(port: int) -> tuple[int, str]:
    """The forwarder's /ready answer: status and reason (0 while the admin server is not up yet)."""
    try:
        reply = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=5)
    except httpx.ConnectError:
        return 0, "not serving yet"
    return reply.status_code, reply.json()["reason"]


def wait_for(predicate: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_every_record_delivered_exactly_once_and_sigterm_leaves_cleanly(
    kafka: LocalKafka, topic: str, helicone: FakeHelicone, tmp_path: Path
) -> None:
    items = records(40) + records(5, 100, "anthropic") + records(5, 200, "ollama")
    redelivered = items[:10]  # what an upstream at-least-once hop produced twice: same ids
    asyncio.run(produce(kafka.bootstrap_servers, topic, items + redelivered))
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
    routes = Counter(route for route, _ in helicone.accepted)
    assert routes == {"/oai/v1/log": 40, "/anthropic/v1/log": 5, "/custom/v1/log": 5}


def test_each_provider_goes_to_the_route_that_prices_it_and_scores_follow_their_record(
    kafka: LocalKafka, topic: str, helicone: FakeHelicone, tmp_path: Path
) -> None:
    evaluation = [("gen_ai.evaluation.result", 400, {"gen_ai.evaluation.name": "relevance",
                                                     "gen_ai.evaluation.score.value": 0.87})]  # fmt: skip
    attrs = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o"}
    evaluated = span("chat", attrs, span_id="00000000000000ee", events=evaluation)
    scored = encode(request(evaluated), ExporterConfig(pass_api_keys=True), MapOptions(), api_key=KEY).records
    items = [(r.key or b"", r.value, list(r.headers)) for r in scored]
    for i, provider in enumerate(["azure.ai.openai", "aws.bedrock", "gcp.gemini", "cohere", "groq"]):
        items += records(1, 300 + i, provider)
    asyncio.run(produce(kafka.bootstrap_servers, topic, items))
    proc = start_forwarder(tmp_path, kafka.bootstrap_servers, topic, helicone.url)
    try:
        wait_for(lambda: len(helicone.accepted) >= 6 and len(helicone.scores) >= 1)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    routes = Counter(route for route, _ in helicone.accepted)
    assert routes == {"/oai/v1/log": 1, "/googleapis/v1/log": 1, "/v1/trace/custom/log": 4}
    priced = {body["provider"] for route, body in helicone.accepted if route == "/v1/trace/custom/log"}
    assert priced == {"AZURE", "AWS", "COHERE", "GROQ"}
    [(request_id, scores)] = helicone.scores
    assert request_id == json.loads(scored[0].value)["id"]
    assert scores == {"relevance_x100": 87}  # Helicone refuses floats: hundredths under an explicit name


def test_sigkill_and_restart_lose_nothing_and_poison_goes_to_the_dead_letter_topic(
    kafka: LocalKafka, topic: str, helicone: FakeHelicone, tmp_path: Path
) -> None:
    items = records(40)  # (the broker does not auto-create topics: the forwarder creates <topic>-dlq)
    poison = [(b"p1", b"{not json", [("helicone-auth", KEY.encode())])]
    asyncio.run(produce(kafka.bootstrap_servers, topic, items[:20] + poison + items[20:]))
    helicone.script = ["500", "429"]  # transient errors first
    proc = start_forwarder(tmp_path, kafka.bootstrap_servers, topic, helicone.url)
    wait_for(lambda: len(helicone.accepted) >= 10)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    helicone.script = ["400"]  # the restarted forwarder's first post is refused for good
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
    # The SIGKILL may come after a record was dead-lettered and before its offset was committed: the
    # dead-letter topic is at-least-once too, so read until both kinds are there, whatever repeats.
    for count in range(2, 6):
        dead = asyncio.run(read_topic(kafka.bootstrap_servers, f"{topic}-dlq", count))
        if {key for key, _, _ in dead} >= {b"p1"} and any(h["error"].startswith(b"HTTP 400") for _, _, h in dead):
            break
    dead_ids = {json.loads(v)["id"] for _, v, _ in dead if v.startswith(b'{"')}
    assert delivered | dead_ids == expected  # nothing lost: delivered, or dead-lettered for a reason
    assert len(dead_ids) == 1  # exactly the one Helicone refused with 400
    errors = {h["error"].decode().split(":")[0] for _, _, h in dead}
    assert errors == {"HTTP 400", "not JSON"}
    assert all(h["original-offset"].isdigit() and h["helicone-auth"] for _, _, h in dead)  # can be replayed


def test_a_429_waits_its_retry_after_and_a_hung_post_times_out_and_is_retried(
    kafka: LocalKafka, topic: str, helicone: FakeHelicone, tmp_path: Path
) -> None:
    helicone.script = ["429", "hang"]  # Retry-After: 1; the hang outlasts request_timeout (2s)
    asyncio.run(produce(kafka.bootstrap_servers, topic, records(1)))
    proc = start_forwarder(tmp_path, kafka.bootstrap_servers, topic, helicone.url)
    try:
        wait_for(lambda: len(helicone.accepted) == 1)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    first, second, third = helicone.attempt_times
    assert second - first >= 0.95  # the backoff alone would have been 0.1 to 0.3 s
    assert 2.0 <= third - second < 6.0  # request_timeout, then a short backoff


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


@pytest.mark.parametrize("answer", ["500", "401"])  # Helicone down; or the key revoked, then restored
def test_an_outage_waits_instead_of_dead_lettering_and_the_lag_drains(
    kafka: LocalKafka, topic: str, helicone: FakeHelicone, tmp_path: Path, answer: str
) -> None:
    from localkafka import free_port

    port = free_port()

    # Helicone refuses everything for 10 s, far beyond max_attempts (3) per record; while it is down, one
    # record at a time probes it (so a count of refusals would last minutes: the outage is timed)
    helicone.down_until, helicone.down_status = time.monotonic() + 10, int(answer)
    asyncio.run(produce(kafka.bootstrap_servers, topic, records(20)))
    proc = start_forwarder(tmp_path, kafka.bootstrap_servers, topic, helicone.url, metrics_port=port)
    try:
        wait_for(lambda: helicone.attempts >= 20)
        wait_for(lambda: metric(port, "helicone_otel_forwarder_lag") > 0, timeout=30)  # the lag shows the outage
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200  # alive
        status, reason = ready(port)
        assert status == 503 and "Helicone has taken no record" in reason and f"HTTP {answer}" in reason
        wait_for(lambda: len(helicone.accepted) >= 20, timeout=120)
        wait_for(lambda: metric(port, "helicone_otel_forwarder_lag") == 0, timeout=30)
        status, reason = ready(port)
        assert status == 200 and reason.startswith("delivering"), reason  # (no key of its own: it says so)
        assert metric(port, "helicone_otel_forwarder_dead_lettered") == 0
        assert metric(port, "helicone_otel_forwarder_parked") == 0  # an outage parks nothing either
        assert metric(port, "helicone_otel_forwarder_retried") >= 20  # each at least once
        assert metric(port, "helicone_otel_forwarder_delivered") == 20
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0


def test_two_instances_share_the_partitions_and_hand_them_over_without_loss_or_duplicates(
    kafka: LocalKafka, tmp_path: Path
) -> None:
    """Instance B joins while A is mid-batch, then A is stopped mid-stream: each rebalance lets the
    batch in hand finish and commit before the partitions move, so every record is posted exactly once."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    asyncio.run(create_topic(kafka.bootstrap_servers, name, partitions=4))
    items = records(1200)
    asyncio.run(produce(kafka.bootstrap_servers, name, items))
    first, second = FakeHelicone(KEY), FakeHelicone(KEY)  # one per instance: who delivered what
    first.delay = second.delay = 0.15  # ~100 posts/s per instance: every hand-over finds a batch in hand
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = start_forwarder(tmp_path / "a", kafka.bootstrap_servers, name, first.url)
    b = None
    try:
        wait_for(lambda: len(first.accepted) >= 100)
        b = start_forwarder(tmp_path / "b", kafka.bootstrap_servers, name, second.url)
        wait_for(lambda: len(second.accepted) >= 100)  # the group rebalanced: B owns some partitions
        assert len(first.accepted) + len(second.accepted) < len(items)  # ... while records remained
        a.send_signal(signal.SIGTERM)  # A leaves mid-stream: B takes every partition
        assert a.wait(30) == 0
        wait_for(lambda: len({b["id"] for _, b in first.accepted + second.accepted}) >= len(items), timeout=120)
        time.sleep(2.0)  # anything posted twice would arrive now
    finally:
        for proc in (a, b):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
        first.close()
        second.close()
    posted = Counter(body["id"] for _, body in first.accepted + second.accepted)
    assert set(posted) == {json.loads(v)["id"] for _, v, _ in items}
    assert [i for i, n in posted.items() if n > 1] == []


def test_the_key_comes_from_the_record_header_then_its_property_then_the_default() -> None:
    config = parse({"forwarder": {
        "api_key": "sk-default",
        "api_keys": {"property": "Helicone-Property-Tenant", "keys": {"acme": "sk-acme", "globex": "sk-globex"}},
    }})  # fmt: skip

    def body(**meta: str) -> dict[str, object]:
        return {"providerRequest": {"meta": meta}, "provider": "OPENAI"}

    def key(headers: dict[str, str], body: dict[str, object], config: ForwarderConfig = config) -> tuple[str, str]:
        to = destination(config, headers, body)
        return to.key, to.key_from

    assert key({"helicone-auth": "sk-own"}, body(**{"Helicone-Property-Tenant": "acme"})) == (
        "sk-own", "header helicone-auth")  # fmt: skip
    assert key({}, body(**{"helicone-property-tenant": "acme"}))[0] == "sk-acme"
    assert key({}, body(**{"Helicone-Property-Tenant": "globex"}))[0] == "sk-globex"
    assert key({}, body(**{"Helicone-Property-Tenant": "initech"})) == ("sk-default", "api_key")
    assert key({}, body()) == ("sk-default", "api_key")
    without_header = parse({"forwarder": {"api_key_header": ""}})
    with pytest.raises(Permanent, match="no Helicone API key"):
        key({"helicone-auth": "sk-own"}, body(), without_header)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"api_keys": {"keys": {"a": "k"}}}, "forwarder.api_keys.property: required"),
        ({"api_keys": {"property": "tenant", "keys": ["k"]}}, "forwarder.api_keys.keys: expected a mapping"),
        ({"admin_address": "localhost"}, "forwarder.admin_address: expected host:port"),
        ({"sasl": {"mechanism": "PLAIN"}}, "forwarder.sasl.username: required"),
        ({"brokers": []}, "forwarder.brokers: expected a non-empty list"),
        ({"retries": 3}, "forwarder.retries"),
        ({"helicone_url": "api.worker.helicone.ai"}, "forwarder.helicone_url: expected an http(s) URL"),
    ],
)
def test_a_bad_forwarder_section_is_an_error_naming_its_key(section: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse({"forwarder": section})


def test_a_partition_is_committed_only_past_its_unbroken_run_of_done_records() -> None:
    tp = TopicPartition("t", 0)
    progress = Progress()
    for offset in (10, 11, 12, 13):
        progress.fetched(tp, offset)
    progress.done(tp, 12)  # records finish in any order
    assert progress.committable() == {}  # 10 and 11 are not done
    progress.done(tp, 10)
    assert progress.committable() == {tp: 11}  # as soon as the first one is: committed past it, not past 11
    progress.committed({tp: 11})
    assert progress.committable() == {} and progress.held(tp) == 3
    progress.done(tp, 11)
    assert progress.committable() == {tp: 13} and progress.held(tp) == 1  # 13 is posted again by the next owner


def test_kafka_down_shows_in_ready_and_delivery_resumes_when_it_is_back(
    own_kafka: LocalKafka, helicone: FakeHelicone, tmp_path: Path
) -> None:
    from localkafka import free_port

    port = free_port()
    topic = "records"
    asyncio.run(create_topic(own_kafka.bootstrap_servers, topic))
    before, after = records(30), records(30, start=5000)
    asyncio.run(produce(own_kafka.bootstrap_servers, topic, before))
    proc = start_forwarder(tmp_path, own_kafka.bootstrap_servers, topic, helicone.url, metrics_port=port)

    try:
        wait_for(lambda: len(helicone.accepted) >= 30)
        wait_for(lambda: ready(port)[0] == 200, timeout=30)
        own_kafka.stop(keep_data=True)
        wait_for(lambda: ready(port)[0] == 503, timeout=30)
        assert ready(port)[1].startswith("Kafka: ")
        assert proc.poll() is None  # still running, waiting for Kafka
        own_kafka.start()
        asyncio.run(produce(own_kafka.bootstrap_servers, topic, after))
        wait_for(lambda: len(helicone.accepted) >= 60, timeout=120)
        wait_for(lambda: ready(port)[0] == 200, timeout=30)
        time.sleep(1.0)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    posted = Counter(body["id"] for _, body in helicone.accepted)
    assert set(posted) == {json.loads(v)["id"] for _, v, _ in before + after}
    assert max(posted.values()) == 1


def test_a_record_that_cannot_be_dead_lettered_holds_its_partition_and_says_so(
    kafka: LocalKafka, topic: str, helicone: FakeHelicone, tmp_path: Path
) -> None:
    """The dead-letter topic cannot exist (an invalid name): the poison record is neither posted nor
    committed, /ready names it, and the records after it, fetched again each round, are posted once."""
    from localkafka import free_port

    port = free_port()
    good = records(6)
    poison = (b"p1", b"{not json", [("helicone-auth", KEY.encode())])
    asyncio.run(produce(kafka.bootstrap_servers, topic, [*good[:3], poison, *good[3:]]))
    proc = start_forwarder(
        tmp_path, kafka.bootstrap_servers, topic, helicone.url, metrics_port=port,
        settings=", dead_letter_topic: 'no such topic!'",
    )  # fmt: skip

    try:
        wait_for(lambda: ready(port)[0] == 503 and "neither delivered nor dead-lettered" in ready(port)[1], timeout=90)
        time.sleep(3.0)  # a few more rounds
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    posted = Counter(body["id"] for _, body in helicone.accepted)
    assert set(posted) == {json.loads(v)["id"] for _, v, _ in good} and max(posted.values()) == 1


def test_started_before_kafka_it_waits_says_so_and_delivers_once_kafka_is_up(
    own_kafka: LocalKafka, helicone: FakeHelicone, tmp_path: Path
) -> None:
    from localkafka import free_port

    port = free_port()
    topic = "records"
    asyncio.run(create_topic(own_kafka.bootstrap_servers, topic))
    items = records(20)
    asyncio.run(produce(own_kafka.bootstrap_servers, topic, items))
    own_kafka.stop(keep_data=True)
    proc = start_forwarder(tmp_path, own_kafka.bootstrap_servers, topic, helicone.url, metrics_port=port)

    try:
        wait_for(lambda: ready(port)[1].startswith("Kafka: cannot connect to"), timeout=30)
        assert ready(port)[0] == 503 and proc.poll() is None
        own_kafka.start()
        wait_for(lambda: len(helicone.accepted) >= 20, timeout=120)
        wait_for(lambda: ready(port)[0] == 200, timeout=30)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    assert sorted(b["id"] for _, b in helicone.accepted) == sorted(json.loads(v)["id"] for _, v, _ in items)


def test_a_forwarder_without_a_key_of_its_own_says_so_in_ready() -> None:
    """Records that carry their own key (pass_api_keys) still flow; the rest are dead-lettered, and /ready says it."""
    keyless = Forwarder(parse({"forwarder": {}}))
    keyless.joined = True
    ok, reason = keyless.ready()
    assert ok and "no Helicone API key configured" in reason and "dead-lettered" in reason
    keyed = Forwarder(parse({"forwarder": {"api_key": "sk-default"}}))
    keyed.joined = True
    assert keyed.ready() == (True, "delivering")
