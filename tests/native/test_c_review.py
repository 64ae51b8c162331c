"""Regression tests for bugs found by the review and fuzzing of the C side (fuzz/README.md).

Each test drives the C code through its cffi module the way a port does, with the region
(or ring) damaged or shaped the way the bug needs, and failed before its fix.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from aionetmap._native._ring import ffi, lib
from tests.native.fake_region import FakeRegion

RING_BUF_SIZE = 12  # offset of nr_buf_size in struct netmap_ring


def _ring_frames(reg: FakeRegion, ring: int, buf_size: int, upto: int) -> list[bytes]:
    """The frames in slots [0, upto) of a TX ring whose buffers are buf_size bytes."""
    frames, cur = [], b""
    for s in range(upto):
        idx, length, flags = reg.slot(ring, s)
        start = reg.pool + idx * buf_size
        cur += bytes(reg.mem[start : start + length])
        if not flags & 0x20:  # NS_MOREFRAG
            frames.append(cur)
            cur = b""
    return frames


def test_a_frame_that_moves_to_a_ring_with_smaller_buffers_is_not_truncated() -> None:
    # Two TX rings over one pool, the second with 128-byte buffers. The first is filled,
    # so a 200-byte frame lands on the second: it needs a 2-slot chain there, not the
    # single slot it would have needed on the first ring.
    reg = FakeRegion(tx=2, rx=1, slots=8, buf_size=256)
    small = reg.tx[0][1]
    struct.pack_into("<I", reg.mem, small + RING_BUF_SIZE, 128)
    rings = reg.rings(allow_fragments=True)
    try:
        assert rings.send([bytes(60)] * 7) == 7  # ring 0 full (7 free slots of 8)
        frame = bytes(range(200))
        assert rings.send([frame]) == 1
        head = reg.hdr(small)[0]
        assert _ring_frames(reg, small, 128, head) == [frame]
        assert rings.stats()["tx_bytes"] == 7 * 60 + 200
    finally:
        rings.release()


def test_a_ring_that_cannot_carry_a_frame_refuses_it_after_the_move() -> None:
    # Without fragments the second ring (64-byte buffers) can never carry 100 bytes: the
    # frame is refused (counted), not cut to 64 bytes.
    reg = FakeRegion(tx=2, rx=1, slots=8, buf_size=256)
    small = reg.tx[0][1]
    struct.pack_into("<I", reg.mem, small + RING_BUF_SIZE, 64)
    rings = reg.rings(allow_fragments=False)
    try:
        assert rings.send([bytes(60)] * 7) == 7
        data = bytes(100)
        lens = ffi.new("uint32_t[]", [100])
        assert lib.anm_tx_burst(rings.native, data, len(data), ffi.NULL, lens, 1) == 0
        assert reg.hdr(small)[0] == 0  # nothing published on the small ring
        assert rings.stats()["tx_refused"] == 1
    finally:
        rings.release()


def test_a_forwarded_copy_that_moves_to_a_ring_with_smaller_buffers_is_whole() -> None:
    # Copy path (two regions, so no buffer swap): the destination's first TX ring is full,
    # the frame goes to its second, whose 128-byte buffers need a 2-slot chain for it.
    src_reg = FakeRegion(tx=1, rx=1, slots=8, buf_size=256)
    dst_reg = FakeRegion(tx=2, rx=1, slots=8, buf_size=256)
    small = dst_reg.tx[0][1]
    struct.pack_into("<I", dst_reg.mem, small + RING_BUF_SIZE, 128)
    src, dst = src_reg.rings(), dst_reg.rings()
    try:
        assert dst.send([bytes(60)] * 7) == 7
        frame = bytes(range(200))
        src_reg.deliver(src_reg.rx[0][0], [frame])
        assert src.forward_to(dst, 8) == 1
        assert _ring_frames(dst_reg, small, 128, dst_reg.hdr(small)[0]) == [frame]
        assert src.stats()["fwd_copied"] == 1
    finally:
        src.release()
        dst.release()


_DRAIN_FOREVER = """
import mmap, os
from aionetmap._native._ring import ffi, lib
size = lib.anm_pipe_region_size(8, 256)
mem = mmap.mmap(-1, size)
base = ffi.from_buffer("uint8_t[]", mem)
err = ffi.new("char[]", 128)
assert lib.anm_pipe_format(base, size, 8, 256, err, 128) == 0
p = ffi.new("struct anm_pipe *")
zero = os.open("/dev/zero", os.O_RDONLY)  # a notification fd that never runs dry
assert lib.anm_pipe_attach(p, base, size, 0, zero, -1, err, 128) == 0
lib.anm_pipe_clear(p)
print("returned")
"""


def test_draining_a_notification_fd_that_never_runs_dry_returns() -> None:
    # A peer that writes to our FIFO as fast as we read it kept disarm() reading forever;
    # /dev/zero plays that peer deterministically. Run apart: the bug is a hang.
    root = Path(__file__).resolve().parents[2]
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _DRAIN_FOREVER],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
            env={**os.environ, "PYTHONPATH": str(root)},
        )
    except subprocess.TimeoutExpired:
        pytest.fail("anm_pipe_clear kept reading a notification fd that never runs dry")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "returned"
