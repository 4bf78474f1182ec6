"""How every sender here tries again: `retry` (async) and `retry_sync` call an attempt until it
succeeds, waiting after each `Retryable` failure for a jittered, doubling backoff, lengthened by the
failure's hint (a Retry-After) but never shortened by it (`pause`: a `Retry-After: 0` or a date in the
past must not become a tight loop), and stop at a deadline, when a policy's bounds are spent, or when
told to. A `Permanent` failure is raised at once.

The collector's spool drain, the exporter's transports and the forwarder all retry a remote (Kafka or
Helicone) that may be down; one rule keeps their behaviour the same, and a named `RetryPolicy` states
each kind of retry's backoff and bounds once (the forwarder's below).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import random
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from helicone_otel.errors import Retryable

T = TypeVar("T")

MAX_RETRY_AFTER = 300.0  # seconds: a larger Retry-After is honoured up to this


class Backoff:
    """Waits of `first` seconds, doubling up to `cap`, each jittered by x0.5 to x1.5 so that many
    clients retrying the same remote do not arrive together."""

    def __init__(self, first: float, cap: float = 30.0) -> None:
        self.first = first
        self.cap = cap
        self._base = first

    def next(self) -> float:
        wait = self._base * random.uniform(0.5, 1.5)
        self._base = min(self._base * 2, self.cap)
        return wait

    def reset(self) -> None:
        self._base = self.first


@dataclass(frozen=True)
class RetryPolicy:
    """One kind of retry, named: its backoff (`first` seconds, doubling to `cap`, jittered) and its
    bounds, after which the caller stops retrying in place: `max_attempts` attempts, `max_elapsed`
    seconds since the first (None: unbounded)."""

    name: str
    first: float
    cap: float = 30.0
    max_attempts: int | None = None
    max_elapsed: float | None = None

    def backoff(self) -> Backoff:
        return Backoff(self.first, self.cap)

    def nth_wait(self, n: int) -> float:
        """The jittered wait before attempt `n` + 1 (n >= 1), for a retry whose backoff cannot be kept
        in memory between attempts (a record parked on Kafka)."""
        base = min(self.first * 2.0 ** min(max(n - 1, 0), 64), self.cap)
        return base * random.uniform(0.5, 1.5)

    def allows(self, attempts: int, elapsed: float) -> bool:
        """Whether another attempt is within the bounds: `attempts` made so far, the next one
        `elapsed` seconds after the first."""
        if self.max_attempts is not None and attempts >= self.max_attempts:
            return False
        return self.max_elapsed is None or elapsed < self.max_elapsed


# The forwarder's retries of Helicone (forwarder/delivery.py, forwarder/health.py). Their first wait,
# at least 0.5 s jittered, is no shorter than the time that tells an outage (health.DOWN_AFTER), so a
# `Retry-After: 0` costs no more attempts than a `Retry-After: 1`.
# A record retried in place while Helicone takes others' records (`max_attempts` is the forwarder's
# setting); past these bounds it is parked, so that it never holds its partition long.
HELICONE_IN_LINE = RetryPolicy("helicone-in-line", first=1.0, cap=5.0, max_attempts=8, max_elapsed=5.0)
# While Helicone takes nothing (down, or the only key refused): one record at a time probes it at this
# pace; its return is seen within cap x 1.5 seconds, and wakes every waiting record.
HELICONE_PROBE = RetryPolicy("helicone-probe", first=1.0, cap=2.0)
# A parked record: one post each time it comes due, at this pace; dead-lettered once it has been
# refused for `max_elapsed` (the forwarder's `dead_letter_after`) while Helicone took other records.
HELICONE_PARKED = RetryPolicy("helicone-parked", first=5.0, cap=300.0, max_elapsed=3600.0)


def pause(exc: Retryable, backoff: Backoff) -> float:
    """The wait after failure `exc`: the backoff's, or the failure's hint when that is longer. A hint
    lengthens a wait and never shortens it below the backoff, so `Retry-After: 0` backs off as well."""
    wait = backoff.next()
    return max(wait, exc.retry_after) if exc.retry_after is not None else wait


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), capped."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


class Interrupted(Exception):
    """The work was given up because its service is stopping or rebalancing, not because it failed:
    it stays where the next owner finds it (the spool, an uncommitted offset)."""


OnRetry = Callable[[Retryable, int], None]  # (the failure, how many attempts so far); may raise


def _wait(exc: Retryable, attempts: int, backoff: Backoff, policy: RetryPolicy | None, first: float,
          deadline: float | None, on_retry: OnRetry | None) -> float:  # fmt: skip
    """How long to wait after failure `exc`; raises it when that wait would pass the deadline or the
    policy's bounds."""
    if on_retry is not None:
        on_retry(exc, attempts)
    wait = pause(exc, backoff)
    now = time.monotonic()
    if deadline is not None and now + wait >= deadline:
        raise exc
    if policy is not None and not policy.allows(attempts, now + wait - first):
        raise exc
    return wait


def _backoff(how: Backoff | RetryPolicy) -> tuple[Backoff, RetryPolicy | None]:
    return (how, None) if isinstance(how, Backoff) else (how.backoff(), how)


async def retry(
    attempt: Callable[[], Awaitable[T]],
    backoff: Backoff | RetryPolicy,
    *,
    deadline: float | None = None,
    stop: asyncio.Event | None = None,
    on_retry: OnRetry | None = None,
) -> T:
    """Await `attempt()` until it returns. After a `Retryable` it waits (`pause`: the backoff, or a longer
    hint) and tries again; it raises that `Retryable` when the wait would pass `deadline`
    (`time.monotonic()`) or a policy's bounds, and `Interrupted` when `stop` is set. `on_retry` sees
    each failure first and may raise instead."""
    backoff_, policy = _backoff(backoff)
    attempts, first = 0, time.monotonic()
    while True:
        if stop is not None and stop.is_set():
            raise Interrupted("stopping")
        attempts += 1
        try:
            return await attempt()
        except Retryable as exc:
            wait = _wait(exc, attempts, backoff_, policy, first, deadline, on_retry)
            if stop is None:
                await asyncio.sleep(wait)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)


def retry_sync(
    attempt: Callable[[], T],
    backoff: Backoff | RetryPolicy,
    *,
    deadline: float | None = None,
    stop: threading.Event | None = None,
    on_retry: OnRetry | None = None,
) -> T:
    """`retry` for a thread: `stop` is a `threading.Event`."""
    backoff_, policy = _backoff(backoff)
    attempts, first = 0, time.monotonic()
    while True:
        if stop is not None and stop.is_set():
            raise Interrupted("stopping")
        attempts += 1
        try:
            return attempt()
        except Retryable as exc:
            wait = _wait(exc, attempts, backoff_, policy, first, deadline, on_retry)
            if stop is None:
                time.sleep(wait)
            else:
                stop.wait(wait)
