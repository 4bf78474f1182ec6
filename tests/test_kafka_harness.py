"""The test harness's Kafka is a real 4.x broker that aiokafka can use with the settings we ship."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from localkafka import LocalKafka, broker_count, free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))  # devrun


def test_broker_answers_metadata(kafka: LocalKafka) -> None:
    assert kafka.version.split(".")[0] in {"3", "4"}
    assert broker_count(kafka.host, kafka.port) == 1


async def _roundtrip(bootstrap: str, topic: str, compression: str | None, values: list[bytes]) -> list[tuple]:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=True,
        acks="all",
        compression_type=compression,
        linger_ms=5,
    )
    await producer.start()
    try:
        futures = [
            await producer.send(topic, v, key=str(i).encode(), headers=[("n", str(i).encode())])
            for i, v in enumerate(values)
        ]
        metas = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    assert [m.offset for m in metas] == list(range(len(values)))

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    got: list[tuple] = []
    try:
        async with asyncio.timeout(30):
            while len(got) < len(values):
                batch = await consumer.getmany(timeout_ms=1000)
                for records in batch.values():
                    got.extend((r.key, r.value, r.headers) for r in records)
    finally:
        await consumer.stop()
    return got


@pytest.mark.parametrize("compression", [None, "gzip", "lz4", "zstd", "snappy"])
def test_idempotent_compressed_roundtrip(kafka: LocalKafka, topic: str, compression: str | None) -> None:
    values = [f"record {i} ".encode() * (1 + i * 50) for i in range(200)]
    got = asyncio.run(_roundtrip(kafka.bootstrap_servers, topic, compression, values))
    assert [g[1] for g in got] == values
    assert [g[0] for g in got] == [str(i).encode() for i in range(200)]
    assert got[7][2] == (("n", b"7"),)


def test_make_runs_broker_keeps_its_records_across_a_restart(tmp_path: Path) -> None:
    """`make run` (tools/devrun.py) stops its broker at Ctrl-C; records not yet forwarded are there at the next
    start, on the same ports, because the data folder is kept."""
    from devrun import local_kafka

    env = {"KAFKA_PORT": str(free_port()), "KAFKA_CONTROLLER_PORT": str(free_port()), "KAFKA_DATA": str(tmp_path)}
    with local_kafka(env) as first:
        asyncio.run(_roundtrip(first.bootstrap_servers, "kept", None, [b"not yet forwarded"]))
    assert (tmp_path / "data" / "meta.properties").exists()  # a __exit__ that kept the data
    with local_kafka(env) as again:
        got = asyncio.run(_read(again.bootstrap_servers, "kept", 1))
    assert got == [b"not yet forwarded"]


async def _read(bootstrap: str, topic: str, count: int) -> list[bytes]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    got: list[bytes] = []
    try:
        async with asyncio.timeout(30):
            while len(got) < count:
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    got.extend(r.value for r in records if r.value is not None)
    finally:
        await consumer.stop()
    return got
