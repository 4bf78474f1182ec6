"""Posting a record to Helicone, and then its scores: the forwarder's delivery client.

Retryable answers (`errors.retryable_status`: 429, 5xx, 408, timeouts, connection errors, and
401/403, since a revoked or mistyped key refuses every record and is an outage to wait out) are
retried with jittered exponential backoff honouring Retry-After. While nothing goes through, a record
waits; one that still fails after `max_attempts` while other records go through is poison
(`Permanent`), and so is every other 4xx. A rebalance or shutdown (`interrupt`) cuts a wait short.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

import aiohttp

from helicone_otel.contract import score_url
from helicone_otel.errors import Permanent, retryable_status
from helicone_otel.retry import Backoff, retry_after

from .config import ForwarderConfig
from .metrics import Metrics

log = logging.getLogger(__name__)


class Interrupted(Exception):
    """A rebalance or shutdown came while the record waited to be (re)tried: neither delivered nor
    dead-lettered, so its offset is not committed and the partition's next owner delivers it."""


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
        backoff = Backoff(0.2)
        first = time.monotonic()
        attempt = 0
        headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
        while True:
            if self.interrupt.is_set():
                raise Interrupted("rebalance or shutdown")
            attempt += 1
            wait = backoff.next()
            started = time.monotonic()
            try:
                async with session.post(url, data=value, headers=headers) as reply:
                    status, text = reply.status, await reply.text(errors="replace")
                    hinted = retry_after(reply.headers.get("retry-after"))
            except (aiohttp.ClientError, TimeoutError) as exc:
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                self.metrics.observe("helicone_otel_forwarder_post_latency_seconds", time.monotonic() - started)
                if status < 300:
                    self.last_success, self.failing_since = time.monotonic(), None
                    return
                reason = f"HTTP {status}: {text[:300]}"
                if not retryable_status(status):
                    raise Permanent(reason)  # the record can never be delivered as it is: dead-letter it
                wait = hinted if hinted is not None else wait
            self.last_failure = reason
            if self.failing_since is None and self.last_success < started:
                self.failing_since = started
            if attempt >= self.config.max_attempts and self.last_success > first:
                raise Permanent(f"gave up after {attempt} attempts while other records went through: {reason}")
            self.metrics.add("helicone_otel_forwarder_retried")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.interrupt.wait(), wait)
