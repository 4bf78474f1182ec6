"""How every sender here waits before trying again: jittered exponential backoff, and Retry-After.

The collector's spool drain, the exporter's transports and the forwarder all retry a remote (Kafka or
Helicone) that may be down; one policy keeps their behaviour and its bounds the same.
"""

from __future__ import annotations

import email.utils
import random
import time

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
