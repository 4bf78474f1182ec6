"""Consumes Helicone log records from Kafka and delivers each to Helicone's async log API.

At-least-once, record by record: each fetched record is handled on its own (`concurrency` posts in
flight) until it is done: delivered (2xx), parked, dead-lettered, or dropped as a duplicate. Each
partition is committed up to its first record that is not done, as that moves (every COMMIT_EVERY
seconds), so a slow record holds only the records behind it in its own partition, and no more than
`max_uncommitted` of them (the partition is paused meanwhile): the most a crash posts twice.

Retryable answers (429, 5xx, timeouts, connection errors, and 401/403) are retried in place with
jittered exponential backoff, lengthened by Retry-After (`delivery.py`). While Helicone takes nothing
(down, or the only key refused) records wait and the lag grows: an outage parks and dead-letters
nothing, and the first 2xx wakes every waiting record (`health.py`). A record that keeps failing while
others go through, or whose key Helicone refuses (401/403) while it takes others', is parked
(`parking.py`): its offset is committed once the parking topic has it, and the forwarder retries it
from there, and dead-letters it after `dead_letter_after`. Other 4xx and records that fail validation
go to the dead-letter topic with the error in a header (`dead_letters.py`), so a poison record never
blocks its partition. Record ids are deterministic, so a bounded window of recently delivered ids
drops the duplicates that at-least-once hops upstream produce.

Rebalance and SIGTERM take the same path: records still waiting are given up (not committed, so the
partition's next owner delivers them), posts and Kafka sends in flight finish, what was done is
committed, and only then are the partitions released or the group left.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordTooLargeError
from starlette.applications import Starlette

from helicone_otel.admin import AdminServer, health_app, metrics_app
from helicone_otel.contract import SCORES
from helicone_otel.errors import Permanent, Retryable
from helicone_otel.kafka.cluster import connect
from helicone_otel.lifecycle import finish_or_cancel, run_until_signal
from helicone_otel.retry import HELICONE_IN_LINE, HELICONE_PARKED, Interrupted

from .config import ForwarderConfig
from .dead_letters import BROKER_DEFAULT_LIMIT, DeadLetters
from .delivery import HeliconeClient, Undelivered
from .dry_run import KAFKA_WAIT, KafkaUnreachable, line
from .metrics import Metrics
from .parking import Parked, park
from .produce import Origin, Record, SendFailed
from .progress import Progress
from .routing import destination, validate

log = logging.getLogger(__name__)
# A forwarder without a key of its own still delivers records that carry theirs (pass_api_keys): it says so
NO_DEFAULT_KEY = "no Helicone API key configured: records without their own helicone-auth key are dead-lettered"
KafkaClient = TypeVar("KafkaClient", AIOKafkaConsumer, AIOKafkaProducer)
CLIENT_ID = "helicone-otel-forwarder"
COMMIT_EVERY = 0.5  # seconds between commits of what became done
HEADROOM = 64 * 1024  # bytes the forwarder's own headers may add to a record of the records topic


class Forwarder(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka's abc is untyped
    def __init__(self, config: ForwarderConfig, dry_run: bool = False) -> None:
        self.config = config
        self.dry_run = dry_run
        self.metrics = Metrics()
        self.recent: OrderedDict[str, None] = OrderedDict()
        self._stop = asyncio.Event()
        self._interrupt = asyncio.Event()  # set by stop() and during a rebalance: waiting records give up
        self.helicone = HeliconeClient(config, self.metrics, self._interrupt)
        self.dead_letters = DeadLetters(config, self.metrics, self._interrupt)
        self.in_line = dataclasses.replace(HELICONE_IN_LINE, max_attempts=config.max_attempts)
        self.parked = dataclasses.replace(HELICONE_PARKED, max_elapsed=config.dead_letter_after)
        self.progress = Progress()
        self._consumer: AIOKafkaConsumer | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # one per record in hand, until it is done
        self._handling: dict[str, asyncio.Task[Any]] = {}  # record id -> the task handling it
        self._stuck: dict[str, str] = {}  # record -> why Kafka took neither its dead letter nor its parked copy
        self.joined = False
        self.kafka_error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._admin: AdminServer | None = None

    def stop(self) -> None:
        self._stop.set()
        self._interrupt.set()

    # lifecycle.Service: the consume loop as a task, and the admin server
    async def start(self) -> None:
        if not self.config.api_key and not self.config.api_keys:
            log.warning("%s (set forwarder.api_key, e.g. api_key: ${env:HELICONE_API_KEY})", NO_DEFAULT_KEY)
        if self.config.admin_address:
            app = Starlette(routes=health_app(self.ready).routes + metrics_app(self.metrics.render).routes)
            self._admin = AdminServer(app, self.config.admin_address, "forwarder admin")
            await self._admin.start()
        self._task = asyncio.get_running_loop().create_task(self.run())

    async def done(self) -> None:
        if self._task is not None:
            await asyncio.shield(self._task)

    async def shutdown(self, deadline: float) -> None:
        """Stop fetching, finish or give up the records in hand (what is not committed is fetched again
        by the partitions' next owner), leave the group; cancelled at the deadline."""
        self.stop()
        left = deadline - asyncio.get_running_loop().time()
        if self._task is not None and not await finish_or_cancel(self._task, left):
            log.error("the forwarder did not stop by the deadline; leaving its records in hand uncommitted")
        if self._admin is not None:
            await self._admin.stop()

    @property
    def stuck(self) -> str | None:
        """Why records are neither delivered nor dead-lettered (Kafka takes neither their dead letter nor
        their parked copy), or None."""
        if not self._stuck:
            return None
        return f"{len(self._stuck)} records neither delivered nor dead-lettered: {next(iter(self._stuck.values()))}"

    def ready(self) -> tuple[bool, str]:
        """Readiness for `/ready`: joined the group, Kafka answering, Helicone taking records."""
        if self.kafka_error:
            return False, f"Kafka: {self.kafka_error}"
        if self.stuck:
            return False, self.stuck
        if not self.joined:
            return False, "joining the consumer group"
        health = self.helicone.health
        if health.failing_since is not None:
            since = time.monotonic() - health.failing_since
            return False, f"Helicone has taken no record for {since:.0f}s: {health.last_failure}"
        if not self.config.api_key and not self.config.api_keys:
            return True, f"delivering; {NO_DEFAULT_KEY}"
        return True, "delivering"

    # ConsumerRebalanceListener: aiokafka awaits these in its coordinator task
    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        if self._tasks:
            log.info("rebalance: finishing the %d records in hand before releasing %d partitions", len(self._tasks),
                     len(revoked))  # fmt: skip
        self._interrupt.set()
        try:
            await self._settle()
        finally:
            self.progress.clear()
            if not self._stop.is_set():
                self._interrupt.clear()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.joined = True
        log.info("assigned %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned))

    async def run(self) -> None:
        cfg = self.config
        cluster = cfg.cluster
        consumer = await self._connect(lambda: cluster.consumer(CLIENT_ID, cfg.group_id, max_poll_records=500))
        if consumer is None:
            return
        producer = None  # a dry run produces nothing
        topics = [cfg.topic]
        if not self.dry_run:
            largest = await self._prepare_topics(consumer)
            producer = await self._connect(lambda: cluster.producer(CLIENT_ID, max_request_size=largest))
            if producer is None:
                await consumer.stop()
                return
            topics.append(cfg.parking_topic)
        self._consumer = consumer
        consumer.subscribe(topics, listener=self)
        session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=cfg.request_timeout),
            connector=aiohttp.TCPConnector(limit=cfg.concurrency),
            raise_for_status=False,
        )
        lag_task = asyncio.get_running_loop().create_task(self._lag_loop(consumer))
        try:
            await self._consume(consumer, session, producer)
        finally:
            self._interrupt.set()
            await self._settle()
            lag_task.cancel()
            await session.close()
            if producer is not None:
                await producer.stop()
            await consumer.stop()  # leaves the group: partitions move on at once

    async def _connect(self, make: Callable[[], KafkaClient]) -> KafkaClient | None:
        """Start a Kafka client once the brokers can be reached (`/ready` says why it waits meanwhile);
        None when stopped first."""

        def failed(exc: Retryable, _attempts: int) -> None:
            self.kafka_error = str(exc)
            log.warning("%s; retrying", exc)

        connecting = connect(make, self.config.brokers, self._stop, on_retry=failed)
        try:
            client = await (asyncio.wait_for(connecting, KAFKA_WAIT) if self.dry_run else connecting)
        except Interrupted:
            return None
        except TimeoutError:
            raise KafkaUnreachable(self.config.brokers, self.kafka_error) from None
        self.kafka_error = None
        return client

    async def _prepare_topics(self, consumer: AIOKafkaConsumer) -> int:
        """Create the dead-letter and parking topics when missing, taking records as large as the records
        topic does plus HEADROOM, and read the limit of each; return the largest record the producer must
        take. A dead-letter topic that exists with a lower limit gets its larger dead letters cut."""
        cfg, cluster = self.config, self.config.cluster
        records = await cluster.max_message_bytes(cfg.topic, CLIENT_ID) or BROKER_DEFAULT_LIMIT
        with contextlib.suppress(KafkaError):
            await consumer.topics()  # metadata, for the records topic's partitions
        partitions = len(consumer.partitions_for_topic(cfg.topic) or ()) or 1
        needed = {"max.message.bytes": str(records + HEADROOM)}
        for topic, count in ((cfg.dead_letter_topic, 1), (cfg.parking_topic, partitions)):
            if not await cluster.ensure_topic(topic, CLIENT_ID, partitions=count, configs=needed):
                log.warning("records that must go to %s wait until it exists", topic)
        dlq = await cluster.max_message_bytes(cfg.dead_letter_topic, CLIENT_ID) or BROKER_DEFAULT_LIMIT
        parking = await cluster.max_message_bytes(cfg.parking_topic, CLIENT_ID) or BROKER_DEFAULT_LIMIT
        if dlq < records + HEADROOM:
            log.warning("%s takes records of up to %d bytes, %s up to %d: larger dead letters are cut to fit",
                        cfg.dead_letter_topic, dlq, cfg.topic, records)  # fmt: skip
        self.dead_letters.limit = dlq
        return max(records + HEADROOM, dlq, parking)

    async def _consume(self, consumer: AIOKafkaConsumer, session: aiohttp.ClientSession,
                       producer: AIOKafkaProducer | None) -> None:  # fmt: skip
        """Fetch, start a task per record, commit what became done; pause a partition while it holds
        `max_uncommitted` records."""
        committed = time.monotonic()
        while not self._stop.is_set():
            self._throttle(consumer)
            batches = await consumer.getmany(timeout_ms=200, max_records=500)
            if not self._interrupt.is_set():  # (records fetched during a rebalance or SIGTERM are left to the owner)
                for records in batches.values():
                    for record in records:
                        self._start(record, session, producer)
            if time.monotonic() - committed >= COMMIT_EVERY:
                await self._commit(consumer)
                committed = time.monotonic()

    def _throttle(self, consumer: AIOKafkaConsumer) -> None:
        assigned, paused = consumer.assignment(), consumer.paused()
        full = {tp for tp in assigned if self.progress.held(tp) >= self.config.max_uncommitted}
        with contextlib.suppress(KafkaError, AssertionError):  # a partition that went meanwhile
            if full - paused:
                consumer.pause(*(full - paused))
            if (paused & assigned) - full:
                consumer.resume(*((paused & assigned) - full))

    def _start(self, record: Record, session: aiohttp.ClientSession, producer: AIOKafkaProducer | None) -> None:
        tp = TopicPartition(record.topic, record.partition)
        self.progress.fetched(tp, record.offset)
        task = asyncio.get_running_loop().create_task(self._handle(record, session, producer))
        self._tasks.add(task)

        def finished(task: asyncio.Task[None]) -> None:
            self._tasks.discard(task)
            if task.cancelled():
                return
            exc = task.exception()
            if exc is None:
                self.progress.done(tp, record.offset)
            elif not isinstance(exc, Interrupted):  # a bug: the record holds its partition, and /ready says so
                log.error("record at %s neither delivered nor dead-lettered", Origin.of(record), exc_info=exc)
                self._stuck[f"{tp.topic}[{tp.partition}]@{record.offset}"] = repr(exc)

        task.add_done_callback(finished)

    async def _settle(self) -> None:
        """Wait for every record in hand to be done or given up (the interrupt is set), then commit."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._consumer is not None:
            await self._commit(self._consumer)

    async def _commit(self, consumer: AIOKafkaConsumer) -> None:
        assigned = consumer.assignment()
        offsets = {tp: offset for tp, offset in self.progress.committable().items() if tp in assigned}
        if not offsets or self.dry_run:
            return
        try:
            await consumer.commit(offsets)
        except KafkaError as exc:  # the group moved on: the next owner redelivers (duplicates, no loss)
            log.warning("commit of %d partitions failed: %r", len(offsets), exc)
        else:
            self.progress.committed(offsets)

    async def _lag_loop(self, consumer: AIOKafkaConsumer) -> None:
        """Every second: records in the assigned partitions beyond the committed offsets (the parking
        topic's too: a parked record is not delivered yet). Kafka not answering within 5 s makes
        `/ready` say so."""
        while True:
            await asyncio.sleep(1.0)
            try:
                lag = await asyncio.wait_for(self._lag(consumer), 5.0)
                self.metrics.set("helicone_otel_forwarder_lag", lag)
                self.kafka_error = None
            except TimeoutError:
                self.kafka_error = "no answer to an offsets request within 5s"
            except Exception as exc:  # a metric must never stop the forwarder
                self.kafka_error = f"{type(exc).__name__}: {exc}"

    @staticmethod
    async def _lag(consumer: AIOKafkaConsumer) -> int:
        partitions = list(consumer.assignment())
        ends = await consumer.end_offsets(partitions) if partitions else {}
        lag = 0
        for tp in partitions:
            committed = await consumer.committed(tp)
            lag += max(ends.get(tp, 0) - (committed or 0), 0)
        return lag

    async def _handle(self, record: Record, session: aiohttp.ClientSession,
                      producer: AIOKafkaProducer | None) -> None:  # fmt: skip
        """One record until it is done (delivered, parked, dead-lettered, a duplicate); raises Interrupted
        when it is given up for a rebalance or shutdown."""
        headers = {k.lower(): v.decode(errors="replace") for k, v in record.headers}
        parked = Parked.of(record) if record.topic == self.config.parking_topic else None
        record_id = ""
        try:
            body = validate(record.value or b"")
            record_id = str(body.get("id") or "")
            if record_id and await self._duplicate(record_id):
                self.metrics.add("helicone_otel_forwarder_duplicates")
                return
            to = destination(self.config, headers, body)
            if self.dry_run:
                print(json.dumps(line(to, record_id, offset=record.offset)), flush=True)
                return
            await self._deliver(record, record_id, to.url, to.key, parked, session, producer)
        except Permanent as exc:
            await self._until_taken(record, partial(self.dead_letters.send, record, str(exc), 0, record_id, producer))
        finally:
            if record_id and self._handling.get(record_id) is asyncio.current_task():
                del self._handling[record_id]

    async def _duplicate(self, record_id: str) -> bool:
        """Whether a record with this id was delivered lately, or is in hand and then delivered. (When
        that one was parked or dead-lettered instead, this one goes its own way: it may be its parked copy.)"""
        while (twin := self._handling.get(record_id)) is not None:
            try:
                await asyncio.shield(twin)
            except Exception as exc:  # given up, so this one is not done either
                raise Interrupted(f"its twin was not done: {exc!r}") from exc
        if record_id in self.recent:
            return True
        task = asyncio.current_task()
        assert task is not None
        self._handling[record_id] = task
        return False

    async def _deliver(self, record: Record, record_id: str, url: str, key: str, parked: Parked | None,
                       session: aiohttp.ClientSession, producer: AIOKafkaProducer | None) -> None:  # fmt: skip
        """Post the record (a parked one once it is due); park it or dead-letter it when Helicone does not
        take it."""
        if parked is not None:
            await parked.due(self._interrupt)
            if self._interrupt.is_set():
                raise Interrupted("rebalance or shutdown")
        first = parked.first_attempt if parked else time.time()
        try:
            await self.helicone.post(session, url, key, record.value or b"", self.in_line, parked is None)
        except Undelivered as exc:
            tried, reason = exc.attempts + (parked.attempts if parked else 0), str(exc)
            if exc.park and self.parked.allows(tried, time.time() - first):
                times = parked.times + 1 if parked else 1
                state = Parked(first, time.time() + self.parked.nth_wait(times), tried, times)
                await self._until_taken(record, partial(self._park, record, reason, state, record_id, producer))
                return
            if exc.park:
                reason = f"refused for {time.time() - first:.0f}s ({tried} attempts) while others went through: {exc}"
            await self._until_taken(record, partial(self.dead_letters.send, record, reason, tried, record_id, producer))
            return
        headers = {k.lower(): v.decode(errors="replace") for k, v in record.headers}
        if headers.get(SCORES) and record_id:  # scores name a request Helicone has logged
            await self.helicone.post_scores(session, record_id, key, headers[SCORES], self.in_line)
        if record_id:
            self.recent[record_id] = None
            if len(self.recent) > self.config.dedupe_window:
                self.recent.popitem(last=False)
        self.metrics.add("helicone_otel_forwarder_delivered")

    async def _park(self, record: Record, reason: str, state: Parked, record_id: str,
                    producer: AIOKafkaProducer | None) -> None:  # fmt: skip
        assert producer is not None
        try:
            await park(producer, self.config.parking_topic, record, reason, state, self._interrupt)
        except (MessageSizeTooLargeError, RecordTooLargeError) as exc:  # too large to park: dead-letter it
            why = f"too large for {self.config.parking_topic} ({exc!r}): {reason}"
            await self.dead_letters.send(record, why, state.attempts, record_id, producer)
            return
        except KafkaError as exc:
            raise SendFailed(f"{Origin.of(record)}: {self.config.parking_topic} refused it: {exc!r}") from exc
        self.metrics.add("helicone_otel_forwarder_parked")

    async def _until_taken(self, record: Record, send: Callable[[], Awaitable[None]]) -> None:
        """`send` (a dead letter, a parked copy) again every second until Kafka takes it: meanwhile the
        record holds its partition and `/ready` names it."""
        where = f"{record.topic}[{record.partition}]@{record.offset}"
        try:
            while True:
                try:
                    await send()
                    return
                except SendFailed as exc:
                    self._stuck[where] = str(exc)
                    log.error("%s; retrying", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._interrupt.wait(), 1.0)
                if self._interrupt.is_set():
                    raise Interrupted("rebalance or shutdown")
        finally:
            self._stuck.pop(where, None)


GRACE = 20.0  # seconds from SIGTERM to exit: the records in hand are finished or left uncommitted


async def serve(config: ForwarderConfig, dry_run: bool = False, stop: asyncio.Event | None = None) -> None:
    """Forward until `stop` is set (or SIGINT/SIGTERM when `stop` is None)."""
    await run_until_signal(Forwarder(config, dry_run), GRACE, stop)
