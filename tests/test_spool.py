"""The write-ahead spool on its own: framing, order, commit, segment deletion, torn tails."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from helicone_otel.collector.spool import Spool, SpoolCorrupt, SpoolFull

from helicone_otel.kafka.records import KafkaRecord


def records(n: int, size: int = 100, tag: str = "") -> list[KafkaRecord]:
    return [
        KafkaRecord("topic", f"k{tag}{i}".encode(), bytes([i % 256]) * size, (("h", b"v"),), "kafka/x")
        for i in range(n)
    ]


def test_frames_round_trip_in_order_across_segments(tmp_path: Path) -> None:
    async def main() -> list[KafkaRecord]:
        spool = Spool(tmp_path, max_bytes=10**8, segment_bytes=4096)
        for i in range(10):  # one by one: the segment rolls over between writes
            await spool.append(records(3, 500, str(i)), spans=3)
        # concurrently: one group commit (a segment may overshoot its size; it rolls on the next write)
        await asyncio.gather(*(spool.append(records(3, 500, str(i)), spans=3) for i in range(10, 20)))
        await spool.close()
        return [r for f in Spool(tmp_path, 10**8, segment_bytes=4096).read(0, 10**8) for r in f.records]

    got = asyncio.run(main())
    assert [r.key for r in got] == [f"k{i}{j}".encode() for i in range(20) for j in range(3)]
    assert got[0] == KafkaRecord("topic", b"k00", b"\x00" * 500, (("h", b"v"),), "kafka/x")
    assert len(list(tmp_path.glob("*.seg"))) >= 3  # ~1.6 KB frames, 4 KiB segments


def test_commit_deletes_spent_segments_and_survives_reopen(tmp_path: Path) -> None:
    async def main() -> None:
        spool = Spool(tmp_path, max_bytes=10**8, segment_bytes=2048)
        for i in range(10):
            await spool.append(records(2, 600, str(i)), spans=2)
        frames = spool.read(spool.committed, 10**8)
        assert len(frames) == 10
        spool.commit(frames[6].end)
        await spool.close()
        reopened = Spool(tmp_path, max_bytes=10**8, segment_bytes=2048)
        rest = reopened.read(reopened.committed, 10**8)
        assert [f.records[0].key for f in rest] == [b"k70", b"k80", b"k90"]
        assert reopened.size_bytes == sum(f.end - f.start for f in rest)
        assert min(int(p.stem) for p in tmp_path.glob("*.seg")) <= frames[7].start
        assert len(list(tmp_path.glob("*.seg"))) < 10

    asyncio.run(main())


def write_three_frames(directory: Path) -> None:
    """A closed spool holding three one-record frames, keys k00, k10, k20."""

    async def write() -> None:
        spool = Spool(directory, max_bytes=10**8)
        for i in range(3):
            await spool.append(records(1, 50, str(i)), spans=1)
        await spool.close()

    asyncio.run(write())


def test_torn_tail_is_cut_and_everything_before_it_kept(tmp_path: Path) -> None:
    write_three_frames(tmp_path)
    segment = next(tmp_path.glob("*.seg"))
    whole = segment.stat().st_size
    with open(segment, "ab") as f:
        f.write(b"\x00\x00\x10\x00partial frame of a crash")
    spool = Spool(tmp_path, max_bytes=10**8)
    assert spool.torn_bytes == 28
    assert segment.stat().st_size == whole
    assert [f.records[0].key for f in spool.read(0, 10**8)] == [b"k00", b"k10", b"k20"]


def test_corruption_in_the_middle_is_reported_not_skipped(tmp_path: Path) -> None:
    write_three_frames(tmp_path)
    segment = next(tmp_path.glob("*.seg"))
    data = bytearray(segment.read_bytes())
    data[20] ^= 0xFF  # inside the first frame's payload
    segment.write_bytes(bytes(data))
    with pytest.raises(SpoolCorrupt, match="bad frame at 0"):
        Spool(tmp_path, max_bytes=10**8)


def test_full_spool_refuses_and_frees_after_commit(tmp_path: Path) -> None:
    async def main() -> None:
        spool = Spool(tmp_path, max_bytes=2000)
        await spool.append(records(1, 1500), spans=1)
        with pytest.raises(SpoolFull):
            await spool.append(records(1, 1500), spans=1)
        spool.commit(spool.end)
        await spool.append(records(1, 1500), spans=1)
        await spool.close()

    asyncio.run(main())


def test_the_drain_survives_any_failure_and_says_why(tmp_path: Path) -> None:
    """An unexpected error in the drain (a bug, a config the spool does not match) keeps the spool,
    marks the drain failing with the reason (the collector's /ready shows it), and is tried again."""
    from helicone_otel.collector.drain import SpoolDrain
    from helicone_otel.collector.metrics import Metrics

    class Sender:
        def __init__(self) -> None:
            self.calls = 0

        def delivery(self, batch: list[KafkaRecord]) -> Callable[[], Awaitable[int]]:
            return self.deliver

        async def deliver(self) -> int:
            self.calls += 1
            if self.calls == 1:
                raise KeyError("kafka")
            return 0

    async def main() -> tuple[str | None, str | None, int, int]:
        spool = Spool(tmp_path, max_bytes=10**8)
        await spool.append(records(3), spans=3)
        sender = Sender()
        drain = SpoolDrain(spool, sender, Metrics())  # type: ignore[arg-type]
        drain.retry_pause = 0.2
        drain.start()
        await asyncio.sleep(0.1)
        failing = drain.failure
        await asyncio.sleep(0.5)
        await drain.drain(5)
        await spool.close()
        return failing, drain.failure, sender.calls, spool.end - spool.committed

    failing, after, calls, left = asyncio.run(main())
    assert failing == "the spool drain failed: KeyError: 'kafka'"
    assert (after, calls, left) == (None, 2, 0)


def test_one_process_owns_a_spool_and_a_second_collector_takes_the_next(tmp_path: Path) -> None:
    """Two collectors on one configuration (an upgrade, or a mistake) never write into one spool: the
    second owns `worker-1`, and adopts `worker-0` once its owner is gone."""
    from helicone_otel.collector.app import _left_spools, _own_spool
    from helicone_otel.collector.config import SpoolConfig
    from helicone_otel.collector.spool import SpoolInUse

    async def main() -> None:
        first = Spool(tmp_path / "worker-0", 1 << 20)
        with pytest.raises(SpoolInUse, match="owned by another running process"):
            Spool(tmp_path / "worker-0", 1 << 20)
        settings = SpoolConfig(directory=str(tmp_path))
        opened: set[Path] = set()
        own = _own_spool(settings, None, opened)
        assert own.directory.name == "worker-1" and _left_spools(settings, None, opened) == []  # worker-0 still owned
        await first.close()
        adopted = _left_spools(settings, None, opened)
        assert [s.directory.name for s in adopted] == ["worker-0"]
        for s in (own, *adopted):
            await s.close()

    asyncio.run(main())


def test_delivered_space_comes_back_and_a_reopen_replays_nothing(tmp_path: Path) -> None:
    async def main() -> None:
        spool = Spool(tmp_path, max_bytes=10**8)
        for i in range(5):
            await spool.append(records(2, 1000, str(i)), spans=2)
        frames = spool.read(spool.committed, 10**8)
        spool.commit(frames[2].end)  # part delivered: nothing of the tail can go yet
        assert sum(p.stat().st_size for p in tmp_path.glob("*.seg")) == spool.end
        spool.commit(frames[-1].end)  # all delivered: the tail is emptied and named after the next offset
        assert [p.stat().st_size for p in tmp_path.glob("*.seg")] == [0]
        assert next(tmp_path.glob("*.seg")).stem == f"{spool.end:020d}"
        await spool.append(records(1, 10, "after"), spans=1)
        await spool.close()
        reopened = Spool(tmp_path, max_bytes=10**8)
        assert [f.records[0].key for f in reopened.read(reopened.committed, 10**8)] == [b"kafter0"]

    asyncio.run(main())


def test_the_tail_rolls_once_its_delivered_head_is_worth_reclaiming(tmp_path: Path) -> None:
    async def main() -> None:
        spool = Spool(tmp_path, max_bytes=10**8, reclaim_bytes=4096)
        await spool.append(records(5, 1000, "a"), spans=5)
        await spool.append(records(1, 10, "b"), spans=1)  # keeps the tail from being wholly delivered
        spool.commit(spool.read(0, 1)[0].end)
        await spool.append(records(1, 10, "c"), spans=1)  # >= 4 KiB of the tail delivered: a new tail
        assert len(list(tmp_path.glob("*.seg"))) == 2
        spool.commit(spool.read(spool.committed, 1)[0].end)  # the old segment is now all delivered
        assert len(list(tmp_path.glob("*.seg"))) == 1
        await spool.close()

    asyncio.run(main())


def test_a_torn_cursor_slot_falls_back_to_the_other_and_old_cursors_still_read(tmp_path: Path) -> None:
    async def main() -> list[int]:
        spool = Spool(tmp_path, max_bytes=10**8)
        for i in range(4):
            await spool.append(records(1, 100, str(i)), spans=1)
        ends = [f.end for f in spool.read(0, 10**8)]
        spool.commit(ends[0])
        spool.commit(ends[1])
        await spool.close()
        return ends

    ends = asyncio.run(main())
    cursor = tmp_path / "committed"
    data = bytearray(cursor.read_bytes())
    newest = 0 if int.from_bytes(data[:8], "big") == ends[1] else 12
    data[newest + 3] ^= 0xFF  # the newer slot torn by a crash: the older one holds
    cursor.write_bytes(bytes(data))
    assert committed_at_open(tmp_path) == ends[0]
    cursor.write_bytes(bytes(data[12 - newest : 24 - newest]))  # one slot, as before two were kept
    assert committed_at_open(tmp_path) == ends[0]


def committed_at_open(directory: Path) -> int:
    async def main() -> int:
        spool = Spool(directory, max_bytes=10**8)
        await spool.close()
        return spool.committed

    return asyncio.run(main())
