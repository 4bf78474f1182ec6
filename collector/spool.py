"""The write-ahead spool: what the collector acknowledged is on disk before the client hears 200.

Appends are framed (`length, crc32, payload`) into segment files named by their starting offset.
Concurrent appends are written together and made durable with one fsync (group commit) when the
policy is `always`; `interval` fsyncs on a timer (safe against a process crash, not a power cut);
`never` leaves it to the OS. A reader (the Kafka sender) consumes frames in order from the committed
offset and commits what the broker acknowledged; whole segments behind the commit are deleted.

One process at a time owns a spool directory (an exclusive `flock` on its `.lock`, released by the
kernel when the process ends, however it ends): a second collector started with the same
configuration, during an upgrade or by mistake, never writes into a spool that another is writing.

After a crash the tail of the last segment may hold a torn frame: it is cut off at open, so only
complete, acknowledged frames are replayed. Frames after the persisted commit offset are replayed,
which can repeat records the broker already had (at-least-once; record ids are deterministic).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import struct
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


class Spool:
    def __init__(
        self,
        directory: str | Path,
        max_bytes: int,
        fsync: str = "always",
        fsync_interval: float = 0.1,
        segment_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.fsync = fsync
        self.fsync_interval = fsync_interval
        self.segment_bytes = segment_bytes
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock)
            raise SpoolInUse(f"{self.directory} is owned by another running process") from None
        self._cursor_path = self.directory / "committed"
        self.committed = self._read_cursor()
        self._segments: list[int] = []  # starting offsets, ascending
        self.end, self.torn_bytes = self._recover()
        self.committed = max(self.committed, self._segments[0] if self._segments else 0)
        self.committed = min(self.committed, self.end)
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
        try:
            data = self._cursor_path.read_bytes()
        except FileNotFoundError:
            return 0
        if len(data) == 12 and zlib.crc32(data[:8]) == _U32.unpack(data[8:])[0]:
            return int.from_bytes(data[:8], "big")
        return 0  # unreadable cursor: replay everything (duplicates, never loss)

    def _recover(self) -> tuple[int, int]:
        """Find segments, validate the last one, cut a torn tail; return (end offset, bytes cut)."""
        starts = sorted(int(p.name[: -len(SEGMENT_SUFFIX)]) for p in self.directory.glob(f"*{SEGMENT_SUFFIX}"))
        self._segments = starts
        if not starts:
            self._segments = [self.committed]
            self._segment_path(self.committed).touch()
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
        return os.open(self._segment_path(self._segments[-1]), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

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

    async def append(self, records: Sequence[KafkaRecord], spans: int) -> None:
        """Return once the frame is written (and fsynced under `always`); raise SpoolFull if no room."""
        frame = encode_frame(records, spans)
        if self.size_bytes + len(frame) > self.max_bytes:
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
                error = OSError(exc.errno, f"spool write failed: {exc.strerror}")
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            self._pending_bytes -= len(data)
            if self._oldest_unacked is None:
                self._oldest_unacked = time.time()
            self.end += len(data)
            for _, future in batch:
                if not future.done():
                    future.set_result(None)
            self.appended.set()

    def _write(self, data: bytes) -> None:
        if self.end - self._segments[-1] >= self.segment_bytes:
            os.close(self._fd)
            self._segments.append(self.end)
            self._fd = self._open_tail()
        written = 0
        try:
            while written < len(data):
                written += os.write(self._fd, data[written:])
            if self.fsync == "always":
                os.fsync(self._fd)
        except OSError:
            # Leave no partial frame behind: the next append must start on a frame boundary.
            os.ftruncate(self._fd, self.end - self._segments[-1])
            raise

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
            index = max(i for i, s in enumerate(self._segments) if s <= pos)
            seg_start = self._segments[index]
            seg_end = self._segments[index + 1] if index + 1 < len(self._segments) else self.end
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
        """Everything before `offset` is in Kafka: persist the offset and delete spent segments."""
        if offset <= self.committed:
            return
        self.committed = offset
        data = offset.to_bytes(8, "big")
        tmp = self._cursor_path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(data + _U32.pack(zlib.crc32(data)))
            if self.fsync != "never":
                os.fsync(f.fileno())
        os.replace(tmp, self._cursor_path)
        while len(self._segments) > 1 and self._segments[1] <= offset:
            self._segment_path(self._segments.pop(0)).unlink(missing_ok=True)
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
        os.close(self._lock)  # releases the flock
