"""FrameBatch: the reusable arena ports fill with received frames (and send frames from).

Frames sit back to back in one C buffer; ``offsets``/``lengths`` say where each one is.
A port fills a batch with a single C call, so Python never walks a ring slot by slot.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from typing import Any

import cffi

from aionetmap._native._ring import lib as _ring

__all__ = ["DEFAULT_BATCH", "FrameBatch"]

# An ABI-mode FFI is enough to allocate plain C arrays; pointers to primitive types are
# interchangeable between cffi modules, so every native module can read these arrays.
_ffi = cffi.FFI()

DEFAULT_BATCH = 256
"""Frames per readiness callback: large enough to amortise the C call, small enough that
timers and other file descriptors still get their turn."""


class FrameBatch:
    """A fixed-capacity set of frames packed into one arena.

    After a port fills it, ``count`` frames are valid; frame ``i`` is
    ``data[offsets[i]:offsets[i] + lengths[i]]``. The contents stay valid only until the
    batch is filled again, so copy out (``frames()``/``frame_bytes()``) whatever must
    outlive that.

    Native code reads and writes ``arena``, ``offs`` and ``lens`` (cffi pointers);
    Python code uses the ``data``/``offsets``/``lengths`` memoryviews over the same memory.

    A port that knows something of a frame's checksum (AF_PACKET) writes an
    ``RxChecksum`` value (aionetmap.stack.classify) per frame into ``csum`` (the memoryview
    ``csum_flags``) and sets ``csum_known``; every other fill clears ``csum_known``, and
    then the flags mean nothing. One byte per frame, no Python object per frame.
    """

    __slots__ = (
        "_format",
        "arena",
        "arena_size",
        "capacity",
        "count",
        "csum",
        "csum_flags",
        "csum_known",
        "data",
        "lengths",
        "lens",
        "offs",
        "offsets",
    )

    def __init__(self, capacity: int = DEFAULT_BATCH, arena_size: int | None = None) -> None:
        if capacity <= 0:
            raise ValueError(f"batch capacity must be positive, got {capacity}")
        if arena_size is None:
            arena_size = capacity * 2048
        if arena_size <= 0:
            raise ValueError(f"arena size must be positive, got {arena_size}")
        self.capacity = capacity
        self.arena_size = arena_size
        self.count = 0
        self.arena: Any = _ffi.new("uint8_t[]", arena_size)
        self.offs: Any = _ffi.new("uint32_t[]", capacity)
        self.lens: Any = _ffi.new("uint32_t[]", capacity)
        self.data = memoryview(_ffi.buffer(self.arena))
        self.offsets = memoryview(_ffi.buffer(self.offs)).cast("I")
        self.lengths = memoryview(_ffi.buffer(self.lens)).cast("I")
        self.csum: Any = _ffi.new("uint8_t[]", capacity)
        self.csum_flags = memoryview(_ffi.buffer(self.csum))
        self.csum_known = False
        self._format: Any = None  # made on the first frames() call

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[memoryview]:
        """Yield a view of each frame (valid until the next fill)."""
        data, offsets, lengths = self.data, self.offsets, self.lengths
        for i in range(self.count):
            off = offsets[i]
            yield data[off : off + lengths[i]]

    def __repr__(self) -> str:
        return f"<FrameBatch {self.count}/{self.capacity} frames, {self.used} bytes>"

    @property
    def used(self) -> int:
        """Bytes of the arena in use (frames are packed from offset 0)."""
        if self.count == 0:
            return 0
        last = self.count - 1
        return int(self.offsets[last] + self.lengths[last])

    def clear(self) -> None:
        self.count = 0
        self.csum_known = False

    def frame_csum(self, index: int) -> int:
        """The port's checksum flag of frame ``index`` (0, unknown, unless ``csum_known``)."""
        return self.csum_flags[index] if self.csum_known else 0

    def frame(self, index: int) -> memoryview:
        """A view of frame ``index`` (valid until the next fill)."""
        if not 0 <= index < self.count:
            raise IndexError(f"frame index {index} out of range for {self.count} frames")
        off = self.offsets[index]
        return self.data[off : off + self.lengths[index]]

    def frame_bytes(self, index: int) -> bytes:
        """A copy of frame ``index`` that stays valid after the next fill."""
        return bytes(self.frame(index))

    def frames(self) -> list[bytes]:
        """Copies of every frame, in order."""
        count = self.count
        if not count:
            return []
        # C writes a struct format that skips from frame to frame, so struct.unpack_from
        # makes every frame's bytes in one C call, reading the arena directly (slicing
        # frame by frame in Python costs several times more: this is the batch hook's
        # per-frame price).
        room = _ring.ANM_FORMAT_PER_FRAME * self.capacity
        if self._format is None:
            self._format = _ffi.new("char[]", room)
        size = _ring.anm_batch_format(
            self.offs, self.lens, count, self.arena_size, self._format, room
        )
        if size >= 0:
            return list(struct.unpack_from(_ffi.buffer(self._format, size)[:], self.data))
        return [self.frame_bytes(i) for i in range(count)]  # frames not in arena order

    def extend(self, frames: Iterable[bytes | bytearray | memoryview]) -> int:
        """Append frames after the current ones until capacity or arena space runs out.

        Returns how many were appended; the caller keeps the rest. Used to stage frames
        for a port's ``send_batch``.
        """
        added = 0
        pos = self.used
        self.csum_known = False  # staged frames carry no receive flags
        data, offsets, lengths = self.data, self.offsets, self.lengths
        for frame in frames:
            if isinstance(frame, memoryview) and (frame.format != "B" or frame.ndim != 1):
                frame = frame.cast("B")
            n = len(frame)
            if self.count == self.capacity or pos + n > self.arena_size:
                break
            data[pos : pos + n] = frame
            offsets[self.count] = pos
            lengths[self.count] = n
            self.count += 1
            pos += n
            added += 1
        return added
