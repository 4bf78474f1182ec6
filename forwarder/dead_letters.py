"""The forwarder's dead-letter topic: where a record goes that can never be delivered as it is, with
the reason and its original offset in headers (and its `helicone-auth`, so that a replay works).

If the topic does not take a record within DEAD_LETTER_TIMEOUT (missing, Kafka down), the record stays
uncommitted (`DeadLetterFailed`) and is tried again, and `/ready` names it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TypeAlias

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from helicone_otel.contract import dead_letter_headers
from helicone_otel.retry import Interrupted

from .config import ForwarderConfig
from .metrics import Metrics

log = logging.getLogger(__name__)
DEAD_LETTER_TIMEOUT = 10.0  # seconds for the dead-letter topic to take a record
Record: TypeAlias = ConsumerRecord[bytes, bytes]


class DeadLetterFailed(Exception):
    """The dead-letter topic did not take a record: it stays uncommitted and is tried again."""


class DeadLetters:
    def __init__(self, config: ForwarderConfig, metrics: Metrics, interrupt: asyncio.Event) -> None:
        self.config = config
        self.metrics = metrics
        self.interrupt = interrupt

    async def send(self, record: Record, error: str, producer: AIOKafkaProducer | None) -> None:
        """Produce the record to the dead-letter topic, or raise: DeadLetterFailed when Kafka does not take
        it within DEAD_LETTER_TIMEOUT (topic missing, Kafka down), Interrupted on rebalance or shutdown."""
        where = f"{record.topic}[{record.partition}]@{record.offset}"
        if producer is None:  # dry run
            print(json.dumps({"invalid": error, "offset": record.offset}), flush=True)
            return
        # helicone-auth stays: a replay needs the tenant's key
        headers = list(dead_letter_headers(record.headers, error, offset=str(record.offset)))
        send = asyncio.ensure_future(
            producer.send_and_wait(self.config.dead_letter_topic, record.value, key=record.key, headers=headers)
        )
        interrupt = asyncio.ensure_future(self.interrupt.wait())
        try:
            await asyncio.wait({send, interrupt}, timeout=DEAD_LETTER_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
        finally:
            interrupt.cancel()
        dlq = self.config.dead_letter_topic
        if not send.done():
            send.cancel()
            if self.interrupt.is_set():
                raise Interrupted("rebalance or shutdown while dead-lettering")
            raise DeadLetterFailed(f"{where}: {dlq} took nothing within {DEAD_LETTER_TIMEOUT:.0f}s ({error})")
        try:
            send.result()
        except KafkaError as exc:
            raise DeadLetterFailed(f"{where}: {dlq} refused it: {exc!r} ({error})") from exc
        log.warning("record at %s dead-lettered: %s", where, error)
        self.metrics.add("helicone_otel_forwarder_dead_lettered")
