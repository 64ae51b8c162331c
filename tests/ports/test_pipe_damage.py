"""The pipe's shared memory as netmap lays it out, and what happens when a user scribbles on it.

Every value a user can write (head, cur, tail, buf_idx, len, flags) is written wrong on
purpose here: the damage must be counted, a ring reset where netmap would reset it, the
pipe must keep working afterwards, and nothing may crash.
"""

from __future__ import annotations

import errno
import mmap
import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aionetmap._native.batch import FrameBatch
from aionetmap.ports.pipe import PipePort, pipe_pair

NS_BUF_CHANGED = 0x0001
NS_MOREFRAG = 0x0020


class Shm:
    """A netmap client's raw view of one pipe end, found through its netmap_if."""

    def __init__(self, port: PipePort) -> None:
        assert port._mm is not None
        self.mm: mmap.mmap = port._mm
        self.nifp = int(port._p.nifp_off)
        counts = struct.unpack_from("<IIIIIII", self.mm, self.nifp + 16)
        self.version, self.flags, ntx, nrx, _, htx, hrx = counts
        self.ring_ofs = struct.unpack_from(f"<{ntx + htx + nrx + hrx}q", self.mm, self.nifp + 56)
        self.tx = self.nifp + self.ring_ofs[0]
        self.rx = self.nifp + self.ring_ofs[ntx + htx]
        self.slots, self.buf_size = struct.unpack_from("<II", self.mm, self.tx + 8)

    def hdr(self, ring: int) -> tuple[int, int, int]:
        return struct.unpack_from("<III", self.mm, ring + 20)

    def set_hdr(
        self, ring: int, *, head: int | None = None, cur: int | None = None, tail: int | None = None
    ) -> None:
        old = self.hdr(ring)
        new = [v if v is not None else o for v, o in zip((head, cur, tail), old, strict=True)]
        struct.pack_into("<III", self.mm, ring + 20, *new)

    def slot(self, ring: int, i: int) -> tuple[int, int, int]:
        idx, length, flags, _ = struct.unpack_from("<IHHQ", self.mm, ring + 256 + 16 * i)
        return idx, length, flags

    def set_slot(
        self,
        ring: int,
        i: int,
        *,
        idx: int | None = None,
        length: int | None = None,
        flags: int | None = None,
    ) -> None:
        old = self.slot(ring, i)
        new = [v if v is not None else o for v, o in zip((idx, length, flags), old, strict=True)]
        struct.pack_into("<IHH", self.mm, ring + 256 + 16 * i, *new)

    def write_buf(self, ring: int, i: int, data: bytes) -> None:
        buf_ofs = struct.unpack_from("<q", self.mm, ring)[0]
        start = ring + buf_ofs + self.slot(ring, i)[0] * self.buf_size
        self.mm[start : start + len(data)] = data


@pytest.fixture
def pair() -> Iterator[tuple[PipePort, PipePort]]:
    a, b = pipe_pair(slots=16, buf_size=64)
    yield a, b
    a.close()
    b.close()


def roundtrip(a: PipePort, b: PipePort, count: int = 40) -> None:
    """The pipe still works: count frames (more than a ring) arrive intact and in order."""
    batch = FrameBatch(16)
    got: list[bytes] = []
    for i in range(count):
        assert a.send([struct.pack("<I", i)]) == 1
        a.flush()
        b.recv(batch)
        got += batch.frames()
    assert got == [struct.pack("<I", i) for i in range(count)]


# ---- layout -------------------------------------------------------------------------------


def test_layout_is_netmaps(pair: tuple[PipePort, PipePort]) -> None:
    a, b = pair
    sa, sb = Shm(a), Shm(b)
    assert sa.version == 14
    assert sa.ring_ofs[1] == sa.ring_ofs[3] == 0  # host rings counted but not bound
    assert sa.ring_ofs[0] != 0
    assert sa.ring_ofs[2] != 0
    assert sa.hdr(sa.tx) == (0, 0, 15)  # TX: head = cur = 0, tail = num_slots - 1
    assert sa.hdr(sa.rx) == (0, 0, 0)
    pools = set()
    indices = set()
    for shm in (sa, sb):
        for ring, direction in ((shm.tx, 0), (shm.rx, 1)):
            buf_ofs, slots, buf_size, _, dir_ = struct.unpack_from("<qIIHH", shm.mm, ring)
            assert (slots, buf_size, dir_) == (16, 64, direction)
            assert ring % 128 == 0
            pools.add(ring + buf_ofs)
            indices |= {shm.slot(ring, i)[0] for i in range(16)}
    assert len(pools) == 1  # one buffer pool behind every ring
    assert len(indices) == 64
    assert min(indices) == 2  # 0 and 1 are reserved


def test_buffers_move_by_index_not_by_copy(pair: tuple[PipePort, PipePort]) -> None:
    a, b = pair
    sa, sb = Shm(a), Shm(b)
    a.send([b"zero-copy"])
    idx = sa.slot(sa.tx, 0)[0]
    a.flush()
    assert sb.slot(sb.rx, 0)[0] == idx
    assert sb.slot(sb.rx, 0)[2] & NS_BUF_CHANGED
    assert sa.slot(sa.tx, 0)[0] != idx
    assert sa.slot(sa.tx, 0)[2] & NS_BUF_CHANGED


# ---- head / cur / tail --------------------------------------------------------------------


@pytest.mark.parametrize(("head", "cur"), [(3, 2), (16, 16), (0xFFFFFFFF, 3), (3, 40)])
def test_tx_head_cur_out_of_order_resets_the_ring(
    pair: tuple[PipePort, PipePort], head: int, cur: int
) -> None:
    a, b = pair
    sa = Shm(a)
    a.send([b"1", b"2"])
    a.flush()
    sa.set_hdr(sa.tx, head=head, cur=cur)
    a.flush()
    assert a.ring_resets == 1
    assert sa.hdr(sa.tx) == (2, 2, 1)  # back to where the kernel was
    b.recv(FrameBatch(4))
    roundtrip(a, b)
    assert a.stats()["ring_resets"] == 1


@pytest.mark.parametrize(("head", "cur"), [(2, 1), (5, 5), (16, 0)])
def test_rx_head_cur_out_of_order_resets_and_loses_nothing(
    pair: tuple[PipePort, PipePort], head: int, cur: int
) -> None:
    a, b = pair
    sb = Shm(b)
    a.send([b"1", b"2", b"3"])
    a.flush()
    sb.set_hdr(sb.rx, head=head, cur=cur)  # b has not synced: its tail is still 0
    batch = FrameBatch(8)
    assert b.recv(batch) == 3
    assert batch.frames() == [b"1", b"2", b"3"]
    assert b.ring_resets == 1
    roundtrip(a, b)


@pytest.mark.parametrize("tail", [7, 16, 0xFFFF0000])
def test_a_scribbled_rx_tail_is_put_back(pair: tuple[PipePort, PipePort], tail: int) -> None:
    a, b = pair
    sb = Shm(b)
    a.send([b"only"])
    a.flush()
    sb.set_hdr(sb.rx, tail=tail)
    batch = FrameBatch(8)
    assert b.recv(batch) == 1
    assert batch.frames() == [b"only"]
    assert sb.hdr(sb.rx)[2] == 1
    assert b.ring_resets == 0  # tail is the kernel's: restored silently, as netmap does


# ---- slots --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "counter"),
    [({"idx": 0}, "slots_repaired"), ({"idx": 10**8}, "slots_repaired"), ({"length": 65}, None)],
)
def test_bad_published_tx_slot_is_dropped_and_repaired(
    pair: tuple[PipePort, PipePort], change: dict[str, int], counter: str | None
) -> None:
    a, b = pair
    sa, sb = Shm(a), Shm(b)
    a.send([b"x", b"bad", b"z"])
    sa.set_slot(sa.tx, 1, **change)
    a.flush()
    batch = FrameBatch(8)
    assert b.recv(batch) == 2
    assert batch.frames() == [b"x", b"z"]
    st = a.stats()
    assert st["tx_dropped_bad_slot"] == 1
    if counter:
        assert st[counter] == 1
    assert 2 <= sa.slot(sa.tx, 1)[0] < 10**8
    assert all(2 <= sb.slot(sb.rx, i)[0] < 10**8 for i in range(16))
    roundtrip(a, b)


def test_bad_buffer_index_in_a_free_tx_slot(pair: tuple[PipePort, PipePort]) -> None:
    a, b = pair
    sa = Shm(a)
    sa.set_slot(sa.tx, 1, idx=1)
    assert a.send([b"a", b"b", b"c"]) == 1  # stops at the damaged slot
    assert a.stats()["tx_bad_buf"] == 1
    a.flush()  # the "kernel" repairs the free slots it was told about
    assert a.stats()["slots_repaired"] == 1
    assert a.send([b"b", b"c"]) == 2
    a.flush()
    batch = FrameBatch(8)
    b.recv(batch)
    assert batch.frames() == [b"a", b"b", b"c"]
    roundtrip(a, b)


@pytest.mark.parametrize(
    ("change", "counter"),
    [
        ({"idx": 10**9}, "rx_dropped_bad_buf"),
        ({"idx": 1}, "rx_dropped_bad_buf"),
        ({"length": 200}, "rx_dropped_bad_len"),
    ],
)
def test_bad_rx_slot_is_dropped_and_repaired_on_release(
    pair: tuple[PipePort, PipePort], change: dict[str, int], counter: str
) -> None:
    a, b = pair
    sb = Shm(b)
    a.send([b"gone", b"kept"])
    a.flush()
    sb.set_slot(sb.rx, 0, **change)
    batch = FrameBatch(8)
    assert b.recv(batch) == 1
    assert batch.frames() == [b"kept"]
    assert b.stats()[counter] == 1
    assert 2 <= sb.slot(sb.rx, 0)[0] < 10**8  # restored when the slot went back
    roundtrip(a, b)


def test_a_chain_longer_than_netmap_allows_is_dropped() -> None:
    a, b = pipe_pair(slots=128, buf_size=64)
    with a, b:
        sa = Shm(a)
        for i in range(65):
            sa.set_slot(sa.tx, i, length=64, flags=NS_MOREFRAG if i < 64 else 0)
        sa.set_hdr(sa.tx, head=65, cur=65)
        a.flush()
        assert a.stats()["tx_dropped_too_many_frags"] == 1
        batch = FrameBatch(4)
        assert b.recv(batch) == 0
        assert a.send([b"next"]) == 1
        a.flush()
        assert b.recv(batch) == 1
        assert batch.frames() == [b"next"]


def test_half_a_chain_is_held_until_its_end_is_published(pair: tuple[PipePort, PipePort]) -> None:
    a, b = pair
    sa = Shm(a)
    for i, (data, more) in enumerate(((b"abc", True), (b"de", True), (b"f", False))):
        sa.write_buf(sa.tx, i, data)
        sa.set_slot(sa.tx, i, length=len(data), flags=NS_MOREFRAG if more else 0)
    sa.set_hdr(sa.tx, head=2, cur=2)
    a.flush()
    batch = FrameBatch(4)
    assert b.recv(batch) == 0
    sa.set_hdr(sa.tx, head=3, cur=3)
    a.flush()
    assert b.recv(batch) == 1
    assert batch.frames() == [b"abcdef"]


def test_a_damaged_control_area_is_an_error_not_a_crash(pair: tuple[PipePort, PipePort]) -> None:
    a, _ = pair
    sa = Shm(a)
    sa.mm[64:1024] = b"\xff" * 960
    with pytest.raises(OSError, match="control area is damaged") as info:
        a.recv(FrameBatch(4))
    assert info.value.errno == errno.EIO
    with pytest.raises(OSError, match="control area is damaged"):
        a.flush()
    a.close()  # still closes cleanly


@settings(max_examples=60, deadline=None)
@given(
    writes=st.lists(
        st.tuples(
            st.booleans(),
            st.booleans(),
            st.integers(0, 256 + 16 * 8 - 4),
            st.integers(0, 2**32 - 1),
        ),
        max_size=12,
    ),
    ops=st.lists(st.sampled_from(["send", "flush", "recv", "space"]), max_size=12),
)
def test_random_scribbles_never_crash(
    writes: list[tuple[bool, bool, int, int]], ops: list[str]
) -> None:
    a, b = pipe_pair(slots=8, buf_size=64)
    with a, b:
        shm = {False: Shm(a), True: Shm(b)}
        batch = FrameBatch(8)
        for i, (on_b, rx, off, value) in enumerate(writes):
            s = shm[on_b]
            ring = s.rx if rx else s.tx
            if off >= 20:  # leave the geometry (read once at attach) alone: it is not re-read
                struct.pack_into("<I", s.mm, ring + off, value)
            port, peer = (b, a) if on_b else (a, b)
            op = ops[i] if i < len(ops) else "recv"
            if op == "send":
                port.send([bytes([i]) * (value % 300)])
            elif op == "flush":
                port.flush()
            elif op == "recv":
                peer.recv(batch)
                assert all(length <= 7 * 64 for length in batch.lengths[: batch.count])
            else:
                assert 0 <= port.tx_space() < 8
        a.flush()
        b.recv(batch)
        a.recv(batch)


def test_zero_copy_forward_through_the_pipe_keeps_the_pool_intact(
    pair: tuple[PipePort, PipePort],
) -> None:
    """b echoes a's frames back by swapping buffers (RingSet.forward_to); the pipe's
    kernel must accept the swapped indices, and no buffer may end up in two slots."""
    a, b = pair
    sa, sb = Shm(a), Shm(b)
    rb = b._rings
    assert rb is not None
    assert rb.same_region(rb)
    batch = FrameBatch(16)
    for round_ in range(10):  # several laps of the 16-slot rings
        frames = [payload for payload in (bytes([round_, i]) * (i + 1) for i in range(5))]
        frames.append(bytes(64 * 3))  # a chain
        assert a.send(frames) == 6
        a.flush()
        b.recv(FrameBatch(1), 0)  # rxsync only: expose the frames without taking them
        assert rb.forward_to(rb, 100) == 6
        b.flush()
        b.recv(FrameBatch(1), 0)  # hand the swapped RX slots back to the kernel
        got: list[bytes] = []
        while len(got) < 6:
            assert a.recv(batch) > 0
            got += batch.frames()
        assert got == frames
    assert rb.stats()["fwd_swapped"] == 60
    assert b.stats()["slots_repaired"] == 0
    indices = [s.slot(ring, i)[0] for s in (sa, sb) for ring in (s.tx, s.rx) for i in range(16)]
    assert sorted(indices) == list(range(2, 66))  # every buffer exactly once


# ---- a peer that never stops notifying (found by review, fuzz/README.md) -------------------

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
