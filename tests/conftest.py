"""Shared fixtures: one real Kafka broker per test run, and a fresh topic per test that wants one."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools" / "kafka"))

from localkafka import LocalKafka


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
def topic(kafka: LocalKafka) -> str:
    """A new, empty topic with one partition, named after nothing but a uuid."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    asyncio.run(create_topic(kafka.bootstrap_servers, name))
    return name
