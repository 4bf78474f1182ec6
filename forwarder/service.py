"""Consumes Helicone log records from Kafka and delivers each to Helicone's async log API.

At-least-once: records are fetched in batches, every record of a batch is delivered (2xx) or
dead-lettered, and only then are the batch's offsets committed. Retryable answers (429, 5xx,
timeouts, connection errors) are retried with jittered exponential backoff honouring Retry-After.
While nothing goes through (Helicone down) records wait and the lag grows: an outage never fills the
dead-letter topic. A record that still fails after `max_attempts` while other records go through is
poison, and goes to the dead-letter topic with the error in a header, as do other 4xx and records
that fail validation, so a poison record never blocks its partition. Record ids are
deterministic, so a bounded window of recently delivered ids drops the duplicates that at-least-once
hops upstream produce. SIGTERM: finish the batch in flight, commit, leave the group.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import signal
import time
from collections import OrderedDict
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord
from helicone_otel.collector.metrics import Metrics
from helicone_otel.semconv.providers import log_route

from .config import ForwarderConfig

log = logging.getLogger(__name__)
RETRYABLE = {408, 429, 500, 502, 503, 504}


class Permanent(Exception):
    """The record can never be delivered as it is: it goes to the dead-letter topic."""


class Interrupted(Exception):
    """Shutdown came while a record was waiting to be retried: neither delivered nor dead-lettered,
    so its batch is not committed and the next start delivers it."""


def validate(value: bytes) -> dict[str, Any]:
    """The record as Helicone's async-log body, or Permanent naming what is wrong with it."""
    try:
        body = json.loads(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Permanent(f"not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise Permanent("not a JSON object")
    for key, kind in (("providerRequest", dict), ("providerResponse", dict), ("timing", dict)):
        if not isinstance(body.get(key), kind):
            raise Permanent(f"{key} missing")
    if not isinstance(body["providerResponse"].get("status"), int):
        raise Permanent("providerResponse.status missing")
    return body


class Forwarder:
    def __init__(self, config: ForwarderConfig, dry_run: bool = False) -> None:
        self.config = config
        self.dry_run = dry_run
        self.metrics = Metrics()
        self.recent: OrderedDict[str, None] = OrderedDict()
        self._stop = asyncio.Event()
        self._semaphore = asyncio.Semaphore(config.concurrency)
        self.last_success = 0.0  # monotonic time of the last 2xx: tells an outage from a poison record

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        cfg = self.config
        consumer = AIOKafkaConsumer(
            cfg.topic, bootstrap_servers=list(cfg.brokers), group_id=cfg.group_id, enable_auto_commit=False,
            auto_offset_reset="earliest", max_poll_records=500,
        )  # fmt: skip
        producer = AIOKafkaProducer(bootstrap_servers=list(cfg.brokers), enable_idempotence=True, acks="all")
        await consumer.start()
        if not self.dry_run:
            await producer.start()
        client = httpx.AsyncClient(timeout=cfg.request_timeout, limits=httpx.Limits(max_connections=cfg.concurrency))
        lag_task = asyncio.get_running_loop().create_task(self._lag_loop(consumer))
        try:
            while not self._stop.is_set():
                batches = await consumer.getmany(timeout_ms=500, max_records=500)
                for tp, records in batches.items():
                    results = await asyncio.gather(
                        *(self._handle(r, client, producer) for r in records), return_exceptions=True
                    )
                    failures = [r for r in results if isinstance(r, BaseException)]
                    if failures:  # not all delivered or dead-lettered: no commit, redelivered next start
                        if not all(isinstance(f, Interrupted) for f in failures):
                            log.error("batch of %s not committed: %r", tp, failures[0])
                        self._stop.set()
                        break
                    if not self.dry_run:
                        await consumer.commit({tp: records[-1].offset + 1})
        finally:
            lag_task.cancel()
            await client.aclose()
            if not self.dry_run:
                await producer.stop()
            await consumer.stop()  # leaves the group: partitions move on at once

    async def _lag_loop(self, consumer: AIOKafkaConsumer) -> None:
        """Every second: records in the assigned partitions beyond the committed offsets. It keeps
        counting while a batch waits out an outage (the fetch position has moved on; commits have not)."""
        while True:
            await asyncio.sleep(1.0)
            try:
                partitions = list(consumer.assignment())
                ends = await consumer.end_offsets(partitions) if partitions else {}
                lag = 0
                for tp in partitions:
                    committed = await consumer.committed(tp)
                    lag += max(ends.get(tp, 0) - (committed or 0), 0)
                self.metrics.set("helicone_otel_forwarder_lag", lag)
            except Exception as exc:  # a metric must never stop the forwarder
                log.debug("lag not measured: %r", exc)

    async def _handle(self, record: ConsumerRecord[bytes, bytes], client: httpx.AsyncClient,
                      producer: AIOKafkaProducer) -> None:  # fmt: skip
        headers = {k: v.decode(errors="replace") for k, v in record.headers}
        try:
            body = validate(record.value or b"")
            record_id = str(body.get("id") or "")
            if record_id and record_id in self.recent:
                self.metrics.add("helicone_otel_forwarder_duplicates")
                return
            route = log_route(str(body.get("provider") or headers.get("provider") or "CUSTOM"))
            key = headers.get("helicone-auth") or self.config.api_key
            if not key:
                raise Permanent("no Helicone API key: no helicone-auth header and none configured")
            if self.dry_run:
                print(json.dumps({"route": route, "id": record_id, "offset": record.offset}), flush=True)
                return
            async with self._semaphore:
                await self._post(client, route, key, record.value or b"")
            if record_id:
                self.recent[record_id] = None
                if len(self.recent) > self.config.dedupe_window:
                    self.recent.popitem(last=False)
            self.metrics.add("helicone_otel_forwarder_delivered")
        except Permanent as exc:
            await self._dead_letter(record, str(exc), producer)

    async def _post(self, client: httpx.AsyncClient, route: str, key: str, value: bytes) -> None:
        backoff = 0.2
        first = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            wait = backoff * random.uniform(0.5, 1.5)
            started = time.monotonic()
            try:
                reply = await client.post(
                    self.config.helicone_url + route, content=value,
                    headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
                )  # fmt: skip
            except httpx.HTTPError as exc:
                reason = f"{type(exc).__name__}: {exc}"
            else:
                self.metrics.observe("helicone_otel_forwarder_post_latency_seconds", time.monotonic() - started)
                if reply.status_code < 300:
                    self.last_success = time.monotonic()
                    return
                reason = f"HTTP {reply.status_code}: {reply.text[:300]}"
                if reply.status_code not in RETRYABLE:
                    raise Permanent(reason)
                retry_after = reply.headers.get("retry-after", "")
                if retry_after.isdigit():
                    wait = float(retry_after)
            if attempt >= self.config.max_attempts and self.last_success > first:
                raise Permanent(f"gave up after {attempt} attempts while other records went through: {reason}")
            if self._stop.is_set():
                raise Interrupted(reason)
            self.metrics.add("helicone_otel_forwarder_retried")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), wait)
            backoff = min(backoff * 2, 30.0)

    async def _dead_letter(self, record: ConsumerRecord[bytes, bytes], error: str, producer: AIOKafkaProducer) -> None:
        log.warning("record at %s[%d]@%d dead-lettered: %s", record.topic, record.partition, record.offset, error)
        self.metrics.add("helicone_otel_forwarder_dead_lettered")
        if self.dry_run:
            print(json.dumps({"invalid": error, "offset": record.offset}), flush=True)
            return
        headers = list(record.headers)  # helicone-auth stays: a replay needs the tenant's key
        headers += [("error", error[:1000].encode()), ("original-offset", str(record.offset).encode())]
        await producer.send_and_wait(self.config.dead_letter_topic, record.value, key=record.key, headers=headers)


async def serve(config: ForwarderConfig, dry_run: bool = False) -> None:
    from helicone_otel.collector._http import bind, start_http_server
    from helicone_otel.collector.admin import metrics_app

    forwarder = Forwarder(config, dry_run)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, forwarder.stop)
    metrics = None
    if config.metrics_address:
        metrics = await start_http_server(metrics_app(forwarder.metrics), bind(config.metrics_address))
    try:
        await forwarder.run()
    finally:
        if metrics is not None:
            metrics[0].should_exit = True
            await metrics[1]
