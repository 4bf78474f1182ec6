"""Moves spooled frames to Kafka in order, committing only what the broker acknowledged.

While Kafka is down the batch at the head of the spool is retried with jittered exponential backoff
(0.1 s doubling to 30 s); the receivers keep spooling meanwhile, up to the spool's byte limit.
Shutdown: `drain(deadline)` keeps sending until the spool is empty or the deadline passes; what is
left stays in the spool for the next start. Reading frames and committing (an fsync) run in a
thread, off the event loop that answers clients.
"""

from __future__ import annotations

import asyncio
import functools
import logging

from helicone_otel.errors import Retryable
from helicone_otel.kafka.sender import KafkaSender
from helicone_otel.lifecycle import finish_or_cancel
from helicone_otel.retry import Backoff, Interrupted, retry

from .metrics import Metrics
from .spool import Spool, SpoolCorrupt

log = logging.getLogger(__name__)


class SpoolDrain:
    retry_pause = 5.0  # after an unexpected failure

    def __init__(self, spool: Spool, sender: KafkaSender, metrics: Metrics, batch_bytes: int = 4 * 1024 * 1024):
        self.spool = spool
        self.sender = sender
        self.metrics = metrics
        self.batch_bytes = batch_bytes
        self.position = spool.committed
        self._task: asyncio.Task[None] | None = None
        self._finish = asyncio.Event()  # set: stop once the spool is empty
        self._wake = asyncio.Event()
        self.failing_since: float | None = None
        self.failure: str | None = None  # why the head of the spool is not moving, for /ready

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def _failing(self, reason: str) -> None:
        if self.failing_since is None:
            self.failing_since = asyncio.get_running_loop().time()
        self.failure = reason

    async def _run(self) -> None:
        """The drain never dies: whatever goes wrong keeps the spool, marks the collector unready with
        the reason, and is tried again."""
        while True:
            try:
                await self._drain()
                return
            except Exception as exc:
                self._failing(f"the spool drain failed: {type(exc).__name__}: {exc}")
                log.exception("the spool drain failed; trying again in %.0f s", self.retry_pause)
                await asyncio.sleep(self.retry_pause)

    async def _drain(self) -> None:
        backoff = Backoff(0.1)
        loop = asyncio.get_running_loop()
        while True:
            try:
                frames = await asyncio.to_thread(self.spool.read, self.position, self.batch_bytes)
            except SpoolCorrupt as exc:  # never silently skipped: stay unready and say why
                self._failing(f"cannot read the spool: {exc}")
                log.error("cannot read the spool: %s", exc)
                await asyncio.sleep(30)
                continue
            if not frames:
                if self._finish.is_set():
                    return
                self.spool.appended.clear()
                waiter = loop.create_task(self.spool.appended.wait())
                finisher = loop.create_task(self._finish.wait())
                await asyncio.wait({waiter, finisher}, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                finisher.cancel()
                continue
            records = [r for f in frames for r in f.records]
            spans = sum(f.spans for f in frames)
            try:
                await retry(self.sender.delivery(records), backoff, stop=self._wake,
                            on_retry=functools.partial(self._kafka_failed, spans))  # fmt: skip
            except Interrupted:  # kicked: try again now
                self._wake.clear()
                continue
            if self.failing_since is not None:
                log.info("the spool moves again after %.1fs", loop.time() - self.failing_since)
                self.failing_since = self.failure = None
            backoff.reset()
            self.position = frames[-1].end
            after = await asyncio.to_thread(self.spool.read, self.position, 1)
            await asyncio.to_thread(self.spool.commit, self.position, after[0].appended_at if after else None)
            self.metrics.add("otelcol_exporter_sent_spans", spans)

    def _kafka_failed(self, spans: int, exc: Retryable, _attempts: int) -> None:
        if self.failing_since is None:
            # the sender has already warned when its connections are gone; a broker that is connected but does
            # not acknowledge is said here
            level = logging.INFO if self.sender.unreachable() else logging.WARNING
            log.log(level, "Kafka unavailable, keeping %d bytes in the spool: %s", self.spool.size_bytes, exc)
        self._failing(f"Kafka unreachable: {exc}")
        self.metrics.add("otelcol_exporter_send_failed_spans", spans)

    def kick(self) -> None:
        """Cut a backoff short (for example when the operator knows Kafka is back)."""
        self._wake.set()

    async def drain(self, timeout: float) -> bool:
        """Send until the spool is empty or `timeout` passes; return True if it emptied."""
        self._finish.set()
        self.kick()
        if self._task is None:
            return self.spool.end == self.spool.committed
        if await finish_or_cancel(self._task, timeout):
            return True
        log.warning("shutdown deadline: %d bytes stay in the spool for the next start", self.spool.size_bytes)
        return False
