"""Nothing lost on close (issue 14, item 7): a graceful close waits for as long as frames
keep leaving, and gives up only after a stall, counting and reporting what it dropped.

The stall period is CLOSE_STALL (tests/transport/conftest.py). The slow peers here take a
few frames every 25 ms: never a whole stall period without progress, on any machine
(their timer is always due before the next stall check), yet they take far longer than
the fixed 1-second deadline a close used to have. The netmap side (waiting until the NIC
has reclaimed every TX slot) is in tests/ports/test_netmap_port.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest

import aionetmap
from aionetmap.ports.base import FrameBatch, PortClosedError
from aionetmap.ports.pipe import PipePort
from aionetmap.testing import pipe_pair
from aionetmap.testing.protocols import RecordingProtocol
from tests.transport.helpers import PEER_IP, ManualPeer, open_udp_endpoint

MAC_A = bytes.fromhex("02000000000a")
MAC_B = bytes.fromhex("02000000000b")
SLOW_READ = 4  # frames the slow peer takes per read
SLOW_EVERY = 0.025  # seconds between its reads


def frame(seq: int) -> bytes:
    return MAC_B + MAC_A + b"\x88\xb5" + seq.to_bytes(4, "big") * 12


def read_all(port: PipePort) -> list[bytes]:
    got: list[bytes] = []
    batch = FrameBatch(64)
    while port.recv(batch):
        got += batch.frames()
    return got


@pytest.fixture
def small_pipe() -> Iterator[tuple[PipePort, PipePort]]:
    """Rings of 32 slots: most of what is sent is still queued in the sender at close."""
    a, b = pipe_pair(slots=32)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


async def test_frame_close_drains_a_slow_peer_to_the_last_frame(
    small_pipe: tuple[PipePort, PipePort],
) -> None:
    a, b = small_pipe
    try:
        transport, proto = await aionetmap.create_frame_endpoint(RecordingProtocol, port=a)
        sent = [frame(i) for i in range(300)]  # ~1.8 s at the peer's pace
        transport.send_many(sent)
        transport.close()
        got: list[bytes] = []
        batch = FrameBatch(SLOW_READ)
        while not proto.lost.done():
            b.recv(batch)
            got += batch.frames()
            await asyncio.sleep(SLOW_EVERY)
        assert await proto.lost is None
        got += read_all(b)  # at connection_lost, the peer's ring had everything left
        assert got == sent
        assert transport.stats()["tx_dropped_close"] == 0
    finally:
        a.close()
        b.close()


async def test_frame_close_gives_up_on_a_peer_that_never_reads(
    small_pipe: tuple[PipePort, PipePort], caplog: pytest.LogCaptureFixture
) -> None:
    a, b = small_pipe
    try:
        transport, proto = await aionetmap.create_frame_endpoint(RecordingProtocol, port=a)
        transport.send_many(frame(i) for i in range(300))
        with caplog.at_level(logging.WARNING, logger="aionetmap"):
            transport.close()
            assert await proto.lost is None
        dropped = transport.stats()["tx_dropped_close"]
        arrived = len(read_all(b))
        assert dropped + arrived == 300  # every frame either reached the peer or is counted
        assert arrived > 0
        (record,) = [r for r in caplog.records if "close dropped" in r.getMessage()]
        assert record.levelno == logging.WARNING
        assert a.info.name in record.getMessage()
        assert f"{dropped} queued frames" in record.getMessage()
    finally:
        a.close()
        b.close()


async def test_udp_close_drains_a_slow_peer_to_the_last_datagram(
    small_pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    a, b = small_pipe
    peer = ManualPeer(b)
    iface, transport, proto = await open_udp_endpoint(a, RecordingProtocol, fast_path=fast_path)
    transport.sendto(b"hello", (PEER_IP, 9))
    await peer.pump_until(lambda: bool(peer.received[9]))
    sent = [b"%06d" % i + bytes(94) for i in range(900)]  # ~1.4 s at the peer's pace
    for data in sent:
        transport.sendto(data, (PEER_IP, 9))
    transport.close()
    loop = asyncio.get_running_loop()
    while not proto.lost.done():
        peer.pump(loop.time(), max_frames=SLOW_READ * 4)
        await asyncio.sleep(SLOW_EVERY)
    assert await proto.lost is None
    await peer.pump_until(lambda: len(peer.received[9]) == 1 + len(sent))
    assert peer.received[9] == [b"hello", *sent]
    assert transport.stats()["tx_dropped_close"] == 0
    iface.close()
    a.close()
    b.close()


async def test_udp_close_gives_up_on_a_peer_that_never_reads(
    pipe: tuple[PipePort, PipePort], fast_path: bool, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = pipe
    peer = ManualPeer(b)
    iface, transport, proto = await open_udp_endpoint(a, RecordingProtocol, fast_path=fast_path)
    transport.sendto(b"hello", (PEER_IP, 9))
    await peer.pump_until(lambda: bool(peer.received[9]))
    for i in range(900):
        transport.sendto(b"%06d" % i, (PEER_IP, 9))
    with caplog.at_level(logging.WARNING, logger="aionetmap"):
        transport.close()
        assert await proto.lost is None
    dropped = transport.stats()["tx_dropped_close"]
    assert 0 < dropped < 900
    (record,) = [r for r in caplog.records if "close dropped" in r.getMessage()]
    assert f"{dropped} queued datagrams of UDP port 7" in record.getMessage()
    assert a.info.name in record.getMessage()
    iface.close()


@pytest.mark.parametrize("queued", [0, 50], ids=["nothing-queued", "datagrams-queued"])
async def test_port_closed_under_a_closing_endpoint_ends_the_close(
    queued: int, loop_errors: list[dict[str, object]]
) -> None:
    """The program closes the port it passed in right after closing its endpoint, while the
    endpoint or its implicit interface still drains: the close ends at once, with no error
    in the loop's handler. Datagrams that could not leave make it an error, as a socket
    closed under an asyncio transport with a full buffer does."""
    a, b = pipe_pair(slots=32)
    try:
        transport, proto = await aionetmap.create_datagram_endpoint(
            RecordingProtocol,
            port=a,
            address="10.0.0.1/24",
            local_addr=("10.0.0.1", 7),
            allow_broadcast=True,
        )
        iface = transport.get_extra_info("netinterface")
        for _ in range(queued):
            transport.sendto(b"x" * 100, ("10.0.0.255", 9))
        transport.close()
        a.close()
        lost = await asyncio.wait_for(proto.lost, 5)
        if queued:
            assert isinstance(lost, PortClosedError)
        else:
            assert lost is None
        await asyncio.wait_for(iface.wait_closed(), 5)
    finally:
        a.close()
        b.close()
