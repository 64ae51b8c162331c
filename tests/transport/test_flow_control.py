"""Write-side flow control: pause_writing once when the peer stops draining, resume after.

The peer is driven by hand: a sans-I/O Host on the raw far end of the pipe, pumped only
when the test says so, so "the peer stops draining" is exactly that.
"""

from __future__ import annotations

import asyncio

import pytest

import aionetmap
from aionetmap.ports.base import FrameBatch
from aionetmap.ports.pipe import PipePort
from aionetmap.testing.protocols import RecordingProtocol
from tests.transport.helpers import ManualPeer


async def test_pause_writing_once_then_resume(pipe: tuple[PipePort, PipePort]) -> None:
    a, b = pipe
    peer = ManualPeer(b)
    transport, proto = await aionetmap.create_datagram_endpoint(
        RecordingProtocol, port=a, local_addr=("10.0.0.1/24", 7)
    )
    # Resolve the peer: our ARP request reaches the manual peer, its reply comes back.
    transport.sendto(b"hello", ("10.0.0.2", 9))
    await peer.pump_until(lambda: bool(peer.received[9]))

    # The peer stops draining: rings fill (255 TX + 256 peer RX slots), then our buffer.
    payload = b"x" * 1000
    sent = 0
    async with asyncio.timeout(5):
        while "pause_writing" not in proto.names():
            transport.sendto(payload, ("10.0.0.2", 9))
            sent += 1
            if sent % 64 == 0:
                await asyncio.sleep(0)
    low, high = transport.get_write_buffer_limits()
    assert transport.get_write_buffer_size() > high
    # A paused protocol that keeps writing does not get pause_writing again.
    for _ in range(50):
        transport.sendto(payload, ("10.0.0.2", 9))
        sent += 1
    await asyncio.sleep(0.01)
    assert proto.names().count("pause_writing") == 1
    assert "resume_writing" not in proto.names()

    # The peer drains: the buffer empties below the low-water mark and we are resumed.
    await peer.pump_until(lambda: len(peer.received[9]) >= sent + 1, timeout=10)
    assert proto.names().count("pause_writing") == 1
    assert proto.names().count("resume_writing") == 1
    assert proto.names().index("pause_writing") < proto.names().index("resume_writing")
    assert transport.get_write_buffer_size() <= low
    assert peer.received[9][1:] == [payload] * sent
    transport.close()
    await proto.lost


async def test_resume_writing_at_the_low_water_mark(pipe: tuple[PipePort, PipePort]) -> None:
    # asyncio resumes a paused protocol once its buffer falls to the low-water mark, not
    # only once it is empty: a sender should refill before the queue runs dry.
    a, b = pipe
    peer = ManualPeer(b)
    transport, proto = await aionetmap.create_datagram_endpoint(
        RecordingProtocol, port=a, local_addr=("10.0.0.1/24", 7)
    )
    transport.sendto(b"hello", ("10.0.0.2", 9))
    await peer.pump_until(lambda: bool(peer.received[9]))
    payload = b"x" * 1000
    async with asyncio.timeout(5):
        while "pause_writing" not in proto.names():
            transport.sendto(payload, ("10.0.0.2", 9))
            await asyncio.sleep(0)
    try:
        low, _ = transport.get_write_buffer_limits()
        queued = transport.get_write_buffer_size() // (len(payload) + 8)
        # Make room for all but a few of the queued datagrams: the rest stay queued.
        loop = asyncio.get_running_loop()
        assert peer.pump(loop.time(), max_frames=queued - 3) == queued - 3
        async with asyncio.timeout(5):
            while "resume_writing" not in proto.names():
                await asyncio.sleep(0.001)
        assert 0 < transport.get_write_buffer_size() <= low
    finally:
        transport.abort()


async def test_frame_transport_resumes_at_the_low_water_mark(
    pipe: tuple[PipePort, PipePort],
) -> None:
    a, b = pipe
    transport, proto = await aionetmap.create_frame_endpoint(RecordingProtocol, port=a)
    frame = bytes(1000)
    async with asyncio.timeout(5):
        while "pause_writing" not in proto.names():
            transport.sendto(frame)
            await asyncio.sleep(0)
    try:
        low, _ = transport.get_write_buffer_limits()
        queued = transport.get_write_buffer_size() // len(frame)
        # The raw far end takes all but a few of the queued frames' worth of slots.
        assert b.recv(FrameBatch(queued), queued - 3) == queued - 3
        async with asyncio.timeout(5):
            while "resume_writing" not in proto.names():
                await asyncio.sleep(0.001)
        assert 0 < transport.get_write_buffer_size() <= low
    finally:
        transport.abort()


async def test_set_write_buffer_limits(pipe: tuple[PipePort, PipePort]) -> None:
    a, _ = pipe
    transport, _ = await aionetmap.create_datagram_endpoint(
        RecordingProtocol, port=a, local_addr=("10.0.0.1/24", 7)
    )
    assert transport.get_write_buffer_limits() == (16 * 1024, 64 * 1024)
    transport.set_write_buffer_limits(high=1000)
    assert transport.get_write_buffer_limits() == (250, 1000)
    transport.set_write_buffer_limits(low=100)
    assert transport.get_write_buffer_limits() == (100, 400)
    with pytest.raises(ValueError, match="must be >="):
        transport.set_write_buffer_limits(high=10, low=20)
    transport.close()
