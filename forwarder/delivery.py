"""Posting a record to Helicone, and then its scores: the forwarder's delivery client.

Retryable answers (`errors.retryable_status`: 429, 5xx, 408, timeouts, connection errors, and
401/403, since a revoked or mistyped key refuses every record and is an outage to wait out) are
retried with jittered exponential backoff honouring Retry-After. While nothing goes through, a record
waits; one that still fails after `max_attempts` while other records go through is poison
(`Permanent`), and so is every other 4xx. A rebalance or shutdown (`interrupt`) cuts a wait short.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import aiohttp

from helicone_otel.contract import score_url
from helicone_otel.errors import Permanent, Retryable, Unavailable, http_failure
from helicone_otel.retry import Backoff, Interrupted, retry, retry_after

from .config import ForwarderConfig
from .metrics import Metrics

log = logging.getLogger(__name__)


class HeliconeClient:
    def __init__(self, config: ForwarderConfig, metrics: Metrics, interrupt: asyncio.Event) -> None:
        self.config = config
        self.metrics = metrics
        self.interrupt = interrupt
        self.last_success = 0.0  # monotonic time of the last 2xx: tells an outage from a poison record
        self.failing_since: float | None = None  # monotonic time since which no post has succeeded
        self.last_failure = ""

    async def post_scores(self, session: aiohttp.ClientSession, record_id: str, key: str, scores: str) -> None:
        """After the record: its evaluation scores. A score Helicone refuses is counted and logged, not
        dead-lettered with its record, which Helicone already has (a replay would log it twice)."""
        url = score_url(self.config.helicone_api_url, record_id)
        try:
            await self.post(session, url, key, json.dumps({"scores": json.loads(scores)}).encode())
        except (Permanent, ValueError) as exc:
            log.warning("Helicone refused the scores of record %s: %s", record_id, exc)
            self.metrics.add("helicone_otel_forwarder_scores_failed")
        else:
            self.metrics.add("helicone_otel_forwarder_scores_posted")

    async def post(self, session: aiohttp.ClientSession, url: str, key: str, value: bytes) -> None:
        """Post until Helicone takes it. Raises Permanent when Helicone refuses it for good, or when it
        failed `max_attempts` times while other records went through (a poison record, not an outage:
        an outage is waited out), and Interrupted on a rebalance or shutdown (the record stays
        uncommitted, and the partition's next owner delivers it)."""
        first = time.monotonic()
        headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
        started = first

        async def attempt() -> None:
            nonlocal started
            started = time.monotonic()
            try:
                async with session.post(url, data=value, headers=headers) as reply:
                    status, text = reply.status, await reply.text(errors="replace")
                    hinted = retry_after(reply.headers.get("retry-after"))
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise Unavailable(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from exc
            self.metrics.observe("helicone_otel_forwarder_post_latency_seconds", time.monotonic() - started)
            if status >= 300:
                raise http_failure(status, f"HTTP {status}: {text[:300]}", hinted)
            self.last_success, self.failing_since = time.monotonic(), None

        def failed(exc: Retryable, attempts: int) -> None:
            self.last_failure = str(exc)
            if self.failing_since is None and self.last_success < started:
                self.failing_since = started
            if attempts >= self.config.max_attempts and self.last_success > first:
                raise Permanent(f"gave up after {attempts} attempts while other records went through: {exc}")
            self.metrics.add("helicone_otel_forwarder_retried")

        try:
            await retry(attempt, Backoff(0.2), stop=self.interrupt, on_retry=failed)
        except Interrupted as exc:
            raise Interrupted("rebalance or shutdown") from exc
