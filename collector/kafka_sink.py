"""Produces export requests to Kafka with aiokafka and returns only once the broker acknowledged them.

The producer starts lazily and retries on every request, so the collector starts (and answers 503)
while Kafka is unreachable instead of crashing.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from .config import KafkaExporterConfig
from .receiver import Unavailable

log = logging.getLogger(__name__)


def _first_trace_id(request: ExportTraceServiceRequest) -> bytes | None:
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                return span.trace_id.hex().encode()
    return None


class KafkaSink:
    """One idempotent producer (acks=all) for one topic, `otlp_proto` encoding."""

    def __init__(self, config: KafkaExporterConfig, send_timeout: float = 10.0) -> None:
        self._config = config
        self._send_timeout = send_timeout
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _ensure_started(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=list(self._config.brokers),
                    enable_idempotence=True,
                    acks="all",
                    compression_type="lz4",
                    linger_ms=5,
                    max_request_size=8 * 1024 * 1024,
                    request_timeout_ms=int(self._send_timeout * 1000),
                )
                try:
                    await producer.start()
                except (KafkaError, OSError) as exc:
                    await producer.stop()
                    raise Unavailable(f"Kafka is unreachable: {exc}", retry_after=2) from exc
                log.info("connected to Kafka at %s", ",".join(self._config.brokers))
                self._producer = producer
            return self._producer

    async def send(self, request: ExportTraceServiceRequest) -> None:
        producer = await self._ensure_started()
        value = request.SerializeToString()
        try:
            await asyncio.wait_for(
                producer.send_and_wait(
                    self._config.topic,
                    value,
                    key=_first_trace_id(request),
                    headers=[("content-type", b"application/x-protobuf")],
                ),
                self._send_timeout,
            )
        except (KafkaError, TimeoutError) as exc:
            raise Unavailable(f"Kafka did not acknowledge the records: {exc!r}", retry_after=2) from exc

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
