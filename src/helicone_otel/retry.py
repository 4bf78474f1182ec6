"""How every sender here tries again: `retry` (async) and `retry_sync` call an attempt until it
succeeds, waiting after each `Retryable` failure for its hint (a Retry-After) or else a jittered,
doubling backoff, and stop at a deadline or when told to. A `Permanent` failure is raised at once.

The collector's spool drain, the exporter's transports and the forwarder all retry a remote (Kafka or
Helicone) that may be down; one policy keeps their behaviour and its bounds the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import random
import threading
import time
from collections.abc import Awaitable, Callable
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


def _wait(exc: Retryable, attempts: int, backoff: Backoff, deadline: float | None, on_retry: OnRetry | None) -> float:
    """How long to wait after failure `exc`; raises it when that wait would pass the deadline."""
    if on_retry is not None:
        on_retry(exc, attempts)
    wait = exc.retry_after if exc.retry_after is not None else backoff.next()
    if deadline is not None and time.monotonic() + wait >= deadline:
        raise exc
    return wait


async def retry(
    attempt: Callable[[], Awaitable[T]],
    backoff: Backoff,
    *,
    deadline: float | None = None,
    stop: asyncio.Event | None = None,
    on_retry: OnRetry | None = None,
) -> T:
    """Await `attempt()` until it returns. After a `Retryable` it waits (the hint, else `backoff`) and
    tries again; it raises that `Retryable` when the wait would pass `deadline` (`time.monotonic()`),
    and `Interrupted` when `stop` is set. `on_retry` sees each failure first and may raise instead."""
    attempts = 0
    while True:
        if stop is not None and stop.is_set():
            raise Interrupted("stopping")
        attempts += 1
        try:
            return await attempt()
        except Retryable as exc:
            wait = _wait(exc, attempts, backoff, deadline, on_retry)
            if stop is None:
                await asyncio.sleep(wait)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)


def retry_sync(
    attempt: Callable[[], T],
    backoff: Backoff,
    *,
    deadline: float | None = None,
    stop: threading.Event | None = None,
    on_retry: OnRetry | None = None,
) -> T:
    """`retry` for a thread: `stop` is a `threading.Event`."""
    attempts = 0
    while True:
        if stop is not None and stop.is_set():
            raise Interrupted("stopping")
        attempts += 1
        try:
            return attempt()
        except Retryable as exc:
            wait = _wait(exc, attempts, backoff, deadline, on_retry)
            if stop is None:
                time.sleep(wait)
            else:
                stop.wait(wait)
