"""What Helicone's answers say, for the records waiting on it: whether it takes records at all, and
which keys it refuses.

Helicone is down when an attempt failed and nothing has succeeded for DOWN_AFTER seconds since. While
it is down, records do not each retry on their own backoff (thousands of waiting records would be
thousands of requests to a service that is down): one at a time probes it, at the `HELICONE_PROBE`
pace and never sooner than its Retry-After, and the first 2xx after that wakes every waiting record,
which tries again at once with its backoff and its policy's count reset, so that a backlog drains at
full speed as soon as Helicone is back.

A key Helicone refuses (401/403) while it takes other keys' records is one tenant's problem: its
records are parked (`refused_since` tells the delivery client), and the others flow.
"""

from __future__ import annotations

import asyncio
import time

from helicone_otel.errors import Retryable
from helicone_otel.retry import HELICONE_PROBE, Interrupted, RetryPolicy, pause

DOWN_AFTER = 0.5  # seconds of failures without a 2xx after which Helicone counts as down
KEY_REFUSED = frozenset({401, 403})  # answers that refuse a key rather than a record or the service


class Health:
    def __init__(self, probe: RetryPolicy = HELICONE_PROBE) -> None:
        self.last_success = 0.0  # monotonic time of the last 2xx (any key)
        self.recovered_at = 0.0  # monotonic time Helicone was last back after being down
        self.failing_since: float | None = None  # since when no attempt has succeeded, after a failure
        self.last_failure = ""
        self._refused: dict[str, float] = {}  # key -> since when Helicone refuses it, until a 2xx with it
        self._recovered = asyncio.Event()  # set (and replaced) when Helicone takes a record again
        self._probed = asyncio.Event()  # set (and replaced) when a probe failed: the next may go soon
        self._probe = probe.backoff()
        self._next_probe = 0.0  # monotonic time from which a waiting record may probe

    @property
    def down(self) -> bool:
        return self.failing_since is not None and time.monotonic() - self.failing_since >= DOWN_AFTER

    def others_went_through(self, since: float) -> bool:
        """Whether Helicone took some record after `since`: a record failing since then is not an
        outage but its own (or its key's) problem."""
        return self.last_success > since

    def refused_since(self, key: str) -> float | None:
        return self._refused.get(key)

    def succeeded(self, key: str) -> None:
        was_down = self.down
        self.last_success, self.failing_since = time.monotonic(), None
        self._refused.pop(key, None)
        if was_down:
            self.recovered_at = self.last_success
            self._probe.reset()
            self._next_probe = 0.0
            self._recovered.set()
            self._recovered = asyncio.Event()

    def failed(self, exc: Retryable, key: str, started: float, status: int | None, probe: bool) -> None:
        """An attempt begun at `started` failed with `exc` (HTTP `status`, None without an answer).
        A probe's failure sets when the next probe may go."""
        self.last_failure = str(exc)
        if self.failing_since is None and self.last_success < started:
            self.failing_since = started
        if status in KEY_REFUSED:
            self._refused.setdefault(key, started)
        if probe:
            self._next_probe = time.monotonic() + pause(exc, self._probe)
            self._probed.set()
            self._probed = asyncio.Event()

    async def turn(self, stop: asyncio.Event, timeout: float) -> bool:
        """Return once a record may try: at once while Helicone is up; while it is down, when Helicone is
        back or it is this record's turn to probe (True: it probes, and its answer must come within
        `timeout` seconds, before the next probe may go). Raises Interrupted when `stop` is set."""
        while self.down:
            now = time.monotonic()
            if now >= self._next_probe:
                self._next_probe = now + timeout + 1.0  # until its failure says when the next may go
                return True
            await _wait(self._next_probe - now, stop, self._recovered, self._probed)
        return False

    async def sleep(self, seconds: float, stop: asyncio.Event) -> None:
        """Wait up to `seconds`, less when Helicone is back (`recovered_at` says so: the waiter resets
        its backoff). Raises Interrupted when `stop` is set (a rebalance or shutdown)."""
        await _wait(seconds, stop, self._recovered)


async def _wait(seconds: float, stop: asyncio.Event, *events: asyncio.Event) -> None:
    """Up to `seconds`, or until one of `events` is set; Interrupted when `stop` is."""
    waiters = {asyncio.ensure_future(e.wait()) for e in (stop, *events)}
    try:
        await asyncio.wait(waiters, timeout=max(seconds, 0.0), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    if stop.is_set():
        raise Interrupted("rebalance or shutdown")
