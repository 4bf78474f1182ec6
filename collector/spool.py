"""The write-ahead spool: what the collector acknowledged is on disk before the client hears 200.

Appends are framed (`length, crc32, payload`) into segment files named by their starting offset.
Concurrent appends are written together and made durable with one fsync (group commit) when the
policy is `always`; `interval` fsyncs on a timer (safe against a process crash, not a power cut);
`never` leaves it to the OS. A reader (the Kafka sender) consumes frames in order from the committed
offset and commits what the broker acknowledged.

Disk space comes back as records are delivered, so a spool on a small or full disk recovers by itself: whole
segments behind the commit are deleted; once everything written is committed the tail segment is emptied and
takes the next offset as its name; and the tail rolls to a new segment as soon as `reclaim_bytes` of it are
delivered, so the delivered part is deleted at the next commit. The commit offset is written in place, into one
of two checksummed slots of a file made at open, so committing never needs new space. A write that finds the disk
full fails that request (the client retries) and marks the spool `disk_full` until space is free again.

One process at a time owns a spool directory (an exclusive `flock` on its `.lock`, released by the
kernel when the process ends, however it ends): a second collector started with the same
configuration, during an upgrade or by mistake, never writes into a spool that another is writing.

After a crash the tail of the last segment may hold a torn frame: it is cut off at open, so only
complete, acknowledged frames are replayed. Frames after the persisted commit offset are replayed,
which can repeat records the broker already had (at-least-once; record ids are deterministic).
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import struct
import threading
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from helicone_otel.errors import Unavailable
from helicone_otel.kafka.records import KafkaRecord

_FRAME = struct.Struct(">II")  # payload length, crc32(payload)
_FRAME_HEAD = struct.Struct(">IdH")  # spans represented, append time, record count
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_I32 = struct.Struct(">i")
SEGMENT_SUFFIX = ".seg"
MAX_FRAME_BYTES = 1 << 30
RECLAIM_BYTES = 1 << 20  # delivered bytes at the head of the tail segment that make it roll
_CURSOR_SLOT = 12  # offset (8 bytes) + crc32 of it; the cursor file holds two slots
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


class SpoolFull(Unavailable):
    """The spool holds `max_bytes` not yet acknowledged by Kafka; the client should retry later."""


class SpoolInUse(Exception):
    """Another live process owns this spool directory."""


class SpoolCorrupt(Exception):
    """A frame in the middle of the spool failed its checksum; the message names file and offset."""


@dataclass(frozen=True)
class Frame:
    start: int  # offset of the frame in the spool's byte stream
    end: int
    spans: int
    appended_at: float
    records: list[KafkaRecord]


def encode_frame(records: Sequence[KafkaRecord], spans: int, now: float | None = None) -> bytes:
    parts = [_FRAME_HEAD.pack(spans, time.time() if now is None else now, len(records))]
    for r in records:
        exporter, topic = r.exporter.encode(), r.topic.encode()
        parts += [_U16.pack(len(exporter)), exporter, _U16.pack(len(topic)), topic]
        parts += [_I32.pack(-1)] if r.key is None else [_I32.pack(len(r.key)), r.key]
        parts += [_U32.pack(len(r.value)), r.value, _U16.pack(len(r.headers))]
        for name, value in r.headers:
            encoded = name.encode()
            parts += [_U16.pack(len(encoded)), encoded, _U32.pack(len(value)), value]
    payload = b"".join(parts)
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def decode_payload(payload: bytes) -> tuple[int, float, list[KafkaRecord]]:
    spans, appended_at, count = _FRAME_HEAD.unpack_from(payload, 0)
    pos = _FRAME_HEAD.size
    records = []

    def take(n: int) -> bytes:
        nonlocal pos
        chunk = payload[pos : pos + n]
        pos += n
        return chunk

    for _ in range(count):
        exporter = take(_U16.unpack(take(2))[0]).decode()
        topic = take(_U16.unpack(take(2))[0]).decode()
        key_len = _I32.unpack(take(4))[0]
        key = None if key_len < 0 else take(key_len)
        value = take(_U32.unpack(take(4))[0])
        headers = []
        for _ in range(_U16.unpack(take(2))[0]):
            name = take(_U16.unpack(take(2))[0]).decode()
            headers.append((name, take(_U32.unpack(take(4))[0])))
        records.append(KafkaRecord(topic, key, value, tuple(headers), exporter))
    return spans, appended_at, records


def _owner_only(directory: Path) -> None:
    """The directory 0700 and its files 0600, also for a spool that an older version left readable."""
    os.chmod(directory, 0o700)
    for path in directory.iterdir():
        if path.is_file():
            os.chmod(path, 0o600)


class Spool:
    def __init__(
        self,
        directory: str | Path,
        max_bytes: int,
        fsync: str = "always",
        fsync_interval: float = 0.1,
        segment_bytes: int = 64 * 1024 * 1024,
        reclaim_bytes: int = RECLAIM_BYTES,
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.fsync = fsync
        self.fsync_interval = fsync_interval
        self.segment_bytes = segment_bytes
        self.reclaim_bytes = min(reclaim_bytes, segment_bytes)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        _owner_only(self.directory)  # records hold prompts and, passed on, Helicone keys
        self._lock = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock)
            raise SpoolInUse(f"{self.directory} is owned by another running process") from None
        self._cursor_path = self.directory / "committed"
        self._cursor = os.open(self._cursor_path, os.O_RDWR | os.O_CREAT, 0o600)
        cursor = self.committed = self._read_cursor()
        self._segments: list[int] = []  # starting offsets, ascending
        self.end, self.torn_bytes = self._recover()
        self.committed = max(self.committed, self._segments[0] if self._segments else 0)
        self.committed = min(self.committed, self.end)
        if self.committed != cursor:  # both slots, or the other slot's offset would win at the next open
            self._write_cursor(self.committed, both=True)
        self._written = self.end  # end of what is in the tail file (self.end moves once the writer reports)
        self._tail_lock = threading.Lock()  # the writer thread and the committing thread both change the tail
        self.disk_full: str | None = None  # why the last write failed for space, until a write succeeds
        self.refused: int | None = None  # size of the last append refused by max_bytes, until it would fit
        self._fd = self._open_tail()
        self._pending: list[tuple[bytes, asyncio.Future[None]]] = []
        self._pending_bytes = 0
        self._wakeup: asyncio.Event | None = None
        self._writer: asyncio.Task[None] | None = None
        self._syncer: asyncio.Task[None] | None = None
        self.appended = asyncio.Event()
        self._oldest_unacked: float | None = None
        if self.end > self.committed:
            self._oldest_unacked = self.read(self.committed, 1)[0].appended_at

    # --- opening ---------------------------------------------------------------------------------

    def _segment_path(self, start: int) -> Path:
        return self.directory / f"{start:020d}{SEGMENT_SUFFIX}"

    def _read_cursor(self) -> int:
        """The higher of the cursor's two slots that passes its checksum (a write torn by a crash leaves the
        other); with neither, 0: replay everything (duplicates, never loss)."""
        data = os.pread(self._cursor, 2 * _CURSOR_SLOT, 0)
        if len(data) < 2 * _CURSOR_SLOT:  # new, or written by a version with one slot: make room for two now
            os.pwrite(self._cursor, data.ljust(2 * _CURSOR_SLOT, b"\0"), 0)
            os.fsync(self._cursor)
        return max(0, *self._slots(data))

    @staticmethod
    def _slots(data: bytes) -> tuple[int, int]:
        """Each slot's offset, -1 where it fails its checksum (never written, or torn)."""
        found = []
        for at in (0, _CURSOR_SLOT):
            slot = data[at : at + _CURSOR_SLOT]
            valid = len(slot) == _CURSOR_SLOT and zlib.crc32(slot[:8]) == _U32.unpack(slot[8:])[0]
            found.append(int.from_bytes(slot[:8], "big") if valid else -1)
        return found[0], found[1]

    def _write_cursor(self, offset: int, both: bool = False) -> None:
        """Overwrite the slot that holds the lower offset (or both): in place, so it needs no new space on a
        full disk."""
        encoded = offset.to_bytes(8, "big")
        slot = encoded + _U32.pack(zlib.crc32(encoded))
        if both:
            os.pwrite(self._cursor, slot + slot, 0)
        else:
            first, second = self._slots(os.pread(self._cursor, 2 * _CURSOR_SLOT, 0))
            os.pwrite(self._cursor, slot, 0 if first <= second else _CURSOR_SLOT)
        if self.fsync != "never":
            os.fdatasync(self._cursor)

    def _recover(self) -> tuple[int, int]:
        """Find segments, validate the last one, cut a torn tail; return (end offset, bytes cut)."""
        starts = sorted(int(p.name[: -len(SEGMENT_SUFFIX)]) for p in self.directory.glob(f"*{SEGMENT_SUFFIX}"))
        self._segments = starts
        if not starts:
            self._segments = [self.committed]
            os.close(os.open(self._segment_path(self.committed), os.O_WRONLY | os.O_CREAT, 0o600))
            return self.committed, 0
        last = starts[-1]
        path = self._segment_path(last)
        data = path.read_bytes()
        pos = 0
        while pos + _FRAME.size <= len(data):
            length, crc = _FRAME.unpack_from(data, pos)
            end = pos + _FRAME.size + length
            if length > MAX_FRAME_BYTES or end > len(data):
                break  # an append the crash cut short
            if zlib.crc32(data[pos + _FRAME.size : end]) != crc:
                if end == len(data):
                    break  # the last append, written but not fully synced
                raise SpoolCorrupt(
                    f"{path}: bad frame at {pos} with {len(data) - end} bytes of frames after it; "
                    "move the file aside to start without it"
                )
            pos = end
        if pos < len(data):
            with open(path, "r+b") as f:
                f.truncate(pos)
                os.fsync(f.fileno())
        return last + pos, len(data) - pos

    def _open_tail(self) -> int:
        return os.open(self._segment_path(self._segments[-1]), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    # --- size ------------------------------------------------------------------------------------

    @property
    def size_bytes(self) -> int:
        """Bytes appended and not yet committed (acknowledged by Kafka)."""
        return self.end - self.committed + self._pending_bytes

    def oldest_age(self, now: float | None = None) -> float:
        if self._oldest_unacked is None:
            return 0.0
        return max(0.0, (time.time() if now is None else now) - self._oldest_unacked)

    # --- appending (group commit) ----------------------------------------------------------------

    def full_reason(self) -> str | None:
        """Why the spool refuses appends now (its byte limit, or the disk), for readiness; None when it takes them.
        Both clear by themselves: the limit once the drain has made room, the disk once the filesystem has it."""
        if self.refused is not None:
            if self.size_bytes + self.refused <= self.max_bytes:
                self.refused = None
            else:
                return f"spool full: {self.size_bytes} of {self.max_bytes} bytes not yet in Kafka"
        if self.disk_full is not None:
            stat = os.statvfs(self.directory)
            if stat.f_bavail * stat.f_frsize >= self.reclaim_bytes:
                self.disk_full = None
            else:
                return f"spool disk full: {self.disk_full}"
        return None

    async def append(self, records: Sequence[KafkaRecord], spans: int) -> None:
        """Return once the frame is written (and fsynced under `always`); raise SpoolFull if no room."""
        frame = encode_frame(records, spans)
        if self.size_bytes + len(frame) > self.max_bytes:
            self.refused = len(frame)
            raise SpoolFull(f"spool holds {self.size_bytes} of {self.max_bytes} bytes not yet in Kafka")
        loop = asyncio.get_running_loop()
        if self._writer is None:
            self._wakeup = asyncio.Event()
            self._writer = loop.create_task(self._write_loop())
            if self.fsync == "interval":
                self._syncer = loop.create_task(self._sync_loop())
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((frame, future))
        self._pending_bytes += len(frame)
        assert self._wakeup is not None
        self._wakeup.set()
        await future

    async def _write_loop(self) -> None:
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if not self._pending:
                continue
            batch, self._pending = self._pending, []
            data = b"".join(frame for frame, _ in batch)
            try:
                await loop.run_in_executor(None, self._write, data)
            except OSError as exc:  # disk full, I/O error: these frames are not durable
                self._pending_bytes -= len(data)
                if exc.errno in _NO_SPACE:
                    self.disk_full = f"{exc.strerror} in {self.directory}"
                error = OSError(exc.errno, f"spool write failed: {exc.strerror}")
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            self._pending_bytes -= len(data)
            self.disk_full = None
            if self._oldest_unacked is None:
                self._oldest_unacked = time.time()
            self.end += len(data)
            for _, future in batch:
                if not future.done():
                    future.set_result(None)
            self.appended.set()

    def _write(self, data: bytes) -> None:
        with self._tail_lock:
            tail = self._segments[-1]
            if self._written - tail >= self.segment_bytes or self.committed - tail >= self.reclaim_bytes:
                self._roll()
            written = 0
            try:
                while written < len(data):
                    written += os.write(self._fd, data[written:])
                if self.fsync == "always":
                    os.fsync(self._fd)
            except OSError as exc:
                # Leave no partial frame behind: the next append must start on a frame boundary.
                os.ftruncate(self._fd, self._written - self._segments[-1])
                if exc.errno in _NO_SPACE and self.committed > self._segments[-1]:
                    self._roll()  # the delivered head of this segment goes at the next commit
                raise
            self._written += len(data)

    def _roll(self) -> None:
        """Start a new tail segment at the end of what is written (under the tail lock)."""
        fd = os.open(self._segment_path(self._written), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.close(self._fd)
        self._fd = fd
        self._segments.append(self._written)

    async def _sync_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.fsync_interval)
            await loop.run_in_executor(None, os.fsync, self._fd)

    # --- reading and committing --------------------------------------------------------------------

    def read(self, start: int, max_bytes: int = 4 * 1024 * 1024) -> list[Frame]:
        """Frames from `start` (a frame boundary) up to about `max_bytes`, in order."""
        frames: list[Frame] = []
        total = 0
        pos = start
        while pos < self.end and (not frames or total < max_bytes):
            with self._tail_lock:
                segments = list(self._segments)
            index = max(i for i, s in enumerate(segments) if s <= pos)
            seg_start = segments[index]
            seg_end = segments[index + 1] if index + 1 < len(segments) else self.end
            if pos >= seg_end:
                break
            with open(self._segment_path(seg_start), "rb") as f:
                f.seek(pos - seg_start)
                while pos < seg_end and (not frames or total < max_bytes):
                    head = f.read(_FRAME.size)
                    if len(head) < _FRAME.size:
                        raise SpoolCorrupt(f"{self._segment_path(seg_start)}: short frame at {pos - seg_start}")
                    length, crc = _FRAME.unpack(head)
                    payload = f.read(length)
                    if len(payload) != length or zlib.crc32(payload) != crc:
                        raise SpoolCorrupt(f"{self._segment_path(seg_start)}: bad frame at {pos - seg_start}")
                    spans, appended_at, records = decode_payload(payload)
                    end = pos + _FRAME.size + length
                    frames.append(Frame(pos, end, spans, appended_at, records))
                    total += end - pos
                    pos = end
        return frames

    def commit(self, offset: int, oldest_remaining: float | None = None) -> None:
        """Everything before `offset` is in Kafka: persist the offset and give back the space it frees."""
        if offset <= self.committed:
            return
        self._write_cursor(offset)
        self.committed = offset
        with self._tail_lock:
            while len(self._segments) > 1 and self._segments[1] <= offset:
                self._segment_path(self._segments.pop(0)).unlink(missing_ok=True)
            tail = self._segments[-1]
            if offset == self._written > tail:
                # All of the tail is delivered: empty it, then name it after the offset its next byte will have.
                # A crash between the two leaves an empty segment under its old name, which opens as empty.
                os.ftruncate(self._fd, 0)
                os.rename(self._segment_path(tail), self._segment_path(offset))
                self._segments[-1] = offset
        self._oldest_unacked = oldest_remaining if offset < self.end else None

    async def close(self) -> None:
        """Finish pending writes, fsync, and close the tail segment."""
        while self._pending:
            await asyncio.sleep(0.005)
        for task in (self._writer, self._syncer):
            if task is not None:
                task.cancel()
        self._writer = self._syncer = None
        os.fsync(self._fd)
        os.close(self._fd)
        os.close(self._cursor)
        os.close(self._lock)  # releases the flock
