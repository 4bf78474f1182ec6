"""The Kafka receiver: the mapping stage of a two-stage deployment.

An ingest collector (`exporters.kafka.encoding: otlp_proto`) acknowledges a request once its spans are
durable and produces them placed by trace id (a record holds the request's traces of one partition),
so that a trace's spans share a partition. This receiver reads them in a consumer group, maps each
fetch in batches of at most `max_batch_bytes` of OTLP with the pipelines' processors and exporters (the
same `TraceHandler.encode` the OTLP receivers use), produces the records, and only then commits the
fetch: a crash or a rebalance in between maps the fetch again (record ids are deterministic, so a
duplicate is the same record). Mapping a batch together lets the spans of one call meet even when they
came in different requests. Scaling: more processes (`workers`) or more machines in the same
`group_id`, up to the topic's partition count.

A fetched record that is not an OTLP export request goes, as it is, to the first exporter's
dead-letter topic with the error and its origin in headers; the fetch goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from helicone_otel.contract import HELICONE_AUTH, dead_letter_headers
from helicone_otel.errors import Retryable
from helicone_otel.kafka.cluster import connect
from helicone_otel.kafka.records import KafkaRecord, span_count
from helicone_otel.kafka.sender import KafkaSender
from helicone_otel.lifecycle import finish_or_cancel
from helicone_otel.otlp_depth import decode_trace_request
from helicone_otel.retry import Backoff, Interrupted, retry

from .config import CollectorConfig, KafkaReceiverConfig
from .metrics import Metrics
from .receiver import TraceHandler

log = logging.getLogger(__name__)
TRANSPORT = "kafka"


def batches(records: list[ConsumerRecord[bytes, bytes]], limit: int) -> Iterator[list[ConsumerRecord[bytes, bytes]]]:
    """A fetch in runs of consecutive records of at most `limit` bytes of OTLP (at least one record
    each): what one mapping holds in memory, whatever Kafka's compression let one fetch carry."""
    batch: list[ConsumerRecord[bytes, bytes]] = []
    size = 0
    for record in records:
        value = len(record.value or b"")
        if batch and size + value > limit:
            yield batch
            batch, size = [], 0
        batch.append(record)
        size += value
    if batch:
        yield batch


class KafkaReceiver:
    retry_pause = 5.0  # after an unexpected failure

    def __init__(self, config: CollectorConfig, handler: TraceHandler, sender: KafkaSender, metrics: Metrics) -> None:
        assert config.kafka_receiver is not None
        self.config: KafkaReceiverConfig = config.kafka_receiver
        self.dead_letter = config.exporters[0]
        self.handler = handler
        self.sender = sender
        self.metrics = metrics
        self.failure: str | None = None  # why nothing moves, for /ready
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def shutdown(self, timeout: float) -> None:
        """Stop fetching; the fetch in hand is delivered and committed if it can be within `timeout`,
        else left uncommitted for the partition's next owner."""
        self._stop.set()
        if self._task is not None:
            await finish_or_cancel(self._task, timeout)

    def _failing(self, exc: Retryable, _attempts: int) -> None:
        if self.failure is None:
            log.warning("%s; retrying", exc)
        self.failure = str(exc)

    def _make_consumer(self) -> AIOKafkaConsumer:
        cfg = self.config
        consumer = cfg.cluster.consumer("helicone-otel-mapping", cfg.group_id, auto_offset_reset=cfg.initial_offset,
                                        max_poll_records=cfg.max_fetch_records)  # fmt: skip
        consumer.subscribe([cfg.topic])
        return consumer

    async def _run(self) -> None:
        """Never dies: an unexpected failure leaves the fetch uncommitted, turns `/ready` red with the
        reason and starts over."""
        while not self._stop.is_set():
            try:
                await self._consume()
                return
            except Exception as exc:
                self.failure = f"the Kafka receiver failed: {type(exc).__name__}: {exc}"
                log.exception("the Kafka receiver failed; starting again in %.0f s", self.retry_pause)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.retry_pause)

    async def _consume(self) -> None:
        try:
            consumer = await connect(self._make_consumer, self.config.brokers, self._stop, on_retry=self._failing)
        except Interrupted:
            return
        self.failure = None
        log.info("mapping spans from %s as group %s", self.config.topic, self.config.group_id)
        try:
            while not self._stop.is_set():
                fetched = await consumer.getmany(timeout_ms=500, max_records=self.config.max_fetch_records)
                records = [r for batch in fetched.values() for r in batch]
                if not records:
                    continue
                try:
                    for batch in batches(records, self.config.max_batch_bytes):
                        await self._map_and_deliver(batch)
                except Interrupted:
                    return  # stopping: the fetch stays uncommitted
                try:
                    await consumer.commit()
                except KafkaError as exc:  # a rebalance took the partitions: their next owner maps them again
                    log.warning("could not commit a mapped fetch (it will be mapped again): %r", exc)
        finally:
            await consumer.stop()  # leaves the group: partitions move on at once

    async def _map_and_deliver(self, fetched: list[ConsumerRecord[bytes, bytes]]) -> None:
        by_key: dict[str | None, ExportTraceServiceRequest] = {}
        out: list[KafkaRecord] = []
        for record in fetched:
            try:
                request = decode_trace_request(record.value or b"")
            except DecodeError as exc:
                out.append(self._undecodable(record, f"not an OTLP export request: {exc}"))
                continue
            headers = dict(record.headers)
            key = headers[HELICONE_AUTH].decode() if HELICONE_AUTH in headers else None
            by_key.setdefault(key, ExportTraceServiceRequest()).MergeFrom(request)
        spans = 0
        for api_key, request in by_key.items():
            spans += span_count(request)
            out.extend(self.handler.encode(request, api_key))
        if out:
            await retry(self.sender.delivery(out), Backoff(0.5), stop=self._stop, on_retry=self._failing)
        self.failure = None
        self.metrics.add("otelcol_receiver_accepted_spans", spans, transport=TRANSPORT)

    def _undecodable(self, record: ConsumerRecord[bytes, bytes], reason: str) -> KafkaRecord:
        log.warning("%s[%d]@%d: %s", record.topic, record.partition, record.offset, reason)
        self.metrics.add("otelcol_receiver_refused_spans", 1, transport=TRANSPORT)
        headers = dead_letter_headers(record.headers, reason, topic=record.topic, partition=str(record.partition),
                                      offset=str(record.offset), timestamp=str(record.timestamp))  # fmt: skip
        return KafkaRecord(self.dead_letter.dead_letter_topic, record.key, record.value or b"", headers,
                           self.dead_letter.name)  # fmt: skip
