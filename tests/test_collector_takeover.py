"""A new collector started beside a running one, on the same configuration: it shares the ports
(SO_REUSEPORT), owns a spool of its own (the old one's is locked), and once the old collector has
stopped (SIGTERM) it adopts what the old one could not deliver. Tested while Kafka is down, so that the
old collector exits with records in its spool, and under a steady stream of requests."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from conftest import create_topic
from helpers import Collector, collector_yaml, read_topic, run_collector, start_collector, stop_collector
from localkafka import LocalKafka, free_port
from test_collector_durability import Sender, ids_in


def start(config: Path, ports: tuple[int, int, int, int], log: Path) -> Collector:
    """Start a collector and wait for its own log line: the ports may already answer (the other one)."""
    out = open(log, "ab")  # noqa: SIM115 - the child process owns it
    command = [sys.executable, "-m", "helicone_otel.cli", "collector", "--config", str(config)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    out.close()
    deadline = time.monotonic() + 30
    while "OTLP/HTTP listening" not in log.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.05)
    return Collector(*ports, proc=proc, log_path=log)


def test_a_new_collector_takes_over_ports_and_spool(own_kafka: LocalKafka, tmp_path: Path) -> None:
    topic = "takeover"
    asyncio.run(create_topic(own_kafka.bootstrap_servers, topic))
    own_kafka.stop(keep_data=True)
    ports = (free_port(), free_port(), free_port(), free_port())
    config = tmp_path / "otel-config.yaml"
    config.write_text(collector_yaml(own_kafka.bootstrap_servers, topic, ports, tmp_path / "spool", ""))
    old = start(config, ports, tmp_path / "old.log")
    url = f"http://127.0.0.1:{ports[1]}/v1/traces"
    sender = Sender()
    stop = threading.Event()

    def load() -> None:  # a steady stream of requests across the switch
        while not stop.is_set():
            sender.post(url)
            time.sleep(0.02)

    thread = threading.Thread(target=load)
    thread.start()
    try:
        time.sleep(1.0)
        new = start(config, ports, tmp_path / "new.log")
        time.sleep(1.0)
        old.proc.send_signal(signal.SIGTERM)
        assert old.proc.wait(40) == 0
        time.sleep(1.0)
    finally:
        stop.set()
        thread.join()
    try:
        assert sorted(p.name for p in (tmp_path / "spool").iterdir()) == ["worker-0", "worker-1"]
        assert "adopted" not in (tmp_path / "old.log").read_text()
        own_kafka.start()
        delivered = ids_in(own_kafka, topic, len(sender.acked), timeout=90)
        assert sender.acked <= delivered  # nothing the old or the new one acknowledged is lost
        assert "adopted" in (tmp_path / "new.log").read_text()
        print(f"takeover: {len(sender.acked)} spans acknowledged, {sender.refused} refused during the switch")
        assert sender.refused == 0
        with pytest.raises(TimeoutError):  # and nothing twice: no record beyond the acknowledged ones
            asyncio.run(read_topic(own_kafka.bootstrap_servers, topic, len(sender.acked) + 1, timeout=5))
    finally:
        assert stop_collector(new) == 0


def test_a_second_collector_never_shares_the_health_and_metrics_ports(kafka: LocalKafka, tmp_path: Path) -> None:
    """The OTLP ports are shared (an upgrade overlaps two versions); the admin ports are not: a second collector
    on the same configuration says so and takes them once the first has gone, so /ready never answers for
    either process at random."""
    with run_collector(tmp_path, kafka.bootstrap_servers, "shared-ports") as first:
        ports = (first.grpc_port, first.http_port, first.health_port, first.metrics_port)
        second = start_collector(tmp_path / "otel-config.yaml", ports, tmp_path / "second.log")
        try:
            deadline = time.monotonic() + 30  # its OTLP ports answered from the first: wait for its own word
            while "the metrics endpoint" not in (log := (tmp_path / "second.log").read_text()):
                assert time.monotonic() < deadline, log
                time.sleep(0.2)
            assert "the health endpoint" in log and "in use by another process" in log, log
            assert "the metrics endpoint" in log
            stop_collector(first)
            deadline = time.monotonic() + 10
            while "serving the metrics endpoint" not in (tmp_path / "second.log").read_text():
                assert time.monotonic() < deadline, (tmp_path / "second.log").read_text()
                time.sleep(0.2)
            assert httpx.get(f"http://127.0.0.1:{first.health_port}/ready", timeout=5).status_code in (200, 503)
            assert second.metric("otelcol_receiver_accepted_spans") == 0  # the second's own counters now
        finally:
            assert stop_collector(second) == 0
