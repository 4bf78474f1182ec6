"""`helicone-otel replay` end to end (real Kafka, the forwarder, the Helicone stand-in): a chosen dead
letter goes back to the records topic and is delivered once; the others stay; and the selection rules."""

from __future__ import annotations

import asyncio
import datetime
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakehelicone import FakeHelicone
from helpers import metric
from localkafka import LocalKafka, free_port
from test_forwarder import KEY, produce, ready, records, start_forwarder, wait_for

from helicone_otel.replay_command import REPLAYED_FROM, Selection, not_replayable, replayed_headers, when

OTHER_KEY = "sk-helicone-globex"


@pytest.fixture
def helicone() -> Iterator[FakeHelicone]:
    fake = FakeHelicone(KEY)
    fake.keys.add(OTHER_KEY)
    yield fake
    fake.close()


def iso(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).isoformat()


def replay(config: Path, *args: str) -> tuple[int, list[dict[str, str]], str]:
    proc = subprocess.run([sys.executable, "-m", "helicone_otel.cli", "replay", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    return proc.returncode, [json.loads(line) for line in proc.stdout.splitlines()], proc.stderr


def test_a_dead_letter_chosen_by_reason_tenant_and_time_is_replayed_and_delivered_once(
    kafka: LocalKafka, topic: str, helicone: FakeHelicone, tmp_path: Path
) -> None:
    port = free_port()
    acme, globex = records(1, 700)[0], records(1, 701)[0]
    globex = (globex[0], globex[1], [(k, OTHER_KEY.encode() if k == "helicone-auth" else v) for k, v in globex[2]])
    acme_id, globex_id = json.loads(acme[1])["id"], json.loads(globex[1])["id"]
    garbage = (b"g1", b"{not json", [("helicone-auth", KEY.encode())])
    good = records(5)
    helicone.refuse_ids = {acme_id: 400, globex_id: 400}  # e.g. a bug on Helicone's side, fixed later
    started = time.time()
    asyncio.run(produce(kafka.bootstrap_servers, topic, [acme, globex, garbage, *good]))
    tenants = f", api_keys: {{property: tenant, keys: {{acme: '{KEY}', globex: '{OTHER_KEY}'}}}}"
    proc = start_forwarder(tmp_path, kafka.bootstrap_servers, topic, helicone.url, metrics_port=port, settings=tenants)
    config = tmp_path / "forwarder.yaml"
    try:
        wait_for(lambda: ready(port)[0] != 0)
        wait_for(lambda: metric(port, "helicone_otel_forwarder_dead_lettered") == 3, timeout=30)
        dead_by = time.time()
        helicone.refuse_ids.clear()  # fixed

        # nothing was dead-lettered before the test began; not-JSON is chosen but cannot go back
        assert replay(config, "--until", iso(started - 60), "--dry-run")[:2] == (0, [])
        code, lines, _ = replay(config, "--reason", "NOT json", "--dry-run")
        assert code == 0 and [line.get("skipped", "")[:20] for line in lines] == ["not an async-log bod"]

        code, lines, summary = replay(config, "--reason", "http 400", "--tenant", "acme", "--since", "10m",
                                      "--until", iso(dead_by + 60))  # fmt: skip
        assert code == 0, summary
        assert [(line["replaying"], line["id"]) for line in lines] == [(topic, acme_id)]
        assert "replayed 1 of 3 dead letters" in summary
        wait_for(lambda: acme_id in {b["id"] for _, b in helicone.accepted}, timeout=30)
        time.sleep(2.0)  # a second delivery would arrive now
        assert metric(port, "helicone_otel_forwarder_dead_lettered") == 3  # nothing dead-lettered again
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    delivered = Counter(b["id"] for _, b in helicone.accepted)
    assert delivered[acme_id] == 1 and globex_id not in delivered
    assert set(delivered) == {acme_id, *(json.loads(v)["id"] for _, v, _ in good)}


def body(**meta: str) -> dict[str, object]:
    return {"providerRequest": {"meta": meta}}


def test_a_selection_needs_every_criterion_it_names() -> None:
    t = 1_750_000_000.0
    headers = {"error": b"HTTP 401: bad key", "helicone-auth": b"sk-acme"}
    acme = body(**{"Helicone-Property-Tenant": "acme", "Helicone-Property-Env": "prod"})
    ms = int(t * 1000)
    assert Selection().matches(headers, None, ms)
    assert Selection(reason="http 401").matches(headers, acme, ms)
    assert not Selection(reason="HTTP 400").matches(headers, acme, ms)
    assert Selection(keys=frozenset({"sk-acme"})).matches(headers, None, ms)  # the key's owner
    by_property = Selection(tenant_property=("tenant", "acme"))
    assert by_property.matches({}, acme, ms) and not by_property.matches({}, body(), ms)
    assert Selection(keys=frozenset({"sk-globex"}), tenant_property=("tenant", "acme")).matches(headers, acme, ms)
    assert not Selection(keys=frozenset({"sk-globex"}), tenant_property=("tenant", "globex")).matches(headers, acme, ms)
    assert Selection(properties={"env": "prod"}).matches(headers, acme, ms)
    assert not Selection(properties={"env": "dev"}).matches(headers, acme, ms)
    assert Selection(since=t, until=t + 1).matches(headers, acme, ms)
    assert not Selection(since=t + 1).matches(headers, acme, ms) and not Selection(until=t).matches(headers, acme, ms)


def test_times_are_iso_8601_or_a_duration_ago_and_a_replay_restores_the_records_own_headers() -> None:
    assert when("2025-06-01T10:00:00Z") == when("2025-06-01T12:00:00+02:00") == when("2025-06-01T10:00:00")
    assert when("90m", now=10_000.0) == 4600.0 and when("2h", now=10_000.0) == 2800.0 and when("1d", 86_400) == 0
    with pytest.raises(ValueError, match="ISO 8601"):
        when("yesterday")
    own = [("helicone-auth", b"k"), ("trace-id", b"t")]
    ours = [("error", b"HTTP 400"), ("original-topic", b"r"), ("original-offset", b"7"), ("attempts", b"1"),
            ("value-cut", b"strings"), (REPLAYED_FROM, b"old")]  # fmt: skip
    dead = own + ours
    assert replayed_headers(dead, "dlq[0]@3") == [*own, (REPLAYED_FROM, b"dlq[0]@3")]
    _, value, _ = records(1)[0]
    assert not_replayable({}, value) is None and not_replayable({"value-cut": b"strings"}, value) is None
    assert "cut (prefix)" in (not_replayable({"value-cut": b"prefix"}, value[:50]) or "")
    assert "not an async-log body" in (not_replayable({}, b"[]") or "")
