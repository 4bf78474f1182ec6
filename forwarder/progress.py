"""Which fetched records are done, per partition, and so how far each partition may be committed.

A record is done when it is delivered, parked, dead-lettered or dropped as a duplicate; records finish
in any order (each at its own pace), and a partition is committed up to its first record that is not
done, as soon as that moves: nothing undone is ever committed past, and after a crash the partition's
next owner posts again at most the done records behind it (`held`).
"""

from __future__ import annotations

from collections import deque

from aiokafka import TopicPartition


class Progress:
    def __init__(self) -> None:
        self._fetched: dict[TopicPartition, deque[int]] = {}  # offsets in hand, in order
        self._done: dict[TopicPartition, set[int]] = {}
        self._next: dict[TopicPartition, int] = {}  # the offset to commit: past the done prefix
        self._committed: dict[TopicPartition, int] = {}

    def fetched(self, tp: TopicPartition, offset: int) -> None:
        self._fetched.setdefault(tp, deque()).append(offset)
        self._done.setdefault(tp, set())

    def done(self, tp: TopicPartition, offset: int) -> None:
        if tp not in self._fetched:  # fetched before a rebalance cleared the partition
            return
        fetched, done = self._fetched[tp], self._done[tp]
        done.add(offset)
        while fetched and fetched[0] in done:
            done.discard(first := fetched.popleft())
            self._next[tp] = first + 1

    def held(self, tp: TopicPartition) -> int:
        """Records of the partition in hand: fetched and not yet past its first record not done."""
        return len(self._fetched.get(tp, ()))

    def committable(self) -> dict[TopicPartition, int]:
        """The offsets to commit: each partition that moved since its last commit, to its first record
        not done."""
        return {tp: n for tp, n in self._next.items() if self._committed.get(tp) != n}

    def committed(self, offsets: dict[TopicPartition, int]) -> None:
        self._committed.update(offsets)

    def clear(self) -> None:
        """Forget every partition (they were revoked: their next owner starts from the committed offsets)."""
        self._fetched.clear()
        self._done.clear()
        self._next.clear()
        self._committed.clear()
