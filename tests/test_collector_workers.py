"""`service.workers`: several processes share the OTLP ports; the supervisor aggregates metrics,
restarts a dead worker, and a change in worker count leaves no spool undrained."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

import httpx
from conftest import create_topic
from helpers import read_topic, run_collector
from localkafka import LocalKafka
from test_collector_durability import Sender


def worker_pids(supervisor_pid: int) -> list[int]:
    children = Path(f"/proc/{supervisor_pid}/task/{supervisor_pid}/children").read_text().split()
    return [int(pid) for pid in children]


def test_two_workers_share_ports_and_lose_nothing(kafka: LocalKafka, topic: str, tmp_path: Path) -> None:
    def two_workers(text: str) -> str:
        return text.replace("service:\n", "service:\n  workers: 2\n", 1)

    sender = Sender()
    with run_collector(tmp_path, kafka.bootstrap_servers, topic, edit=two_workers) as c:
        deadline = time.monotonic() + 30
        while len(worker_pids(c.proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(worker_pids(c.proc.pid)) == 2
        for _ in range(40):  # new connection each time: the kernel spreads them over the workers
            assert sender.post(c.http_url)
        seen = {json.loads(v)["id"] for _, v, _ in asyncio.run(read_topic(kafka.bootstrap_servers, topic, 400))}
        assert sender.acked <= seen
        assert c.metric("otelcol_receiver_accepted_spans") == 400
        # every worker connects its producer and says so (the aggregate is the minimum), and a family counted
        # under labels shows no unlabelled 0 from a worker that has not counted it yet
        deadline = time.monotonic() + 10
        while c.metric("helicone_otel_kafka_up") != 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert c.metric("helicone_otel_kafka_up") == 1
        text = httpx.get(f"http://127.0.0.1:{c.metrics_port}/metrics", timeout=5).text
        assert [line for line in text.splitlines() if line.startswith("otelcol_receiver_accepted_spans ")] == []
        both = {p.name for p in (tmp_path / "spool").iterdir()}
        assert both == {"worker-0", "worker-1"}

        victim = worker_pids(c.proc.pid)[0]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while (victim in worker_pids(c.proc.pid) or len(worker_pids(c.proc.pid)) < 2) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(worker_pids(c.proc.pid)) == 2 and victim not in worker_pids(c.proc.pid)
        time.sleep(1.0)
        for _ in range(10):
            assert sender.post(c.http_url)
        # the restarted worker is "not answering" until it has bound its admin port; then ready again
        deadline = time.monotonic() + 30
        ready = httpx.get(f"http://127.0.0.1:{c.health_port}/ready", timeout=10)
        while ready.status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
            ready = httpx.get(f"http://127.0.0.1:{c.health_port}/ready", timeout=10)
        assert ready.status_code == 200, ready.text


def test_fewer_workers_next_time_still_drain_every_spool(own_kafka: LocalKafka, tmp_path: Path) -> None:
    topic = "shrink"
    asyncio.run(create_topic(own_kafka.bootstrap_servers, topic))
    own_kafka.stop(keep_data=True)  # Kafka down: everything stays in the workers' spools

    def two_workers(text: str) -> str:
        return text.replace("service:\n", "service:\n  workers: 2\n", 1)

    sender = Sender()
    with run_collector(tmp_path, own_kafka.bootstrap_servers, topic, edit=two_workers) as c:
        for _ in range(40):
            assert sender.post(c.http_url)
    sizes = {d.name: sum(f.stat().st_size for f in d.glob("*.seg")) for d in (tmp_path / "spool").iterdir()}
    assert sizes["worker-0"] > 0 and sizes["worker-1"] > 0, sizes
    own_kafka.start()
    with run_collector(tmp_path, own_kafka.bootstrap_servers, topic):  # one worker now
        seen = {json.loads(v)["id"] for _, v, _ in asyncio.run(read_topic(own_kafka.bootstrap_servers, topic, 400))}
    assert sender.acked <= seen
