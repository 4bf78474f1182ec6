"""The forwarder's dead-letter topic: where a record goes that can never be delivered as it is, with
headers that say why and where it came from (`error`, `attempts`, `original-topic`, `-partition`,
`-offset`, `-timestamp`, `-id`), so that it can be traced and replayed (`helicone-otel replay`); its own
headers stay, `helicone-auth` included, since a replay needs the tenant's key.

Whatever its size a record is dead-lettered: one too large for the dead-letter topic (`limit`, its
`max.message.bytes`) is cut to fit, the cut named in `original-size` and `value-cut`: an async-log
body has its largest strings cut, each with a marker (`value-cut: strings`, `helicone-truncated:
true`: still a body, replayable), anything else keeps its first bytes (`prefix`); if Kafka still
refuses it, the value is dropped (`dropped`) and the headers keep its identity.

If the topic does not take a record within `produce.SEND_TIMEOUT` (missing, Kafka down), the record
stays uncommitted (`SendFailed`) and is tried again, and `/ready` names it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordTooLargeError

from helicone_otel.contract import ORIGINAL_SIZE, TRUNCATED, VALUE_CUT, dead_letter_headers
from helicone_otel.kafka.truncation import fit_record

from .config import ForwarderConfig
from .metrics import Metrics
from .produce import Headers, Origin, Record, SendFailed, own_headers, send_within, size_on_kafka

log = logging.getLogger(__name__)
BROKER_DEFAULT_LIMIT = 1048588  # Kafka's default message.max.bytes: assumed when a topic's cannot be read


def cut_to_fit(value: bytes, room: int) -> tuple[bytes, Headers]:
    """`value` within `room` bytes, and the headers that name the cut (none when it fits)."""
    if len(value) <= room:
        return value, []
    named: Headers = [(ORIGINAL_SIZE, str(len(value)).encode())]
    try:
        body: Any = json.loads(value)
        _, data = fit_record(body, room)
    except (ValueError, TypeError, KeyError, AttributeError):  # not an async-log body: keep its start
        return value[: max(room, 0)], [*named, (VALUE_CUT, b"prefix")]
    return data, [*named, (VALUE_CUT, b"strings"), (TRUNCATED, b"true")]


class DeadLetters:
    def __init__(self, config: ForwarderConfig, metrics: Metrics, interrupt: asyncio.Event) -> None:
        self.config = config
        self.metrics = metrics
        self.interrupt = interrupt
        self.limit = BROKER_DEFAULT_LIMIT  # the dead-letter topic's max.message.bytes, read at start

    async def send(self, record: Record, error: str, attempts: int, record_id: str,
                   producer: AIOKafkaProducer | None) -> None:  # fmt: skip
        """Produce the record to the dead-letter topic (cut to fit it), or raise: SendFailed when Kafka
        does not take it within SEND_TIMEOUT (topic missing, Kafka down), Interrupted on rebalance or
        shutdown. `attempts`: posts Helicone refused (0: never posted, it failed validation)."""
        origin = Origin.of(record)
        where = str(origin)
        if producer is None:  # dry run
            print(json.dumps({"invalid": error, "offset": record.offset}), flush=True)
            return
        original = origin.headers() | ({"id": record_id} if record_id else {})
        headers = list(dead_letter_headers(own_headers(record.headers), error, attempts, **original))
        dlq, key = self.config.dead_letter_topic, record.key
        room = self.limit - size_on_kafka(key, b"", headers) - 256  # (the cut's own headers)
        value, cut = cut_to_fit(record.value or b"", room)
        what = f"{where} ({error})"
        try:
            await send_within(producer, dlq, value, key, headers + cut, self.interrupt, what)
        except (MessageSizeTooLargeError, RecordTooLargeError) as exc:  # the limit was not what it said
            log.warning("%s refused the dead letter of %s (%r): sending it without its value", dlq, where, exc)
            dropped: Headers = [(ORIGINAL_SIZE, str(len(record.value or b"")).encode()), (VALUE_CUT, b"dropped")]
            await self._send(producer, dlq, b"", key, headers + dropped, what)
        except KafkaError as exc:
            raise SendFailed(f"{what}: {dlq} refused it: {exc!r}") from exc
        if cut:
            log.warning("the dead letter of %s was cut from %d to %d bytes to fit %s", where, len(record.value or b""),
                        len(value), dlq)  # fmt: skip
        log.warning("record at %s dead-lettered: %s", where, error)
        self.metrics.add("helicone_otel_forwarder_dead_lettered")

    async def _send(self, producer: AIOKafkaProducer, topic: str, value: bytes, key: bytes | None, headers: Headers,
                    what: str) -> None:  # fmt: skip
        try:
            await send_within(producer, topic, value, key, headers, self.interrupt, what)
        except KafkaError as exc:
            raise SendFailed(f"{what}: {topic} refused it: {exc!r}") from exc
