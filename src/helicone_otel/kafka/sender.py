"""Producing records to Kafka: one producer per configured output, and the error split.

Defaults a careful operator would pick: idempotent producer (acks=all), compression on, a short
linger. A record the broker can never take (too large, invalid topic) is a permanent error and goes
to its exporter's dead-letter topic with the error in a header; every other failure is transient:
`delivery(records)` is what a caller retries, and each attempt sends only the records no earlier
attempt got acknowledged (a record whose acknowledgement was lost may still arrive twice; none is lost).

`watch()` keeps `kafka_up` and `unreachable()` true to the producers' own connections, checked every second, so
readiness turns within about two seconds of a broker going away rather than at the produce timeout. It says
so once (a WARNING when Kafka goes, an INFO when it is back); aiokafka's own per-attempt connection errors and
its complaint about a topic it is about to create are kept at DEBUG.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidTopicError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordTooLargeError,
    UnsupportedForMessageFormatError,
)

from helicone_otel.contract import VALUE_CUT, dead_letter_headers
from helicone_otel.errors import Unavailable
from helicone_otel.metrics import Help, Metrics

from .cluster import stop_quietly
from .output import ExporterConfig
from .records import KafkaRecord

log = logging.getLogger(__name__)
WATCH_EVERY = 1.0  # seconds between looks at the producers' connections
QUIET_FOR = 60.0  # a broker that comes and goes is reported at most once a minute; the rest at DEBUG
PERMANENT = (MessageSizeTooLargeError, RecordTooLargeError, InvalidTopicError, UnsupportedForMessageFormatError)

# The metrics a sender keeps, for the registry of whichever service runs it.
METRICS: Help = {
    "helicone_otel_records_produced": ("counter", "Kafka records acknowledged by the broker."),
    "helicone_otel_records_dead_lettered": ("counter", "Records sent to a dead-letter topic."),
    "helicone_otel_records_dropped": ("counter", "Records that could go nowhere, not even a dead-letter topic."),
    "helicone_otel_kafka_up": ("gauge", "1 while every exporter's producer reaches a broker (checked each second)."),
    "helicone_otel_produce_latency_seconds": ("histogram", "Time from produce to broker acknowledgement."),
}


class _Quieter(logging.Filter):
    """aiokafka logs ERROR on every failed connection attempt (several per retry) and when a topic it is about to
    create is not yet in the metadata: DEBUG here, since the sender reports both once in its own words."""

    NOISE = ("Unable connect to", "Unable to update metadata", "not found in cluster metadata")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and any(n in str(record.msg) for n in self.NOISE):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


for _name in ("aiokafka", "aiokafka.client", "aiokafka.cluster", "aiokafka.conn"):
    logging.getLogger(_name).addFilter(_Quieter())


class KafkaUnavailable(Unavailable):
    """Kafka did not take some records (unreachable, slow, leader moving): `unsent`, to retry later;
    `dead_lettered` of the others went to a dead-letter topic."""

    def __init__(self, message: str, unsent: Sequence[KafkaRecord] = (), dead_lettered: int = 0) -> None:
        super().__init__(message)
        self.unsent = list(unsent)
        self.dead_lettered = dead_lettered


def make_producer(cfg: ExporterConfig) -> AIOKafkaProducer:
    return cfg.cluster.producer(
        "helicone-otel",
        compression_type=None if cfg.producer.compression == "none" else cfg.producer.compression,
        linger_ms=cfg.producer.linger_ms,
        max_batch_size=cfg.producer.max_batch_bytes,
        max_request_size=cfg.max_message_bytes + 64 * 1024,
        request_timeout_ms=int(cfg.producer.request_timeout * 1000),
    )


class KafkaSender:
    """Sends batches of records to their exporters' clusters and waits for every acknowledgement."""

    def __init__(self, exporters: Sequence[ExporterConfig], metrics: Metrics, timeout: float = 30.0) -> None:
        self._configs = {e.name: e for e in exporters}
        self._producers: dict[str, AIOKafkaProducer] = {}
        self._lock = asyncio.Lock()
        self._metrics = metrics
        self.timeout = timeout
        self._down: dict[str, str] = {}  # exporter -> why its producer has no broker connection, from watch()
        metrics.set("helicone_otel_kafka_up", 0)

    async def _producer(self, name: str) -> AIOKafkaProducer:
        producer = self._producers.get(name)
        if producer is not None:
            return producer
        async with self._lock:
            if name not in self._producers:
                producer = make_producer(self._configs[name])
                try:
                    await asyncio.wait_for(producer.start(), self.timeout)
                except (KafkaError, OSError, TimeoutError) as exc:
                    await stop_quietly(producer)
                    raise KafkaUnavailable(f"cannot connect to Kafka ({name}): {exc!r}") from exc
                cfg = self._configs[name]
                log.info("connected to Kafka for exporter %s at %s", name, ",".join(cfg.brokers))
                # as the forwarder does: the first record that needs it should not wait for an operator
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        cfg.cluster.ensure_topic(cfg.dead_letter_topic, "helicone-otel"), self.timeout
                    )
                self._producers[name] = producer
            return self._producers[name]

    def unreachable(self) -> str | None:
        """Why some exporter's Kafka cannot be reached now (its producer's connection state), or None."""
        return "; ".join(f"{name}: {why}" for name, why in self._down.items()) or None

    async def watch(self, every: float = WATCH_EVERY) -> None:
        """Look at every exporter's connection each `every` seconds (connecting a producer not yet started), set
        `kafka_up` and log each change of state: a WARNING when Kafka goes and an INFO when it is back, but for
        a broker that keeps coming and going, at most one such pair a minute (the rest at DEBUG). Runs until
        cancelled."""
        loud: set[str] = set()  # exporters whose current absence was logged as a WARNING
        reported: dict[str, float] = {}  # exporter -> when its going away was last logged as a WARNING
        while True:
            for name in self._configs:
                why = await self._probe(name)
                if why is None and name in self._down:
                    log.log(logging.INFO if name in loud else logging.DEBUG, "Kafka is reachable again for %s", name)
                    loud.discard(name)
                    del self._down[name]
                elif why is not None and name not in self._down:
                    now = time.monotonic()
                    if now - reported.get(name, -QUIET_FOR) >= QUIET_FOR:
                        loud.add(name)
                        reported[name] = now
                    level = logging.WARNING if name in loud else logging.DEBUG
                    log.log(level, "Kafka unreachable for exporter %s: %s", name, why)
                if why is not None:
                    self._down[name] = why
            self._metrics.set("helicone_otel_kafka_up", 0 if self._down else 1)
            await asyncio.sleep(every)

    async def _probe(self, name: str) -> str | None:
        try:
            producer = await self._producer(name)
        except KafkaUnavailable as exc:
            return str(exc)
        client = producer.client
        nodes = [broker.nodeId for broker in client.cluster.brokers()]
        for node in nodes:
            # the live connection when there is one; else one connection attempt, refused at once by a host
            # whose broker is gone
            with contextlib.suppress(KafkaError, OSError, TimeoutError):
                if await asyncio.wait_for(client.ready(node), WATCH_EVERY):
                    return None
        brokers = ",".join(self._configs[name].brokers)
        return f"no connection to any of {len(nodes)} brokers ({brokers})" if nodes else f"no brokers known ({brokers})"

    def partitions(self, exporter: str) -> int | None:
        """The partition count of the exporter's topic, once its producer has fetched the topic's
        metadata; None before (records are then encoded one per trace, placed by their own keys)."""
        producer = self._producers.get(exporter)
        found = producer.client.cluster.partitions_for_topic(self._configs[exporter].topic) if producer else None
        return len(found) if found else None

    def delivery(self, records: Sequence[KafkaRecord]) -> Callable[[], Awaitable[int]]:
        """What a caller retries until `records` are all delivered: each call sends the records no
        earlier call got acknowledged and returns how many were dead-lettered in all."""
        pending = list(records)
        dead = 0

        async def attempt() -> int:
            nonlocal pending, dead
            try:
                dead += await self.deliver(pending)
            except KafkaUnavailable as exc:
                dead += exc.dead_lettered
                pending = exc.unsent
                raise
            pending = []
            return dead

        return attempt

    async def deliver(self, records: Sequence[KafkaRecord]) -> int:
        """Produce `records` and wait for all acknowledgements; return how many were dead-lettered.

        Raises KafkaUnavailable, carrying the records that failed transiently, when any did."""
        started = time.monotonic()
        results = await self._send_all(records)
        unsent: list[KafkaRecord] = []
        error: BaseException | None = None
        dead = 0
        for record, result in zip(records, results, strict=True):
            if result is None:
                continue
            if isinstance(result, PERMANENT):
                try:
                    await self._dead_letter(record, result)
                    dead += 1
                    continue
                except KafkaUnavailable as exc:  # the dead letter failed: the record is tried again
                    result = exc
            unsent.append(record)
            error = error or result
        delivered = len(records) - len(unsent) - dead
        self._metrics.add("helicone_otel_records_produced", delivered)
        if unsent:
            self._metrics.set("helicone_otel_kafka_up", 0)
            raise KafkaUnavailable(f"{len(unsent)} of {len(records)} records failed: {error!r}", unsent, dead)
        self._metrics.set("helicone_otel_kafka_up", 1)
        self._metrics.observe("helicone_otel_produce_latency_seconds", time.monotonic() - started)
        return dead

    async def _send_all(self, records: Sequence[KafkaRecord]) -> list[BaseException | None]:
        """Each record's outcome: None when acknowledged, else the error; all within `timeout`."""
        deadline = asyncio.get_running_loop().time() + self.timeout
        sent: list[asyncio.Future[object] | BaseException] = []
        try:
            async with asyncio.timeout_at(deadline):
                for r in records:
                    if r.exporter not in self._configs:
                        r = self._orphaned(r)
                    try:
                        producer = await self._producer(r.exporter)
                        sent.append(await producer.send(r.topic, r.value, key=r.key, headers=list(r.headers)))
                    except (KafkaError, KafkaUnavailable, OSError) as exc:
                        sent.append(exc)
        except TimeoutError:
            pass
        futures = [f for f in sent if isinstance(f, asyncio.Future)]
        if futures:
            await asyncio.wait(futures, timeout=max(0.0, deadline - asyncio.get_running_loop().time()))
        late = TimeoutError(f"Kafka did not acknowledge within {self.timeout}s")
        return [_outcome(f, late) for f in sent] + [late] * (len(records) - len(sent))

    def _orphaned(self, record: KafkaRecord) -> KafkaRecord:
        """A spooled record of an exporter the configuration no longer has (renamed, removed): to the
        dead-letter topic of the first configured exporter, saying which exporter and topic it was for,
        so that it can be replayed rather than lost or left blocking the spool."""
        cfg = next(iter(self._configs.values()))
        reason = f"exporter {record.exporter!r} is no longer configured; spooled for topic {record.topic!r}"
        log.warning("spooled record sent to %s: %s", cfg.dead_letter_topic, reason)
        self._metrics.add("helicone_otel_records_dead_lettered", exporter=cfg.name)
        headers = dead_letter_headers(record.headers, reason, topic=record.topic,
                                      exporter=record.exporter)  # fmt: skip
        return KafkaRecord(cfg.dead_letter_topic, record.key, record.value, headers, cfg.name)

    async def _dead_letter(self, record: KafkaRecord, error: BaseException) -> None:
        cfg = self._configs[record.exporter]
        reason = f"{type(error).__name__}: {error}"
        if record.topic == cfg.dead_letter_topic:
            log.error("dropping a record the dead-letter topic %s cannot take either: %s", record.topic, reason)
            self._metrics.add("helicone_otel_records_dropped", exporter=cfg.name)
            return
        # The value is what the broker refused: keep its identity, not its bulk.
        value = record.value if len(record.value) <= cfg.max_message_bytes // 2 else b""
        headers = dead_letter_headers(record.headers, reason, topic=record.topic,
                                      size=str(len(record.value)))  # fmt: skip
        if not value:
            headers = (*headers, (VALUE_CUT, b"dropped"))
        dlq = KafkaRecord(cfg.dead_letter_topic, record.key, value, headers, record.exporter)
        log.warning("record for %s sent to %s: %s", record.topic, cfg.dead_letter_topic, reason)
        self._metrics.add("helicone_otel_records_dead_lettered", exporter=cfg.name)
        await self.deliver([dlq])

    async def stop(self, timeout: float = 5.0) -> None:
        for producer in self._producers.values():
            await stop_quietly(producer, timeout)
        self._producers.clear()


def _outcome(sent: asyncio.Future[object] | BaseException, late: TimeoutError) -> BaseException | None:
    if isinstance(sent, BaseException):
        return sent
    if not sent.done():
        return late
    if sent.cancelled():
        return KafkaUnavailable("the producer cancelled the send")
    error: BaseException | None = sent.exception()
    if error is None or isinstance(error, (KafkaError, OSError)):
        return error
    raise error
