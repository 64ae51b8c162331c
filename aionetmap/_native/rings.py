"""RingSet: the Python face of the C ring code for the rings of one ``netmap_if``.

The same object serves the kernel port (a region mmapped from ``/dev/netmap``) and the
software pipe (a shared-memory region laid out the same way). It never issues a sync:
the owner calls NIOCTXSYNC/NIOCRXSYNC (or the pipe's equivalent) around it.
"""

from __future__ import annotations

import mmap
from array import array
from collections.abc import Sequence
from typing import Any

from aionetmap._native._ring import ffi, lib
from aionetmap._native.batch import FrameBatch

__all__ = ["ERRLEN", "RingSet"]

ERRLEN = 256
"""Size of the buffer the C side writes its error messages into."""

_STAT_FIELDS = tuple(name for name, _ in ffi.typeof("struct anm_ring_stats").fields)
_STAGE_ALWAYS = 64  # send() stages this many frames without first asking for TX room


def c_message(err: Any) -> str:
    """The NUL-terminated message a C call left in ``err`` (a ``char[]``)."""
    text = ffi.string(err)
    return text.decode(errors="replace") if isinstance(text, bytes) else str(text)


class RingSet:
    """The bound rings of one ``netmap_if`` in a mapped region.

    ``__init__`` validates the whole layout once (netmap_if, ring headers and slot arrays
    inside the region, buffer pool bounds) and copies the ring geometry out of shared
    memory; afterwards every index read from the region is range-checked in C, so a
    damaged ring is counted in :meth:`stats`, never a crash.

    ``recv``/``send``/``send_batch`` each make one C call for the whole batch.
    """

    __slots__ = (
        "_base",
        "_r",
        "buf_size",
        "max_frame",
        "name",
        "rx_rings",
        "rx_slots",
        "tx_rings",
        "tx_slots",
    )

    def __init__(
        self,
        region: mmap.mmap | Any,
        nifp_offset: int,
        *,
        name: str,
        allow_fragments: bool = True,
    ) -> None:
        self.name = name
        self._base: Any = None
        if nifp_offset < 0:
            raise ValueError(f"{name}: negative netmap_if offset {nifp_offset}")
        try:
            base = ffi.from_buffer("uint8_t[]", region, require_writable=True)
        except (TypeError, BufferError) as exc:
            raise TypeError(f"{name}: the region must be a writable buffer ({exc})") from exc
        r: Any = ffi.new("struct anm_rings *")
        err = ffi.new("char[]", ERRLEN)
        flags = lib.ANM_RINGS_FRAGMENTS if allow_fragments else 0
        if lib.anm_rings_init(r, base, len(base), nifp_offset, flags, err, ERRLEN) < 0:
            ffi.release(base)
            raise ValueError(f"{name}: {c_message(err)}")
        self._base = base
        self._r = r
        self.rx_rings: int = r.n_rx
        self.tx_rings: int = r.n_tx
        self.rx_slots: int = r.rx_slots
        self.tx_slots: int = r.tx_slots
        self.buf_size: int = r.buf_size
        self.max_frame: int = r.max_frame
        """Largest frame ``send`` accepts (one buffer, or a chain when fragments are allowed)."""

    def __repr__(self) -> str:
        state = "released" if self._base is None else f"{self.rx_rings} RX/{self.tx_rings} TX"
        return f"<RingSet {self.name} {state} slots={self.rx_slots}/{self.tx_slots}>"

    @property
    def native(self) -> Any:
        """The ``struct anm_rings *`` for other functions of the ``_ring`` module."""
        return self._live()

    def _live(self) -> Any:
        if self._base is None:
            raise ValueError(f"{self.name}: ring set already released")
        return self._r

    def recv(self, batch: FrameBatch, max_frames: int | None = None) -> int:
        """Copy up to ``max_frames`` (default: the batch capacity) complete frames from the
        RX rings into ``batch``, replacing its contents, and release their slots.
        Returns how many; the rest stay in the rings."""
        r = self._live()
        limit = batch.capacity if max_frames is None else min(max_frames, batch.capacity)
        n = 0
        if limit > 0:
            n = lib.anm_rx_burst(r, batch.arena, batch.arena_size, batch.offs, batch.lens, limit)
        batch.count = n
        batch.csum_known = False  # netmap says nothing about checksums
        return n

    def send(self, frames: Sequence[bytes | bytearray | memoryview]) -> int:
        """Queue frames into free TX slots in order and publish them; return how many were
        queued (the caller keeps the rest). Raises ``ValueError`` for a frame longer than
        :attr:`max_frame` before queuing anything. One C call, no per-frame cffi work."""
        r = self._live()
        count = len(frames)
        if count == 0:
            return 0
        if count > _STAGE_ALWAYS:
            room = lib.anm_tx_space(r)
            if count > room:  # only what can fit is staged; the rest is only size-checked
                self._check_sizes(frames[room:])
                frames = frames[:room]
                count = room
        lens = array("I", list(map(len, frames)))
        blob = b"".join(frames)
        rc = lib.anm_tx_packed(r, blob, len(blob), ffi.from_buffer("uint32_t[]", lens), count)
        if rc == lib.ANM_TX_MISMATCH:
            # a memoryview whose items are wider than a byte: len() counted items
            lens = array("I", [memoryview(f).nbytes for f in frames])
            rc = lib.anm_tx_packed(r, blob, len(blob), ffi.from_buffer("uint32_t[]", lens), count)
        if rc < 0:  # ANM_TX_OVERSIZE
            self._check_sizes(frames)
            raise AssertionError(f"{self.name}: C refused frames Python accepts ({rc})")
        return rc

    def _check_sizes(self, frames: Sequence[bytes | bytearray | memoryview]) -> None:
        longest = max((memoryview(f).nbytes for f in frames), default=0)
        if longest > self.max_frame:
            raise ValueError(
                f"{self.name}: frame of {longest} bytes exceeds the {self.max_frame}-byte "
                "maximum of this port"
            )

    def send_batch(self, batch: FrameBatch, start: int = 0) -> int:
        """Queue frames ``start..count-1`` of ``batch``; return how many were queued.
        Raises ``ValueError`` for an oversized frame before queuing anything."""
        r = self._live()
        count = batch.count
        if not 0 <= start <= count:
            raise IndexError(f"{self.name}: start {start} outside a batch of {count} frames")
        if start == count:
            return 0
        sent = lib.anm_tx_batch(  # C checks every length first: no int made per frame here
            r, batch.arena, batch.arena_size, batch.offs + start, batch.lens + start, count - start
        )
        if sent < 0:  # ANM_TX_OVERSIZE
            self._check_sizes(batch.frames()[start:])
            raise AssertionError(f"{self.name}: C refused frames Python accepts ({sent})")
        return int(sent)

    def tx_space(self) -> int:
        """Free TX slots over all TX rings (a fragmented frame needs several)."""
        return lib.anm_tx_space(self._live())

    def rx_pending(self) -> int:
        """Complete frames visible in the RX rings (between head and tail)."""
        return lib.anm_rx_pending(self._live())

    def tx_pending(self) -> bool:
        """True while some TX ring holds slots the other side has not taken yet."""
        return bool(lib.anm_tx_pending(self._live()))

    def tx_in_flight(self) -> int:
        """TX slots queued that the other side has not handed back yet (for each ring,
        ``next(tail)`` up to ``head``): the count netmap's ``nm_tx_pending`` tests."""
        return int(lib.anm_tx_in_flight(self._live()))

    def same_region(self, other: RingSet) -> bool:
        """True when buffers can be swapped between our RX rings and ``other``'s TX rings."""
        return bool(lib.anm_rings_same_pool(self._live(), other._live()))

    def forward_to(self, other: RingSet, max_frames: int) -> int:
        """Move up to ``max_frames`` frames from our RX rings to ``other``'s TX rings:
        zero-copy (buffer indices exchanged, NS_BUF_CHANGED set on both slots) when both
        live in the same region, copying otherwise. Returns how many were forwarded."""
        if max_frames <= 0:
            return 0
        return lib.anm_forward(self._live(), other._live(), max_frames)

    @property
    def fwd_dropped(self) -> int:
        """``stats()["fwd_dropped"]`` alone, for a caller that reads it per burst."""
        return int(self._live().stats.fwd_dropped)

    def stats(self) -> dict[str, int]:
        """Frame/byte counters and ``*_dropped_<reason>`` / damage counters."""
        st = self._r.stats
        return {field: int(getattr(st, field)) for field in _STAT_FIELDS}

    def release(self) -> None:
        """Drop our view of the region so the mmap can be closed. Idempotent; the ring set
        is unusable afterwards."""
        base, self._base = self._base, None
        if base is not None:
            ffi.release(base)
