"""The parking topic: where a record waits that Helicone keeps refusing while it takes others' records
(a revoked tenant key, a record that keeps failing), so that it does not hold its partition.

A parked copy is the record as it was (key, value, headers) plus where it came from (`original-topic`,
`-partition`, `-offset`, `-timestamp`, set once) and its retry state: `parked-first-attempt` and
`parked-retry-at` (epoch milliseconds), `parked-attempts` (posts), `parked-times` and `parked-reason`.
The forwarder consumes the parking topic too (same group): it posts a parked record when it comes due
and, refused again, parks it anew after the next wait of the `HELICONE_PARKED` policy, or
dead-letters it once it has been refused for `dead_letter_after`. A record's offset is committed only
once Kafka has taken its parked copy, and the copy's only once it is delivered, parked anew or
dead-lettered: nothing is lost between them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer

from helicone_otel.contract import ORIGINAL

from .produce import PARKED, Headers, Origin, Record, own_headers, send_within

log = logging.getLogger(__name__)
FIRST_ATTEMPT, RETRY_AT = f"{PARKED}first-attempt", f"{PARKED}retry-at"
ATTEMPTS, TIMES, REASON = f"{PARKED}attempts", f"{PARKED}times", f"{PARKED}reason"


@dataclass(frozen=True)
class Parked:
    """A parked record's retry state."""

    first_attempt: float  # epoch seconds of its first post
    retry_at: float  # epoch seconds from which it is posted again
    attempts: int  # posts so far
    times: int  # how often it was parked (the policy's wait grows with it)

    @classmethod
    def of(cls, record: Record) -> Parked | None:
        """The state a parked copy carries (None: not a parked copy)."""
        h = {k: v.decode(errors="replace") for k, v in record.headers if k.startswith(PARKED)}
        try:
            return cls(int(h[FIRST_ATTEMPT]) / 1000, int(h[RETRY_AT]) / 1000, int(h[ATTEMPTS]), int(h[TIMES]))
        except (KeyError, ValueError):
            return None

    async def due(self, interrupt: asyncio.Event) -> None:
        """Return when the record may be posted again, or as soon as `interrupt` is set."""
        wait = self.retry_at - time.time()
        if wait > 0:
            try:
                await asyncio.wait_for(interrupt.wait(), wait)
            except TimeoutError:
                return

    def headers(self, record: Record, reason: str) -> Headers:
        """The headers of `record`'s parked copy in this state: its own, where it came from, the state."""
        original = [(ORIGINAL + k, v.encode()) for k, v in Origin.of(record).headers().items()]
        return [
            *own_headers(record.headers),
            *original,
            (FIRST_ATTEMPT, str(round(self.first_attempt * 1000)).encode()),
            (RETRY_AT, str(round(self.retry_at * 1000)).encode()),
            (ATTEMPTS, str(self.attempts).encode()),
            (TIMES, str(self.times).encode()),
            (REASON, reason[:1000].encode()),
        ]


async def park(producer: AIOKafkaProducer, topic: str, record: Record, reason: str, state: Parked,
               interrupt: asyncio.Event) -> None:  # fmt: skip
    """Produce `record`'s parked copy to `topic`; raises as `produce.send_within` does."""
    where = str(Origin.of(record))
    await send_within(producer, topic, record.value or b"", record.key, state.headers(record, reason), interrupt,
                      where)  # fmt: skip
    log.info("record at %s parked for %.0fs (%d attempts so far): %s", where, state.retry_at - time.time(),
             state.attempts, reason)  # fmt: skip
