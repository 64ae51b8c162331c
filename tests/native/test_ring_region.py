"""RingSet against netmap regions built by hand: layout validation, RX/TX bursts, damage.

The region and the "kernel" side (filling RX slots, taking TX slots) are in
tests/native/fake_region.py, written from the layout tables in netmap-abi.md.
"""

from __future__ import annotations

import mmap
import struct
from array import array

import pytest

from aionetmap._native._ring import ffi, lib
from aionetmap._native.batch import FrameBatch
from aionetmap._native.rings import RingSet
from tests.native.fake_region import (
    MAX_FRAGS,
    NIFP_HDR,
    NS_BUF_CHANGED,
    NS_MOREFRAG,
    RING_BUF_SIZE,
    FakeRegion,
)


def frame(n: int, seed: int = 0) -> bytes:
    return bytes((seed + i * 7) & 0xFF for i in range(n))


def second_ring_smaller(buf_size: int) -> tuple[FakeRegion, int]:
    """A region with two TX rings over one pool of 256-byte buffers, the second ring told
    its buffers are ``buf_size`` bytes (``nr_buf_size``, as a driver may); and that ring."""
    region = FakeRegion(tx=2, rx=1, slots=8, buf_size=256)
    small = region.tx[0][1]
    struct.pack_into("<I", region.mem, small + RING_BUF_SIZE, buf_size)
    return region, small


def published(region: FakeRegion, ring: int, buf_size: int, upto: int) -> list[bytes]:
    """The frames in slots [0, upto) of a TX ring whose buffers are ``buf_size`` bytes."""
    frames, cur = [], b""
    for s in range(upto):
        idx, length, flags = region.slot(ring, s)
        start = region.pool + idx * buf_size
        cur += bytes(region.mem[start : start + length])
        if not flags & NS_MOREFRAG:
            frames.append(cur)
            cur = b""
    return frames


# ---- init ---------------------------------------------------------------------------------


def test_finds_bound_rings_and_skips_unbound_host_rings() -> None:
    region = FakeRegion(tx=2, rx=3, slots=128, buf_size=512)
    rs = region.rings()
    assert (rs.tx_rings, rs.rx_rings, rs.tx_slots, rs.rx_slots) == (2, 3, 128, 128)
    assert rs.buf_size == 512
    assert rs.max_frame == MAX_FRAGS * 512
    assert region.rings(allow_fragments=False).max_frame == 512
    rs.release()


def test_max_frame_limited_by_a_small_ring() -> None:
    rs = FakeRegion(slots=8, buf_size=256).rings()
    assert rs.max_frame == 7 * 256  # a chain needs its slots free at once
    rs.release()


def test_unbinding_a_ring_in_ring_ofs_drops_it() -> None:
    region = FakeRegion(tx=2, rx=2)
    struct.pack_into("<q", region.mem, NIFP_HDR + 8 * 1, 0)  # second TX ring: not bound
    rs = region.rings()
    assert (rs.tx_rings, rs.rx_rings) == (1, 2)
    rs.release()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        pytest.param(lambda r: ("nifp", 1 << 40), "does not fit", id="nifp-outside"),
        pytest.param(lambda r: ("nifp", 4), "misaligned", id="nifp-misaligned"),
        pytest.param(lambda r: ("u32", 24, 1 << 30), "ring_ofs table", id="ring-count-huge"),
        pytest.param(lambda r: ("i64", NIFP_HDR, 1 << 40), "outside", id="ring-outside"),
        pytest.param(lambda r: ("i64", NIFP_HDR, -8), "outside", id="ring-before-start"),
        pytest.param(
            lambda r: ("i64", NIFP_HDR, r.tx[0][0] + 4), "misaligned", id="ring-misaligned"
        ),
        pytest.param(
            lambda r: ("i64", NIFP_HDR, r.tx[0][0] + 64),
            "128-byte aligned",
            id="ring-not-128-aligned",
        ),
        pytest.param(lambda r: ("u32", r.tx[0][0] + 8, 1 << 28), "do not fit", id="slots-overflow"),
        pytest.param(lambda r: ("u32", r.tx[0][0] + 8, 1), "do not fit", id="one-slot"),
        pytest.param(lambda r: ("u32", r.tx[0][0] + 12, 0), "buffer size", id="buf-size-zero"),
        pytest.param(lambda r: ("i64", r.tx[0][0], 1 << 40), "buf_ofs", id="pool-outside"),
        pytest.param(
            lambda r: ("i64", r.tx[0][0], len(r.mem) - r.tx[0][0] - 2 * r.buf_size),
            "no usable buffer",
            id="pool-too-small",
        ),
        pytest.param(lambda r: ("zero-all",), "no ring is bound", id="nothing-bound"),
    ],
)
def test_inconsistent_layouts_are_refused_with_the_cause(damage: object, message: str) -> None:
    region = FakeRegion()
    action = damage(region)  # type: ignore[operator]
    nifp = 0
    if action[0] == "nifp":
        nifp = action[1]
    elif action[0] == "u32":
        struct.pack_into("<I", region.mem, action[1], action[2])
    elif action[0] == "i64":
        struct.pack_into("<q", region.mem, action[1], action[2])
    else:
        struct.pack_into("<4q", region.mem, NIFP_HDR, 0, 0, 0, 0)
    with pytest.raises(ValueError, match=rf"^port-x: .*{message}"):
        RingSet(region.mem, nifp, name="port-x")


def test_negative_offset_and_read_only_region_are_refused() -> None:
    region = FakeRegion()
    with pytest.raises(ValueError, match="port-y: negative"):
        RingSet(region.mem, -1, name="port-y")
    with pytest.raises(TypeError, match="port-y: the region must be a writable buffer"):
        RingSet(bytes(region.mem), 0, name="port-y")


def test_release_lets_the_mmap_close_and_is_idempotent() -> None:
    region = FakeRegion()
    mm = mmap.mmap(-1, len(region.mem))
    mm[:] = region.mem
    rs = RingSet(mm, 0, name="mm")
    with pytest.raises(BufferError):
        mm.close()
    rs.release()
    rs.release()
    mm.close()
    with pytest.raises(ValueError, match="mm: ring set already released"):
        rs.tx_space()
    assert "released" in repr(rs)


# ---- RX -----------------------------------------------------------------------------------


def test_rx_copies_frames_and_releases_slots() -> None:
    region = FakeRegion(slots=16, buf_size=128)
    ring = region.rx[0][0]
    frames = [frame(n, n) for n in (0, 1, 60, 127, 128)]
    region.deliver(ring, frames)
    rs = region.rings()
    assert rs.rx_pending() == 5
    batch = FrameBatch(8)
    assert rs.recv(batch) == 5
    assert batch.frames() == frames
    assert list(batch.offsets[:5]) == [0, 0, 1, 61, 188]  # packed from offset 0
    head, cur, tail = region.hdr(ring)
    assert head == cur == tail == 5
    assert rs.recv(batch) == 0
    assert len(batch) == 0
    st = rs.stats()
    assert st["rx_frames"] == 5
    assert st["rx_bytes"] == sum(map(len, frames))
    rs.release()


def test_rx_wraps_and_joins_a_chain_split_across_the_ring_end() -> None:
    region = FakeRegion(slots=8, buf_size=64)
    ring = region.rx[0][0]
    rs = region.rings()
    batch = FrameBatch(8, 8 * 64 * 8)
    region.deliver(ring, [frame(10)] * 6)
    assert rs.recv(batch) == 6
    big = frame(64 * 3 + 5, 3)  # 4 slots: 6, 7, 0, 1
    region.deliver(ring, [big])
    assert region.hdr(ring) == (6, 6, 2)
    assert rs.recv(batch) == 1
    assert batch.frames() == [big]
    assert region.hdr(ring)[0] == 2
    rs.release()


def test_rx_leaves_an_incomplete_chain_for_next_time() -> None:
    region = FakeRegion(slots=16, buf_size=64)
    ring = region.rx[0][0]
    rs = region.rings()
    region.deliver(ring, [frame(5), frame(64 * 2 + 1, 9)])
    region.set_hdr(ring, 0, 0, 3)  # the kernel has shown 2 of the chain's 3 slots
    batch = FrameBatch(8)
    assert rs.recv(batch) == 1
    assert region.hdr(ring)[0] == 1
    region.set_hdr(ring, 1, 1, 4)
    assert rs.recv(batch) == 1
    assert batch.frames() == [frame(64 * 2 + 1, 9)]
    rs.release()


def test_rx_drops_a_chain_longer_than_netmap_allows() -> None:
    region = FakeRegion(slots=256, buf_size=64)
    ring = region.rx[0][0]
    rs = region.rings()
    region.deliver(ring, [frame(64 * 65, 1), frame(64 * 64, 2), frame(7, 3)])
    batch = FrameBatch(8, 64 * 64 * 2)
    assert rs.recv(batch) == 2
    assert batch.frames() == [frame(64 * 64, 2), frame(7, 3)]
    assert rs.stats()["rx_dropped_too_many_frags"] == 1
    rs.release()


def test_rx_drops_an_endless_chain_that_fills_the_ring_and_its_rest() -> None:
    region = FakeRegion(slots=16, buf_size=64)
    ring = region.rx[0][0]
    rs = region.rings()
    for s in range(15):
        region.set_slot(ring, s, length=64, flags=NS_MOREFRAG)
    region.set_hdr(ring, 0, 0, 15)  # a full ring, still no end of chain
    batch = FrameBatch(4)
    assert rs.recv(batch) == 0
    assert rs.stats()["rx_dropped_too_many_frags"] == 1
    assert region.hdr(ring)[0] == 15  # released, so the kernel can go on
    region.set_slot(ring, 15, length=3, flags=NS_MOREFRAG)
    region.set_slot(ring, 0, length=3, flags=0)  # the chain's end...
    region.set_slot(ring, 1, length=2, flags=0)  # ...then a good frame
    region.buf(region.slot(ring, 1)[0])[:2] = b"ok"
    region.set_hdr(ring, 15, 15, 2)
    assert rs.recv(batch) == 1
    assert batch.frames() == [b"ok"]
    rs.release()


@pytest.mark.parametrize(
    ("slot_change", "counter"),
    [
        ({"idx": 0}, "rx_dropped_bad_buf"),
        ({"idx": 1}, "rx_dropped_bad_buf"),
        ({"idx": 10**9}, "rx_dropped_bad_buf"),
        ({"length": 65}, "rx_dropped_bad_len"),
    ],
)
def test_rx_drops_slots_with_bad_buffer_or_length(
    slot_change: dict[str, int], counter: str
) -> None:
    region = FakeRegion(slots=16, buf_size=64)
    ring = region.rx[0][0]
    rs = region.rings()
    region.deliver(ring, [frame(64 * 2, 1), frame(3, 2)])
    region.set_slot(ring, 1, **slot_change)  # second fragment of the first frame
    batch = FrameBatch(4)
    assert rs.recv(batch) == 1
    assert batch.frames() == [frame(3, 2)]
    assert rs.stats()[counter] == 1
    assert region.hdr(ring)[0] == 3  # the bad frame's slots were released too
    rs.release()


@pytest.mark.parametrize(("head", "tail"), [(16, 0), (0, 16), (2**32 - 1, 3)])
def test_rx_skips_a_ring_with_head_or_tail_out_of_range(head: int, tail: int) -> None:
    region = FakeRegion(slots=16, rx=2)
    region.deliver(region.rx[0][1], [b"fine"])
    region.set_hdr(region.rx[0][0], head, head, tail)
    rs = region.rings()
    batch = FrameBatch(4)
    assert rs.recv(batch) == 1
    assert batch.frames() == [b"fine"]
    assert rs.stats()["rx_bad_ring"] == 1
    assert rs.rx_pending() == 0
    rs.release()


def test_rx_stops_when_the_arena_or_max_is_reached() -> None:
    region = FakeRegion(slots=32, buf_size=256)
    ring = region.rx[0][0]
    rs = region.rings()
    frames = [frame(100, i) for i in range(10)]
    region.deliver(ring, frames)
    small = FrameBatch(16, arena_size=350)
    assert rs.recv(small) == 3  # 300 bytes used, the fourth does not fit
    assert rs.recv(small, max_frames=2) == 2
    assert rs.rx_pending() == 5
    got = small.frames()
    assert rs.recv(FrameBatch(16)) == 5
    assert got == frames[3:5]
    region.deliver(ring, [frame(400)])  # larger than the whole arena: dropped
    assert rs.recv(small) == 0
    assert rs.stats()["rx_dropped_too_big"] == 1
    rs.release()


def test_rx_round_robins_between_rings() -> None:
    region = FakeRegion(rx=3, slots=16)
    for k, ring in enumerate(region.rx[0]):
        region.deliver(ring, [bytes([k, i]) for i in range(6)])
    rs = region.rings()
    batch = FrameBatch(4)
    firsts = []
    for _ in range(3):
        assert rs.recv(batch) == 4
        firsts.append(batch.frames()[0][0])
    assert sorted(firsts) == [0, 1, 2]  # each call starts on another ring
    rs.release()


# ---- TX -----------------------------------------------------------------------------------


def test_tx_fills_slots_and_publishes_head() -> None:
    region = FakeRegion(slots=8, buf_size=128)
    ring = region.tx[0][0]
    rs = region.rings()
    frames = [frame(n, n) for n in (0, 1, 60, 128)]
    assert rs.tx_space() == 7
    assert rs.send(frames) == 4
    assert region.hdr(ring)[:2] == (4, 4)
    assert rs.tx_space() == 3
    assert rs.tx_pending()
    assert [region.slot(ring, s)[1:] for s in range(4)] == [(0, 0), (1, 0), (60, 0), (128, 0)]
    assert region.take(ring) == frames
    assert not rs.tx_pending()
    assert rs.stats()["tx_frames"] == 4
    rs.release()


def test_tx_splits_large_frames_into_chains_and_wraps() -> None:
    region = FakeRegion(slots=8, buf_size=64)
    ring = region.tx[0][0]
    rs = region.rings()
    assert rs.send([b"x"] * 5) == 5
    region.take(ring)
    big = frame(64 * 3 + 1, 5)
    assert rs.send([big]) == 1  # slots 5, 6, 7, 0
    flags = [region.slot(ring, s)[2] for s in (5, 6, 7, 0)]
    assert flags == [NS_MOREFRAG] * 3 + [0]
    assert region.take(ring) == [big]
    rs.release()


def test_tx_never_publishes_part_of_a_chain() -> None:
    region = FakeRegion(slots=8, buf_size=64)
    ring = region.tx[0][0]
    rs = region.rings()
    assert rs.send([b"a"] * 5) == 5  # 2 slots left
    assert rs.send([frame(64 * 2 + 1), b"b"]) == 0  # needs 3: stop there, keep order
    assert region.hdr(ring)[0] == 5
    rs.release()


def test_tx_oversize_raises_before_queuing_anything() -> None:
    region = FakeRegion(slots=8, buf_size=64)
    rs = region.rings(allow_fragments=False)
    with pytest.raises(ValueError, match=r"fake0: frame of 65 bytes exceeds the 64-byte"):
        rs.send([b"ok", frame(65)])
    assert rs.tx_space() == 7
    batch = FrameBatch(4)
    batch.extend([b"ok", frame(65)])
    with pytest.raises(ValueError, match="65 bytes"):
        rs.send_batch(batch)
    assert region.hdr(region.tx[0][0])[0] == 0
    rs.release()


def test_tx_counts_memoryview_bytes_not_items() -> None:
    region = FakeRegion(slots=8, buf_size=64)
    rs = region.rings(allow_fragments=False)
    words = memoryview(array("I", range(10)))  # 10 items, 40 bytes
    assert rs.send([words, b"z"]) == 2
    assert region.take(region.tx[0][0]) == [words.tobytes(), b"z"]
    with pytest.raises(ValueError, match="68 bytes"):
        rs.send([memoryview(array("I", range(17)))])  # 17 items but 68 bytes
    rs.release()


def test_tx_send_batch_from_an_offset() -> None:
    region = FakeRegion(slots=8, buf_size=64)
    rs = region.rings()
    batch = FrameBatch(8)
    frames = [frame(n, n) for n in (3, 70, 0, 9)]
    batch.extend(frames)
    assert rs.send_batch(batch, 1) == 3
    assert region.take(region.tx[0][0]) == frames[1:]
    assert rs.send_batch(batch, 4) == 0
    with pytest.raises(IndexError):
        rs.send_batch(batch, 5)
    rs.release()


def test_tx_moves_to_the_next_ring_when_one_is_full() -> None:
    region = FakeRegion(tx=2, slots=4)
    rs = region.rings()
    assert rs.tx_space() == 6
    assert rs.send([bytes([i]) for i in range(7)]) == 6
    assert region.take(region.tx[0][0]) + region.take(region.tx[0][1]) == [
        bytes([i]) for i in range(6)
    ]
    rs.release()


def test_tx_stops_at_a_slot_with_a_bad_buffer_index() -> None:
    region = FakeRegion(slots=8)
    ring = region.tx[0][0]
    region.set_slot(ring, 2, idx=10**6)
    rs = region.rings()
    assert rs.send([b"a", b"b", b"c", b"d"]) == 2
    assert rs.stats()["tx_bad_buf"] == 1
    assert region.hdr(ring)[0] == 2
    region.set_hdr(ring, 9, 9, 1)  # head out of range: the ring is skipped
    batch = FrameBatch(2)
    batch.extend([b"e"])
    assert rs.send_batch(batch) == 0
    assert rs.stats()["tx_bad_ring"] == 1
    assert rs.tx_space() == 0
    rs.release()


def test_tx_a_frame_that_moves_to_a_ring_with_smaller_buffers_is_not_truncated() -> None:
    # Two TX rings over one pool, the second with 128-byte buffers. The first is filled,
    # so a 200-byte frame lands on the second: it needs a 2-slot chain there, not the
    # single slot it would have needed on the first ring. (Found by review.)
    region, small = second_ring_smaller(128)
    rings = region.rings(allow_fragments=True)
    try:
        assert rings.send([bytes(60)] * 7) == 7  # ring 0 full (7 free slots of 8)
        big = bytes(range(200))
        assert rings.send([big]) == 1
        head = region.hdr(small)[0]
        assert published(region, small, 128, head) == [big]
        assert rings.stats()["tx_bytes"] == 7 * 60 + 200
    finally:
        rings.release()


def test_tx_a_ring_that_cannot_carry_a_frame_refuses_it_after_the_move() -> None:
    # Without fragments the second ring (64-byte buffers) can never carry 100 bytes: the
    # frame is refused (counted), not cut to 64 bytes. (Found by review.)
    region, small = second_ring_smaller(64)
    rings = region.rings(allow_fragments=False)
    try:
        assert rings.send([bytes(60)] * 7) == 7
        data = bytes(100)
        lens = ffi.new("uint32_t[]", [100])
        assert lib.anm_tx_burst(rings.native, data, len(data), ffi.NULL, lens, 1) == 0
        assert region.hdr(small)[0] == 0  # nothing published on the small ring
        assert rings.stats()["tx_refused"] == 1
    finally:
        rings.release()


# ---- forwarding ---------------------------------------------------------------------------


def test_forward_swaps_buffers_within_one_region() -> None:
    region = FakeRegion(n_ifs=2, slots=8, buf_size=64)
    rx, tx = region.rx[0][0], region.tx[1][0]
    src, dst = region.rings(0), region.rings(1)
    assert src.same_region(dst)
    frames = [frame(10, 1), frame(64 * 2 + 3, 2)]
    region.deliver(rx, frames)
    rx_before = [region.slot(rx, s)[0] for s in range(4)]  # 1 slot + a 3-slot chain
    tx_before = [region.slot(tx, s)[0] for s in range(4)]
    assert src.forward_to(dst, 10) == 2
    assert [region.slot(tx, s)[0] for s in range(4)] == rx_before
    assert [region.slot(rx, s)[0] for s in range(4)] == tx_before
    assert all(region.slot(tx, s)[2] & NS_BUF_CHANGED for s in range(4))
    assert all(region.slot(rx, s)[2] & NS_BUF_CHANGED for s in range(4))
    assert [region.slot(tx, s)[2] & NS_MOREFRAG for s in range(4)] == [0, 32, 32, 0]
    assert region.hdr(rx)[0] == 4
    assert region.hdr(tx)[0] == 4
    assert region.take(tx) == frames
    st = src.stats()
    assert st["fwd_swapped"] == 2
    assert st["fwd_copied"] == 0
    src.release()
    dst.release()


def test_forward_copies_between_regions() -> None:
    a, b = FakeRegion(slots=8, buf_size=64), FakeRegion(slots=8, buf_size=128)
    src, dst = a.rings(), b.rings()
    assert not src.same_region(dst)
    frames = [frame(10, 1), frame(64 * 2 + 3, 2), frame(0)]
    a.deliver(a.rx[0][0], frames)
    tx_before = [b.slot(b.tx[0][0], s)[0] for s in range(4)]
    assert src.forward_to(dst, 10) == 3
    assert [b.slot(b.tx[0][0], s)[0] for s in range(4)] == tx_before
    assert b.take(b.tx[0][0]) == frames  # the 131-byte frame now takes 2 slots, not 3
    assert src.stats()["fwd_copied"] == 3
    src.release()
    dst.release()


def test_forward_stops_when_the_destination_is_full_and_keeps_the_rest() -> None:
    region = FakeRegion(n_ifs=2, slots=8)
    src, dst = region.rings(0), region.rings(1)
    region.deliver(region.rx[0][0], [bytes([i]) for i in range(7)])
    assert dst.send([b"x"] * 4) == 4
    assert src.forward_to(dst, 100) == 3
    assert src.rx_pending() == 4
    assert src.forward_to(dst, 0) == 0
    region.take(region.tx[1][0])
    assert src.forward_to(dst, 2) == 2
    src.release()
    dst.release()


def test_forward_drops_a_chain_the_destination_cannot_carry() -> None:
    a, b = FakeRegion(slots=8, buf_size=64), FakeRegion(slots=8, buf_size=64)
    src, dst = a.rings(), b.rings(allow_fragments=False)
    a.deliver(a.rx[0][0], [frame(100), b"ok"])
    assert src.forward_to(dst, 10) == 1
    assert b.take(b.tx[0][0]) == [b"ok"]
    assert src.stats()["fwd_dropped"] == 1
    src.release()
    dst.release()


def test_forward_a_copy_that_moves_to_a_ring_with_smaller_buffers_is_whole() -> None:
    # Copy path (two regions, so no buffer swap): the destination's first TX ring is full,
    # the frame goes to its second, whose 128-byte buffers need a 2-slot chain for it.
    # (Found by review.)
    src_region = FakeRegion(tx=1, rx=1, slots=8, buf_size=256)
    dst_region, small = second_ring_smaller(128)
    src, dst = src_region.rings(), dst_region.rings()
    try:
        assert dst.send([bytes(60)] * 7) == 7
        big = bytes(range(200))
        src_region.deliver(src_region.rx[0][0], [big])
        assert src.forward_to(dst, 8) == 1
        assert published(dst_region, small, 128, dst_region.hdr(small)[0]) == [big]
        assert src.stats()["fwd_copied"] == 1
    finally:
        src.release()
        dst.release()


def test_tx_oversize_beyond_the_free_room_still_raises_first() -> None:
    region = FakeRegion(slots=8, buf_size=64)
    rs = region.rings(allow_fragments=False)
    frames = [b"x"] * 69 + [frame(65)]  # only 7 fit; the bad one is far behind them
    with pytest.raises(ValueError, match="65 bytes"):
        rs.send(frames)
    assert region.hdr(region.tx[0][0])[0] == 0
    assert rs.send(frames[:69]) == 7
    rs.release()
