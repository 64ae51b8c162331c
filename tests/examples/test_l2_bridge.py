"""examples/l2_bridge.py: two hosts talk through the bridge; its three forwarding paths
(buffer swap, ring copy, recv/send_batch), each checked by the source's counters."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import aionetmap
from aionetmap.ports import FrameBatch, Port
from aionetmap.ports.netmap import NetmapPort
from aionetmap.testing import pipe_pair
from tests.examples.conftest import StartExample, shm_leftovers
from tests.ports.fake_kernel import FakeKernel, NoRings

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "l2_bridge.py"


@pytest.fixture(scope="module")
def bridge() -> ModuleType:
    """The example imported as a module, to drive its Direction class directly."""
    spec = importlib.util.spec_from_file_location("l2_bridge_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def test_hosts_on_two_pipes_talk_through_the_bridge(
    example: StartExample, pipe_name: str
) -> None:
    a, b = f"{pipe_name}a", f"{pipe_name}b"
    running = await example("l2_bridge", f"pipe:{a}}}0", f"pipe:{b}{{0")
    await running.expect("ring to ring, one copy (separate memory regions)")
    left = await aionetmap.open_udp(port=f"pipe:{a}{{0", local_addr=("10.23.0.1/24", 1000))
    right = await aionetmap.open_udp(port=f"pipe:{b}}}0", local_addr=("10.23.0.2/24", 2000))
    interfaces = [s.transport.get_extra_info("netinterface") for s in (left, right)]
    try:
        assert await interfaces[0].ping("10.23.0.2", timeout=5) < 5  # ARP + ICMP, both ways
        for i in range(200):
            await left.sendto(b"across %d" % i, ("10.23.0.2", 2000))
        async with asyncio.timeout(10):
            got = [await right.recvfrom() for _ in range(200)]
        assert got == [(b"across %d" % i, ("10.23.0.1", 1000)) for i in range(200)]
    finally:
        for sock, interface in zip((left, right), interfaces, strict=True):
            await sock.aclose()
            interface.close()
    status, rest = await running.interrupt()
    assert status == 0
    # One way: a gratuitous ARP, the ARP request, the echo request and 200 datagrams;
    # the other way: a gratuitous ARP, the ARP reply and the echo reply.
    assert rest[-1] == (
        f"pipe:{a}}}0 -> pipe:{b}{{0: 203 frames, pipe:{b}{{0 -> pipe:{a}}}0: 3 frames, dropped 0"
    )
    assert not shm_leftovers(a)
    assert not shm_leftovers(b)


@contextlib.contextmanager
def _two_pipes() -> Iterator[tuple[Port, Port, Port, Port]]:
    (a1, a2), (b1, b2) = pipe_pair(slots=64), pipe_pair(slots=64)
    try:
        yield a1, a2, b1, b2
    finally:
        for port in (a1, a2, b1, b2):
            port.close()


def _frames(n: int) -> list[bytes]:
    return [bytes(12) + b"\x88\xb5" + b"frame %d " % i * 5 for i in range(n)]


def _received(port: Port) -> list[bytes]:
    batch = FrameBatch(64)
    port.recv(batch)
    return batch.frames()


@pytest.mark.parametrize("wrap", [False, True], ids=["ring-to-ring", "recv-send_batch"])
async def test_direction_forwards_a_burst_unchanged(bridge: ModuleType, wrap: bool) -> None:
    with _two_pipes() as (a1, a2, b1, b2):
        src, dst = (NoRings(a2), b1) if wrap else (a2, b1)
        direction = bridge.Direction(asyncio.get_running_loop(), src, dst)
        direction.close()  # driven by hand below
        assert direction.mode == (
            "copy through recv/send_batch"
            if wrap
            else "ring to ring, one copy (separate memory regions)"
        )
        frames = _frames(40)
        assert a1.send(frames) == 40
        a1.flush()
        direction.pump()
        assert (direction.frames, direction.dropped) == (40, 0)
        assert _received(b2) == frames
        assert a2.stats()["fwd_copied"] == (0 if wrap else 40)  # which path the frames took
        assert a2.stats()["fwd_swapped"] == 0


async def test_direction_swaps_buffers_within_one_region(bridge: ModuleType) -> None:
    # A port bridged to itself (a reflector): its RX and TX rings share one mapping, so
    # every frame end b sends comes back to b through a buffer swap in end a, not a copy.
    a, b = pipe_pair(slots=64)
    try:
        direction = bridge.Direction(asyncio.get_running_loop(), a, a)
        direction.close()
        assert direction.mode == "zero-copy buffer swap"
        frames = _frames(30)
        b.send(frames)
        b.flush()
        direction.pump()
        assert (direction.frames, direction.dropped) == (30, 0)
        assert a.stats()["fwd_swapped"] == 30
        assert a.stats()["fwd_copied"] == 0
        assert _received(b) == frames
    finally:
        a.close()
        b.close()


async def test_two_netmap_ports_on_one_allocator_swap_buffers(bridge: ModuleType) -> None:
    # netmap:eth0 <-> netmap:eth1 on the global allocator, against the fake kernel of the
    # NetmapPort tests: both ports share one mapping, so the bridge never copies a frame.
    kernel = FakeKernel()
    try:
        with (
            NetmapPort.open("netmap:eth0", syscalls=kernel) as eth0,
            NetmapPort.open("netmap:eth1", syscalls=kernel) as eth1,
        ):
            direction = bridge.Direction(asyncio.get_running_loop(), eth0, eth1)
            direction.close()
            assert direction.mode == "zero-copy buffer swap"
            frames = _frames(10)
            kernel.deliver(eth0.fileno(), frames)
            direction.pump()  # forwards, then flushes eth1 (the fake loops it back)
            assert (direction.frames, direction.dropped) == (10, 0)
            assert (eth0.stats()["fwd_swapped"], eth0.stats()["fwd_copied"]) == (10, 0)
            # Two rings each way: order holds within a ring (a flow), not across rings.
            assert sorted(_received(eth1)) == sorted(frames)
            assert kernel.unflagged == 0
    finally:
        kernel.shutdown()


async def test_nothing_is_lost_while_the_output_is_full(bridge: ModuleType) -> None:
    with _two_pipes() as (a1, a2, b1, b2):
        direction = bridge.Direction(asyncio.get_running_loop(), a2, b1)
        try:
            frames = _frames(400)  # several times what the 64-slot rings on the way hold
            sent, rounds = 0, 0
            got: list[bytes] = []
            async with asyncio.timeout(20):
                while len(got) < len(frames):
                    sent += a1.send(frames[sent : sent + 32])
                    a1.flush()
                    await asyncio.sleep(0.001)
                    rounds += 1
                    if rounds % 8 == 0:  # a slow reader behind the bridge
                        got += _received(b2)
        finally:
            direction.close()
        assert got == frames
        assert direction.dropped == 0
        assert b1.stats()["tx_waits"] > 0  # the bridge's output really was full
