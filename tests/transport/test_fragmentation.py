"""Datagrams larger than the MTU over the software pipe: fragmented by the sender,
reassembled by the receiver, byte-exact; the fragments of one datagram enter the TX ring
together or not at all; flow control counts them; a datagram too large for the ring is
refused at ``sendto``, a reply too large for it is dropped and counted."""

from __future__ import annotations

import asyncio
import dataclasses
import errno
from typing import Any

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

import aionetmap
from aionetmap.ports.base import PortInfo
from aionetmap.ports.pipe import PipePort
from aionetmap.stack import DatagramReceived, HostConfig
from aionetmap.testing.protocols import EchoProtocol, RecordingProtocol

from .helpers import OUR_IP, PEER_IP, ManualPeer, open_udp_endpoint, wait_until

SIZES = [1473, 2953, 8000, 65507]


@pytest.mark.parametrize("size", SIZES)
async def test_large_datagrams_are_echoed_byte_exact(
    pipe: tuple[PipePort, PipePort], fast_path: bool, size: int
) -> None:
    a, b = pipe
    server, _, _ = await open_udp_endpoint(a, EchoProtocol, fast_path=fast_path)
    client, client_t, client_p = await open_udp_endpoint(
        b, RecordingProtocol, fast_path=fast_path, local_port=4000, address=f"{PEER_IP}/24"
    )
    try:
        payload = bytes(i * 7 % 251 for i in range(size))
        for _ in range(2):  # the first waits for ARP, the second goes straight out
            client_t.sendto(payload, (OUR_IP, 7))
        await client_p.wait_for(lambda p: len(p.datagrams) == 2)
        assert client_p.datagrams == [(payload, (OUR_IP, 7))] * 2
        assert not client_p.errors
        fragments = -(-(size + 8) // 1480)
        for iface in (server, client):
            stats = iface.stats()
            assert stats["tx_fragmented"] == 2
            assert stats["tx_fragments"] == 2 * fragments
            assert stats["rx_reassembled"] == 2
            drops = {k for k, v in stats.items() if k.startswith("drop_") and v}
            assert drops <= {"drop_arp_not_for_us"}  # the other side's announcement
    finally:
        client.close()
        server.close()


async def test_small_and_large_datagrams_keep_their_order(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    a, b = pipe
    server, _, server_p = await open_udp_endpoint(a, RecordingProtocol, fast_path=fast_path)
    client, client_t, _ = await open_udp_endpoint(
        b, RecordingProtocol, fast_path=fast_path, local_port=4000, address=f"{PEER_IP}/24"
    )
    try:
        payloads = [bytes([i]) * (3000 if i % 3 == 1 else 10 + i) for i in range(12)]
        for payload in payloads:
            client_t.sendto(payload, (OUR_IP, 7))
        await server_p.wait_for(lambda p: len(p.datagrams) == len(payloads))
        assert [data for data, _ in server_p.datagrams] == payloads
    finally:
        client.close()
        server.close()


class RoomPort:
    """A pipe end whose TX ring pretends to have only ``room`` free slots (``None``: the
    real ring), and optionally fewer slots in all: a TX ring that is nearly full, made
    deterministic."""

    def __init__(self, port: PipePort, room: int | None = None, tx_slots: int = 0) -> None:
        self._port = port
        self.room = room
        self._info = dataclasses.replace(port.info, tx_slots=tx_slots or port.info.tx_slots)
        self.sent: list[int] = []  # frames per send() call that queued any

    @property
    def info(self) -> PortInfo:
        return self._info

    def tx_space(self) -> int:
        real = self._port.tx_space()
        return real if self.room is None else min(real, self.room)

    def send(self, frames: Any) -> int:
        count = len(frames) if self.room is None else min(len(frames), self.room)
        sent = self._port.send(frames[:count])
        if self.room is not None:
            self.room -= sent
        if sent:
            self.sent.append(sent)
        return sent

    def send_batch(self, batch: Any, start: int = 0) -> int:
        assert self.room is None, "this test sends through the host path only"
        return self._port.send_batch(batch, start)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._port, name)


async def _interface(port: RoomPort, fast_path: bool) -> aionetmap.NetInterface:
    return await aionetmap.open_interface(
        port,  # duck-typed: a Port by structure
        address=f"{OUR_IP}/24",
        fast_path=fast_path,
    )


async def test_fragments_wait_until_all_fit(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    a, b = pipe
    port = RoomPort(a)
    iface = await _interface(port, fast_path)
    peer = ManualPeer(b)
    try:
        transport, _ = await iface.create_datagram_endpoint(RecordingProtocol, local_port=7)
        transport.sendto(b"x", (PEER_IP, 9))  # ARP first, so the big one is not parked
        await peer.pump_until(lambda: peer.received[9] == [b"x"])
        port.room = 2
        payload = bytes(range(256)) * 12  # 3 fragments
        transport.sendto(payload, (PEER_IP, 9))
        for _ in range(20):
            await asyncio.sleep(0.001)
            peer.pump(0.0)
        assert peer.received[9] == [b"x"]
        assert peer.host.stats.rx_fragments == 0  # not even one fragment left
        # Flow control still counts the whole datagram: it is in the endpoint's buffer.
        assert transport.get_write_buffer_size() == len(payload) + 8
        port.room = 3
        iface.driver.flush_now()
        await peer.pump_until(lambda: len(peer.received[9]) == 2)
        assert peer.received[9][1] == payload
        assert port.sent[-1] == 3  # all three in one send
        assert transport.get_write_buffer_size() == 0
    finally:
        iface.close()


async def test_host_replies_in_fragments_wait_until_all_fit(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    a, b = pipe
    port = RoomPort(a)
    iface = await _interface(port, fast_path)
    peer = ManualPeer(b)
    try:
        peer.host.send_echo_request(OUR_IP, 1, 1, b"warm", 0.0)
        peer.pump(0.0)
        await peer.pump_until(lambda: len(peer.echo_replies) == 1)
        port.room = 2
        data = bytes(range(256)) * 16  # a reply of 3 fragments
        peer.host.send_echo_request(OUR_IP, 1, 2, data, 0.0)
        peer.pump(0.0)
        await wait_until(lambda: iface.stats()["control_queue"] == 1)
        peer.pump(0.0)
        assert peer.host.stats.rx_fragments == 0
        port.room = None
        iface.driver.flush_now()
        await peer.pump_until(lambda: len(peer.echo_replies) == 2)
        reply = peer.echo_replies[1]
        assert (reply.seq, reply.payload) == (2, data)
        assert port.sent[-1] == 3
    finally:
        iface.close()


async def test_datagram_larger_than_the_ring_is_refused_or_dropped(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    a, b = pipe
    port = RoomPort(a, tx_slots=4)  # 3 usable slots: 3 fragments at most
    iface = await _interface(port, fast_path)
    peer = ManualPeer(b)
    try:
        assert iface.max_payload == 3 * 1480 - 8
        transport, protocol = await iface.create_datagram_endpoint(RecordingProtocol, local_port=7)
        transport.sendto(bytes(iface.max_payload + 1), (PEER_IP, 9))
        assert [e.errno for e in protocol.errors] == [errno.EMSGSIZE]
        transport.sendto(bytes(iface.max_payload), (PEER_IP, 9))
        await peer.pump_until(lambda: len(peer.received[9]) == 1)
        # A ping whose reply needs 5 fragments: the reply cannot ever fit, and must
        # neither wedge the queue nor go out in part.
        peer.host.send_echo_request(OUR_IP, 1, 1, bytes(6000), 0.0)
        peer.host.send_echo_request(OUR_IP, 1, 2, b"small", 0.0)
        peer.pump(0.0)
        await peer.pump_until(lambda: len(peer.echo_replies) == 1)
        assert peer.echo_replies[0].seq == 2
        assert iface.stats()["tx_groups_dropped"] == 1
        assert peer.host.stats.rx_fragments == 3  # only the UDP datagram's
    finally:
        iface.close()


class CapturingPeer(ManualPeer):
    """A ManualPeer that also keeps every frame it read."""

    def __init__(self, port: PipePort) -> None:
        super().__init__(port)
        self.frames: list[bytes] = []

    def pump(self, now: float, max_frames: int | None = None) -> int:
        count = self.port.recv(self.batch, max_frames)
        self.frames += [bytes(frame) for frame in self.batch]
        for frame in self.batch:
            self.host.receive_frame(frame, now)
        while (event := self.host.next_event()) is not None:
            if isinstance(event, DatagramReceived):
                self.received[event.dst_port].append(event.payload)
        frames = self.host.frames_to_send()
        if frames:
            assert self.port.send(frames) == len(frames)
            self.port.flush()
        return count


def _ip_ids(frames: list[bytes], size: int, df: bool = False) -> list[int]:
    """IPv4 identification of the UDP frames (or first fragments) carrying ``size`` bytes
    of payload; ``df``: they must have DF set (else clear)."""
    out = []
    for frame in frames:
        packet = Ether(frame)
        if UDP in packet and packet[IP].frag == 0 and packet[UDP].len == size + 8:
            assert bool(packet[IP].flags.DF) is df
            out.append(int(packet[IP].id))
    return out


async def test_ip_identification_follows_the_kernels_rules(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    a, b = pipe
    iface = await aionetmap.open_interface(a, address=f"{OUR_IP}/24", fast_path=fast_path)
    peer = CapturingPeer(b)
    try:
        plain, _ = await iface.create_datagram_endpoint(RecordingProtocol, local_port=7)
        conn, _ = await iface.create_datagram_endpoint(
            RecordingProtocol, local_port=8, remote_addr=(PEER_IP, 9)
        )
        plain.sendto(b"arp", (PEER_IP, 9))
        await peer.pump_until(lambda: peer.total() == 1)
        for _ in range(3):
            plain.sendto(b"p" * 10, (PEER_IP, 9))
            conn.sendto(b"c" * 11)
        for _ in range(2):
            plain.sendto(b"P" * 3000, (PEER_IP, 9))
            conn.sendto(b"C" * 3001)
        await peer.pump_until(lambda: peer.total() == 11)
        # Unconnected and unfragmented: atomic, identification 0 (and DF set).
        assert _ip_ids(peer.frames, 10, df=True) == [0, 0, 0]
        # Connected: the endpoint's own counter, fragmented or not.
        first = _ip_ids(peer.frames, 11, df=True)[0]
        assert _ip_ids(peer.frames, 11, df=True) == [(first + i) & 0xFFFF for i in range(3)]
        assert _ip_ids(peer.frames, 3001) == [(first + i) & 0xFFFF for i in (3, 4)]
        # Unconnected and fragmented: the destination's counter.
        big = _ip_ids(peer.frames, 3000)
        assert big[1] == (big[0] + 1) & 0xFFFF
    finally:
        iface.close()


class ShortPort(RoomPort):
    """A port that, once, queues fewer frames than ``tx_space`` promised."""

    def __init__(self, port: PipePort) -> None:
        super().__init__(port)
        self.cut: int | None = None

    def send(self, frames: Any) -> int:
        if self.cut is not None and len(frames) > self.cut:
            frames, self.cut = frames[: self.cut], None
        return super().send(frames)


async def test_a_group_the_port_cut_short_finishes_next(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    a, b = pipe
    port = ShortPort(a)
    iface = await _interface(port, fast_path)
    peer = ManualPeer(b)
    try:
        peer.host.send_echo_request(OUR_IP, 1, 1, b"warm", 0.0)
        peer.pump(0.0)
        await peer.pump_until(lambda: len(peer.echo_replies) == 1)
        port.cut = 2  # of the reply's 3 fragments and the small reply after it
        peer.host.send_echo_request(OUR_IP, 1, 2, bytes(range(256)) * 16, 0.0)
        peer.host.send_echo_request(OUR_IP, 1, 3, b"after", 0.0)
        peer.pump(0.0)
        await peer.pump_until(lambda: len(peer.echo_replies) == 3)
        assert [reply.seq for reply in peer.echo_replies] == [1, 2, 3]
        assert port.sent[-2:] == [2, 2]  # cut after two fragments, then the rest
        assert peer.echo_replies[1].payload == bytes(range(256)) * 16
        assert iface.stats()["control_queue"] == 0
    finally:
        iface.close()


async def test_ipv6_fragments_are_counted_with_the_ipv6_fragment_size(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    """IPv6 fragments carry (mtu - 40 - 8) & ~7 = 1448 bytes, not IPv4's 1480: on a ring
    with 3 usable slots the largest IPv6 payload is 3 * 1448 - 8, the IPv4 one (to a
    mapped destination of the same dual-stack endpoint) 3 * 1480 - 8. One byte more is
    refused at sendto (a datagram of 4 IPv6 fragments would otherwise be lost whole)."""
    a, b = pipe
    fast_dad = HostConfig(ndp_retrans_timer=0.05)
    iface = await aionetmap.open_interface(
        RoomPort(a, tx_slots=4), address=f"{OUR_IP}/24", ipv6=["2001:db8::1/64"],
        config=fast_dad, fast_path=fast_path,
    )  # fmt: skip
    peer = await aionetmap.open_interface(
        b, address=f"{PEER_IP}/24", ipv6=["2001:db8::2/64"], config=fast_dad, fast_path=fast_path
    )
    try:
        assert (iface.max_payload, iface.max_payload6) == (3 * 1480 - 8, 3 * 1448 - 8)
        _, rec = await peer.create_datagram_endpoint(RecordingProtocol, local_port=9, local_ip="::")
        transport, protocol = await iface.create_datagram_endpoint(RecordingProtocol, local_ip="::")
        for size, dst in [
            (3 * 1448 - 7, ("2001:db8::2", 9)),
            (3 * 1480 - 7, (f"::ffff:{PEER_IP}", 9)),
        ]:
            transport.sendto(bytes(size), dst)
        assert [(e.errno, e.limit) for e in protocol.errors] == [
            (errno.EMSGSIZE, 3 * 1448 - 8),
            (errno.EMSGSIZE, 3 * 1480 - 8),
        ]
        transport.sendto(bytes(3 * 1448 - 8), ("2001:db8::2", 9, 0, 0))
        transport.sendto(bytes(3 * 1480 - 8), (f"::ffff:{PEER_IP}", 9))
        await rec.wait_for(lambda p: len(p.datagrams) == 2)
        assert sorted(len(data) for data, _ in rec.datagrams) == [3 * 1448 - 8, 3 * 1480 - 8]
        assert iface.stats()["tx_groups_dropped"] == 0
    finally:
        peer.close()
        iface.close()
