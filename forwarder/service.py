"""Consumes Helicone log records from Kafka and delivers each to Helicone's async log API.

At-least-once: records are fetched in batches and delivered concurrently (bounded); a partition's
offset is committed up to the first record that is neither delivered (2xx) nor dead-lettered.
Retryable answers (429, 5xx, timeouts, connection errors, and 401/403) are retried with jittered
exponential backoff honouring Retry-After. While nothing goes through (Helicone down) records wait
and the lag grows: an outage never fills the dead-letter topic. A record that still fails after
`max_attempts` while other records go through is poison, and goes to the dead-letter topic with the
error in a header, as do other 4xx and records that fail validation, so a poison record never blocks
its partition. Record ids are deterministic, so a bounded window of recently delivered ids drops the
duplicates that at-least-once hops upstream produce.

Rebalance and SIGTERM take the same path: records still waiting to be retried are given up (not
committed, so the partition's next owner delivers them), posts in flight finish, what was done is
committed, and only then are the partitions released or the group left.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import aiohttp
import uvicorn
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from starlette.applications import Starlette

from helicone_otel.admin import bind, health_app, metrics_app, start_http_server
from helicone_otel.contract import SCORES, log_route
from helicone_otel.errors import Permanent, Retryable
from helicone_otel.kafka.cluster import connect
from helicone_otel.lifecycle import finish_or_cancel, run_until_signal
from helicone_otel.retry import Interrupted

from .config import ForwarderConfig
from .dead_letters import DeadLetters, Record
from .delivery import HeliconeClient
from .metrics import Metrics

log = logging.getLogger(__name__)
KafkaClient = TypeVar("KafkaClient", AIOKafkaConsumer, AIOKafkaProducer)


def validate(value: bytes) -> dict[str, Any]:
    """The record as Helicone's async-log body, or Permanent naming what is wrong with it."""
    try:
        body = json.loads(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Permanent(f"not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise Permanent("not a JSON object")
    for key in ("providerRequest", "providerResponse", "timing"):
        if not isinstance(body.get(key), dict):
            raise Permanent(f"{key} missing")
    if not isinstance(body["providerResponse"].get("status"), int):
        raise Permanent("providerResponse.status missing")
    return body


def done_prefix(outcomes: Sequence[object]) -> int:
    """How many records from the start of a partition's batch are done (delivered or dead-lettered):
    the partition is committed past exactly those and rewound to the next."""
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, BaseException):
            return index
    return len(outcomes)


class Forwarder(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka's abc is untyped
    def __init__(self, config: ForwarderConfig, dry_run: bool = False) -> None:
        self.config = config
        self.dry_run = dry_run
        self.metrics = Metrics()
        self.recent: OrderedDict[str, None] = OrderedDict()
        self._stop = asyncio.Event()
        self._interrupt = asyncio.Event()  # set by stop() and during a rebalance: waiting records give up
        self._idle = asyncio.Event()  # no batch in hand
        self._idle.set()
        self._semaphore = asyncio.Semaphore(config.concurrency)
        self.helicone = HeliconeClient(config, self.metrics, self._interrupt)
        self.dead_letters = DeadLetters(config, self.metrics, self._interrupt)
        self.joined = False
        self.kafka_error: str | None = None
        self.stuck: str | None = None  # why the last fetch left records neither delivered nor dead-lettered
        self._task: asyncio.Task[None] | None = None
        self._admin: tuple[uvicorn.Server, asyncio.Task[None]] | None = None

    def stop(self) -> None:
        self._stop.set()
        self._interrupt.set()

    # lifecycle.Service: the consume loop as a task, and the admin server
    async def start(self) -> None:
        if self.config.admin_address:
            app = Starlette(routes=health_app(self.ready).routes + metrics_app(self.metrics.render).routes)
            self._admin = await start_http_server(app, bind(self.config.admin_address))
        self._task = asyncio.get_running_loop().create_task(self.run())

    async def done(self) -> None:
        if self._task is not None:
            await asyncio.shield(self._task)

    async def shutdown(self, deadline: float) -> None:
        """Stop fetching, finish or give up the batch in hand (what is not committed is fetched again by
        the partitions' next owner), leave the group; cancelled at the deadline."""
        self.stop()
        left = deadline - asyncio.get_running_loop().time()
        if self._task is not None and not await finish_or_cancel(self._task, left):
            log.error("the forwarder did not stop by the deadline; leaving its batch uncommitted")
        if self._admin is not None:
            self._admin[0].should_exit = True
            await self._admin[1]

    def ready(self) -> tuple[bool, str]:
        """Readiness for `/ready`: joined the group, Kafka answering, Helicone taking records."""
        if self.kafka_error:
            return False, f"Kafka: {self.kafka_error}"
        if self.stuck:
            return False, self.stuck
        if not self.joined:
            return False, "joining the consumer group"
        if self.helicone.failing_since is not None:
            since = time.monotonic() - self.helicone.failing_since
            return False, f"Helicone has taken no record for {since:.0f}s: {self.helicone.last_failure}"
        return True, "delivering"

    # ConsumerRebalanceListener: aiokafka awaits these in its coordinator task
    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        if not self._idle.is_set():
            log.info("rebalance: finishing the batch in hand before releasing %d partitions", len(revoked))
            self._interrupt.set()
            await self._idle.wait()
            if not self._stop.is_set():
                self._interrupt.clear()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.joined = True
        log.info("assigned %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned))

    async def run(self) -> None:
        cfg = self.config
        cluster, client_id = cfg.cluster, "helicone-otel-forwarder"

        def make_consumer() -> AIOKafkaConsumer:
            consumer = cluster.consumer(client_id, cfg.group_id, max_poll_records=500)
            consumer.subscribe([cfg.topic], listener=self)
            return consumer

        def make_producer() -> AIOKafkaProducer:
            return cluster.producer(client_id)

        consumer = await self._connect(make_consumer)
        if consumer is None:
            return
        producer = None  # a dry run produces nothing
        if not self.dry_run:
            producer = await self._connect(make_producer)
            if producer is None:
                await consumer.stop()
                return
            if not await cluster.ensure_topic(cfg.dead_letter_topic, client_id):
                log.warning("records that must go to %s wait until it exists", cfg.dead_letter_topic)
        session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=cfg.request_timeout),
            connector=aiohttp.TCPConnector(limit=cfg.concurrency),
            raise_for_status=False,
        )
        lag_task = asyncio.get_running_loop().create_task(self._lag_loop(consumer))
        try:
            while not self._stop.is_set():
                batches = await consumer.getmany(timeout_ms=500, max_records=500)
                if not batches or self._stop.is_set():
                    continue  # (records fetched as SIGTERM came are left for the next owner)
                self._idle.clear()
                try:
                    await self._deliver(consumer, batches, session, producer)
                finally:
                    self._idle.set()
        finally:
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

        try:
            client = await connect(make, self.config.brokers, self._stop, on_retry=failed)
        except Interrupted:
            return None
        self.kafka_error = None
        return client

    async def _deliver(self, consumer: AIOKafkaConsumer, batches: dict[TopicPartition, list[Record]],
                       session: aiohttp.ClientSession, producer: AIOKafkaProducer | None) -> None:  # fmt: skip
        """Deliver one fetch (all its partitions at once), commit what was done, and rewind each
        partition to its first record that was not."""
        seen: set[str] = set()
        results = await asyncio.gather(
            *(self._handle(r, session, producer, seen) for records in batches.values() for r in records),
            return_exceptions=True,
        )
        offsets: dict[TopicPartition, int] = {}
        position = 0
        for tp, records in batches.items():
            outcome = results[position : position + len(records)]
            position += len(records)
            done = done_prefix(outcome)
            if done:
                offsets[tp] = records[done - 1].offset + 1
            if done < len(records):
                with contextlib.suppress(KafkaError, AssertionError, ValueError):
                    consumer.seek(tp, records[done].offset)  # fails only if the partition is already gone
        if offsets and not self.dry_run:
            try:
                await consumer.commit(offsets)
            except KafkaError as exc:  # the group moved on: the next owner redelivers (duplicates, no loss)
                log.warning("commit of %d partitions failed: %r", len(offsets), exc)
        errors = [r for r in results if isinstance(r, BaseException) and not isinstance(r, Interrupted)]
        self.stuck = f"{len(errors)} records neither delivered nor dead-lettered: {errors[0]!r}" if errors else None
        if errors:  # e.g. the dead-letter topic missing or Kafka down: fetched again after a pause
            log.error("%s; retrying", self.stuck)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._interrupt.wait(), 1.0)

    async def _lag_loop(self, consumer: AIOKafkaConsumer) -> None:
        """Every second: records in the assigned partitions beyond the committed offsets. It keeps
        counting while a batch waits out an outage (the fetch position has moved on; commits have not).
        Kafka not answering within 5 s makes `/ready` say so."""
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

    def api_key(self, headers: dict[str, str], body: dict[str, Any]) -> str | None:
        """The record's own key (header), else the key for its property value, else the default."""
        cfg = self.config
        if cfg.api_key_header and headers.get(cfg.api_key_header):
            return headers[cfg.api_key_header]
        if cfg.api_key_property:
            meta = body["providerRequest"].get("meta")
            wanted = "helicone-property-" + cfg.api_key_property
            for name, value in (meta if isinstance(meta, dict) else {}).items():
                if str(name).lower() == wanted and str(value) in cfg.api_keys:
                    return cfg.api_keys[str(value)]
        return cfg.api_key

    async def _handle(self, record: Record, session: aiohttp.ClientSession, producer: AIOKafkaProducer | None,
                      seen: set[str]) -> None:  # fmt: skip
        headers = {k.lower(): v.decode(errors="replace") for k, v in record.headers}
        try:
            body = validate(record.value or b"")
            record_id = str(body.get("id") or "")
            if record_id and (record_id in self.recent or record_id in seen):
                self.metrics.add("helicone_otel_forwarder_duplicates")
                return
            if record_id:
                seen.add(record_id)
            route = log_route(str(body.get("provider") or headers.get("provider") or "CUSTOM"))
            url = route.url(self.config.helicone_url, self.config.helicone_api_url)
            key = self.api_key(headers, body)
            if not key:
                raise Permanent("no Helicone API key: none in the record's header or property, none configured")
            if self.dry_run:
                print(
                    json.dumps({"route": route.path, "url": url, "id": record_id, "offset": record.offset}), flush=True
                )
                return
            async with self._semaphore:
                await self.helicone.post(session, url, key, record.value or b"")
                if headers.get(SCORES) and record_id:  # scores name a request Helicone has logged
                    await self.helicone.post_scores(session, record_id, key, headers[SCORES])
            if record_id:
                self.recent[record_id] = None
                if len(self.recent) > self.config.dedupe_window:
                    self.recent.popitem(last=False)
            self.metrics.add("helicone_otel_forwarder_delivered")
        except Permanent as exc:
            await self.dead_letters.send(record, str(exc), producer)


GRACE = 20.0  # seconds from SIGTERM to exit: the batch in hand is finished or left uncommitted


async def serve(config: ForwarderConfig, dry_run: bool = False, stop: asyncio.Event | None = None) -> None:
    """Forward until `stop` is set (or SIGINT/SIGTERM when `stop` is None)."""
    await run_until_signal(Forwarder(config, dry_run), GRACE, stop)
