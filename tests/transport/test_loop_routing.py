"""``route_datagram_endpoints``: a loop's ``create_datagram_endpoint`` makes aionetmap
endpoints on an interface while the block runs, reading asyncio's arguments as a kernel
socket would (over the software pipe: two aionetmap hosts)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

import aionetmap
from aionetmap.ports.pipe import PipePort
from aionetmap.stack import HostConfig
from aionetmap.testing.protocols import EchoProtocol, RecordingProtocol

FAST_DAD = HostConfig(ndp_retrans_timer=0.05)


@pytest.fixture
async def pair(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> AsyncIterator[tuple[aionetmap.NetInterface, aionetmap.NetInterface]]:
    a, b = pipe
    ifaces = [
        await aionetmap.open_interface(
            port,
            address=f"10.0.0.{i}/24",
            ipv6=[f"2001:db8::{i}/64"],
            config=FAST_DAD,
            fast_path=fast_path,
        )
        for i, port in ((1, a), (2, b))
    ]
    try:
        yield ifaces[0], ifaces[1]
    finally:
        for iface in ifaces:
            iface.close()


async def _wait(rec: RecordingProtocol, count: int) -> None:
    async with asyncio.timeout(5):
        while len(rec.datagrams) < count:
            await asyncio.sleep(0.005)


async def test_local_addr_forms(
    pair: tuple[aionetmap.NetInterface, aionetmap.NetInterface],
) -> None:
    server, _ = pair
    loop = asyncio.get_running_loop()
    own = loop.create_datagram_endpoint
    with aionetmap.route_datagram_endpoints(server) as routed:
        assert routed is server
        cases: list[tuple[dict[str, Any], tuple[Any, ...]]] = [
            ({"local_addr": ("10.0.0.1", 7001)}, ("10.0.0.1", 7001)),
            ({"local_addr": ("0.0.0.0", 7002)}, ("0.0.0.0", 7002)),
            ({"local_addr": ("", 7003)}, ("0.0.0.0", 7003)),
            ({"local_addr": ("::", 7004)}, ("::", 7004, 0, 0)),
            ({"local_addr": ("2001:db8::1", 7005, 0, 0)}, ("2001:db8::1", 7005, 0, 0)),
            ({"local_addr": ("", 7006), "family": socket.AF_INET6}, ("::", 7006, 0, 0)),
            ({"family": socket.AF_INET6}, ("::",)),
            ({"remote_addr": ("2001:db8::2", 9)}, ("::",)),
            ({"remote_addr": ("10.0.0.2", 9)}, ("10.0.0.1",)),
        ]
        for kwargs, sockname in cases:
            transport, _ = await loop.create_datagram_endpoint(RecordingProtocol, **kwargs)
            assert isinstance(transport, aionetmap.UdpTransport)
            name = transport.get_extra_info("sockname")
            assert name[: len(sockname)] == sockname if len(sockname) == 1 else name == sockname
            transport.close()
    assert loop.create_datagram_endpoint == own
    assert "create_datagram_endpoint" not in vars(loop)


async def test_a_callers_socket_is_read_and_closed(
    pair: tuple[aionetmap.NetInterface, aionetmap.NetInterface],
) -> None:
    """aioquic's connect(): an AF_INET6 socket, IPV6_V6ONLY off, bound to ("::", 0)."""
    server, client = pair
    loop = asyncio.get_running_loop()
    await server.create_datagram_endpoint(EchoProtocol, local_port=7, local_ip="::")
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.bind(("::", 0, 0, 0))
    port = sock.getsockname()[1]
    with aionetmap.route_datagram_endpoints(client):
        transport, rec = await loop.create_datagram_endpoint(RecordingProtocol, sock=sock)
    assert sock.fileno() == -1  # closed: the endpoint replaces it
    assert transport.get_extra_info("sockname") == ("::", port, 0, 0)
    transport.sendto(b"mapped", ("::ffff:10.0.0.1", 7, 0, 0))
    transport.sendto(b"six", ("2001:db8::1", 7, 0, 0))
    await _wait(rec, 2)
    received: list[Any] = sorted(rec.datagrams)
    assert received == [
        (b"mapped", ("::ffff:10.0.0.1", 7, 0, 0)),
        (b"six", ("2001:db8::1", 7, 0, 0)),
    ]


async def test_refused_arguments(
    pair: tuple[aionetmap.NetInterface, aionetmap.NetInterface],
) -> None:
    server, _ = pair
    loop = asyncio.get_running_loop()
    v6only = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    v6only.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    v6only.bind(("::", 0, 0, 0))
    with aionetmap.route_datagram_endpoints(server):
        with pytest.raises(ValueError, match="IPV6_V6ONLY"):
            await loop.create_datagram_endpoint(RecordingProtocol, sock=v6only)
        with pytest.raises(ValueError, match="reuse_port"):
            await loop.create_datagram_endpoint(
                RecordingProtocol, local_addr=("10.0.0.1", 0), reuse_port=True
            )
        with pytest.raises(TypeError, match="unexpected"):
            await loop.create_datagram_endpoint(RecordingProtocol, reuse_address=True)
        with pytest.raises(ValueError, match="cannot bind"):
            await loop.create_datagram_endpoint(RecordingProtocol, local_addr=("10.9.9.9", 0))
    assert v6only.fileno() == -1
    assert not server.endpoints


async def test_a_previous_override_comes_back(
    pair: tuple[aionetmap.NetInterface, aionetmap.NetInterface],
) -> None:
    server, client = pair
    loop = asyncio.get_running_loop()
    marker = object()
    loop.create_datagram_endpoint = marker  # type: ignore[method-assign,assignment]
    try:
        with aionetmap.route_datagram_endpoints(server):
            with aionetmap.route_datagram_endpoints(client):
                transport, _ = await loop.create_datagram_endpoint(RecordingProtocol)
                assert transport.get_extra_info("netinterface") is client
            transport, _ = await loop.create_datagram_endpoint(RecordingProtocol)
            assert transport.get_extra_info("netinterface") is server
        assert loop.create_datagram_endpoint is marker
    finally:
        del loop.create_datagram_endpoint
