"""UdpSocket under concurrency: cancelled waits, several readers, closing while others
wait, and errors that must surface exactly once."""

from __future__ import annotations

import asyncio
import errno

import pytest

import aionetmap
from aionetmap.ports.pipe import PipePort
from aionetmap.stack import HostConfig
from tests.transport.helpers import PEER_IP, ManualPeer

SERVER = ("10.0.0.1/24", 7)
CLIENT = ("10.0.0.2/24", 4000)
TO_SERVER = ("10.0.0.1", 7)
FAST_ARP = HostConfig(arp_request_interval=0.02, arp_retries=1)


async def _pair(pipe: tuple[PipePort, PipePort]) -> tuple[aionetmap.UdpSocket, aionetmap.UdpSocket]:
    a, b = pipe
    server = await aionetmap.open_udp(port=a, local_addr=SERVER)
    client = await aionetmap.open_udp(port=b, local_addr=CLIENT)
    await client.sendto(b"warm-up", TO_SERVER)
    assert await asyncio.wait_for(server.recv(), 5) == b"warm-up"
    return server, client


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_cancelled_recvfrom_loses_nothing(pipe: tuple[PipePort, PipePort]) -> None:
    server, client = await _pair(pipe)
    waiting = asyncio.create_task(server.recvfrom())
    await _settle()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await client.sendto(b"after the cancel", TO_SERVER)
    assert await asyncio.wait_for(server.recv(), 5) == b"after the cancel"
    # Cancelled at the very moment a datagram arrived (woken, not yet run): the datagram
    # stays for the next reader.
    waiting = asyncio.create_task(server.recvfrom())
    await _settle()
    server.transport.get_protocol().datagram_received(b"raced", ("10.0.0.2", 4000))
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert await asyncio.wait_for(server.recv(), 5) == b"raced"
    await client.aclose()
    await server.aclose()


async def test_concurrent_readers_share_without_loss_or_stall(
    pipe: tuple[PipePort, PipePort],
) -> None:
    server, client = await _pair(pipe)
    got: list[bytes] = []

    async def reader() -> None:
        while True:
            try:
                got.append(await server.recv())
            except ConnectionAbortedError:
                return
            await asyncio.sleep(0)

    readers = [asyncio.create_task(reader()) for _ in range(3)]
    for i in range(300):
        await client.sendto(b"%d" % i, TO_SERVER)
        if i % 50 == 49:
            await asyncio.sleep(0)
    async with asyncio.timeout(5):
        while len(got) < 300:
            await asyncio.sleep(0.001)
    assert sorted(got) == sorted(b"%d" % i for i in range(300))
    await server.aclose()  # every reader wakes up and ends, none stays stuck
    await asyncio.wait_for(asyncio.gather(*readers), 5)
    await client.aclose()


async def test_aclose_wakes_a_waiting_reader_and_ends_iteration(
    pipe: tuple[PipePort, PipePort],
) -> None:
    server, client = await _pair(pipe)

    async def iterate() -> list[bytes]:
        return [data async for data, _ in server]

    waiting_recv = asyncio.create_task(server.recvfrom())
    iterating = asyncio.create_task(iterate())
    await _settle()
    await asyncio.wait_for(server.aclose(), 5)
    with pytest.raises(ConnectionAbortedError):
        await asyncio.wait_for(waiting_recv, 5)
    assert await asyncio.wait_for(iterating, 5) == []
    await client.aclose()


async def test_aclose_wakes_a_sender_waiting_for_room(pipe: tuple[PipePort, PipePort]) -> None:
    a, b = pipe
    peer = ManualPeer(b)
    sock = await aionetmap.open_udp(port=a, local_addr=("10.0.0.1/24", 7))
    await sock.sendto(b"hello", (PEER_IP, 9))
    await peer.pump_until(lambda: bool(peer.received[9]))

    async def flood() -> None:
        while True:
            await sock.sendto(bytes(1000), (PEER_IP, 9))

    sender = asyncio.create_task(flood())
    await asyncio.sleep(0.05)  # the peer never reads: the sender now waits for room
    assert not sender.done()
    sock.transport.abort()
    with pytest.raises(ConnectionAbortedError):
        await asyncio.wait_for(sender, 5)
    await sock.aclose()


async def test_a_cancelled_sendto_wait_neither_sends_nor_sticks(
    pipe: tuple[PipePort, PipePort],
) -> None:
    a, b = pipe
    peer = ManualPeer(b)
    sock = await aionetmap.open_udp(port=a, local_addr=("10.0.0.1/24", 7))
    await sock.sendto(b"hello", (PEER_IP, 9))
    await peer.pump_until(lambda: bool(peer.received[9]))
    sent = [b"hello"]
    while sock.transport.get_write_buffer_size() <= sock.transport.get_write_buffer_limits()[1]:
        sent.append(b"%05d" % len(sent) + bytes(1000))
        await sock.sendto(sent[-1], (PEER_IP, 9))
    blocked = asyncio.create_task(sock.sendto(b"never sent", (PEER_IP, 9)))
    await _settle()
    assert not blocked.done()
    blocked.cancel()
    with pytest.raises(asyncio.CancelledError):
        await blocked
    await peer.pump_until(lambda: peer.received[9] == sent)
    await asyncio.wait_for(sock.sendto(b"next", (PEER_IP, 9)), 5)  # not stuck
    await peer.pump_until(lambda: peer.received[9] == [*sent, b"next"])
    await sock.aclose()


async def test_an_error_is_raised_once_among_concurrent_readers(
    pipe: tuple[PipePort, PipePort],
) -> None:
    a, _ = pipe  # nobody at 10.0.0.99: the datagram fails once ARP gives up
    sock = await aionetmap.open_udp(port=a, local_addr=SERVER, config=FAST_ARP)
    outcomes: list[object] = []

    async def reader() -> None:
        try:
            outcomes.append(await sock.recvfrom())
        except OSError as exc:
            outcomes.append(exc.errno)

    readers = [asyncio.create_task(reader()) for _ in range(3)]
    await sock.sendto(b"into the void", ("10.0.0.99", 9))
    async with asyncio.timeout(5):
        while not outcomes:
            await asyncio.sleep(0.005)
    await asyncio.sleep(0.05)
    assert outcomes == [errno.EHOSTUNREACH]
    await sock.aclose()
    await asyncio.wait_for(asyncio.gather(*readers), 5)
    assert outcomes[1:] == [errno.ECONNABORTED] * 2


async def test_iteration_raises_a_pending_refusal_rather_than_ending(
    pipe: tuple[PipePort, PipePort],
) -> None:
    """ICMP port unreachable on a connected socket is ConnectionRefusedError, a
    ConnectionError like the one a closed socket raises: iteration must not take it for
    the end."""
    a, b = pipe
    server = await aionetmap.open_udp(port=a, local_addr=SERVER)
    client = await aionetmap.open_udp(port=b, local_addr=CLIENT, remote_addr=("10.0.0.1", 9))
    await client.send(b"nobody on port 9")
    async with asyncio.timeout(5):
        while not client._protocol.errors:  # white box: the refusal has arrived
            await asyncio.sleep(0.005)
    await client.aclose()
    with pytest.raises(ConnectionRefusedError):
        async for _ in client:
            pass
    assert [item async for item in client] == []  # raised once; then the plain end
    await server.aclose()
