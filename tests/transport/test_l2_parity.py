"""VLANs, broadcast delivery and address conflicts, end to end over the software pipe: an
endpoint on a real loop (asyncio and uvloop, C fast path and pure-Python stack) and a
sans-I/O host on the far end that shows every frame it gets."""

from __future__ import annotations

import asyncio
import logging

import pytest

import aionetmap
from aionetmap.ports.base import FrameBatch
from aionetmap.ports.pipe import PipePort
from aionetmap.stack import DatagramReceived, Host
from aionetmap.stack.arp import build_gratuitous_arp
from aionetmap.testing.protocols import EchoProtocol
from tests.transport.helpers import OUR_IP, PEER_IP, PEER_MAC, open_udp_endpoint

SERVER_PORT = 7
CLIENT_PORT = 9


class Peer:
    """A host on the far end of the pipe, moved by :meth:`pump`; keeps the raw frames it
    receives and the datagrams delivered to its port 9 (from whom)."""

    def __init__(self, port: PipePort, *, vlan: int | None = None) -> None:
        self.port = port
        self.host = Host(PEER_MAC, f"{PEER_IP}/24", vlan=vlan)
        self.host.bind_udp(CLIENT_PORT)
        self.frames: list[bytes] = []
        self.datagrams: list[tuple[bytes, tuple[str, int]]] = []
        self._batch = FrameBatch(64)

    def send(self, payload: bytes, dst: tuple[str, int]) -> None:
        self.host.send_datagram(payload, dst, CLIENT_PORT, asyncio.get_running_loop().time())
        self._flush()

    def inject(self, frame: bytes) -> None:
        assert self.port.send([frame]) == 1
        self.port.flush()

    def _flush(self) -> None:
        frames = self.host.frames_to_send()
        if frames:
            assert self.port.send(frames) == len(frames)
            self.port.flush()

    def pump(self) -> None:
        now = asyncio.get_running_loop().time()
        self.port.recv(self._batch)
        for frame in self._batch:
            self.frames.append(bytes(frame))
            self.host.receive_frame(frame, now)
        while (event := self.host.next_event()) is not None:
            if isinstance(event, DatagramReceived):
                self.datagrams.append((event.payload, event.src))
        self._flush()

    async def pump_until(self, predicate: object, timeout: float = 5.0) -> None:
        assert callable(predicate)
        async with asyncio.timeout(timeout):
            while not predicate():
                self.pump()
                await asyncio.sleep(0.001)

    async def pump_for(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while loop.time() < end:
            self.pump()
            await asyncio.sleep(0.001)


def tag_of(frame: bytes) -> int | None:
    """The VLAN id of a frame's 802.1Q tag, ``None`` if it has none."""
    if frame[12:14] != b"\x81\x00":
        return None
    return int.from_bytes(frame[14:16], "big") & 0xFFF


# === VLANs ===================================================================================


async def test_vlan_endpoint_talks_only_tagged(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    ours, theirs = pipe
    iface, _, _ = await open_udp_endpoint(ours, EchoProtocol, fast_path=fast_path, vlan=5)
    try:
        peer = Peer(theirs, vlan=5)
        for i in range(3):  # the first one waits for ARP, both ways
            peer.send(b"tagged %d" % i, (OUR_IP, SERVER_PORT))
        await peer.pump_until(lambda: len(peer.datagrams) == 3)
        assert peer.datagrams == [(b"tagged %d" % i, (OUR_IP, SERVER_PORT)) for i in range(3)]
        big = bytes(range(256)) * 5 + bytes(1472 - 1280)  # a full 1500-byte IPv4 packet
        peer.send(big, (OUR_IP, SERVER_PORT))
        await peer.pump_until(lambda: len(peer.datagrams) == 4)
        assert peer.datagrams[3] == (big, (OUR_IP, SERVER_PORT))
        # Everything we sent (gratuitous ARP, ARP reply or request, echoes) carries VLAN 5.
        assert peer.frames
        assert {tag_of(f) for f in peer.frames} == {5}
        assert max(map(len, peer.frames)) == 1518
        assert iface.stats()["dropped"] == 0
    finally:
        iface.close()


@pytest.mark.parametrize(
    ("ours", "theirs", "reason"),
    [
        pytest.param(None, 5, "drop_eth_vlan_tagged", id="untagged-host-tagged-peer"),
        pytest.param(5, None, "drop_eth_vlan_untagged", id="vlan-host-untagged-peer"),
        pytest.param(5, 6, "drop_eth_vlan_mismatch", id="other-vlan"),
    ],
)
async def test_no_traffic_across_vlans(
    pipe: tuple[PipePort, PipePort],
    fast_path: bool,
    ours: int | None,
    theirs: int | None,
    reason: str,
) -> None:
    a, b = pipe
    iface, _, _ = await open_udp_endpoint(a, EchoProtocol, fast_path=fast_path, vlan=ours)
    try:
        peer = Peer(b, vlan=theirs)
        # Skip ARP: the peer knows our MAC, so its datagrams reach us at once.
        now = asyncio.get_running_loop().time()
        peer.host._sender.learn(int(iface.host.address), iface.host.mac, now)
        for i in range(4):
            peer.send(b"leak %d" % i, (OUR_IP, SERVER_PORT))
        await peer.pump_until(lambda: iface.stats()[reason] == 4)
        await peer.pump_for(0.05)
        assert peer.datagrams == []
        stats = iface.stats()
        assert stats["rx_udp_delivered"] == 0
        assert stats["tx_arp_replies"] == 0
    finally:
        iface.close()


async def test_vlan_keyword_on_the_one_call_entry_points(pipe: tuple[PipePort, PipePort]) -> None:
    ours, theirs = pipe
    sock = await aionetmap.open_udp(port=ours, local_addr=(f"{OUR_IP}/24", SERVER_PORT), vlan=7)
    try:
        iface = sock.transport.get_extra_info("netinterface")
        assert iface.host.vlan == 7
        with pytest.raises(ValueError, match="vlan=7, not vlan=8"):
            await aionetmap.create_datagram_endpoint(
                EchoProtocol, port=ours, local_addr=(f"{OUR_IP}/24", 8), vlan=8
            )
        peer = Peer(theirs, vlan=7)
        peer.send(b"hello", (OUR_IP, SERVER_PORT))
        async with asyncio.timeout(5):
            while not sock.transport.get_extra_info("netinterface").stats()["rx_udp_delivered"]:
                peer.pump()
                await asyncio.sleep(0.001)
        assert await sock.recvfrom() == (b"hello", (PEER_IP, CLIENT_PORT))
    finally:
        await sock.aclose()


@pytest.mark.parametrize("vlan", [0, 4095, -1, True])
async def test_bad_vlan_ids_are_refused(pipe: tuple[PipePort, PipePort], vlan: int) -> None:
    with pytest.raises(ValueError, match=r"VLAN id must be in 1\.\.4094"):
        await aionetmap.open_interface(pipe[0], address=f"{OUR_IP}/24", vlan=vlan)


# === broadcast ===============================================================================


async def test_broadcast_skips_a_unicast_bound_endpoint(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    ours, theirs = pipe
    iface, transport, _ = await open_udp_endpoint(ours, EchoProtocol, fast_path=fast_path)
    try:
        assert transport.get_extra_info("sockname") == (OUR_IP, SERVER_PORT)
        peer = Peer(theirs)
        for dst in ("10.0.0.255", "255.255.255.255"):
            peer.send(b"to " + dst.encode(), (dst, SERVER_PORT))
        await peer.pump_until(lambda: iface.stats()["drop_udp_no_listener"] == 2)
        peer.send(b"unicast", (OUR_IP, SERVER_PORT))
        await peer.pump_until(lambda: len(peer.datagrams) == 1)
        assert peer.datagrams == [(b"unicast", (OUR_IP, SERVER_PORT))]
        assert iface.stats()["tx_port_unreachable"] == 0  # broadcast gets no ICMP error
    finally:
        iface.close()


async def test_broadcast_reaches_a_wildcard_endpoint_that_answers_from_its_address(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    ours, theirs = pipe
    iface = await aionetmap.open_interface(ours, address=f"{OUR_IP}/24", fast_path=fast_path)
    try:
        transport, _ = await iface.create_datagram_endpoint(
            EchoProtocol, local_port=SERVER_PORT, local_ip="0.0.0.0"
        )
        assert transport.get_extra_info("sockname") == ("0.0.0.0", SERVER_PORT)
        peer = Peer(theirs)
        sent = [(b"subnet", "10.0.0.255"), (b"limited", "255.255.255.255"), (b"uni", OUR_IP)]
        for data, dst in sent:
            peer.send(data, (dst, SERVER_PORT))
        await peer.pump_until(lambda: len(peer.datagrams) == 3)
        assert peer.datagrams == [(data, (OUR_IP, SERVER_PORT)) for data, _ in sent]
        # The echoes went to the peer's unicast MAC and address, never to a broadcast.
        echoes = [f for f in peer.frames if f[12:14] == b"\x08\x00"]
        assert len(echoes) == 3
        assert all(f[:6] == PEER_MAC and f[30:34] == bytes([10, 0, 0, 2]) for f in echoes)
        assert all(f[26:30] == bytes([10, 0, 0, 1]) for f in echoes)
    finally:
        iface.close()


@pytest.mark.parametrize("wanted", ["0.0.0.0", ""])
async def test_wildcard_through_create_datagram_endpoint(
    pipe: tuple[PipePort, PipePort], wanted: str
) -> None:
    transport, _ = await aionetmap.create_datagram_endpoint(
        EchoProtocol, port=pipe[0], address=f"{OUR_IP}/24", local_addr=(wanted, SERVER_PORT)
    )
    try:
        assert transport.get_extra_info("sockname") == ("0.0.0.0", SERVER_PORT)
        peer = Peer(pipe[1])
        peer.send(b"bcast", ("255.255.255.255", SERVER_PORT))
        await peer.pump_until(lambda: len(peer.datagrams) == 1)
        assert peer.datagrams == [(b"bcast", (OUR_IP, SERVER_PORT))]
    finally:
        transport.abort()
        await asyncio.sleep(0)


async def test_binding_to_another_address_is_refused(pipe: tuple[PipePort, PipePort]) -> None:
    iface = await aionetmap.open_interface(pipe[0], address=f"{OUR_IP}/24")
    try:
        with pytest.raises(ValueError, match=r"cannot bind to '10\.0\.0\.9'"):
            await iface.create_datagram_endpoint(EchoProtocol, local_ip="10.0.0.9")
        assert not iface.endpoints
    finally:
        iface.close()


# === ARP =====================================================================================


async def test_address_conflict_is_logged_and_endpoints_keep_working(
    pipe: tuple[PipePort, PipePort], fast_path: bool, caplog: pytest.LogCaptureFixture
) -> None:
    ours, theirs = pipe
    iface, _, _ = await open_udp_endpoint(ours, EchoProtocol, fast_path=fast_path)
    try:
        peer = Peer(theirs)
        intruder = bytes.fromhex("020000000066")
        with caplog.at_level(logging.WARNING, logger="aionetmap"):
            for _ in range(3):
                peer.inject(build_gratuitous_arp(intruder, OUR_IP))
            await peer.pump_until(lambda: iface.stats()["arp_conflicts"] == 3)
        warnings = [r for r in caplog.records if "address conflict" in r.getMessage()]
        assert len(warnings) == 1  # once per station
        assert "02:00:00:00:00:66 claims 10.0.0.1" in warnings[0].getMessage()
        assert iface.stats()["drop_arp_address_conflict"] == 3
        assert iface.host.cached_mac(iface.host.address, 0.0) is None
        peer.send(b"still here", (OUR_IP, SERVER_PORT))
        await peer.pump_until(lambda: len(peer.datagrams) == 1)
    finally:
        iface.close()


async def test_group_macs_the_host_listens_on_reach_it_on_both_paths(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    """A broadcast datagram framed to a group MAC address is delivered only while the host
    listens on that address: the native classifier follows the host's list."""
    ours, theirs = pipe
    iface = await aionetmap.open_interface(ours, address=f"{OUR_IP}/24", fast_path=fast_path)
    try:
        await iface.create_datagram_endpoint(
            EchoProtocol, local_port=SERVER_PORT, local_ip="0.0.0.0"
        )
        peer = Peer(theirs)
        group = bytes.fromhex("01005e7f0001")
        peer.host.send_datagram(b"feed", ("10.0.0.255", SERVER_PORT), CLIENT_PORT, 0.0)
        (frame,) = peer.host.frames_to_send()
        framed = group + frame[6:]

        async def send_and_wait(counter: str, value: int) -> None:
            peer.inject(framed)
            await peer.pump_until(lambda: iface.stats()[counter] == value)

        await send_and_wait("drop_eth_multicast", 1)
        iface.host.listen_multicast_mac(group)
        iface.host.listen_multicast_mac(group)  # counted: one unlisten leaves it listened
        await send_and_wait("rx_udp_delivered", 1)
        iface.host.unlisten_multicast_mac(group)
        await send_and_wait("rx_udp_delivered", 2)
        iface.host.unlisten_multicast_mac(group)
        await send_and_wait("drop_eth_multicast", 2)
        await peer.pump_until(lambda: len(peer.datagrams) == 2)
    finally:
        iface.close()
