"""Write-side invariants under random interleavings, fairness between endpoints, and
bounded closes and buffers when the peer stops reading.

The stateful test drives its own loop by hand (one ``sleep(0)`` per step) against a
:class:`ManualPeer`, so every interleaving of sends, loop iterations, limit changes and peer
reads that hypothesis finds is replayable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import aionetmap
from aionetmap._aio import fastpath as _udppath
from aionetmap.ports.base import FrameBatch
from aionetmap.ports.pipe import PipePort
from aionetmap.testing import pipe_pair
from aionetmap.testing.protocols import RecordingProtocol
from tests.loops import LOOP_FACTORIES
from tests.transport.helpers import PEER_IP, ManualPeer, open_udp_endpoint

PATHS = {"fast": True, "python": False}
PEER_PORTS = (9, 10)


class FlowRecorder(RecordingProtocol):
    """Records the buffer size and limits seen at each pause/resume; ``on_resume`` runs
    from inside resume_writing (a producer that writes again when resumed)."""

    def __init__(self) -> None:
        super().__init__()
        self.flow: list[tuple[str, int, tuple[int, int]]] = []
        self.on_resume: Callable[[], None] | None = None

    def pause_writing(self) -> None:
        super().pause_writing()
        self._note("pause")

    def resume_writing(self) -> None:
        super().resume_writing()
        self._note("resume")
        if self.on_resume is not None:
            self.on_resume()

    def _note(self, name: str) -> None:
        transport: Any = self.transport
        self.flow.append(
            (name, transport.get_write_buffer_size(), transport.get_write_buffer_limits())
        )


def make_machine(loop_name: str, fast_path: bool) -> type[RuleBasedStateMachine]:
    class FlowMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.loop = LOOP_FACTORIES[loop_name]()
            self.errors: list[dict[str, Any]] = []
            self.loop.set_exception_handler(lambda _loop, ctx: self.errors.append(ctx))
            self.a, self.b = pipe_pair(slots=32)  # small rings: full often
            self.peer = ManualPeer(self.b, PEER_PORTS)
            self.iface, self.transport, self.proto = self.run(
                open_udp_endpoint(self.a, FlowRecorder, fast_path=fast_path)
            )
            self.sent: dict[int, list[bytes]] = {port: [] for port in PEER_PORTS}
            self.seq = 0
            self.send(9, 1, 1)
            self.drain()  # ARP resolved both ways

        def run(self, coro: Any) -> Any:
            return self.loop.run_until_complete(coro)

        def payload(self, size: int) -> bytes:
            self.seq += 1
            return (b"%08d" % self.seq + bytes(size))[: max(size, 8)]

        @rule(
            port=st.sampled_from(PEER_PORTS),
            # beyond 1472 bytes (MTU 1500) a datagram leaves as IPv4 fragments
            size=st.integers(0, 1400) | st.integers(1473, 4000),
            count=st.integers(1, 60),
        )
        def send(self, port: int, size: int, count: int) -> None:
            for _ in range(count):
                payload = self.payload(size)
                # Recorded first: sendto may push early, and a producer may send from
                # inside it (resume_writing).
                self.sent[port].append(payload)
                self.transport.sendto(payload, (PEER_IP, port))

        @rule(
            port=st.sampled_from(PEER_PORTS),
            sizes=st.lists(st.integers(0, 1400) | st.integers(1473, 4000), max_size=40),
        )
        def send_many(self, port: int, sizes: list[int]) -> None:
            """One sendto_many to one peer (the same address object for every datagram,
            as an echo of a batch passes it)."""
            payloads = [self.payload(size) for size in sizes]
            self.sent[port].extend(payloads)
            # No producer inside the call: a send from resume_writing lands after the whole
            # batch when every address is cached (one high-water check per call), between
            # its datagrams otherwise (one per datagram), so "the order sent" is not one
            # order here; this rule is about queueing a batch, fragments and all.
            producer, self.proto.on_resume = self.proto.on_resume, None
            try:
                self.transport.sendto_many(payloads, addrs=[(PEER_IP, port)] * len(payloads))
            finally:
                self.proto.on_resume = producer

        @rule(port=st.sampled_from(PEER_PORTS), count=st.integers(0, 80), times=st.integers(1, 3))
        def producer(self, port: int, count: int, times: int) -> None:
            """The next ``times`` resume_writing calls each send ``count`` datagrams."""
            left = [times]

            def produce() -> None:
                if left[0] > 0:
                    left[0] -= 1
                    self.send(port, 500, count)

            self.proto.on_resume = produce

        @rule(steps=st.integers(1, 3))
        def step(self, steps: int) -> None:
            for _ in range(steps):
                self.run(asyncio.sleep(0))

        @rule(frames=st.integers(1, 40))
        def pump(self, frames: int) -> None:
            self.peer.pump(self.loop.time(), frames)

        @rule(high=st.integers(0, 120_000), low=st.none() | st.integers(0, 30_000))
        def limits(self, high: int, low: int | None) -> None:
            self.transport.set_write_buffer_limits(high=high, low=min(low, high) if low else None)

        @precondition(lambda self: self.transport.get_write_buffer_size() > 0)
        @rule()
        def drain(self) -> None:
            """Let the peer read until everything sent so far has arrived."""
            for _ in range(5000):
                if all(self.peer.received[p] == self.sent[p] for p in PEER_PORTS):
                    break
                self.peer.pump(self.loop.time())
                self.run(asyncio.sleep(0))
            assert self.peer.received == self.sent

        @invariant()
        def buffer_is_what_is_queued(self) -> None:
            queue = self.transport._queue  # its queue in the interface's TX scheduler
            payloads, dsts = queue.payloads, queue.dsts
            assert len(payloads) == len(dsts)
            size = self.transport.get_write_buffer_size()
            assert size == sum(len(p) + 8 for p in payloads) >= 0
            # the count a TX pass reads instead of every queued length
            assert queue.oversize == sum(len(p) > queue.unfragmented for p in payloads)

        @invariant()
        def pause_and_resume_alternate(self) -> None:
            flow = self.proto.flow
            assert [name for name, _, _ in flow] == ["pause", "resume"] * (len(flow) // 2) + [
                "pause"
            ] * (len(flow) % 2)
            for name, size, (low, high) in flow:
                assert size > high if name == "pause" else size <= low

        @invariant()
        def nothing_lost_or_reordered(self) -> None:
            for port in PEER_PORTS:
                got = self.peer.received[port]
                assert got == self.sent[port][: len(got)]

        @invariant()
        def loop_is_quiet(self) -> None:
            assert self.errors == []

        def teardown(self) -> None:
            try:
                self.proto.on_resume = None
                self.transport.set_write_buffer_limits(high=1 << 30)
                self.drain()
                assert self.errors == []
            finally:
                self.iface.close()
                self.run(asyncio.sleep(0))
                self.loop.close()
                self.a.close()
                self.b.close()
            assert self.proto.names()[-1] == "connection_lost"

    return FlowMachine


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("loop_name", list(LOOP_FACTORIES))
def test_flow_control_invariants(loop_name: str, path: str) -> None:
    machine = make_machine(loop_name, PATHS[path])
    machine.TestCase.settings = settings(
        max_examples=60,
        stateful_step_count=40,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    machine.TestCase().runTest()


# === fairness ===


async def test_a_bulk_sender_does_not_starve_its_neighbours(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    """Endpoints of one interface take turns at a full ring."""
    a, b = pipe
    peer = ManualPeer(b)
    iface, bulk, bulk_p = await open_udp_endpoint(a, RecordingProtocol, fast_path=fast_path)
    other, other_p = await iface.create_datagram_endpoint(RecordingProtocol, local_port=8)
    bulk.sendto(b"hello", (PEER_IP, 9))
    await peer.pump_until(lambda: bool(peer.received[9]))
    for i in range(2000):
        bulk.sendto(b"%05d" % i + bytes(200), (PEER_IP, 9))
    other.sendto(b"small", (PEER_IP, 9))
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(10):
        while b"small" not in peer.received[9] and len(peer.received[9]) < 2002:
            peer.pump(loop.time(), 16)
            await asyncio.sleep(0)
    position = peer.received[9].index(b"small")
    assert position < 1000, f"the small sender waited for {position} datagrams of the bulk one"
    iface.close()
    await asyncio.gather(bulk_p.lost, other_p.lost)


# === a peer that stops reading ===


async def test_close_gives_up_on_a_peer_that_never_reads(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    """close() must reach connection_lost even when the rings never drain (as the frame
    transport and a retiring interface do), and the peer then gets a prefix, in order."""
    a, b = pipe
    peer = ManualPeer(b)
    iface, transport, proto = await open_udp_endpoint(a, RecordingProtocol, fast_path=fast_path)
    transport.sendto(b"hello", (PEER_IP, 9))
    await peer.pump_until(lambda: bool(peer.received[9]))
    sent = [b"hello"] + [b"%05d" % i + bytes(300) for i in range(1500)]
    for payload in sent[1:]:
        transport.sendto(payload, (PEER_IP, 9))
    transport.close()
    assert await asyncio.wait_for(proto.lost, 5) is None
    assert proto.names().count("connection_lost") == 1
    for _ in range(100):
        peer.pump(asyncio.get_running_loop().time())
    got = peer.received[9]
    assert 1 < len(got) < len(sent)
    assert got == sent[: len(got)]
    iface.close()


async def test_udp_socket_aclose_with_a_stalled_peer(
    pipe: tuple[PipePort, PipePort], caplog: pytest.LogCaptureFixture
) -> None:
    """The close gives up once nothing moves: the endpoint on the datagrams it still had,
    then the interface it opened on the frames still in the ring; each counts and logs."""
    a, b = pipe
    peer = ManualPeer(b)
    sock = await aionetmap.open_udp(port=a, local_addr=("10.0.0.1/24", 7))
    iface = sock.transport.get_extra_info("netinterface")
    await sock.sendto(b"hello", (PEER_IP, 9))
    await peer.pump_until(lambda: bool(peer.received[9]))
    for _ in range(600):
        sock.transport.sendto(bytes(1000), (PEER_IP, 9))
    with caplog.at_level(logging.WARNING, logger="aionetmap"):
        await asyncio.wait_for(sock.aclose(), 5)
        await asyncio.wait_for(iface.wait_closed(), 5)
    dropped = sock.transport.stats()["tx_dropped_close"]
    in_ring = iface.stats()["tx_dropped_close"]
    assert dropped > 0
    assert in_ring > 0
    assert dropped + in_ring + a.info.rx_slots - 1 == 600  # the peer's RX ring is full
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"close dropped {dropped} queued datagrams" in m for m in messages)
    assert any(f"closing with {in_ring} frames unsent" in m for m in messages)


async def test_frame_buffer_stays_bounded_under_sustained_pressure(
    pipe: tuple[PipePort, PipePort],
) -> None:
    """A sender that never lets its queue empty (it refills as the peer drains) must not
    keep every frame it ever sent."""
    a, b = pipe
    transport, _ = await aionetmap.create_frame_endpoint(RecordingProtocol, port=a)
    frame = bytes.fromhex("02000000000b02000000000a88b5") + bytes(46)
    batch = FrameBatch(64)
    transport.send_many([frame] * 1000)  # more than both rings hold: a standing queue
    await asyncio.sleep(0)
    for _ in range(300):
        transport.send_many([frame] * 20)
        b.recv(batch, 20)
        await asyncio.sleep(0)
    queued = transport.get_write_buffer_size() // len(frame)
    assert queued > 0
    held: list[bytes] = transport._buffer  # white box: what the transport keeps alive
    assert len(held) <= 2 * queued + 256, (len(held), queued)
    transport.abort()


# === many destinations ===


async def test_more_destinations_than_the_native_table_holds(
    pipe: tuple[PipePort, PipePort], fast_path: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every datagram reaches its own destination, also when a send pass finds the
    fast path's destination table full."""
    monkeypatch.setattr(_udppath, "NEIGHBOUR_RECHECK", 600.0)  # no periodic reset meanwhile
    a, b = pipe
    ports = (*range(1, 4098), 5000)
    peer = ManualPeer(b, ports)
    iface, transport, _ = await open_udp_endpoint(a, RecordingProtocol, fast_path=fast_path)
    transport.sendto(b"1", (PEER_IP, 1))
    await peer.pump_until(lambda: bool(peer.received[1]))
    for port in range(2, 4097):  # the table now holds 4096 destinations: full
        transport.sendto(b"%d" % port, (PEER_IP, port))
        if port % 200 == 0:
            await peer.pump_until(lambda: not transport.get_write_buffer_size())
    await peer.pump_until(lambda: peer.total() == 4096)
    # One pass: a known destination, then a new one that finds the table full.
    transport.sendto(b"1 again", (PEER_IP, 1))
    transport.sendto(b"5000", (PEER_IP, 5000))
    transport.sendto(b"4097", (PEER_IP, 4097))
    await peer.pump_until(lambda: peer.total() == 4099)
    assert peer.received[1] == [b"1", b"1 again"]
    assert peer.received[5000] == [b"5000"]
    assert peer.received[4097] == [b"4097"]
    iface.close()
