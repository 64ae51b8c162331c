"""The await-based UdpSocket: recvfrom/sendto/async for/async with, and backpressure."""

from __future__ import annotations

import asyncio
import errno

import pytest

import aionetmap
from aionetmap.ports.pipe import PipePort
from aionetmap.stack import HostConfig

SERVER = ("10.0.0.1/24", 7)
CLIENT = ("10.0.0.2/24", 4000)
FAST_ARP = HostConfig(arp_request_interval=0.02, arp_retries=2)


async def _echo_forever(sock: aionetmap.UdpSocket) -> int:
    count = 0
    async for data, addr in sock:
        await sock.sendto(data, addr)
        count += 1
    return count


async def test_echo_with_async_for_and_async_with(pipe: tuple[PipePort, PipePort]) -> None:
    a, b = pipe
    server = await aionetmap.open_udp(port=a, local_addr=SERVER)
    echo_task = asyncio.create_task(_echo_forever(server))
    async with await aionetmap.open_udp(port=b, local_addr=CLIENT) as client:
        assert client.sockname == ("10.0.0.2", 4000)
        await client.sendto(b"warm-up", ("10.0.0.1", 7))  # resolve ARP before the burst
        assert await asyncio.wait_for(client.recv(), 5) == b"warm-up"
        for i in range(1000):
            await client.sendto(b"msg %d" % i, ("10.0.0.1", 7))
            if i % 100 == 99:
                await asyncio.sleep(0)
        got = [await client.recvfrom() for _ in range(1000)]
    assert got == [(b"msg %d" % i, ("10.0.0.1", 7)) for i in range(1000)]
    await server.aclose()
    # the server's async for ended cleanly when its socket closed
    assert await asyncio.wait_for(echo_task, 5) == 1001


async def test_connected_socket_send_and_recv(pipe: tuple[PipePort, PipePort]) -> None:
    a, b = pipe
    server = await aionetmap.open_udp(port=a, local_addr=SERVER)
    echo_task = asyncio.create_task(_echo_forever(server))
    client = await aionetmap.open_udp(port=b, local_addr=CLIENT, remote_addr=("10.0.0.1", 7))
    assert client.peername == ("10.0.0.1", 7)
    await client.send(b"hello")
    assert await asyncio.wait_for(client.recv(), 5) == b"hello"
    await client.aclose()
    await server.aclose()
    await echo_task


async def test_recv_after_close_raises_and_iteration_stops(pipe: tuple[PipePort, PipePort]) -> None:
    a, _ = pipe
    sock = await aionetmap.open_udp(port=a, local_addr=SERVER)
    await sock.aclose()
    with pytest.raises(ConnectionAbortedError):
        await sock.recvfrom()
    with pytest.raises(ConnectionAbortedError):
        await sock.sendto(b"x", ("10.0.0.2", 9))
    assert [item async for item in sock] == []


async def test_receive_queue_is_bounded_and_counts_drops(pipe: tuple[PipePort, PipePort]) -> None:
    a, b = pipe
    sink = await aionetmap.open_udp(port=a, local_addr=SERVER, max_queue=10)
    client = await aionetmap.open_udp(port=b, local_addr=CLIENT)
    await client.sendto(b"first", ("10.0.0.1", 7))
    assert await asyncio.wait_for(sink.recv(), 5) == b"first"
    for i in range(50):
        await client.sendto(b"%d" % i, ("10.0.0.1", 7))
    async with asyncio.timeout(5):
        while sink.dropped < 40:
            await asyncio.sleep(0.001)
    assert sink.dropped == 40
    assert [await sink.recv() for _ in range(10)] == [b"%d" % i for i in range(10)]
    await client.aclose()
    await sink.aclose()


async def test_arp_failure_is_raised_by_the_next_call(pipe: tuple[PipePort, PipePort]) -> None:
    a, _ = pipe  # nobody is at 10.0.0.99
    sock = await aionetmap.open_udp(port=a, local_addr=SERVER, config=FAST_ARP)
    await sock.sendto(b"into the void", ("10.0.0.99", 9))
    with pytest.raises(OSError, match=r"10\.0\.0\.99") as info:
        await asyncio.wait_for(sock.recvfrom(), 5)
    assert info.value.errno == errno.EHOSTUNREACH
    await sock.aclose()


async def test_sendto_waits_for_room(pipe: tuple[PipePort, PipePort]) -> None:
    """With a peer that stops reading, sendto blocks instead of growing the buffer."""
    a, b = pipe
    client = await aionetmap.open_udp(port=a, local_addr=CLIENT)
    server = await aionetmap.open_udp(port=b, local_addr=SERVER)
    await client.sendto(b"resolve", ("10.0.0.1", 7))
    await asyncio.wait_for(server.recv(), 5)
    # Stop the server side from reading its ring at all: its rings and then our buffer fill.
    server_iface = server.transport.get_extra_info("netinterface")
    server_iface.driver.close()
    high = client.transport.get_write_buffer_limits()[1]
    payload = b"x" * 1400
    sent = 0

    async def writer() -> None:
        nonlocal sent
        while True:
            await client.sendto(payload, ("10.0.0.1", 7))
            sent += 1

    task = asyncio.create_task(writer())
    await asyncio.sleep(0.2)
    stalled_at = sent
    await asyncio.sleep(0.1)
    assert sent == stalled_at  # blocked, not spinning
    assert client.transport.get_write_buffer_size() <= high + len(payload) + 8
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    client.transport.abort()
    server.transport.abort()
