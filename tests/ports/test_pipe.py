"""PipePort in one process: delivery, full rings, chains, readiness, close, named pipes."""

from __future__ import annotations

import gc
import os
import select
import struct
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aionetmap._native.batch import FrameBatch
from aionetmap.ports.base import Port, PortClosedError
from aionetmap.ports.pipe import SHM_DIR, PipeHandle, PipePort, pipe_pair


def payload(n: int, seed: int) -> bytes:
    return bytes((seed * 31 + i * 7) & 0xFF for i in range(n))


def readable(*ports: PipePort) -> set[PipePort]:
    fds = {p.fileno(): p for p in ports}
    ready, _, _ = select.select(list(fds), [], [], 0)
    return {fds[fd] for fd in ready}


def transfer(src: PipePort, dst: PipePort, frames: list[bytes], batch: FrameBatch) -> list[bytes]:
    """Send everything through, receiving as we go; return what arrived."""
    got: list[bytes] = []
    pos = 0
    for _ in range(4 * len(frames) + 10):  # each round moves at least one frame
        if len(got) == len(frames):
            break
        pos += src.send(frames[pos : pos + 32])
        src.flush()
        dst.recv(batch)
        got += batch.frames()
    return got


@pytest.fixture
def pair() -> Iterator[tuple[PipePort, PipePort]]:
    a, b = pipe_pair(slots=32, buf_size=256)
    yield a, b
    a.close()
    b.close()


@pytest.fixture
def name() -> Iterator[str]:
    """A unique pipe name; fails the test if its files outlive the last close."""
    n = f"t-{os.getpid()}-{uuid.uuid4().hex[:8]}.1"
    yield n
    leftovers = [f for f in os.listdir(SHM_DIR) if n in f]
    for f in leftovers:
        os.unlink(os.path.join(SHM_DIR, f))
    assert not leftovers, f"files left behind: {leftovers}"


# ---- delivery -----------------------------------------------------------------------------


def test_is_a_port_and_describes_itself(pair: tuple[PipePort, PipePort]) -> None:
    a, b = pair
    assert isinstance(a, Port)
    assert a.tx_wakeup == "readable"
    assert a.info.backend == "pipe"
    assert a.info.name.startswith("pipe:anon-")
    assert a.info.name.endswith("{0")
    assert b.info.name == a.info.name.replace("{", "}")
    assert (a.info.rx_rings, a.info.tx_rings, a.info.rx_slots, a.info.buf_size) == (1, 1, 32, 256)
    assert a.info.max_frame == 31 * 256
    assert repr(a) == f"<PipePort {a.info.name} fd={a.fileno()}>"


def test_every_length_round_trips_byte_exact_both_ways(pair: tuple[PipePort, PipePort]) -> None:
    a, b = pair
    small = list(range(257))  # 0 .. buf_size: one slot each
    edges = [k * 256 + d for k in range(1, 31) for d in (-1, 0, 1)] + [31 * 256]
    frames = [payload(n, n) for n in small + sorted(set(edges))]
    batch = FrameBatch(32, 32 * 31 * 256)
    assert transfer(a, b, frames, batch) == frames
    assert transfer(b, a, frames[::-1], batch) == frames[::-1]
    assert b.stats()["rx_frames"] == len(frames)


@settings(max_examples=40, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 7 * 128), max_size=60),
    cap=st.integers(1, 9),
)
def test_random_frame_sequences_arrive_in_order(lengths: list[int], cap: int) -> None:
    a, b = pipe_pair(slots=8, buf_size=128)
    with a, b:
        frames = [payload(n, i) for i, n in enumerate(lengths)]
        assert transfer(a, b, frames, FrameBatch(cap, 8 * 7 * 128)) == frames


def test_full_ring_and_wrap_around() -> None:
    a, b = pipe_pair(slots=8, buf_size=64)
    with a, b:
        batch = FrameBatch(64)
        seq = 0
        for _round in range(25):  # ~14 frames a round: the indices wrap many times
            sent: list[bytes] = []
            while True:
                frame = struct.pack("<I", seq + len(sent))
                if a.send([frame]) == 0:
                    break
                sent.append(frame)
                a.flush()
            assert len(sent) == 14  # 7 in b's RX ring + 7 waiting in a's TX ring
            assert a.tx_space() == 0
            got: list[bytes] = []
            while len(got) < len(sent):
                assert b.recv(batch, 5) > 0
                got += batch.frames()
                a.flush()
            assert got == sent
            seq += len(sent)
        assert b.recv(batch) == 0


def test_chains_split_across_the_ring_end() -> None:
    a, b = pipe_pair(slots=8, buf_size=64)
    with a, b:
        batch = FrameBatch(8, 8 * 7 * 64)
        for i in range(40):  # 3-slot chains in 8 slots: every alignment, wrap included
            frames = [payload(64 * 2 + 1 + i, i), payload(5, i)]
            assert a.send(frames) == 2
            a.flush()
            assert b.recv(batch) == 2
            assert batch.frames() == frames


def test_oversize_is_refused_before_queuing(pair: tuple[PipePort, PipePort]) -> None:
    a, b = pair
    with pytest.raises(ValueError, match=r"pipe:anon-\d+\{0: frame of 7937 bytes"):
        a.send([b"fine", bytes(31 * 256 + 1)])
    a.flush()
    assert b.recv(FrameBatch(4)) == 0


# ---- readiness ----------------------------------------------------------------------------


def test_fd_is_readable_exactly_while_frames_wait(pair: tuple[PipePort, PipePort]) -> None:
    a, b = pair
    batch = FrameBatch(8)
    assert readable(a, b) == set()
    a.send([b"1", b"2", b"3"])
    assert readable(a, b) == set()  # queued, not flushed
    a.flush()
    assert readable(a, b) == {b}
    assert b.recv(batch, 1) == 1
    assert readable(a, b) == {b}  # two still wait
    assert b.recv(batch) == 2
    assert readable(a, b) == set()
    assert b.recv(batch) == 0
    assert readable(a, b) == set()


def test_tx_room_wakes_the_sender_through_its_own_fd() -> None:
    a, b = pipe_pair(slots=8, buf_size=64)
    with a, b:
        while a.send([b"x"]):
            a.flush()
        assert a.tx_space() == 0
        assert readable(a, b) == {b}
        assert b.recv(FrameBatch(2)) == 2
        assert readable(a, b) == {a, b}  # room came back: a is told so
        assert a.recv(FrameBatch(2)) == 0
        assert a.tx_space() == 2
        assert readable(a, b) == {b}
        assert a.stats()["tx_waits"] >= 1


def test_no_wakeup_for_a_sender_that_never_waited(pair: tuple[PipePort, PipePort]) -> None:
    a, b = pair
    a.send([b"x"])
    a.flush()
    b.recv(FrameBatch(4))
    assert readable(a, b) == set()


def test_nothing_is_lost_with_batches_smaller_than_the_backlog() -> None:
    a, b = pipe_pair(slots=16, buf_size=64)
    with a, b:
        frames = [struct.pack("<H", i) for i in range(600)]
        got: list[bytes] = []
        batch = FrameBatch(3)
        pos = 0
        for _ in range(10 * len(frames)):
            if len(got) == len(frames):
                break
            ready = readable(a, b)
            if a in ready or pos < len(frames):
                a.recv(batch)  # clears a's wake-up (no frames come this way)
                pos += a.send(frames[pos : pos + 20])
                a.flush()
            if b in ready:
                b.recv(batch)
                got += batch.frames()
            assert ready or pos < len(frames), "frames wait but no fd is readable"
        assert got == frames
        assert readable(a, b) == set()


def test_notifications_are_bounded_not_one_per_frame(pair: tuple[PipePort, PipePort]) -> None:
    a, b = pair
    for _ in range(10):
        a.send([b"x"] * 3)
        a.flush()
    assert a.stats()["notify_writes"] == 1  # b never cleared its fd in between
    b.recv(FrameBatch(64))
    a.send([b"y"])
    a.flush()
    assert a.stats()["notify_writes"] == 2


# ---- close --------------------------------------------------------------------------------


def test_close_while_the_peer_is_active(pair: tuple[PipePort, PipePort]) -> None:
    a, b = pair
    batch = FrameBatch(8)
    a.send([b"1", b"2"])
    a.close()  # flushes what was queued
    assert b.peer_closed
    assert readable(b) == {b}
    assert b.recv(batch) == 2
    assert batch.frames() == [b"1", b"2"]
    assert readable(b) == set()  # the close is reported once, not forever
    assert b.send([b"lost", b"too"]) == 2
    b.flush()
    assert b.stats()["tx_dropped_peer_closed"] == 2
    assert b.tx_space() == 31


def test_peer_closing_releases_a_blocked_sender() -> None:
    a, b = pipe_pair(slots=8, buf_size=64)
    with a:
        while a.send([b"x"]):
            a.flush()
        b.close()
        assert readable(a) == {a}
        a.recv(FrameBatch(4))
        assert a.tx_space() == 7
        assert a.stats()["tx_dropped_peer_closed"] == 7


def test_closed_port_refuses_work_and_close_is_idempotent(pair: tuple[PipePort, PipePort]) -> None:
    a, _ = pair
    a.close()
    a.close()
    assert a.closed
    assert "closed" in repr(a)
    for call in (a.fileno, a.flush, a.tx_space, a.stats, lambda: a.recv(FrameBatch(1))):
        with pytest.raises(PortClosedError, match=r"pipe:anon-\d+\{0: port is closed"):
            call()


def test_unclosed_port_warns() -> None:
    a, b = pipe_pair(slots=4, buf_size=64)
    b.close()
    with pytest.warns(ResourceWarning, match="unclosed <PipePort pipe:anon"):
        a.__del__()
    assert a.closed  # __del__ closed it after warning
    del a
    gc.collect()


# ---- named pipes --------------------------------------------------------------------------


def test_named_pipe_by_name(name: str) -> None:
    base = name.rsplit(".", 1)[0]
    with PipePort.open(name, "a", slots=16, buf_size=128) as a:
        b = PipePort.open(name, "b", slots=64)  # only the creator's sizes count
        with b:
            assert a.info.name == f"pipe:{base}{{1"
            assert b.info.name == f"pipe:{base}}}1"
            assert b.info.rx_slots == 16
            assert b.info.buf_size == 128
            assert os.path.exists(os.path.join(SHM_DIR, f"aionetmap-pipe.{name}"))
            a.send([b"over"])
            a.flush()
            batch = FrameBatch(4)
            assert b.recv(batch) == 1
            assert batch.frames() == [b"over"]
            with pytest.raises(OSError, match=r"end a is already open") as info:
                PipePort.open(name, "a")
            assert info.value.errno == 16  # EBUSY
    assert not [f for f in os.listdir(SHM_DIR) if name in f]


def test_reopen_after_close(name: str) -> None:
    batch = FrameBatch(8)
    with PipePort.open(name, "a") as a:
        b = PipePort.open(name, "b")
        a.send([b"kept"])
        a.flush()
        b.close()
        assert a.peer_closed
        a.send([b"dropped"])
        a.flush()
        with PipePort.open(name, "b") as b:
            assert not a.peer_closed
            a.send([b"after"])
            a.flush()
            assert b.recv(batch) == 2
            assert batch.frames() == [b"kept", b"after"]
        assert a.stats()["tx_dropped_peer_closed"] == 1


def test_an_end_whose_owner_died_can_be_taken_over(name: str) -> None:
    with PipePort.open(name, "b") as b:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            PipePort.open(name, "a")
            os._exit(0)  # dies holding end a
        assert os.waitpid(pid, 0)[1] == 0
        with PipePort.open(name, "a") as a:
            a.send([b"mine now"])
            a.flush()
            assert b.recv(FrameBatch(2)) == 1


@pytest.mark.parametrize("bad", ["", "a/b", "..%", "x" * 201, "sp ace"])
def test_bad_names_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="pipe name"):
        PipePort.open(bad, "a")


def test_bad_end_and_sizes_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="pipe end must be 'a' or 'b'"):
        PipePort.open(name, "c")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"slots=2 buf_size=2048 out of range"):
        PipePort.open(name, "a", slots=2)
    with pytest.raises(ValueError, match=r"buf_size=100 out of range"):
        pipe_pair(buf_size=100)


def test_name_without_a_dot(name: str) -> None:
    plain = name.replace(".", "_")
    with PipePort.open(plain, "b") as b:
        assert b.info.name == f"pipe:{plain}}}"


# ---- handing an end to another process ----------------------------------------------------


def test_detach_and_attach(pair: tuple[PipePort, PipePort]) -> None:
    a, b = pair
    handle = b.detach()
    assert b.closed
    assert not a.peer_closed  # in transit, not closed
    a.send([b"waits"])
    a.flush()
    text = handle.encode()
    moved = PipeHandle.decode(text)
    assert moved == handle
    with PipePort.attach(moved) as b2:
        batch = FrameBatch(2)
        assert b2.recv(batch) == 1
        assert batch.frames() == [b"waits"]
        assert b2.info.name == b.info.name
    assert a.peer_closed


def test_attach_refuses_an_end_that_is_not_in_transit(pair: tuple[PipePort, PipePort]) -> None:
    a, b = pair
    handle = b.detach()
    with PipePort.attach(handle):
        pass  # closed again: attaching once more is refused
    copy = PipeHandle(handle.spec, handle.end, *[os.dup(fd) for fd in a._fds])
    with pytest.raises(OSError, match="not waiting to be attached"):
        PipePort.attach(copy)


def test_detach_is_for_anonymous_pairs(name: str) -> None:
    with PipePort.open(name, "a") as a, pytest.raises(ValueError, match="opened by name"):
        a.detach()


def test_recv_says_no_checksum_flags_are_known() -> None:
    """A pipe knows nothing of checksums: a batch a packet port flagged before must not
    keep its stale flags; clear() and extend() (TX staging) drop them too."""
    a, b = pipe_pair(slots=8)
    with a, b:
        batch = FrameBatch(4)
        batch.csum_flags[0] = 1
        batch.csum_known = True
        assert batch.frame_csum(0) == 1
        assert b.send([bytes(60)]) == 1
        b.flush()
        assert a.recv(batch) == 1
        assert not batch.csum_known
        assert batch.frame_csum(0) == 0
        batch.csum_known = True
        batch.clear()
        assert not batch.csum_known
        batch.csum_known = True
        assert batch.extend([bytes(60)]) == 1
        assert not batch.csum_known
