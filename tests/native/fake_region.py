"""FakeRegion: a netmap memory region built by hand for RingSet tests.

The region and the "kernel" side (filling RX slots, taking TX slots) are written in plain
Python with struct, straight from the layout tables in netmap-abi.md, so the C ring code is
checked against an independent reading of the ABI.
"""

from __future__ import annotations

import mmap
import struct

from aionetmap._native.rings import RingSet

NS_BUF_CHANGED = 0x0001
NS_MOREFRAG = 0x0020
MAX_FRAGS = 64
NIFP_HDR = 56
RING_HDR = 256
SLOT = 16
SLOT_FMT = "<IHHQ"  # buf_idx, len, flags, ptr
RING_FMT = "<qIIHHIIII"  # buf_ofs, num_slots, nr_buf_size, ringid, dir, head, cur, tail, flags
RING_BUF_SIZE = 12  # offset of nr_buf_size in struct netmap_ring


def _up(v: int, a: int) -> int:
    return (v + a - 1) // a * a


class FakeRegion:
    """One region holding ``n_ifs`` netmap_ifs, each with ``tx`` TX and ``rx`` RX rings (plus
    one unbound host ring per direction), and a shared buffer pool, as netmap lays it out."""

    def __init__(
        self, *, n_ifs: int = 1, tx: int = 1, rx: int = 1, slots: int = 16, buf_size: int = 256
    ) -> None:
        self.slots, self.buf_size = slots, buf_size
        entries = tx + 1 + rx + 1
        self.nifp = [i * _up(NIFP_HDR + 8 * entries, 128) for i in range(n_ifs)]
        off = _up(self.nifp[-1] + NIFP_HDR + 8 * entries, 128)
        ring_bytes = _up(RING_HDR + SLOT * slots, 128)
        self.tx: list[list[int]] = []
        self.rx: list[list[int]] = []
        for _ in range(n_ifs):
            self.tx.append([off + k * ring_bytes for k in range(tx)])
            off += tx * ring_bytes
            self.rx.append([off + k * ring_bytes for k in range(rx)])
            off += rx * ring_bytes
        self.pool = _up(off, 4096)
        self.nbufs = 2 + n_ifs * (tx + rx) * slots + 4
        self.mem = mmap.mmap(-1, self.pool + self.nbufs * buf_size)  # page-aligned, as netmap's
        next_buf = 2
        for i in range(n_ifs):
            struct.pack_into("<16sIIIIIII", self.mem, self.nifp[i], b"fake", 14, 0, tx, rx, 0, 1, 1)
            ofs = (
                [r - self.nifp[i] for r in self.tx[i]]
                + [0]
                + [r - self.nifp[i] for r in self.rx[i]]
                + [0]
            )
            struct.pack_into(f"<{entries}q", self.mem, self.nifp[i] + NIFP_HDR, *ofs)
            for ring in self.tx[i] + self.rx[i]:
                is_rx = ring in self.rx[i]
                tail = 0 if is_rx else slots - 1
                struct.pack_into(
                    RING_FMT,
                    self.mem,
                    ring,
                    self.pool - ring,
                    slots,
                    buf_size,
                    0,
                    is_rx,
                    0,
                    0,
                    tail,
                    0,
                )
                for s in range(slots):
                    self.set_slot(ring, s, idx=next_buf, length=0, flags=0)
                    next_buf += 1
        self.hwcur = {ring: 0 for rings in self.tx for ring in rings}

    def rings(self, i: int = 0, **kw: bool) -> RingSet:
        return RingSet(self.mem, self.nifp[i], name=f"fake{i}", **kw)

    # -- raw access ----------------------------------------------------------------------
    def slot(self, ring: int, s: int) -> tuple[int, int, int]:
        idx, length, flags, _ = struct.unpack_from(SLOT_FMT, self.mem, ring + RING_HDR + SLOT * s)
        return idx, length, flags

    def set_slot(
        self,
        ring: int,
        s: int,
        *,
        idx: int | None = None,
        length: int | None = None,
        flags: int | None = None,
    ) -> None:
        old = self.slot(ring, s) if idx is None or length is None or flags is None else (0, 0, 0)
        new = (
            old[0] if idx is None else idx,
            old[1] if length is None else length,
            old[2] if flags is None else flags,
        )
        struct.pack_into(SLOT_FMT, self.mem, ring + RING_HDR + SLOT * s, *new, 0)

    def hdr(self, ring: int) -> tuple[int, int, int]:
        return struct.unpack_from("<III", self.mem, ring + 20)

    def set_hdr(self, ring: int, head: int, cur: int, tail: int) -> None:
        struct.pack_into("<III", self.mem, ring + 20, head, cur, tail)

    def buf(self, idx: int) -> memoryview:
        return memoryview(self.mem)[self.pool + idx * self.buf_size :][: self.buf_size]

    # -- the kernel's side ---------------------------------------------------------------
    def deliver(self, ring: int, frames: list[bytes], *, frag: int | None = None) -> None:
        """Put frames into RX slots from tail on, split into ``frag``-byte fragments."""
        frag = frag or self.buf_size
        _, _, tail = self.hdr(ring)
        for frame in frames:
            pieces = [frame[i : i + frag] for i in range(0, len(frame), frag)] or [b""]
            for k, piece in enumerate(pieces):
                idx = self.slot(ring, tail)[0]
                self.buf(idx)[: len(piece)] = piece
                more = NS_MOREFRAG if k + 1 < len(pieces) else 0
                self.set_slot(ring, tail, length=len(piece), flags=more)
                tail = (tail + 1) % self.slots
        head, cur, _ = self.hdr(ring)
        self.set_hdr(ring, head, cur, tail)

    def take(self, ring: int) -> list[bytes]:
        """txsync: collect the frames published in [hwcur, head), free their slots."""
        head = self.hdr(ring)[0]
        frames, cur_frame, i = [], b"", self.hwcur[ring]
        while i != head:
            idx, length, flags = self.slot(ring, i)
            cur_frame += bytes(self.buf(idx)[:length])
            if not flags & NS_MOREFRAG:
                frames.append(cur_frame)
                cur_frame = b""
            i = (i + 1) % self.slots
        self.hwcur[ring] = head
        self.set_hdr(ring, head, head, (head - 1) % self.slots)
        return frames
