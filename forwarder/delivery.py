"""Posting a record to Helicone, and then its scores: the forwarder's delivery client.

Retryable answers (`errors.retryable_status`: 429, 5xx, 408, timeouts, connection errors, and
401/403) are retried in place with jittered exponential backoff, lengthened (never shortened) by a
Retry-After, within the bounds of a `RetryPolicy`. What happens when a record keeps failing depends on
whether Helicone takes other records meanwhile (`health.Health`):

- it takes nothing (down, or the only key refused): an outage, waited out; the record waits while one
  record at a time probes Helicone, and tries again as soon as Helicone is back;
- it takes others: the record is parked (`Undelivered(park=True)`) once its policy's bounds are spent,
  or at once when Helicone refuses its key (401/403: one tenant's key costs that tenant only).

Every other 4xx is a refusal for good (`Undelivered(park=False)`: dead-letter it). A rebalance or
shutdown (`interrupt`) cuts a wait short (`Interrupted`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import aiohttp

from helicone_otel.contract import score_url
from helicone_otel.errors import Permanent, Retryable, Unavailable, http_failure
from helicone_otel.retry import Interrupted, RetryPolicy, pause, retry_after

from .config import ForwarderConfig
from .health import KEY_REFUSED, Health
from .metrics import Metrics

log = logging.getLogger(__name__)


class Undelivered(Exception):
    """Helicone did not take the record after `attempts` posts: `park` it to retry later, or (not
    `park`) it refused it for good: dead-letter it."""

    def __init__(self, reason: str, attempts: int, *, park: bool) -> None:
        super().__init__(reason)
        self.attempts = attempts
        self.park = park


class _Failed(Unavailable):
    """A retryable answer, with its HTTP status (None: no answer)."""

    def __init__(self, message: str, status: int | None, retry_after: float | None = None) -> None:
        super().__init__(message, retry_after)
        self.status = status


class HeliconeClient:
    def __init__(self, config: ForwarderConfig, metrics: Metrics, interrupt: asyncio.Event) -> None:
        self.config = config
        self.metrics = metrics
        self.interrupt = interrupt
        self.health = Health()
        self._posts = asyncio.Semaphore(config.concurrency)  # posts in flight; waits hold no slot

    async def post_scores(self, session: aiohttp.ClientSession, record_id: str, key: str, scores: str,
                          policy: RetryPolicy) -> None:  # fmt: skip
        """After the record: its evaluation scores. A score Helicone refuses is counted and logged, not
        dead-lettered or parked with its record, which Helicone already has (a replay would log it twice)."""
        url = score_url(self.config.helicone_api_url, record_id)
        try:
            await self.post(session, url, key, json.dumps({"scores": json.loads(scores)}).encode(), policy)
        except (Undelivered, ValueError) as exc:
            log.warning("Helicone refused the scores of record %s: %s", record_id, exc)
            self.metrics.add("helicone_otel_forwarder_scores_failed")
        else:
            self.metrics.add("helicone_otel_forwarder_scores_posted")

    async def post(self, session: aiohttp.ClientSession, url: str, key: str, value: bytes, policy: RetryPolicy,
                   park_refused_key: bool = True) -> int:  # fmt: skip
        """Post until Helicone takes it; return how many posts it took. Raises Undelivered (park it, or
        dead-letter it) as the module says, and Interrupted on a rebalance or shutdown (the record stays
        uncommitted, and the partition's next owner delivers it). With `park_refused_key`, a record
        whose key Helicone refuses while it takes other keys is parked without a post."""
        health, attempts = self.health, 0
        backoff, tries, first = policy.backoff(), 0, 0.0  # the policy's count, since Helicone was last back
        while True:
            probe = await health.turn(self.interrupt, self.config.request_timeout)
            if health.recovered_at > first:  # Helicone is back: the record starts afresh
                backoff.reset()
                tries = 0
            refused_at = health.refused_since(key)
            if park_refused_key and refused_at is not None and health.others_went_through(refused_at):
                raise Undelivered("Helicone refuses this record's key (401/403) while it takes other keys' records",
                                  attempts, park=True)  # fmt: skip
            started = time.monotonic()
            attempts, tries = attempts + 1, tries + 1
            first = started if tries == 1 else first
            try:
                async with self._posts:
                    if self.interrupt.is_set():  # (waited for a slot meanwhile)
                        raise Interrupted("rebalance or shutdown")
                    await self._attempt(session, url, key, value)
            except Permanent as exc:
                raise Undelivered(str(exc), attempts, park=False) from exc
            except _Failed as exc:
                health.failed(exc, key, started, exc.status, probe)
                wait = pause(exc, backoff)
                key_refused = exc.status in KEY_REFUSED  # then since when is the key's, not the record's
                since = (health.refused_since(key) or first) if key_refused else first
                if health.others_went_through(since) and (
                    key_refused or not policy.allows(tries, time.monotonic() + wait - first)
                ):
                    raise Undelivered(f"still failing after {attempts} attempts while other records went through: "
                                      f"{exc}", attempts, park=True) from exc  # fmt: skip
                self.metrics.add("helicone_otel_forwarder_retried")
                await health.sleep(wait, self.interrupt)
            else:
                health.succeeded(key)
                return attempts

    async def _attempt(self, session: aiohttp.ClientSession, url: str, key: str, value: bytes) -> None:
        headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
        started = time.monotonic()
        try:
            async with session.post(url, data=value, headers=headers) as reply:
                status, text = reply.status, await reply.text(errors="replace")
                hinted = retry_after(reply.headers.get("retry-after"))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _Failed(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, None) from exc
        self.metrics.observe("helicone_otel_forwarder_post_latency_seconds", time.monotonic() - started)
        if status >= 300:
            failure = http_failure(status, f"HTTP {status}: {text[:300]}", hinted)
            if isinstance(failure, Retryable):
                raise _Failed(str(failure), status, failure.retry_after)
            raise failure
