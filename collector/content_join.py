"""The join: a call's spans meet the GenAI event log records that hold its content, whatever request, worker or
process each of them came through.

The receivers put both on the exporter's join topic, keyed by trace id (`kafka.records.join_record`): a trace
holding a call without content on its spans (instead of its records), and every GenAI event log record. Keyed by
trace id, a trace's pieces share a partition, and a partition has one owner in the consumer group
(`helicone-otel-join.<join topic>`), so they meet in one process. Here they wait, per trace, until its calls are
complete (each has its answer or its error: `semconv.lacks_answer`) or `join_wait` has passed since the spans
came; then the trace is mapped with its log records attached (`semconv.log_events`) and its records are
produced. Log records whose span has not come within `join_wait` are dropped and counted
(`helicone_otel_dropped_log_records{reason="no span"}`). A call seen by two instrumentations in different
requests is one record here too: both spans wait in the trace and map together.

Nothing acknowledged is lost: a partition is committed only up to its oldest record still waiting or not yet
produced, so a restart or a rebalance during the wait reads the waiting pieces again (and maps them again: record
ids are deterministic, so a repeat is the same record).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord
from google.protobuf.message import DecodeError
from helicone_otel.semconv import LogEvent, MapOptions, lacks_answer
from helicone_otel.semconv.log_events import by_span, from_proto, genai_records
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from helicone_otel.contract import HELICONE_AUTH, SIGNAL, dead_letter_headers
from helicone_otel.errors import Retryable
from helicone_otel.kafka.cluster import connect
from helicone_otel.kafka.output import ExporterConfig
from helicone_otel.kafka.records import KafkaRecord
from helicone_otel.kafka.sender import KafkaSender
from helicone_otel.lifecycle import finish_or_cancel
from helicone_otel.retry import Backoff, Interrupted, retry

from .config import CollectorConfig
from .metrics import Metrics
from .receiver import TraceHandler

log = logging.getLogger(__name__)
CLIENT_ID = "helicone-otel-join"
TICK = 0.2  # seconds between looks at what waits, when nothing arrives


@dataclass
class _Trace:
    """One trace's pieces waiting in one partition."""

    exporter: ExporterConfig
    api_key: str | None = None
    spans: list[bytes] = field(default_factory=list)  # serialized ExportTraceServiceRequests (they concatenate)
    events: list[LogEvent] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    spans_since: float | None = None  # when its first spans arrived
    logs_since: float | None = None
    checked: bool = False  # mapped since its last piece and found waiting


class _Revoked(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, join: ContentJoin) -> None:
        self.join = join

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.join.forget(set(revoked))  # uncommitted: their next owner reads them again

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        pass


class ContentJoin:
    """The join stage of every exporter that joins; one consumer per collector process."""

    retry_pause = 5.0

    def __init__(self, config: CollectorConfig, handler: TraceHandler, sender: KafkaSender, metrics: Metrics) -> None:
        self.handler = handler
        self.sender = sender
        self.metrics = metrics
        self.exporters = {e.join_topic: e for e in handler.joins}
        # one group per set of join topics: deployments that share a cluster do not share its rebalances
        self.group_id = f"helicone-otel-join.{'.'.join(sorted(self.exporters))}"
        # an exporter's options are those of the first pipeline that sends to it
        self.options: dict[str, MapOptions] = {}
        for pipeline in config.pipelines:
            for exporter in pipeline.exporters:
                self.options.setdefault(exporter.name, pipeline.options)
        self.failure: str | None = None  # why nothing moves, for /ready
        self._waiting: dict[tuple[TopicPartition, bytes], _Trace] = {}
        self._next: dict[TopicPartition, int] = {}  # the offset after the last one read
        self._committed: dict[TopicPartition, int] = {}
        self._dead: list[tuple[TopicPartition, int, KafkaRecord]] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def shutdown(self, timeout: float) -> None:
        """Stop reading; what waits stays uncommitted, for the partition's next owner (or this one's restart)."""
        self._stop.set()
        if self._task is not None:
            await finish_or_cancel(self._task, timeout)

    def forget(self, partitions: set[TopicPartition]) -> None:
        for key in [k for k in self._waiting if k[0] in partitions]:
            del self._waiting[key]
        for tp in partitions:
            self._next.pop(tp, None)
            self._committed.pop(tp, None)
        self._dead = [d for d in self._dead if d[0] not in partitions]

    def _failing(self, exc: Retryable, _attempts: int) -> None:
        if self.failure is None:
            log.warning("join: %s; retrying", exc)
        self.failure = str(exc)

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self._consume()
                return
            except Exception as exc:
                self.failure = f"the join failed: {type(exc).__name__}: {exc}"
                log.exception("the join failed; starting again in %.0f s", self.retry_pause)
                self.forget(set(self._next))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.retry_pause)

    async def _prepare_topics(self) -> bool:
        """Create each join topic with its records topic's partition count, so that the join scales with it;
        False (the log says why) when one neither exists nor can be created."""
        for topic, exporter in self.exporters.items():
            cluster = exporter.cluster
            try:
                count = len(await cluster.partitions(exporter.topic, CLIENT_ID))
            except (ValueError, KafkaError, OSError):
                count = 1
            if not await cluster.ensure_topic(topic, CLIENT_ID, partitions=count):
                self.failure = f"the join topic {topic} does not exist and cannot be created"
                return False
        return True

    def _make_consumer(self) -> AIOKafkaConsumer:
        first = next(iter(self.exporters.values()))
        consumer = first.cluster.consumer(CLIENT_ID, self.group_id, max_poll_records=500)
        consumer.subscribe(list(self.exporters), listener=_Revoked(self))
        return consumer

    async def _consume(self) -> None:
        brokers = next(iter(self.exporters.values())).brokers
        while not await self._prepare_topics():  # the receivers' join records wait in the spool meanwhile
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.retry_pause)
            if self._stop.is_set():
                return
        try:
            consumer = await connect(self._make_consumer, brokers, self._stop, on_retry=self._failing)
        except Interrupted:
            return
        self.failure = None
        log.info("joining spans and GenAI log records from %s as group %s", ", ".join(self.exporters), self.group_id)
        loop = asyncio.get_running_loop()
        try:
            while not self._stop.is_set():
                fetched = await consumer.getmany(timeout_ms=int(TICK * 1000), max_records=500)
                now = loop.time()
                for tp, records in fetched.items():
                    for record in records:
                        self._add(tp, record, now)
                try:
                    await self._release(loop.time())
                except Interrupted:
                    return  # stopping: what was not produced stays uncommitted
                await self._commit(consumer)
        finally:
            await consumer.stop()

    def _add(self, tp: TopicPartition, record: ConsumerRecord[bytes, bytes], now: float) -> None:
        self._next[tp] = record.offset + 1
        exporter = self.exporters[record.topic]
        headers = dict(record.headers)
        signal = headers.get(SIGNAL, b"").decode()
        try:
            if signal == "traces":
                ExportTraceServiceRequest.FromString(record.value or b"")  # decodes, or is a dead letter
            elif signal == "logs":
                logs = [from_proto(r) for r in genai_records(ExportLogsServiceRequest.FromString(record.value or b""))]
            else:
                raise DecodeError(f"unknown {SIGNAL} header {signal!r}")
        except DecodeError as exc:
            self._dead.append((tp, record.offset, self._dead_letter(exporter, record, f"not a join record: {exc}")))
            return
        key = (tp, record.key or b"")
        trace = self._waiting.get(key)
        if trace is None:
            trace = self._waiting[key] = _Trace(exporter)
        trace.offsets.append(record.offset)
        trace.checked = False
        if HELICONE_AUTH in headers and (trace.api_key is None or signal == "traces"):
            trace.api_key = headers[HELICONE_AUTH].decode()
        if signal == "traces":
            trace.spans.append(record.value or b"")
            trace.spans_since = trace.spans_since if trace.spans_since is not None else now
        else:
            trace.events.extend(logs)
            trace.logs_since = trace.logs_since if trace.logs_since is not None else now

    def _map(self, keys: list[tuple[TopicPartition, bytes]], waited: bool) -> list[KafkaRecord]:
        """The records of the traces `keys` that are complete (all of them when they `waited`), mapped together in
        one request per exporter and key; those still waiting for an answer are marked `checked`."""
        groups: dict[tuple[str, str | None], list[tuple[TopicPartition, bytes]]] = {}
        for key in keys:
            trace = self._waiting[key]
            groups.setdefault((trace.exporter.join_topic, trace.api_key), []).append(key)
        out: list[KafkaRecord] = []
        for (topic, api_key), members in groups.items():
            exporter = self.exporters[topic]
            traces = [self._waiting[k] for k in members]
            request = ExportTraceServiceRequest.FromString(b"".join(b for t in traces for b in t.spans))
            events = by_span(e for t in traces for e in t.events)
            encoded = self.handler.encode_for(exporter, self.options[exporter.name], request, api_key,
                                              None if waited else lacks_answer, events)  # fmt: skip
            for key, trace in zip(members, traces, strict=True):
                trace.checked = key[1].decode() in encoded.held  # still to come
            if encoded.unjoined:
                self.metrics.add("helicone_otel_dropped_log_records", encoded.unjoined, reason="no span")
            reason = "waited" if waited else "complete"
            self.metrics.add("helicone_otel_joined_records", len(encoded.records), reason=reason)
            out.extend(encoded.records)
        return out

    async def _release(self, now: float) -> None:
        """Produce the records of every trace that is complete or has waited long enough, each kind mapped in one
        pass; drop log records whose span has not come in time."""
        done: list[tuple[TopicPartition, bytes]] = []
        due: list[tuple[TopicPartition, bytes]] = []
        fresh: list[tuple[TopicPartition, bytes]] = []
        for key, trace in self._waiting.items():
            wait = trace.exporter.join_wait
            if trace.spans_since is None:
                if trace.logs_since is not None and now - trace.logs_since >= wait:
                    self.metrics.add("helicone_otel_dropped_log_records", len(trace.events), reason="no span")
                    done.append(key)
            elif now - trace.spans_since >= wait:
                due.append(key)
            elif not trace.checked:
                fresh.append(key)
        out: list[KafkaRecord] = [d[2] for d in self._dead]
        if due:
            out.extend(self._map(due, waited=True))
            done.extend(due)
        if fresh:
            out.extend(self._map(fresh, waited=False))
            done.extend(k for k in fresh if not self._waiting[k].checked)
        if out:
            await retry(self.sender.delivery(out), Backoff(0.5), stop=self._stop, on_retry=self._failing)
            self.failure = None
        self._dead.clear()
        for key in done:
            del self._waiting[key]

    async def _commit(self, consumer: AIOKafkaConsumer) -> None:
        """Each partition up to its oldest record still waiting (all it has read, when nothing waits)."""
        oldest: dict[TopicPartition, int] = dict(self._next)
        for (tp, _), trace in self._waiting.items():
            oldest[tp] = min(oldest.get(tp, trace.offsets[0]), *trace.offsets)
        changed = {tp: offset for tp, offset in oldest.items() if self._committed.get(tp) != offset}
        if not changed:
            return
        try:
            await consumer.commit(changed)
            self._committed.update(changed)
        except KafkaError as exc:  # a rebalance took the partitions: their next owner reads them again
            log.warning("join: could not commit (the records will be read again): %r", exc)

    def _dead_letter(self, exporter: ExporterConfig, record: ConsumerRecord[bytes, bytes], reason: str) -> KafkaRecord:
        log.warning("%s[%d]@%d: %s", record.topic, record.partition, record.offset, reason)
        headers = dead_letter_headers(record.headers, reason, topic=record.topic, partition=str(record.partition),
                                      offset=str(record.offset), timestamp=str(record.timestamp))  # fmt: skip
        return KafkaRecord(exporter.dead_letter_topic, record.key, record.value or b"", headers, exporter.name)
