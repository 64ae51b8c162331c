"""IPv4 multicast through the endpoint API (``UdpTransport.join_group`` and the other
socket-option methods, and the same on ``UdpSocket``), over the software pipe on both
loops and both paths: a sans-I/O peer sends to groups and shows every frame it gets, so
the IGMP reports on join, leave and close, and the frames sent to a group, are checked
byte by byte."""

from __future__ import annotations

import asyncio
import errno
from typing import Any

import pytest

import aionetmap
from aionetmap.ports.pipe import PipePort
from aionetmap.testing.protocols import EchoProtocol, RecordingProtocol
from tests.transport.helpers import OUR_IP
from tests.transport.test_l2_parity import SERVER_PORT, Peer

GROUP, OTHER = "239.1.2.3", "239.1.2.4"
GROUP_MAC = bytes.fromhex("01005e010203")
IGMP, UDP = 2, 17
CHANGE_TO_INCLUDE, CHANGE_TO_EXCLUDE = 3, 4


def ip_packets(frames: list[bytes], proto: int) -> list[tuple[bytes, bytes]]:
    """(Ethernet header, IPv4 packet) of the IPv4 frames carrying ``proto``."""
    return [(f[:14], f[14:]) for f in frames if f[12:14] == b"\x08\x00" and f[23] == proto]


def igmp_records(frames: list[bytes]) -> list[tuple[int, str]]:
    """(record type, group) of every IGMPv3 report's group records, in order."""
    records = []
    for _, packet in ip_packets(frames, IGMP):
        message = packet[(packet[0] & 0xF) * 4 :]
        if message[0] != 0x22:  # not a v3 membership report
            continue
        at = 8
        for _ in range(int.from_bytes(message[6:8], "big")):
            kind, aux, sources = message[at], message[at + 1], message[at + 2 : at + 4]
            group = ".".join(map(str, message[at + 4 : at + 8]))
            records.append((kind, group))
            at += 8 + 4 * int.from_bytes(sources, "big") + 4 * aux
    return records


async def _open(
    ours: PipePort, fast_path: bool, protocol: Any = EchoProtocol, local_ip: str = "0.0.0.0"
) -> tuple[aionetmap.NetInterface, Any]:
    iface = await aionetmap.open_interface(ours, address=f"{OUR_IP}/24", fast_path=fast_path)
    transport, _ = await iface.create_datagram_endpoint(
        protocol, local_port=SERVER_PORT, local_ip=local_ip
    )
    return iface, transport


async def test_join_delivers_the_group_and_leave_stops_it(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    ours, theirs = pipe
    iface, transport = await _open(ours, fast_path)
    try:
        peer = Peer(theirs)
        transport.join_group(GROUP)
        assert transport.groups == {GROUP}
        peer.send(b"other group", (OTHER, SERVER_PORT))
        peer.send(b"feed", (GROUP, SERVER_PORT))
        await peer.pump_until(lambda: len(peer.datagrams) == 1)
        # The echo leaves from the unicast address.
        assert peer.datagrams == [(b"feed", (OUR_IP, SERVER_PORT))]
        # The join's report (and its RFC 3376 retransmissions, by the host's timer).
        assert set(igmp_records(peer.frames)) == {(CHANGE_TO_EXCLUDE, GROUP)}
        transport.leave_group(GROUP)
        assert transport.groups == frozenset()
        peer.send(b"after leave", (GROUP, SERVER_PORT))
        peer.send(b"unicast", (OUR_IP, SERVER_PORT))
        await peer.pump_until(lambda: len(peer.datagrams) == 2)
        assert peer.datagrams[1] == (b"unicast", (OUR_IP, SERVER_PORT))
        await peer.pump_until(lambda: (CHANGE_TO_INCLUDE, GROUP) in igmp_records(peer.frames))
        assert iface.stats()["rx_multicast"] == 1
    finally:
        iface.close()


async def test_close_leaves_the_groups(pipe: tuple[PipePort, PipePort], fast_path: bool) -> None:
    ours, theirs = pipe
    iface, transport = await _open(ours, fast_path)
    try:
        peer = Peer(theirs)
        transport.join_group(GROUP)
        transport.join_group(OTHER)
        transport.close()
        leaves = {(CHANGE_TO_INCLUDE, GROUP), (CHANGE_TO_INCLUDE, OTHER)}
        await peer.pump_until(lambda: leaves <= set(igmp_records(peer.frames)))
        assert iface.host.groups == frozenset()
    finally:
        iface.close()


async def test_sending_to_a_group(pipe: tuple[PipePort, PipePort], fast_path: bool) -> None:
    """To the group MAC, from the unicast address, TTL 1 unless set otherwise; also from
    an endpoint bound to the unicast address, and with no ARP exchange."""
    ours, theirs = pipe
    iface, transport = await _open(ours, fast_path, local_ip=OUR_IP)
    try:
        peer = Peer(theirs)
        transport.sendto(b"one", (GROUP, 5000))
        await peer.pump_until(lambda: len(ip_packets(peer.frames, UDP)) == 1)
        transport.set_multicast_ttl(7)
        transport.sendto(b"two", (GROUP, 5000))
        await peer.pump_until(lambda: len(ip_packets(peer.frames, UDP)) == 2)
        sent = ip_packets(peer.frames, UDP)
        for (eth, packet), ttl, payload in zip(sent, (1, 7), (b"one", b"two"), strict=True):
            assert eth[:6] == GROUP_MAC
            assert packet[8] == ttl
            assert packet[12:20] == bytes([10, 0, 0, 1, 239, 1, 2, 3])
            assert packet[28:] == payload
        arp = [f for f in peer.frames if f[12:14] == b"\x08\x06"]
        assert all(f[28:32] == f[38:42] for f in arp)  # only the gratuitous one
    finally:
        iface.close()


async def test_multicast_loop(pipe: tuple[PipePort, PipePort], fast_path: bool) -> None:
    """What a member sends to its own group comes back to it, unless loop is off."""
    ours, _ = pipe
    iface, transport = await _open(ours, fast_path, protocol=RecordingProtocol)
    try:
        recorder = transport.get_protocol()
        transport.join_group(GROUP)
        transport.sendto(b"looped", (GROUP, SERVER_PORT))
        async with asyncio.timeout(5):
            while not recorder.datagrams:
                await asyncio.sleep(0.001)
        assert recorder.datagrams == [(b"looped", (OUR_IP, SERVER_PORT))]
        transport.set_multicast_loop(False)
        transport.sendto(b"not looped", (GROUP, SERVER_PORT))
        transport.sendto(b"unicast", ("10.0.0.9", SERVER_PORT))  # a marker that went out
        await asyncio.sleep(0.05)
        assert recorder.datagrams == [(b"looped", (OUR_IP, SERVER_PORT))]
    finally:
        iface.close()


async def test_socket_option_errors(pipe: tuple[PipePort, PipePort], fast_path: bool) -> None:
    ours, _ = pipe
    iface, transport = await _open(ours, fast_path, local_ip=OUR_IP)
    try:
        with pytest.raises(OSError, match="wildcard") as info:
            transport.join_group(GROUP)
        assert info.value.errno == errno.EINVAL
        wild, _ = await iface.create_datagram_endpoint(
            EchoProtocol, local_port=SERVER_PORT + 1, local_ip="0.0.0.0"
        )
        with pytest.raises(OSError, match="not a multicast group") as info:
            wild.join_group("10.0.0.9")
        assert info.value.errno == errno.EINVAL
        with pytest.raises(TypeError):
            wild.join_group(0xEF010203)  # type: ignore[arg-type]
        wild.join_group(GROUP)
        with pytest.raises(OSError, match="already") as info:
            wild.join_group(GROUP)
        assert info.value.errno == errno.EADDRINUSE
        with pytest.raises(OSError, match="not joined") as info:
            wild.leave_group(OTHER)
        assert info.value.errno == errno.EADDRNOTAVAIL
        for bad in (-1, 256):
            with pytest.raises(OSError, match="TTL") as info:
                wild.set_multicast_ttl(bad)
            assert info.value.errno == errno.EINVAL
        wild.close()
        with pytest.raises(OSError, match="closing") as info:
            wild.join_group(OTHER)
        assert info.value.errno == errno.EBADF
    finally:
        iface.close()


async def test_udp_socket_receives_a_joined_group(pipe: tuple[PipePort, PipePort]) -> None:
    """The await socket's methods are the transport's (tested above on both paths)."""
    ours, theirs = pipe
    sock = await aionetmap.open_udp(
        port=ours, local_addr=("0.0.0.0", SERVER_PORT), address=f"{OUR_IP}/24"
    )
    async with sock:
        sock.join_group(GROUP)
        sock.set_multicast_ttl(2)
        sock.set_multicast_loop(False)
        assert sock.groups == {GROUP}
        peer = Peer(theirs)
        peer.send(b"feed", (GROUP, SERVER_PORT))
        async with asyncio.timeout(5):
            while True:
                peer.pump()
                try:
                    data, src = await asyncio.wait_for(sock.recvfrom(), 0.01)
                    break
                except TimeoutError:
                    continue
        assert data == b"feed"
        assert src[1] == 9
        sock.leave_group(GROUP)
        assert sock.groups == frozenset()


async def test_last_endpoint_closing_still_sends_its_leaves(
    pipe: tuple[PipePort, PipePort],
) -> None:
    """An implicitly opened interface closes with its last endpoint, once its frames are
    out: the leaves the closing endpoint caused are among them."""
    ours, theirs = pipe
    transport, _ = await aionetmap.create_datagram_endpoint(
        EchoProtocol, port=ours, local_addr=("0.0.0.0", SERVER_PORT), address=f"{OUR_IP}/24"
    )
    iface = transport.get_extra_info("netinterface")
    transport.join_group(GROUP)
    transport.close()
    peer = Peer(theirs)
    async with asyncio.timeout(5):
        await iface.wait_closed()
    peer.pump()
    assert (CHANGE_TO_INCLUDE, GROUP) in igmp_records(peer.frames)
