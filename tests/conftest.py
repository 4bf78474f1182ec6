"""Shared fixtures: one real Kafka broker per test run, and a fresh topic per test that wants one."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helicone_otel.semconv import MapResult
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools" / "kafka"))
sys.path.insert(0, str(Path(__file__).resolve().parent / "support"))  # fakes, builders, capture drivers

from capture_envs import LEGACY_PYTHON, capture_library_versions
from helicone_rules import response_of
from localkafka import LocalKafka

KAFKA_FIXTURES = {"kafka", "own_kafka", "topic"}
CAPTURE_FIXTURES = {"capture", "vercel", "providers", "emitter"}


def pytest_report_header() -> list[str]:
    """The capture libraries' versions, first thing in the run: a capture that breaks says what it ran."""
    return [
        "capture environments (direct dependencies, as installed):",
        *(f"  {line}" for line in capture_library_versions(Path(sys.prefix))),
    ]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks by what a test needs: `kafka` (a real broker), `capture` (real instrumentation run in a
    subprocess), so that `pytest -m "not kafka and not capture"` runs the rest in seconds."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & KAFKA_FIXTURES:
            item.add_marker(pytest.mark.kafka)
        if names & CAPTURE_FIXTURES:
            item.add_marker(pytest.mark.capture)


@pytest.fixture(scope="session")
def kafka() -> Iterator[LocalKafka]:
    """A real single-node KRaft broker on loopback, started once for the whole run."""
    broker = LocalKafka()
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


async def create_topic(bootstrap: str, name: str, partitions: int = 1) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    finally:
        await admin.close()


@pytest.fixture
def own_kafka(tmp_path: Path) -> Iterator[LocalKafka]:
    """A broker this test may stop and restart (with its data) without disturbing the others."""
    broker = LocalKafka(workdir=tmp_path / "kafka")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def topic(kafka: LocalKafka) -> str:
    """A new, empty topic with one partition, named after nothing but a uuid."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    asyncio.run(create_topic(kafka.bootstrap_servers, name))
    return name


# --- real instrumentation captures ---------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Capture:
    """Spans that real instrumentation emitted against the fake provider, and what the provider served."""

    kind: str
    request: ExportTraceServiceRequest
    served: list[dict[str, Any]]

    def scenario(self, name: str) -> dict[str, Any]:
        entries = [s for s in self.served if s["scenario"] == name]
        assert len(entries) == 1, f"{name}: served {len(entries)} times"
        return entries[0]

    def record(self, mapped: MapResult, scenario: str) -> dict[str, Any]:
        """The one record of a scenario: matched by the provider's response id, else by the request model."""
        served = self.scenario(scenario)
        response_id = served["response"].get("id") if isinstance(served["response"], dict) else None
        if response_id:
            found = [r.value for r in mapped.records if response_of(r.value).get("id") == response_id]
        else:
            model = served["request"]["model"]
            found = [r.value for r in mapped.records if r.value["providerRequest"]["json"].get("model") == model]
        assert len(found) == 1, f"{scenario}: {len(found)} records for one call"
        return found[0]


def run_capture(kind: str, out: Path, python: Path | str = sys.executable, scenarios: tuple[str, ...] = ()) -> Capture:
    instrumentation = "traceloop" if kind == "traceloop-legacy" else kind
    proc = subprocess.run(
        [str(python), str(ROOT / "tests" / "support" / "capture.py"), instrumentation, str(out), *scenarios],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TRACELOOP_TELEMETRY": "false"},
    )
    assert proc.returncode == 0, f"capture {kind} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    assert "offline: refused" not in proc.stderr, proc.stderr  # no capture may depend on the network
    return load_capture(kind, out)


def load_capture(kind: str, out: Path) -> Capture:
    """The spans.pb and served.json a capture script wrote to `out`."""
    request = ExportTraceServiceRequest()
    request.ParseFromString((out / "spans.pb").read_bytes())
    return Capture(kind, request, json.loads((out / "served.json").read_text()))


# traceloop-sdk 0.40 predates the Responses API instrumentation and uses the indexed attributes.
LEGACY_SCENARIOS = (
    "openai.chat",
    "openai.stream_usage",
    "openai.stream_no_usage",
    "openai.tool_call",
    "openai.error",
    "openai.embeddings",
    "anthropic.chat",
    "anthropic.stream",
    "anthropic.tool_call",
    "anthropic.error",
)


@pytest.fixture(scope="session", params=["traceloop", "openinference", "traceloop-legacy"])
def capture(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Capture:
    kind = request.param
    out = tmp_path_factory.mktemp(kind)
    if kind == "traceloop-legacy":
        assert LEGACY_PYTHON.exists(), "the legacy instrumentation venv is missing: run `make test`"
        return run_capture(kind, out, LEGACY_PYTHON, LEGACY_SCENARIOS)
    return run_capture(kind, out)
