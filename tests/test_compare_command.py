"""`helicone-otel compare`: a shadow mapping's records against the current ones, on a real Kafka."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from typing import Any

from aiokafka import AIOKafkaProducer
from conftest import create_topic
from localkafka import LocalKafka

from helicone_otel.compare_command import compare, differences


def test_differences_name_the_json_paths() -> None:
    a = {"id": "r1", "providerResponse": {"json": {"usage": {"prompt_tokens": 3}}, "status": 200}, "x": [1, 2]}
    b = {"id": "r1", "providerResponse": {"json": {"usage": {"prompt_tokens": 4}}, "status": 200}, "x": [1, 2.0]}
    assert differences(a, b) == ["$.providerResponse.json.usage.prompt_tokens", "$.x[1]"]
    assert differences(a, {**a, "new": 1}) == ["$.new"] and differences(a, a) == []
    report = compare({"r1": a, "r2": {}}, {"r1": b, "r3": {}})
    assert (report.only_current, report.only_shadow, list(report.differing)) == (["r2"], ["r3"], ["r1"])
    assert not report.same and compare({"r1": a}, {"r1": a}).same


def test_the_command_reads_both_topics_to_their_ends(kafka: LocalKafka) -> None:
    current, shadow = f"cur-{uuid.uuid4().hex[:8]}", f"shadow-{uuid.uuid4().hex[:8]}"
    asyncio.run(create_topic(kafka.bootstrap_servers, current, partitions=2))
    asyncio.run(create_topic(kafka.bootstrap_servers, shadow, partitions=3))

    async def fill() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
        await producer.start()
        for i in range(20):
            value: dict[str, Any] = {"id": f"r{i}", "provider": "OPENAI", "providerResponse": {"status": 200}}
            await producer.send_and_wait(current, json.dumps(value).encode(), key=f"r{i}".encode())
            if i == 7:
                value["providerResponse"]["status"] = 500
            await producer.send_and_wait(shadow, json.dumps(value).encode(), key=f"r{i}".encode())
        await producer.stop()

    asyncio.run(fill())

    def run(*topics: str) -> subprocess.CompletedProcess[str]:
        args = ["--brokers", kafka.bootstrap_servers, "--topic", topics[0], "--shadow-topic", topics[1]]
        return subprocess.run([sys.executable, "-m", "helicone_otel.cli", "compare", *args],
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    differ = run(current, shadow)
    assert differ.returncode == 1, differ.stderr
    assert "current: 20 records, shadow: 20 records" in differ.stdout
    assert "differs r7: $.providerResponse.status" in differ.stdout and "1 records differ" in differ.stdout
    same = run(current, current)
    assert (same.returncode, same.stdout.splitlines()[-1]) == (0, "same")
    missing = run(current, "no-such-topic")
    assert missing.returncode == 2 and "does not exist" in missing.stderr
