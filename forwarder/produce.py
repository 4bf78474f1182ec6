"""Producing the forwarder's own records, dead letters and parked copies: within SEND_TIMEOUT, cut short
by a rebalance or shutdown; and what they carry of the record they stand for (`Origin`, `own_headers`)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeAlias

from aiokafka import AIOKafkaProducer
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.structs import ConsumerRecord

from helicone_otel.contract import ORIGINAL, without_dead_letter_headers
from helicone_otel.retry import Interrupted

SEND_TIMEOUT = 10.0  # seconds for Kafka to take a dead letter or a parked record
PARKED = "parked-"  # the parking headers' prefix (parking.py)
Record: TypeAlias = ConsumerRecord[bytes, bytes]
Headers: TypeAlias = list[tuple[str, bytes]]


class SendFailed(Exception):
    """Kafka did not take a dead letter or a parked record: the record stays uncommitted and is tried again."""


async def send_within(producer: AIOKafkaProducer, topic: str, value: bytes, key: bytes | None, headers: Headers,
                      interrupt: asyncio.Event, what: str) -> None:  # fmt: skip
    """Produce one record and wait for Kafka's acknowledgement, or raise: SendFailed when it does not
    come within SEND_TIMEOUT (`what` names the record), Interrupted on rebalance or shutdown, and
    Kafka's own error when it refuses the record."""
    send = asyncio.ensure_future(producer.send_and_wait(topic, value, key=key, headers=headers))
    stop = asyncio.ensure_future(interrupt.wait())
    try:
        await asyncio.wait({send, stop}, timeout=SEND_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
    if not send.done():
        send.cancel()
        if interrupt.is_set():
            raise Interrupted("rebalance or shutdown while producing")
        raise SendFailed(f"{what}: {topic} took nothing within {SEND_TIMEOUT:.0f}s")
    send.result()


def size_on_kafka(key: bytes | None, value: bytes, headers: Headers) -> int:
    """The bytes a record takes in a produce request (what max.message.bytes and max_request_size bound)."""
    size: int = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, headers)
    return size


def own_headers(headers: Iterable[tuple[str, bytes]]) -> Headers:
    """A record's headers without the forwarder's own (parking and dead-letter ones)."""
    return [(k, v) for k, v in without_dead_letter_headers(headers) if not k.startswith(PARKED)]


@dataclass(frozen=True)
class Origin:
    """Where a record was first consumed: its own place, or for a parked copy the place it was parked from."""

    topic: str
    partition: int
    offset: int
    timestamp: int  # epoch milliseconds

    @classmethod
    def of(cls, record: Record) -> Origin:
        h = {k: v.decode(errors="replace") for k, v in record.headers if k.startswith(ORIGINAL)}
        try:
            return cls(h[ORIGINAL + "topic"], int(h[ORIGINAL + "partition"]), int(h[ORIGINAL + "offset"]),
                       int(h[ORIGINAL + "timestamp"]))  # fmt: skip
        except (KeyError, ValueError):
            return cls(record.topic, record.partition, record.offset, record.timestamp)

    def headers(self) -> dict[str, str]:
        """As keyword arguments of `contract.dead_letter_headers`: `original-topic`, `-partition`, ..."""
        return {"topic": self.topic, "partition": str(self.partition), "offset": str(self.offset),
                "timestamp": str(self.timestamp)}  # fmt: skip

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"
