"""Protocol callbacks that re-enter the transport: sending, closing, aborting, pausing,
swapping protocols or raising from inside a delivery, a TX pass or a flow-control call.

Each UDP scenario runs on the native fast path and on the pure-Python stack
(``open_interface(..., fast_path=False)``): both must behave the same.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Callable, Sequence
from typing import Any

import pytest

import aionetmap
from aionetmap.ports.pipe import PipePort
from aionetmap.testing.protocols import RecordingProtocol
from tests.loops import catch_loop_errors
from tests.transport.helpers import (
    PEER_IP,
    ManualPeer,
    open_udp_endpoint,
    wait_until,
)

PEER = (PEER_IP, 9)
NOWHERE = ("192.168.77.1", 9)  # off-link, and the interface has no gateway: ENETUNREACH
MAC_A = bytes.fromhex("02000000000a")
MAC_B = bytes.fromhex("02000000000b")


class Hooked(RecordingProtocol):
    """A recorder whose callbacks can run a test-supplied action after recording."""

    def __init__(self) -> None:
        super().__init__()
        self.on_datagram: Callable[[bytes], None] | None = None
        self.on_error: Callable[[OSError], None] | None = None
        self.on_pause: Callable[[], None] | None = None
        self.on_resume: Callable[[], None] | None = None

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        super().datagram_received(data, addr)
        if self.on_datagram is not None:
            self.on_datagram(data)

    def error_received(self, exc: Exception) -> None:
        super().error_received(exc)
        if self.on_error is not None:
            assert isinstance(exc, OSError)
            self.on_error(exc)

    def pause_writing(self) -> None:
        super().pause_writing()
        if self.on_pause is not None:
            self.on_pause()

    def resume_writing(self) -> None:
        super().resume_writing()
        if self.on_resume is not None:
            self.on_resume()


async def _resolved(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> tuple[aionetmap.NetInterface, aionetmap.UdpTransport, Hooked, ManualPeer, list[bytes]]:
    """Our endpoint on port 7 and a manual peer (port 9) that has answered our ARP."""
    a, b = pipe
    peer = ManualPeer(b)
    iface, transport, proto = await open_udp_endpoint(a, Hooked, fast_path=fast_path)
    transport.sendto(b"hello", PEER)
    await peer.pump_until(lambda: bool(peer.received[9]))
    return iface, transport, proto, peer, [b"hello"]


async def _fill_until_paused(
    transport: aionetmap.UdpTransport, proto: RecordingProtocol, sent: list[bytes]
) -> None:
    """Send numbered 1000-byte datagrams to a peer that is not reading until paused."""
    async with asyncio.timeout(5):
        while "pause_writing" not in proto.names():
            data = b"%06d" % len(sent) + b"x" * 994
            transport.sendto(data, PEER)
            sent.append(data)
            if len(sent) % 64 == 0:
                await asyncio.sleep(0)


def _peer_sends(peer: ManualPeer, payloads: Sequence[bytes], now: float) -> None:
    """The peer puts all ``payloads`` (to our port 7) on the wire in one flush: they
    reach us as one receive batch."""
    for payload in payloads:
        peer.host.send_datagram(payload, ("10.0.0.1", 7), 9, now)
    frames = peer.host.frames_to_send()
    assert peer.port.send(frames) == len(frames) == len(payloads)
    peer.port.flush()


# === sending from inside callbacks ===


async def test_resume_writing_may_send_again(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    """A producer that writes a little more each time it is resumed: what it writes from
    inside resume_writing must leave like anything else."""
    iface, transport, proto, peer, sent = await _resolved(pipe, fast_path)
    await _fill_until_paused(transport, proto, sent)

    def more() -> None:
        for i in range(3):
            sent.append(b"after resume %d" % i)
            transport.sendto(sent[-1], PEER)

    proto.on_resume = more
    await peer.pump_until(lambda: peer.received[9] == sent)
    assert proto.names().count("resume_writing") == 1
    assert transport.get_write_buffer_size() == 0
    iface.close()


async def test_resume_writing_may_write_until_paused_again(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    """The classic producer: on resume, write until paused. Its writes cross the
    high-water mark from inside a TX pass, which then pushes early."""
    iface, transport, proto, peer, sent = await _resolved(pipe, fast_path)
    await _fill_until_paused(transport, proto, sent)

    def refill() -> None:
        proto.on_resume = None  # once
        pauses = proto.names().count("pause_writing")
        while proto.names().count("pause_writing") == pauses:
            sent.append(b"%06d" % len(sent) + b"y" * 994)
            transport.sendto(sent[-1], PEER)

    proto.on_resume = refill
    await peer.pump_until(lambda: len(peer.received[9]) >= len(sent))
    assert peer.received[9] == sent
    names = [n for n in proto.names() if n.endswith("_writing")]
    assert names == ["pause_writing", "resume_writing"] * 2
    assert not transport.is_closing()
    iface.close()


async def test_error_received_may_send_again(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    """A datagram that fails inside a TX pass reaches error_received; what the protocol
    sends from there (a fallback) must not be stranded."""
    iface, transport, proto, peer, sent = await _resolved(pipe, fast_path)

    def fallback(exc: OSError) -> None:
        transport.sendto(b"fallback", PEER)

    proto.on_error = fallback
    transport.sendto(b"lost", NOWHERE)
    await peer.pump_until(lambda: peer.received[9] == [*sent, b"fallback"], timeout=2)
    assert [e.errno for e in proto.errors] == [errno.ENETUNREACH]
    iface.close()


async def test_datagram_received_may_send_past_the_high_water_mark(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    """Replies written from inside a delivery, enough to push early, all go out once."""
    iface, transport, proto, peer, sent = await _resolved(pipe, fast_path)
    burst = [b"%04d" % i + b"z" * 1000 for i in range(100)]  # > 64 KiB

    def reply(data: bytes) -> None:
        for item in burst:
            transport.sendto(item, PEER)

    proto.on_datagram = reply
    _peer_sends(peer, [b"go"], asyncio.get_running_loop().time())
    await peer.pump_until(lambda: len(peer.received[9]) >= len(sent) + len(burst))
    await asyncio.sleep(0.01)
    peer.pump(asyncio.get_running_loop().time())
    assert peer.received[9] == sent + burst
    iface.close()


# === changing the transport's state from inside a delivery ===


async def test_set_protocol_inside_a_batch(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    """After set_protocol() the rest of the batch goes to the new protocol."""
    iface, transport, first, peer, _ = await _resolved(pipe, fast_path)
    second = RecordingProtocol()
    first.on_datagram = lambda _: transport.set_protocol(second)
    batch = [b"d%d" % i for i in range(10)]
    _peer_sends(peer, batch, asyncio.get_running_loop().time())
    await second.wait_for(lambda p: len(first.datagrams) + len(p.datagrams) == 10)
    assert [d for d, _ in first.datagrams] == batch[:1]
    assert [d for d, _ in second.datagrams] == batch[1:]
    assert transport.get_protocol() is second
    iface.close()


@pytest.mark.parametrize("action", ["close", "abort", "pause_reading"])
async def test_stopping_inside_a_batch_stops_delivery(
    pipe: tuple[PipePort, PipePort], fast_path: bool, action: str
) -> None:
    iface, transport, proto, peer, _ = await _resolved(pipe, fast_path)
    proto.on_datagram = lambda _: getattr(transport, action)()
    _peer_sends(peer, [b"d%d" % i for i in range(10)], asyncio.get_running_loop().time())
    await proto.wait_for(lambda p: p.datagrams)
    await asyncio.sleep(0.02)
    assert [d for d, _ in proto.datagrams] == [b"d0"]
    if action == "pause_reading":  # the rest is held, and comes on resume, in order
        assert transport.stats()["rx_held"] == 9
        proto.on_datagram = None
        transport.resume_reading()
        await proto.wait_for(lambda p: len(p.datagrams) == 10)
        assert [d for d, _ in proto.datagrams] == [b"d%d" % i for i in range(10)]
        assert transport.stats()["rx_dropped_paused"] == 0
    else:
        assert await proto.lost is None
        assert proto.names()[-1] == "connection_lost"
    iface.close()


async def test_closing_the_interface_inside_a_delivery(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    """Both endpoints stop at once; each hears connection_lost once; the loop hears
    nothing; the caller's port stays open."""
    a, _ = pipe
    iface, transport, proto, peer, _ = await _resolved(pipe, fast_path)
    other_t, other = await iface.create_datagram_endpoint(RecordingProtocol, local_port=8)
    proto.on_datagram = lambda _: iface.close()
    _peer_sends(peer, [b"d%d" % i for i in range(10)], asyncio.get_running_loop().time())
    assert await proto.lost is None
    assert await other.lost is None
    await asyncio.sleep(0.02)
    assert [d for d, _ in proto.datagrams] == [b"d0"]
    for p in (proto, other):
        assert p.names().count("connection_lost") == 1
        assert p.names()[-1] == "connection_lost"
    assert iface.closed
    assert not a.closed
    assert transport.is_closing()
    assert other_t.is_closing()


async def test_closing_the_interface_inside_a_tx_pass(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    """error_received (called from inside a TX pass) closes the interface: the pass stops
    cleanly, nothing reaches the loop's exception handler."""
    iface, transport, proto, _, _ = await _resolved(pipe, fast_path)
    proto.on_error = lambda _: iface.close()
    transport.sendto(b"first", PEER)
    transport.sendto(b"lost", NOWHERE)
    transport.sendto(b"last", PEER)
    assert await proto.lost is None
    assert proto.names().count("error_received") == 1
    assert proto.names().count("connection_lost") == 1
    assert iface.closed


# === flow-control callbacks ===


async def test_abort_while_paused_never_resumes(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    iface, transport, proto, peer, sent = await _resolved(pipe, fast_path)
    other, _ = await iface.create_datagram_endpoint(RecordingProtocol, local_port=8)
    await _fill_until_paused(transport, proto, sent)
    other.sendto(b"x", PEER)  # a TX pass is now due before connection_lost runs
    transport.abort()
    assert transport.get_write_buffer_size() == 0
    assert await proto.lost is None
    for _ in range(20):  # the peer drains what had reached the rings
        peer.pump(asyncio.get_running_loop().time())
        await asyncio.sleep(0)
    assert "resume_writing" not in proto.names()
    assert proto.names().count("connection_lost") == 1
    assert proto.names()[-1] == "connection_lost"
    iface.close()


async def test_abort_from_pause_writing(pipe: tuple[PipePort, PipePort], fast_path: bool) -> None:
    iface, transport, proto, _, sent = await _resolved(pipe, fast_path)
    proto.on_pause = transport.abort
    await _fill_until_paused(transport, proto, sent)
    transport.sendto(b"late", PEER)  # dropped: the transport is gone
    assert transport.get_write_buffer_size() == 0
    assert await proto.lost is None
    await asyncio.sleep(0.01)
    assert [n for n in proto.names() if n != "error_received"][-2:] == [
        "pause_writing",
        "connection_lost",
    ]
    iface.close()


async def test_close_while_paused_drains_then_connection_lost(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    """close() during pause_writing: everything queued still leaves (as asyncio:
    resume_writing may come on the way), then connection_lost, last."""
    iface, transport, proto, peer, sent = await _resolved(pipe, fast_path)
    await _fill_until_paused(transport, proto, sent)
    transport.close()
    await peer.pump_until(lambda: proto.lost.done())
    await peer.pump_until(lambda: len(peer.received[9]) >= len(sent))
    assert peer.received[9] == sent
    assert proto.names()[-1] == "connection_lost"
    assert proto.names().count("connection_lost") == 1
    iface.close()


async def test_raising_pause_writing_is_reported_and_flow_control_goes_on(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    iface, transport, proto, peer, sent = await _resolved(pipe, fast_path)

    def broken() -> None:
        raise RuntimeError("pause_writing bug")

    proto.on_pause = broken
    with catch_loop_errors() as seen:
        await _fill_until_paused(transport, proto, sent)
        await peer.pump_until(lambda: "resume_writing" in proto.names())
    assert [type(c["exception"]) for c in seen] == [RuntimeError]
    assert "pause_writing" in seen[0]["message"]
    assert seen[0]["transport"] is transport
    await peer.pump_until(lambda: peer.received[9] == sent)
    assert not transport.is_closing()
    iface.close()


async def test_frame_abort_while_paused_never_resumes(pipe: tuple[PipePort, PipePort]) -> None:
    a, _ = pipe  # nobody reads the other end
    transport, proto = await aionetmap.create_frame_endpoint(RecordingProtocol, port=a)
    async with asyncio.timeout(5):
        while "pause_writing" not in proto.names():
            transport.send_many([_frame(i) for i in range(64)])
            await asyncio.sleep(0)
    transport.send(_frame(0))
    transport.abort()
    assert await proto.lost is None
    await asyncio.sleep(0.01)
    assert proto.names()[-2:] == ["pause_writing", "connection_lost"]


# === frame transports: per-frame delivery ===


def _frame(seq: int) -> bytes:
    return MAC_B + MAC_A + b"\x88\xb5" + seq.to_bytes(4, "big") * 12


class PlainRecorder(asyncio.DatagramProtocol):
    """A plain asyncio protocol on a frame transport: one datagram_received per frame."""

    def __init__(self) -> None:
        self.transport: Any = None
        self.frames: list[bytes] = []
        self.action: Callable[[bytes], None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.frames.append(data)
        if self.action is not None:
            self.action(data)


class PerFrame(aionetmap.FrameProtocol):
    """A FrameProtocol that only overrides frame_received (the per-frame default)."""

    def __init__(self) -> None:
        self.transport: Any = None
        self.frames: list[bytes] = []
        self.action: Callable[[bytes], None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def frame_received(self, frame: bytes) -> None:
        self.frames.append(frame)
        if self.action is not None:
            self.action(frame)


@pytest.mark.parametrize("kind", [PlainRecorder, PerFrame], ids=["datagram", "frame"])
@pytest.mark.parametrize("action", ["close", "abort", "pause_reading", "raise"])
async def test_frame_delivery_stops_or_goes_on_per_frame(
    pipe: tuple[PipePort, PipePort], kind: type[PlainRecorder | PerFrame], action: str
) -> None:
    """Per-frame delivery honours close/abort/pause_reading from inside the callback for
    the rest of the batch; a raising callback is reported and the batch goes on."""
    a, b = pipe
    sender, _ = await aionetmap.create_frame_endpoint(RecordingProtocol, port=a)
    receiver, proto_ = await aionetmap.create_frame_endpoint(kind, port=b)
    proto: PlainRecorder | PerFrame = proto_  # type: ignore[assignment]

    def act(frame: bytes) -> None:
        if frame != _frame(1):
            return
        if action == "raise":
            raise RuntimeError("frame callback bug")
        getattr(receiver, action)()

    proto.action = act
    sent = [_frame(i) for i in range(10)]
    with catch_loop_errors() as seen:
        sender.send_many(sent)  # one TX pass: one receive batch
        await wait_until(lambda: len(proto.frames) >= 2)
        await asyncio.sleep(0.02)
    if action == "raise":
        assert proto.frames == sent
        assert len(seen) == 1
        assert isinstance(seen[0]["exception"], RuntimeError)
    else:
        assert proto.frames == sent[:2]
        assert seen == []
    if action == "pause_reading":  # the rest is held, and comes on resume, in order
        assert receiver.stats()["rx_held"] == 8
        receiver.resume_reading()
        await wait_until(lambda: len(proto.frames) == 10)
        assert proto.frames == sent
        assert receiver.stats()["rx_dropped_paused"] == 0
    sender.close()
    receiver.close()
