"""aionetmap.ports.forward and the ring ports' forward_to: every path (buffer swap, ring copy
between regions, recv + send_batch), a full destination, refused frames, and the software
pipe's readiness after a forward. The AF_PACKET cases run as root over a veth pair."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import select
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from aionetmap.ports import FrameBatch, Port, PortClosedError, forward, forward_path
from aionetmap.ports.netmap import NetmapPort
from aionetmap.ports.pipe import PipePort, pipe_pair
from aionetmap.testing.netns import VethLink
from tests.ports.fake_kernel import FakeKernel, NoRings

ETHERTYPE = b"\x88\xb5"  # IEEE local experimental: nothing else on a test link uses it


def frames(n: int, size: int = 60, tag: int = 0) -> list[bytes]:
    return [(bytes(12) + ETHERTYPE + b"%d:%d " % (tag, i) * size)[:size] for i in range(n)]


def received(port: Port, capacity: int = 64) -> list[bytes]:
    batch = FrameBatch(capacity, capacity * 4096)
    port.recv(batch)
    return batch.frames()


def readable(port: Port) -> bool:
    return bool(select.select([port.fileno()], [], [], 0)[0])


@contextlib.contextmanager
def pipes(count: int, **kwargs: int) -> Iterator[list[PipePort]]:
    """``count`` anonymous pipes, flattened: [p0a, p0b, p1a, p1b, ...]."""
    ends: list[PipePort] = []
    try:
        for _ in range(count):
            ends.extend(pipe_pair(**kwargs))
        yield ends
    finally:
        for end in ends:
            end.close()


@pytest.fixture
def kernel() -> Iterator[FakeKernel]:
    fake = FakeKernel()
    yield fake
    fake.shutdown()


# ---- which path --------------------------------------------------------------------------


def test_forward_path_names_the_way_frames_go() -> None:
    with pipes(2, slots=8) as (a1, a2, b1, _b2):
        assert forward_path(a2, a2) == "swap"  # an end and its own TX ring
        assert forward_path(a2, a1) == "ring-copy"  # each end maps the memory on its own
        assert forward_path(a2, b1) == "ring-copy"
        assert forward_path(NoRings(a2), b1) == "copy"
        assert forward_path(a2, NoRings(b1)) == "copy"


# ---- ring to ring ----------------------------------------------------------------------------


@pytest.mark.parametrize(("into", "swapped"), [("itself", 10), ("other-end", 0)])
def test_pipe_end_reflects_by_swapping_and_copies_elsewhere(into: str, swapped: int) -> None:
    with pipes(1, slots=16) as (a, b):
        sent = frames(10)
        assert b.send(sent) == 10
        b.flush()
        dst = a if into == "itself" else b
        counters: dict[str, int] = {}
        assert forward(a, dst, 64, counters=counters) == 10
        assert counters == {"forwarded": 10, "dropped": 0}
        assert (a.stats()["fwd_swapped"], a.stats()["fwd_copied"]) == (swapped, 10 - swapped)
        assert received(b if into == "itself" else a) == []  # dst is not flushed
        dst.flush()
        assert received(b if into == "itself" else a) == sent


def test_copy_between_pipes_and_nothing_lost_while_the_destination_is_full() -> None:
    with pipes(2, slots=8) as (a1, a2, b1, b2):
        assert b1.send(frames(5, tag=1)) == 5  # b1 keeps 2 of its 7 TX slots
        sent = frames(7, size=200, tag=2)
        assert a1.send(sent) == 7
        a1.flush()
        counters: dict[str, int] = {}
        assert forward(a2, b1, 64, counters=counters) == 2
        assert forward(a2, b1, 64, counters=counters) == 0  # full: the rest waits in a2
        assert readable(a2)  # ... and a2 keeps saying so
        b1.flush()  # b2's RX ring takes 7
        got = received(b2)
        b1.flush()
        assert forward(a2, b1, 64, counters=counters) == 5
        b1.flush()
        got += received(b2)
        assert got == frames(5, tag=1) + sent
        assert counters == {"forwarded": 7, "dropped": 0}
        assert (a2.stats()["fwd_copied"], a2.stats()["fwd_swapped"]) == (7, 0)
        assert not readable(a2)


def test_netmap_and_pipe_ports_copy_both_ways(kernel: FakeKernel) -> None:
    with pipes(1, slots=16) as (a, b), NetmapPort.open("netmap:eth0-0", syscalls=kernel) as nm:
        assert forward_path(b, nm) == forward_path(nm, b) == "ring-copy"
        sent = frames(6, size=128)
        a.send(sent)
        a.flush()
        assert b.forward_to(nm, 64) == 6
        nm.flush()  # the fake kernel loops nm's TX back to its RX
        assert nm.forward_to(b, 64) == 6
        b.flush()
        assert received(a) == sent
        assert (b.stats()["fwd_copied"], nm.stats()["fwd_copied"]) == (6, 6)


def test_ring_path_counts_frames_the_destination_can_never_carry(kernel: FakeKernel) -> None:
    # A pipe carries a 3000-byte frame in a chain of two buffers; a NIC port keeps every
    # frame in one 2048-byte buffer, so that one is dropped and counted, the rest go.
    with pipes(1, slots=16) as (a, b), NetmapPort.open("netmap:eth0-0", syscalls=kernel) as nm:
        sent = [*frames(2), bytes(3000), *frames(2, tag=1)]
        a.send(sent)
        a.flush()
        counters: dict[str, int] = {}
        assert forward(b, nm, 64, counters=counters) == 4
        assert counters == {"forwarded": 4, "dropped": 1}
        assert b.stats()["fwd_dropped"] == 1
        nm.flush()
        assert received(nm) == [*frames(2), *frames(2, tag=1)]


def test_forward_to_refuses_ports_without_rings_and_closed_ones() -> None:
    with pipes(2, slots=8) as (_a1, a2, b1, _b2):
        with pytest.raises(TypeError, match=r"pipe:anon-\d+\}0: .*aionetmap.ports.forward"):
            a2.forward_to(NoRings(b1), 1)
        b1.close()
        with pytest.raises(PortClosedError, match="port is closed"):
            a2.forward_to(b1, 1)
        with pytest.raises(PortClosedError):
            forward(a2, b1, 1)


def test_a_damaged_pipe_control_area_is_an_error_not_a_crash() -> None:
    with pipes(1, slots=8) as (a, _b):
        assert a._mm is not None
        a._mm[64:1024] = b"\xff" * 960  # the control area's shared state (see pipe.h)
        with pytest.raises(OSError, match="control area is damaged") as info:
            a.forward_to(a, 4)
        assert info.value.errno == errno.EIO


def test_nothing_is_taken_when_nothing_is_asked() -> None:
    with pipes(2, slots=8) as (a1, a2, b1, _b2):
        a1.send(frames(3))
        a1.flush()
        assert forward(a2, b1, 0) == 0
        assert forward(NoRings(a2), b1, 0) == 0
        assert forward(a2, b1, 64) == 3  # all three were still there


# ---- recv + send_batch ----------------------------------------------------------------------


@pytest.mark.parametrize("own_batch", [True, False], ids=["batch", "no-batch"])
def test_copy_path_takes_only_what_the_destination_has_room_for(own_batch: bool) -> None:
    # The source's longest frame (7 slots of 256 bytes) fits one slot of the destination.
    with pipes(1, slots=8, buf_size=256) as (a1, a2), pipes(1, slots=8) as (b1, b2):
        src = NoRings(a2)
        batch = FrameBatch(16) if own_batch else None
        assert b1.send(frames(7, tag=1)) == 7
        b1.flush()  # b2's RX ring is full now
        assert b1.send(frames(4, tag=2)) == 4  # 3 TX slots left
        sent = frames(6, size=200)
        a1.send(sent)
        a1.flush()
        counters: dict[str, int] = {}
        assert forward(src, b1, 64, batch=batch, counters=counters) == 3
        assert forward(src, b1, 64, batch=batch, counters=counters) == 0  # nothing received
        got = received(b2)
        b1.flush()
        got += received(b2)
        assert forward(src, b1, 64, batch=batch, counters=counters) == 3
        b1.flush()
        got += received(b2)
        assert got == frames(7, tag=1) + frames(4, tag=2) + sent
        assert counters == {"forwarded": 6, "dropped": 0}
        assert a2.stats()["fwd_copied"] == 0  # the frames went through recv


def test_copy_path_into_multi_slot_frames_goes_frame_by_frame_when_short_of_room() -> None:
    # Any frame of the source could need all 7 slots of the destination; with fewer free,
    # the copy path takes one frame at a time while there is room. A frame that needs more
    # slots than are left has already left the source: it is dropped and counted.
    with pipes(1, slots=16) as (a1, a2), pipes(1, slots=8, buf_size=256) as (b1, b2):
        assert b1.send(frames(3, tag=1)) == 3  # 4 TX slots left
        sent = frames(3, size=200)
        a1.send([sent[0], bytes(12) + ETHERTYPE + bytes(986), *sent[1:]])  # 1000 bytes: 4 slots
        a1.flush()
        counters: dict[str, int] = {}
        assert forward(NoRings(a2), b1, 64, counters=counters) == 3
        assert counters == {"forwarded": 3, "dropped": 1}
        assert forward(NoRings(a2), b1, 64) == 0
        b1.flush()
        assert received(b2) == frames(3, tag=1) + sent


def test_copy_path_drops_and_counts_frames_the_destination_refuses(kernel: FakeKernel) -> None:
    with pipes(1, slots=16) as (a, b), NetmapPort.open("netmap:eth0-0", syscalls=kernel) as nm:
        sent = [*frames(2), bytes(3000), *frames(2, tag=1)]
        a.send(sent)
        a.flush()
        counters: dict[str, int] = {}
        assert forward(NoRings(b), nm, 64, counters=counters) == 4
        assert counters == {"forwarded": 4, "dropped": 1}
        nm.flush()
        assert received(nm) == [*frames(2), *frames(2, tag=1)]


# ---- the software pipe's readiness after a forward ----------------------------------------------


def test_pipe_stays_readable_exactly_while_frames_remain() -> None:
    with pipes(2, slots=16) as (a1, a2, b1, _b2):
        a1.send(frames(5))
        a1.flush()
        assert readable(a2)
        assert forward(a2, b1, 2) == 2
        assert readable(a2)  # three left: re-armed
        assert forward(a2, b1, 3) == 3
        assert not readable(a2)  # all taken: quiet
        assert forward(a2, b1, 3) == 0
        assert not readable(a2)


async def test_reader_is_woken_once_per_burst_and_then_left_alone(
    loop_errors: list[dict[str, Any]],
) -> None:
    loop = asyncio.get_running_loop()
    with pipes(2, slots=32) as (a1, a2, b1, b2):
        calls: list[int] = []
        done = loop.create_future()

        def on_readable() -> None:
            calls.append(forward(a2, b1, 2))
            b1.flush()
            if sum(calls) == 10 and not done.done():
                done.set_result(None)

        loop.add_reader(a2.fileno(), on_readable)
        try:
            a1.send(frames(10))
            a1.flush()
            await asyncio.wait_for(done, 5)
            await asyncio.sleep(0.05)
        finally:
            loop.remove_reader(a2.fileno())
        assert calls == [2, 2, 2, 2, 2]  # woken again while frames remained, then never
        assert received(b2) == frames(10)


# ---- AF_PACKET (root: a veth pair with the kernel on the other end) ---------------------------

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def _on_the_wire(sock: socket.socket, count: int) -> list[bytes]:
    """Frames with our ethertype the peer's raw socket sees arriving (not its own)."""
    got: list[bytes] = []
    sock.settimeout(5)
    while len(got) < count:
        data, addr = sock.recvfrom(65536)
        if addr[2] != PACKET_OUTGOING and data[12:14] == ETHERTYPE:
            got.append(data)
    return got


def _addressed(link: VethLink, payloads: list[bytes], to_peer: bool) -> list[bytes]:
    dst, src = (link.peer_mac, link.our_mac) if to_peer else (link.our_mac, link.peer_mac)
    return [dst + src + p[12:] for p in payloads]


@pytest.mark.netns
def test_ring_to_packet_and_packet_to_ring(veth: VethLink) -> None:
    raw = veth.peer_socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    raw.bind((veth.peer_ifname, 0))
    with veth.open_port() as port, pipes(1, slots=64) as (a, b):
        assert forward_path(b, port) == forward_path(port, b) == "copy"
        # pipe -> AF_PACKET, with a runt and an oversize frame the packet port refuses
        out = _addressed(veth, frames(20, size=100), to_peer=True)
        a.send([out[0], bytes(13), *out[1:10], bytes(1600), *out[10:]])
        a.flush()
        counters: dict[str, int] = {}
        assert forward(b, port, 64, counters=counters) == 20
        assert counters == {"forwarded": 20, "dropped": 2}
        port.flush()
        assert _on_the_wire(raw, 20) == out
        # AF_PACKET -> pipe
        back = _addressed(veth, frames(20, size=100, tag=1), to_peer=False)
        for frame in back:
            raw.send(frame)
        batch, deadline = FrameBatch(64), time.monotonic() + 5
        got: list[bytes] = []
        while len(got) < 20 and time.monotonic() < deadline:
            if forward(port, a, 64, batch=batch):
                a.flush()
                got += [f for f in received(b) if f[12:14] == ETHERTYPE]
            else:
                time.sleep(0.005)  # TPACKET_V3 hands a block over when it retires
        assert got == back
