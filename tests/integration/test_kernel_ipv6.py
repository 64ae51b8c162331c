"""IPv6 against the Linux kernel over veth: ``ping -6``, a kernel UDP6 socket echoed
byte-exact up to and past the MTU, the kernel's neighbour entry for our address, DAD
against an address the kernel holds, and ICMPv6 port unreachable to a kernel socket."""

from __future__ import annotations

import asyncio
import errno
import os
import socket

import pytest

import aionetmap
from aionetmap.ports.packet import PacketPort
from aionetmap.testing.netns import VethLink
from aionetmap.testing.protocols import EchoProtocol, RecordingProtocol
from tests.integration.kernel_peer import expect_echo, open_dual_stack, peer_run, recv_polled

pytestmark = pytest.mark.netns

SIZES = [0, 1, 1231, 1232, 1452, 1453, 3000, 9000, 65000]
"""Up to the largest unfragmented payload at MTU 1500 (1452) and past it: fragmented
both ways."""


def _kernel_udp6(link: VethLink) -> socket.socket:
    sock = link.peer_socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.bind((link.peer_ip6, 0))
    sock.setblocking(False)
    return sock


async def test_ping6_is_answered(veth6: VethLink, iface: aionetmap.NetInterface) -> None:
    proc = await peer_run(veth6, "ping", "-6", "-c", "2", "-i", "0.1", "-W", "2", veth6.our_ip6)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " 0% packet loss" in proc.stdout


async def test_ping6_from_us(veth6: VethLink, iface: aionetmap.NetInterface) -> None:
    assert await iface.ping(veth6.peer_ip6, timeout=3) >= 0


@pytest.mark.parametrize("size", SIZES)
async def test_kernel_udp6_echoed_byte_exact(
    veth6: VethLink, iface: aionetmap.NetInterface, size: int
) -> None:
    transport, _ = await iface.create_datagram_endpoint(
        EchoProtocol, local_port=7, local_ip=veth6.our_ip6
    )
    sock = _kernel_udp6(veth6)
    data = os.urandom(size)
    await expect_echo(sock, data, (veth6.our_ip6, 7))
    transport.close()


async def test_we_reach_a_kernel_udp6_socket(
    veth6: VethLink, iface: aionetmap.NetInterface
) -> None:
    """Our sendto to a kernel socket, and its answer back, past the MTU both ways."""
    sock = _kernel_udp6(veth6)
    kernel_port = sock.getsockname()[1]
    transport, rec = await iface.create_datagram_endpoint(RecordingProtocol, local_ip="::")
    data = os.urandom(4000)
    transport.sendto(data, (veth6.peer_ip6, kernel_port))
    got, src = await recv_polled(sock)
    assert got == data
    sock.sendto(got[::-1], src)
    async with asyncio.timeout(5):
        while not rec.datagrams:
            await asyncio.sleep(0.005)
    assert rec.datagrams == [(data[::-1], (veth6.peer_ip6, kernel_port, 0, 0))]


async def test_kernel_neighbour_entry_becomes_reachable(
    veth6: VethLink, iface: aionetmap.NetInterface
) -> None:
    await iface.create_datagram_endpoint(EchoProtocol, local_port=7, local_ip=veth6.our_ip6)
    sock = _kernel_udp6(veth6)
    sock.sendto(b"hello", (veth6.our_ip6, 7))
    await recv_polled(sock)
    proc = await peer_run(
        veth6, "ip", "-6", "neigh", "show", veth6.our_ip6, "dev", veth6.peer_ifname
    )
    assert "REACHABLE" in proc.stdout, proc.stdout
    assert veth6.our_mac.hex(":") in proc.stdout.lower()


async def test_port_unreachable6_reaches_connected_kernel_socket(
    veth6: VethLink, iface: aionetmap.NetInterface
) -> None:
    sock = _kernel_udp6(veth6)
    sock.connect((veth6.our_ip6, 9))
    sock.send(b"anyone?")
    with pytest.raises(ConnectionRefusedError):
        await recv_polled(sock)


async def test_dad_detects_an_address_the_kernel_holds(
    veth6: VethLink, port: PacketPort, fast_path: bool
) -> None:
    veth6.peer_exec("ip", "addr", "add", f"{veth6.our_ip6}/64", "dev", veth6.peer_ifname, "nodad")
    with pytest.raises(OSError, match="in use") as info:
        await open_dual_stack(port, veth6, fast_path=fast_path)
    assert info.value.errno == errno.EADDRINUSE


async def test_kernel_port_unreachable6_reaches_our_connected_endpoint(
    veth6: VethLink, iface: aionetmap.NetInterface
) -> None:
    """The kernel's ICMPv6 port unreachable, for a port nobody has bound there, reaches
    our connected endpoint's ``error_received`` as ``ConnectionRefusedError``."""
    transport, rec = await iface.create_datagram_endpoint(
        RecordingProtocol, local_ip=veth6.our_ip6, remote_addr=(veth6.peer_ip6, 9)
    )
    transport.sendto(b"anyone?")
    async with asyncio.timeout(5):
        while not rec.errors:
            await asyncio.sleep(0.005)
    assert isinstance(rec.errors[0], ConnectionRefusedError)


async def test_dual_stack_endpoint_serves_a_kernel_ipv4_client(
    veth6: VethLink, iface: aionetmap.NetInterface
) -> None:
    """Bound to ``::``: a kernel IPv4 client is seen as ``::ffff:a.b.c.d`` and the reply
    to that name reaches it over IPv4; an IPv6 client on the same port too."""
    transport, rec = await iface.create_datagram_endpoint(
        RecordingProtocol, local_port=7, local_ip="::"
    )
    v4 = veth6.peer_socket(socket.AF_INET, socket.SOCK_DGRAM)
    v4.bind((veth6.peer_ip, 0))
    v4.setblocking(False)
    v6 = _kernel_udp6(veth6)
    v4.sendto(b"four", (veth6.our_ip, 7))
    async with asyncio.timeout(5):
        while not rec.datagrams:
            await asyncio.sleep(0.005)
    v6.sendto(b"six", (veth6.our_ip6, 7))
    async with asyncio.timeout(5):
        while len(rec.datagrams) < 2:
            await asyncio.sleep(0.005)
    four_port, six_port = v4.getsockname()[1], v6.getsockname()[1]
    assert rec.datagrams == [
        (b"four", (f"::ffff:{veth6.peer_ip}", four_port, 0, 0)),
        (b"six", (veth6.peer_ip6, six_port, 0, 0)),
    ]
    for data, src in rec.datagrams:
        transport.sendto(data.upper(), src)
    assert await recv_polled(v4) == (b"FOUR", (veth6.our_ip, 7))
    got, src = await recv_polled(v6)
    assert (got, src[:2]) == (b"SIX", (veth6.our_ip6, 7))


async def test_kernel_udp6_echo_is_built_by_the_fast_path(
    veth6: VethLink, iface: aionetmap.NetInterface, fast_path: bool
) -> None:
    """Once the kernel is a known neighbour, our answers that fit one frame (up to
    1452 bytes at MTU 1500) are built in C and still byte-exact for the kernel; larger
    ones are fragmented by the host."""
    transport, _ = await iface.create_datagram_endpoint(
        EchoProtocol, local_port=7, local_ip=veth6.our_ip6
    )
    sock = _kernel_udp6(veth6)
    sock.sendto(b"warm", (veth6.our_ip6, 7))
    assert (await recv_polled(sock))[0] == b"warm"
    before = iface.host.stats.tx_udp
    sizes = [0, 1, 100, 1231, 1232, 1452, 1453, 3000]
    for size in sizes:
        data = os.urandom(size)
        await expect_echo(sock, data, (veth6.our_ip6, 7))
    assert iface.host.stats.tx_udp - before == (2 if fast_path else len(sizes))
    transport.close()
