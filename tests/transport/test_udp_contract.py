"""The asyncio DatagramTransport contract, point by point, on a UdpTransport."""

from __future__ import annotations

import asyncio
import errno

import pytest

import aionetmap
from aionetmap.ports.pipe import PipePort
from aionetmap.testing.protocols import EchoProtocol, RecordingProtocol

SERVER = "10.0.0.1/24"
CLIENT = "10.0.0.2/24"
SERVER_ADDR = ("10.0.0.1", 7)


async def _pair(
    pipe: tuple[PipePort, PipePort], *, warm: bool = True
) -> tuple[aionetmap.UdpTransport, EchoProtocol, aionetmap.UdpTransport, RecordingProtocol]:
    """An echo server on one end, a recording client on the other.

    ``warm`` does one round trip first so both ARP caches are filled and later bursts are
    not parked (and bounded) in the ARP queue; the records are then reset.
    """
    a, b = pipe
    server_t, server_p = await aionetmap.create_datagram_endpoint(
        EchoProtocol, port=a, local_addr=(SERVER, 7)
    )
    client_t, client_p = await aionetmap.create_datagram_endpoint(
        RecordingProtocol, port=b, local_addr=(CLIENT, 4000)
    )
    if warm:
        client_t.sendto(b"warm-up", SERVER_ADDR)
        await client_p.wait_for(lambda p: p.datagrams)
        client_p.datagrams.clear()
        server_p.echoed = 0
    return server_t, server_p, client_t, client_p


async def test_callback_order(pipe: tuple[PipePort, PipePort]) -> None:
    server_t, _, client_t, client = await _pair(pipe, warm=False)
    # connection_made ran before create_datagram_endpoint returned, and nothing else yet.
    assert client.names() == ["connection_made"]
    assert client.transport is client_t
    for i in range(3):
        client_t.sendto(b"ping %d" % i, SERVER_ADDR)
    await client.wait_for(lambda p: len(p.datagrams) == 3)
    client_t.close()
    assert await client.lost is None
    assert client.names() == ["connection_made"] + ["datagram_received"] * 3 + ["connection_lost"]
    assert [d for d, _ in client.datagrams] == [b"ping 0", b"ping 1", b"ping 2"]
    server_t.close()


async def test_sendto_argument_rules(pipe: tuple[PipePort, PipePort]) -> None:
    server_t, _, client_t, client = await _pair(pipe)
    # Only the data's type raises here; bad destinations are test_sendto_errors.py's.
    with pytest.raises(TypeError, match="bytes-like"):
        client_t.sendto("text", SERVER_ADDR)  # type: ignore[arg-type]
    # Bytes-like objects of every kind are accepted and copied at once.
    data = bytearray(b"mutable")
    client_t.sendto(data, SERVER_ADDR)
    data[:] = b"changed"
    client_t.sendto(memoryview(b"view"), SERVER_ADDR)
    await client.wait_for(lambda p: len(p.datagrams) == 2)
    assert [d for d, _ in client.datagrams] == [b"mutable", b"view"]
    client_t.close()
    server_t.close()


async def test_zero_length_datagram_is_sent(pipe: tuple[PipePort, PipePort]) -> None:
    server_t, server, client_t, client = await _pair(pipe)
    client_t.sendto(b"", SERVER_ADDR)
    await client.wait_for(lambda p: p.datagrams)
    assert client.datagrams == [(b"", SERVER_ADDR)]
    assert server.echoed == 1
    client_t.close()
    server_t.close()


async def test_oversize_goes_to_error_received(pipe: tuple[PipePort, PipePort]) -> None:
    server_t, _, client_t, client = await _pair(pipe)
    limit = client_t.get_extra_info("netinterface").max_payload
    assert limit == 65507  # the IPv4 limit, as a kernel socket's EMSGSIZE (fragmented)
    client_t.sendto(b"x" * (limit + 1), SERVER_ADDR)
    assert len(client.errors) == 1
    assert client.errors[0].errno == errno.EMSGSIZE
    assert client_t.get_write_buffer_size() == 0
    client_t.sendto(b"y" * limit, SERVER_ADDR)  # the largest there is still goes through
    await client.wait_for(lambda p: p.datagrams)
    assert client.datagrams[0][0] == b"y" * limit
    client_t.close()
    server_t.close()


async def test_connected_endpoint(pipe: tuple[PipePort, PipePort]) -> None:
    a, b = pipe
    server_t, _ = await aionetmap.create_datagram_endpoint(
        EchoProtocol, port=a, local_addr=(SERVER, 7)
    )
    other_t, other = await aionetmap.create_datagram_endpoint(
        RecordingProtocol, port=a, local_addr=(SERVER, 9)
    )
    conn_t, conn = await aionetmap.create_datagram_endpoint(
        RecordingProtocol, port=b, local_addr=(CLIENT, 4001), remote_addr=SERVER_ADDR
    )
    assert conn_t.get_extra_info("peername") == SERVER_ADDR
    assert conn_t.get_extra_info("sockname") == ("10.0.0.2", 4001)
    with pytest.raises(ValueError, match="must be None or"):
        conn_t.sendto(b"x", ("10.0.0.1", 9))
    conn_t.sendto(b"hello")
    await conn.wait_for(lambda p: p.datagrams)
    # A datagram from another source port of the peer host is not delivered.
    other_t.sendto(b"stranger", ("10.0.0.2", 4001))
    conn_t.sendto(b"again", SERVER_ADDR)
    await conn.wait_for(lambda p: len(p.datagrams) == 2)
    assert [d for d, _ in conn.datagrams] == [b"hello", b"again"]
    assert conn_t.stats()["rx_dropped_not_peer"] == 1
    for t in (server_t, other_t, conn_t):
        t.close()
    await other.lost


async def test_close_drains_then_connection_lost(pipe: tuple[PipePort, PipePort]) -> None:
    server_t, server, client_t, client = await _pair(pipe)
    for i in range(1000):
        client_t.sendto(b"%04d" % i, SERVER_ADDR)
    client_t.close()
    assert client_t.is_closing()
    assert await client.lost is None
    # Everything queued before close() was sent: the echo server saw all of it.
    await asyncio.sleep(0.05)
    assert server.echoed == 1000
    server_t.close()


async def test_abort_drops_the_buffer(pipe: tuple[PipePort, PipePort]) -> None:
    server_t, server, client_t, client = await _pair(pipe)
    for i in range(1000):
        client_t.sendto(b"%04d" % i, SERVER_ADDR)
    client_t.abort()
    assert client_t.get_write_buffer_size() == 0
    assert await client.lost is None
    await asyncio.sleep(0.05)
    assert server.echoed == 0  # nothing left the transport: it was all still queued
    assert client.names()[-1] == "connection_lost"
    server_t.close()


async def test_writes_after_close_are_dropped(pipe: tuple[PipePort, PipePort]) -> None:
    server_t, _server, client_t, client = await _pair(pipe)
    client_t.close()
    await client.lost
    client_t.sendto(b"late", SERVER_ADDR)
    assert client_t.get_write_buffer_size() == 0
    server_t.close()


async def test_failing_protocol_callback_reaches_handler_and_reading_goes_on(
    pipe: tuple[PipePort, PipePort],
) -> None:
    a, b = pipe
    loop = asyncio.get_running_loop()
    seen: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _l, ctx: seen.append(ctx))

    class Flaky(RecordingProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            super().datagram_received(data, addr)
            if data == b"boom":
                raise RuntimeError("protocol bug")

    sink_t, sink = await aionetmap.create_datagram_endpoint(Flaky, port=a, local_addr=(SERVER, 9))
    client_t, _ = await aionetmap.create_datagram_endpoint(
        RecordingProtocol, port=b, local_addr=(CLIENT, 4000)
    )
    for data in (b"one", b"boom", b"three"):
        client_t.sendto(data, ("10.0.0.1", 9))
    await sink.wait_for(lambda p: len(p.datagrams) == 3)
    assert [d for d, _ in sink.datagrams] == [b"one", b"boom", b"three"]
    assert len(seen) == 1
    assert isinstance(seen[0]["exception"], RuntimeError)
    assert seen[0]["transport"] is sink_t
    assert not sink_t.is_closing()
    loop.set_exception_handler(None)
    sink_t.close()
    client_t.close()
