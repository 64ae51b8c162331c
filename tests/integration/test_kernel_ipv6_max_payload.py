"""The largest UDP payload over IPv6 against the Linux kernel: 65,527 bytes (65535 - 8,
no jumbograms) go both ways byte-exact; 65,528 is refused with ``EMSGSIZE`` as a kernel
socket refuses it; a dual-stack endpoint keeps the IPv4 limit (65,507) for IPv4-mapped
destinations, as a kernel AF_INET6 socket does."""

from __future__ import annotations

import errno
import os
import socket
from typing import Any

import pytest

import aionetmap
from aionetmap.stack import MAX_UDP6_PAYLOAD, DatagramTooLarge
from aionetmap.testing.netns import VethLink
from aionetmap.testing.protocols import EchoProtocol, RecordingProtocol
from tests.integration.kernel_peer import expect_echo, recv_polled

pytestmark = pytest.mark.netns

V6_LIMIT = 65527
V4_LIMIT = 65507


def _kernel(link: VethLink, family: int) -> socket.socket:
    sock = link.peer_socket(family, socket.SOCK_DGRAM)
    sock.bind((link.peer_ip6 if family == socket.AF_INET6 else link.peer_ip, 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.setblocking(False)
    return sock


def _kernel_refuses(sock: socket.socket, size: int, dst: Any) -> int:
    try:
        sock.sendto(bytes(size), dst)
    except OSError as exc:
        return exc.errno or 0
    return 0


def test_the_limits_are_the_kernels() -> None:
    assert MAX_UDP6_PAYLOAD == V6_LIMIT


async def test_largest_ipv6_payload_echoed_byte_exact(
    veth6: VethLink, iface: aionetmap.NetInterface
) -> None:
    assert iface.max_payload6 == V6_LIMIT
    assert iface.max_payload == V4_LIMIT
    transport, _ = await iface.create_datagram_endpoint(EchoProtocol, local_port=7, local_ip="::")
    sock = _kernel(veth6, socket.AF_INET6)
    data = os.urandom(V6_LIMIT)
    await expect_echo(sock, data, (veth6.our_ip6, 7))
    transport.close()


async def test_one_byte_more_is_refused_as_the_kernel_refuses_it(
    veth6: VethLink, iface: aionetmap.NetInterface
) -> None:
    sock = _kernel(veth6, socket.AF_INET6)
    kernel_port = sock.getsockname()[1]
    dst = (veth6.peer_ip6, kernel_port, 0, 0)
    assert _kernel_refuses(sock, V6_LIMIT + 1, (veth6.our_ip6, 7)) == errno.EMSGSIZE
    transport, rec = await iface.create_datagram_endpoint(RecordingProtocol, local_ip="::")
    transport.sendto(bytes(V6_LIMIT + 1), dst)
    assert len(rec.errors) == 1
    error = rec.errors[0]
    assert isinstance(error, DatagramTooLarge)
    assert (error.errno, error.limit) == (errno.EMSGSIZE, V6_LIMIT)
    assert "65527 = 65535 - 8 header, over IPv6" in str(error)
    transport.sendto(bytes(V6_LIMIT), dst)  # the largest goes out
    got, src = await recv_polled(sock)
    assert len(got) == V6_LIMIT
    assert src[:2] == (veth6.our_ip6, transport.get_extra_info("sockname")[1])


@pytest.mark.parametrize("size", [V4_LIMIT + 1, V6_LIMIT])
async def test_mapped_destinations_keep_the_ipv4_limit(
    veth6: VethLink, iface: aionetmap.NetInterface, size: int
) -> None:
    """A kernel AF_INET6 socket refuses 65,508..65,527 bytes to ``::ffff:a.b.c.d``
    (EMSGSIZE, the IPv4 limit); so does a dual-stack endpoint. 65,507 arrives whole."""
    kernel6 = veth6.peer_socket(socket.AF_INET6, socket.SOCK_DGRAM)  # dual-stack, on ::
    udp4 = _kernel(veth6, socket.AF_INET)
    mapped = (f"::ffff:{veth6.peer_ip}", udp4.getsockname()[1], 0, 0)
    assert _kernel_refuses(kernel6, size, mapped) == errno.EMSGSIZE
    transport, rec = await iface.create_datagram_endpoint(RecordingProtocol, local_ip="::")
    transport.sendto(bytes(size), mapped)
    assert [(e.errno, getattr(e, "limit", None)) for e in rec.errors] == [
        (errno.EMSGSIZE, V4_LIMIT)
    ]
    data = os.urandom(V4_LIMIT)
    transport.sendto(data, mapped)
    got, src = await recv_polled(udp4)
    assert got == data
    assert src == (veth6.our_ip, transport.get_extra_info("sockname")[1])


async def test_ipv4_endpoint_keeps_its_limit(
    veth6: VethLink, iface: aionetmap.NetInterface
) -> None:
    udp4 = _kernel(veth6, socket.AF_INET)
    assert _kernel_refuses(udp4, V4_LIMIT + 1, (veth6.our_ip, 7)) == errno.EMSGSIZE
    transport, rec = await iface.create_datagram_endpoint(RecordingProtocol)
    transport.sendto(bytes(V4_LIMIT + 1), udp4.getsockname())
    assert [e.errno for e in rec.errors] == [errno.EMSGSIZE]
    assert "65507 = 65535 - 20 IPv4 - 8 header" in str(rec.errors[0])
