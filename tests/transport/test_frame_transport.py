"""FrameTransport: raw Ethernet frames between a protocol and a port, no stack."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Sequence

import pytest
from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import ARP, Ether

import aionetmap
from aionetmap.ports.pipe import PipePort
from aionetmap.stack import build_arp_reply, build_echo_request
from aionetmap.testing import pipe_pair
from aionetmap.testing.protocols import RecordingProtocol
from tests.transport.helpers import wait_until

MAC_A = bytes.fromhex("02000000000a")
MAC_B = bytes.fromhex("02000000000b")
BROADCAST = b"\xff" * 6


def arrived_in(proto: RecordingProtocol, layer: type) -> list[Ether]:
    """The received frames that carry ``layer``, parsed by scapy."""
    parsed = [Ether(f) for f in proto.frames]
    return [p for p in parsed if p.haslayer(layer)]


def frame(seq: int, size: int = 60) -> bytes:
    body = seq.to_bytes(4, "big") * ((size - 14) // 4 + 1)
    return MAC_B + MAC_A + b"\x88\xb5" + body[: size - 14]  # 0x88b5: local experimental


async def test_frames_both_ways_byte_exact(pipe: tuple[PipePort, PipePort]) -> None:
    a, b = pipe
    ta, pa = await aionetmap.create_frame_endpoint(RecordingProtocol, port=a)
    tb, pb = await aionetmap.create_frame_endpoint(RecordingProtocol, port=b)
    sizes = [14, 60, 61, 1514, 2048]  # up to the buffer size of one slot
    sent = [frame(i, size) for i, size in enumerate(sizes * 200)]
    ta.send_many(sent)
    await pb.wait_for(lambda p: len(p.frames) == len(sent))
    assert pb.frames == sent
    tb.sendto(sent[0])
    await pa.wait_for(lambda p: p.frames)
    assert pa.frames == [sent[0]]
    assert ta.stats()["tx_frames"] == len(sent)
    assert tb.stats()["rx_frames"] == len(sent)
    ta.close()
    tb.close()
    await asyncio.gather(pa.lost, pb.lost)


async def test_plain_datagram_protocol_gets_frames(pipe: tuple[PipePort, PipePort]) -> None:
    a, b = pipe
    got: list[tuple[bytes, object]] = []

    class Plain(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: object) -> None:
            got.append((data, addr))

    ta, _ = await aionetmap.create_frame_endpoint(RecordingProtocol, port=a)
    tb, _ = await aionetmap.create_frame_endpoint(Plain, port=b)
    ta.send(frame(1))
    ta.send(frame(2))
    async with asyncio.timeout(5):
        while len(got) < 2:
            await asyncio.sleep(0.001)
    assert got == [(frame(1), None), (frame(2), None)]
    ta.close()
    tb.close()


async def test_frames_received_batch_hook(pipe: tuple[PipePort, PipePort]) -> None:
    a, b = pipe
    batches: list[int] = []

    class Batched(aionetmap.FrameProtocol):
        def frames_received(self, frames: Sequence[bytes]) -> None:
            batches.append(len(frames))

        def frame_received(self, frame: bytes) -> None:
            raise AssertionError("the batch hook replaces per-frame calls")

    ta, _ = await aionetmap.create_frame_endpoint(RecordingProtocol, port=a)
    tb, _ = await aionetmap.create_frame_endpoint(Batched, port=b)
    ta.send_many(frame(i) for i in range(600))
    async with asyncio.timeout(5):
        while sum(batches) < 600:
            await asyncio.sleep(0.001)
    assert sum(batches) == 600
    assert len(batches) < 600  # delivered in batches, not frame by frame
    assert max(batches) <= 256
    ta.close()
    tb.close()


async def test_send_rules(pipe: tuple[PipePort, PipePort]) -> None:
    a, _ = pipe
    ta, pa = await aionetmap.create_frame_endpoint(RecordingProtocol, port=a)
    with pytest.raises(TypeError, match="bytes-like"):
        ta.send("frame")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="14-byte Ethernet header"):
        ta.send(b"short")
    with pytest.raises(ValueError, match="must be None"):
        ta.sendto(frame(0), ("10.0.0.1", 7))
    too_big = frame(0, a.info.max_frame + 1)
    ta.send(too_big)
    assert len(pa.errors) == 1
    assert pa.errors[0].errno == errno.EMSGSIZE
    assert ta.get_write_buffer_size() == 0
    assert ta.get_extra_info("port_info") is a.info
    assert ta.get_extra_info("socket") is None
    ta.close()


async def test_close_sends_everything_queued_first(pipe: tuple[PipePort, PipePort]) -> None:
    a, b = pipe
    ta, pa = await aionetmap.create_frame_endpoint(RecordingProtocol, port=a)
    tb, pb = await aionetmap.create_frame_endpoint(RecordingProtocol, port=b)
    sent = [frame(i) for i in range(2000)]  # several rings' worth
    ta.send_many(sent)
    ta.close()
    assert await pa.lost is None
    await pb.wait_for(lambda p: len(p.frames) == len(sent))
    assert pb.frames == sent
    tb.close()


async def test_abort_drops_queued_frames(pipe: tuple[PipePort, PipePort]) -> None:
    a, b = pipe
    ta, pa = await aionetmap.create_frame_endpoint(RecordingProtocol, port=a)
    tb, pb = await aionetmap.create_frame_endpoint(RecordingProtocol, port=b)
    ta.send_many(frame(i) for i in range(100))
    ta.abort()
    assert await pa.lost is None
    await asyncio.sleep(0.05)
    assert pb.frames == []
    tb.close()


async def test_paused_only_reader_leaves_frames_in_the_ring() -> None:
    """A paused frame endpoint stops draining its port: the pipe peer's TX fills (it is
    held back), nothing is dropped, and on resume every frame arrives, in order."""
    a, b = pipe_pair(slots=32)
    try:
        ta, pa = await aionetmap.create_frame_endpoint(RecordingProtocol, port=a)
        tb, pb = await aionetmap.create_frame_endpoint(RecordingProtocol, port=b)
        tb.pause_reading()
        assert not tb.is_reading()
        sent = [frame(i) for i in range(200)]  # both rings hold 62
        ta.send_many(sent)
        await wait_until(lambda: a.tx_space() == 0)  # the peer's TX is full: backpressure
        await asyncio.sleep(0.02)
        assert ta.get_write_buffer_size() > 0  # the rest waits in the sender
        assert pb.frames == []
        assert tb.stats()["rx_dropped_paused"] == tb.stats()["rx_held"] == 0
        tb.resume_reading()
        await pb.wait_for(lambda p: len(p.frames) == len(sent))
        assert pb.frames == sent
        assert tb.stats()["rx_dropped_paused"] == 0
        ta.close()
        tb.close()
        await pa.lost
        await pb.lost
    finally:
        a.close()
        b.close()


class PausingReceiver(asyncio.DatagramProtocol):
    """Takes frames one at a time (a plain DatagramProtocol) and pauses its transport at
    the first one while ``pause`` is set."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.transport: aionetmap.FrameTransport | None = None
        self.pause = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, aionetmap.FrameTransport)
        self.transport = transport

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.frames.append(data)
        if self.pause and self.transport is not None:
            self.transport.pause_reading()


async def test_frames_held_mid_batch_are_bounded_by_the_read_buffer_limit(
    pipe: tuple[PipePort, PipePort],
) -> None:
    """Frames already taken from the ring when the protocol pauses are held up to the
    limit (length + 256 bytes each); the rest are dropped and counted."""
    a, b = pipe
    ta, _ = await aionetmap.create_frame_endpoint(RecordingProtocol, port=a)
    tb, pb = await aionetmap.create_frame_endpoint(PausingReceiver, port=b)
    tb.set_read_buffer_limit(3 * (60 + 256))
    assert tb.get_read_buffer_limit() == 3 * (60 + 256)
    sent = [frame(i) for i in range(10)]
    ta.send_many(sent)  # one TX pass: one receive batch
    await wait_until(lambda: tb.stats()["rx_held"] + tb.stats()["rx_dropped_paused"] == 9)
    assert pb.frames == sent[:1]
    assert (tb.stats()["rx_held"], tb.stats()["rx_dropped_paused"]) == (3, 6)
    assert tb.get_read_buffer_size() == 3 * (60 + 256)
    later = [frame(i) for i in range(100, 105)]
    ta.send_many(later)  # these wait in the ring: the paused endpoint is not reading
    await wait_until(lambda: b.stats()["rx_frames"] == 10 and a.tx_in_flight() == 0)
    pb.pause = False
    tb.resume_reading()
    assert pb.frames == sent[:1]  # replayed from a later callback, not from resume_reading
    await wait_until(lambda: len(pb.frames) == 9)
    assert pb.frames == sent[:4] + later  # the held ones first, then the ring's
    assert tb.get_read_buffer_size() == 0
    with pytest.raises(ValueError, match="read buffer limit"):
        tb.set_read_buffer_limit(-1)
    ta.close()
    tb.close()


async def test_ping_through_a_frame_endpoint(pipe: tuple[PipePort, PipePort]) -> None:
    """A raw-frame client pings a UDP interface's host: ARP and ICMP on the wire, by hand."""
    a, b = pipe
    server_t, _ = await aionetmap.create_datagram_endpoint(
        RecordingProtocol, port=b, local_addr=("10.0.0.1/24", 7)
    )
    server_mac = server_t.get_extra_info("mac")
    raw_t, raw = await aionetmap.create_frame_endpoint(RecordingProtocol, port=a)
    raw_t.send(build_echo_request(MAC_A, server_mac, "10.0.0.2", "10.0.0.1", 0x1234, 7, b"hi"))

    def arrived(kind: type) -> list[Ether]:
        return arrived_in(raw, kind)

    # The host does not know our MAC yet: it asks, and we answer.
    def asked_for_us(p: RecordingProtocol) -> bool:
        return any(
            arp.op == 1 and arp.pdst == "10.0.0.2" for arp in (e[ARP] for e in arrived_in(p, ARP))
        )

    await raw.wait_for(asked_for_us)
    raw_t.send(build_arp_reply(MAC_A, "10.0.0.2", server_mac, "10.0.0.1"))
    await raw.wait_for(lambda p: arrived(ICMP))
    (reply,) = arrived(ICMP)
    assert reply.dst == MAC_A.hex(":")
    assert reply[IP].src == "10.0.0.1"
    assert reply[IP].dst == "10.0.0.2"
    assert reply[ICMP].type == 0
    assert (reply[ICMP].id, reply[ICMP].seq) == (0x1234, 7)
    assert bytes(reply[ICMP].payload) == b"hi"
    # Let scapy recompute both checksums: equal means ours were right.
    recomputed = reply[IP].copy()
    del recomputed.chksum
    del recomputed[ICMP].chksum
    recomputed = IP(bytes(recomputed))
    assert (recomputed.chksum, recomputed[ICMP].chksum) == (reply[IP].chksum, reply[ICMP].chksum)
    raw_t.close()
    server_t.close()
