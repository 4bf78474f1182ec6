"""A byte-bounded FIFO that never blocks its producer: when full, the oldest items make room."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class DroppingQueue(Generic[T]):
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: deque[tuple[T, int]] = deque()
        self._bytes = 0
        self._lock = threading.Lock()

    def put(self, item: T, size: int) -> int:
        """Append; return how many old items were dropped to make room (the new one always stays)."""
        with self._lock:
            self._items.append((item, size))
            self._bytes += size
            dropped = 0
            while self._bytes > self.max_bytes and len(self._items) > 1:
                _, old = self._items.popleft()
                self._bytes -= old
                dropped += 1
            return dropped

    def take(self, max_items: int, ready: Callable[[T], bool] | None = None) -> list[T]:
        """Up to `max_items` from the front, stopping at the first item `ready` says is not (it stays first)."""
        with self._lock:
            out: list[T] = []
            while self._items and len(out) < max_items:
                if ready is not None and not ready(self._items[0][0]):
                    break
                item, size = self._items.popleft()
                self._bytes -= size
                out.append(item)
            return out

    def __len__(self) -> int:
        return len(self._items)

    @property
    def bytes(self) -> int:
        return self._bytes

    def reset(self) -> None:
        """After fork: a fresh lock (the parent's may be held by a thread that does not exist here)."""
        self._lock = threading.Lock()
