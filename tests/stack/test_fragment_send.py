"""Fragmentation on send, checked against scapy (an independent parser and reassembler)
and our own Reassembler; the reassembly bounds under a flood of incomplete datagrams."""

from __future__ import annotations

import errno
import tracemalloc
from ipaddress import IPv4Address

import pytest
from scapy.layers.inet import IP, UDP, defragment
from scapy.layers.l2 import Ether

from aionetmap.stack import DatagramReceived, DropReason, Host, HostConfig, SendFailed
from aionetmap.stack.checksum import inet_checksum
from aionetmap.stack.ipv4 import IPv4Header, build_ipv4_fragments, fragment_payload_size

A_MAC, B_MAC = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
A_IP, B_IP = "10.0.0.1", "10.0.0.2"
R = DropReason


def scapy_defragment(packets: list[IP]) -> list[IP]:
    """scapy's reassembler (untyped)."""
    return list(defragment(packets))  # type: ignore[no-untyped-call]


def group_for(host: Host) -> tuple[bytes, ...]:
    (item,) = host.take_frames()
    assert isinstance(item, tuple)
    return item


LAYOUTS = [
    (mtu, size)
    for mtu in (576, 1280, 1500, 9000)
    for size in (1473, 3000, 8193, 65507)
    if size + 28 > mtu
]


@pytest.mark.parametrize(("mtu", "size"), LAYOUTS)
def test_fragment_layout_matches_linux(mtu: int, size: int) -> None:
    a = Host(A_MAC, f"{A_IP}/24", mtu=mtu)
    payload = bytes(i * 13 % 256 for i in range(size))
    a.send_datagram(payload, ("10.0.0.255", 53), 4000, 0.0)
    group = group_for(a)
    step = (mtu - 20) // 8 * 8
    assert fragment_payload_size(mtu) == step
    assert len(group) == -(-(size + 8) // step)
    assert a.stats.tx_fragmented == 1
    assert a.stats.tx_fragments == a.stats.tx_frames == len(group)
    packets = [Ether(frame)[IP] for frame in group]
    offset = 0
    for i, packet in enumerate(packets):
        last = i == len(packets) - 1
        body = len(packet) - 20
        assert packet.len <= mtu
        assert packet.frag * 8 == offset
        assert bool(packet.flags.MF) is not last
        assert not packet.flags.DF
        assert packet.id == packets[0].id
        assert inet_checksum(bytes(packet)[:20]) == 0  # each header has its own checksum
        if not last:
            assert body == step
            assert body % 8 == 0
        offset += body
    assert offset == size + 8
    (whole,) = scapy_defragment(packets)
    udp = whole[UDP]
    assert bytes(udp.payload) == payload
    assert (udp.sport, udp.dport, udp.len) == (4000, 53, size + 8)
    pseudo = IP(bytes(whole))
    resum = pseudo[UDP].chksum
    del pseudo[UDP].chksum
    assert IP(bytes(pseudo))[UDP].chksum == resum  # checksum over the whole datagram


@pytest.mark.parametrize("order", ["forward", "reverse"])
def test_our_reassembler_rebuilds_what_we_fragment(order: str) -> None:
    a = Host(A_MAC, f"{A_IP}/24")
    b = Host(B_MAC, f"{B_IP}/24")
    b.bind_udp(9, wildcard=True)  # broadcast reaches wildcard-bound ports only
    payload = bytes(range(256)) * 256  # 65536: one too many
    a.send_datagram(payload[:65507], ("10.0.0.255", 9), 1, 0.0)
    group = group_for(a)
    for frame in group if order == "forward" else reversed(group):
        b.receive_frame(frame, 0.0)
    (event,) = list(iter(b.next_event, None))
    assert isinstance(event, DatagramReceived)
    assert event.payload == payload[:65507]
    assert b.stats.rx_reassembled == 1
    assert b.stats.dropped == 0


def test_build_ipv4_fragments_small_payload_is_one_packet() -> None:
    (packet,) = build_ipv4_fragments(A_IP, B_IP, 17, b"abc", mtu=1500, ident=5)
    header = IPv4Header.from_bytes(packet)
    assert (header.ident, header.dont_fragment, header.is_fragment) == (5, False, False)
    with pytest.raises(ValueError, match="65515"):
        build_ipv4_fragments(A_IP, B_IP, 17, bytes(65516), mtu=1500)


def _first_fragment(src: int, ident: int) -> bytes:
    """A first fragment (MF, offset 0) of 64 bytes from 10.x.y.z: never completed."""
    header = IPv4Header(
        src=IPv4Address(src),
        dst=IPv4Address(0x0A000001),
        protocol=17,
        total_length=84,
        ident=ident,
        more_fragments=True,
    )
    return A_MAC + B_MAC + b"\x08\x00" + bytes(header) + bytes(64)


def _flood(host: Host, start: int, count: int) -> None:
    for i in range(start, start + count):
        # Many sources (10.1.0.0/16), several datagrams each.
        host.receive_frame(_first_fragment(0x0A010000 + i % 4000, i & 0xFFFF), 1.0)


def test_fragment_flood_leaves_memory_flat() -> None:
    host = Host(A_MAC, f"{A_IP}/8")
    cfg = host.config
    _flood(host, 0, 10_000)  # fills the table and settles every cache
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        _flood(host, 10_000, 10_000)
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    growth = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert growth < 64 * 1024  # flat: 10,000 more datagrams cost (next to) nothing
    datagrams, held = host.reassembly
    assert datagrams == cfg.reassembly_max_datagrams
    assert held == 64 * datagrams <= cfg.reassembly_max_bytes
    drops = host.stats.drops
    assert drops[R.IP_FRAGMENT_TABLE_FULL] == 20_000 - cfg.reassembly_max_datagrams
    assert host.stats.rx_fragments == 20_000
    # The timeout frees them all, each fragment counted.
    host.handle_timer(1.0 + cfg.reassembly_timeout)
    assert host.reassembly == (0, 0)
    assert drops[R.IP_FRAGMENT_TIMEOUT] == cfg.reassembly_max_datagrams


def test_fragment_flood_bytes_cap_evicts_oldest() -> None:
    config = HostConfig(reassembly_max_bytes=64 * 100, reassembly_max_datagrams=1000)
    host = Host(A_MAC, f"{A_IP}/8", config=config)
    _flood(host, 0, 500)
    assert host.reassembly == (100, 64 * 100)
    assert host.stats.drops[R.IP_FRAGMENT_MEMORY] == 400


def test_fragment_flood_from_one_source_is_capped_per_source() -> None:
    config = HostConfig(reassembly_max_per_source=8)
    host = Host(A_MAC, f"{A_IP}/8", config=config)
    for ident in range(100):
        host.receive_frame(_first_fragment(0x0A010001, ident), 1.0)
    assert host.reassembly == (8, 64 * 8)
    assert host.stats.drops[R.IP_FRAGMENT_SOURCE_LIMIT] == 92


def test_bytes_waiting_for_arp_are_capped_and_freed() -> None:
    config = HostConfig(arp_queue_bytes=10_000)
    a = Host(A_MAC, f"{A_IP}/24", config=config)
    b = Host(B_MAC, f"{B_IP}/24")
    b.bind_udp(9)
    for _ in range(4):  # 3068 bytes of packets each: the fourth does not fit
        a.send_datagram(bytes(3000), (B_IP, 9), 1, 0.0)
    (failed,) = [e for e in iter(a.next_event, None) if isinstance(e, SendFailed)]
    assert failed.error.errno == errno.ENOBUFS
    assert "10000 bytes" in str(failed.error)
    # The ARP request goes out, the answer releases the three, and the bytes are free.
    for frame in a.frames_to_send():
        b.receive_frame(frame, 0.0)
    for frame in b.frames_to_send():
        a.receive_frame(frame, 0.0)
    groups = [item for item in a.take_frames() if isinstance(item, tuple)]
    assert len(groups) == 3
    a.send_datagram(bytes(3000), ("10.0.0.3", 9), 1, 0.0)  # unresolved: parked again
    a.send_datagram(bytes(3000), ("10.0.0.4", 9), 1, 0.0)
    a.send_datagram(bytes(3000), ("10.0.0.5", 9), 1, 0.0)
    assert not [e for e in iter(a.next_event, None) if isinstance(e, SendFailed)]
    # Failed resolutions hand their bytes back too.
    for step in range(1, 6):
        a.handle_timer(float(step))
    assert len([e for e in iter(a.next_event, None) if isinstance(e, SendFailed)]) == 3
    a.send_datagram(bytes(3000), ("10.0.0.6", 9), 1, 9.0)
    assert not [e for e in iter(a.next_event, None) if isinstance(e, SendFailed)]
