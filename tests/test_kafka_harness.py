"""The test harness's Kafka is a real 4.x broker that aiokafka can use with the settings we ship."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from localkafka import LocalKafka, broker_count


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
