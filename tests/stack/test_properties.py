"""Hypothesis properties: header round trips, parsers raise only ParseError, classify
agrees with a second classifier built from the parsers, receive_frame never raises."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aionetmap.stack import (
    ArpOperation,
    ArpPacket,
    ClassifyContext,
    Deliver,
    Drop,
    DropReason,
    EthernetHeader,
    Host,
    IcmpMessage,
    IPv4Header,
    ParseError,
    SanityError,
    Slow,
    SlowKind,
    UdpHeader,
    Verdict,
    build_arp_request,
    build_echo_request,
    build_ethernet_frame,
    build_udp_frame,
    classify,
)
from aionetmap.stack.addresses import is_unicast_mac
from aionetmap.stack.checksum import inet_checksum, udp_checksum
from aionetmap.stack.classify import DeliverGroup
from aionetmap.stack.igmp import build_igmp_packet
from aionetmap.stack.udp import parse_udp_segment
from tests.frame_checksums import fix_checksums

OUR_MAC, PEER_MAC = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
OUR_IP, PEER_IP = 0x0A000001, 0x0A000002
CTX = ClassifyContext(OUR_MAC, OUR_IP, 0x0A0000FF, frozenset({53}))

macs = st.binary(min_size=6, max_size=6)
ips = st.integers(0, 2**32 - 1).map(IPv4Address)
u16 = st.integers(0, 0xFFFF)


# --- round trips ---


@given(macs, macs, u16, st.none() | u16)
def test_ethernet_round_trip(dst: bytes, src: bytes, ethertype: int, tci: int | None) -> None:
    src = bytes([src[0] & 0xFE]) + src[1:]  # a group source is refused by design
    if tci is None and ethertype == 0x8100:
        ethertype = 0x0800  # an untagged header whose type is 0x8100 reads back as tagged
    header = EthernetHeader(dst, src, ethertype, tci)
    assert EthernetHeader.from_bytes(bytes(header) + b"payload") == header


@given(st.sampled_from(ArpOperation), macs, ips, macs, ips)
def test_arp_round_trip(
    op: ArpOperation, sha: bytes, spa: IPv4Address, tha: bytes, tpa: IPv4Address
) -> None:
    packet = ArpPacket(op, sha, spa, tha, tpa)
    if is_unicast_mac(sha) and not spa.is_multicast and int(spa) != 0xFFFFFFFF:
        assert ArpPacket.from_bytes(bytes(packet)) == packet
    else:  # the only value check that applies to what the builder accepts
        with pytest.raises(SanityError, match="ARP_BAD_SENDER"):
            ArpPacket.from_bytes(bytes(packet))


@st.composite
def ipv4_headers(draw: st.DrawFn) -> IPv4Header:
    options = draw(st.binary(max_size=40).map(lambda b: b[: len(b) // 4 * 4]))
    src = draw(ips.filter(lambda a: a.packed[0] not in (0, 127) and not a.is_multicast))
    return IPv4Header(
        src=src if int(src) != 0xFFFFFFFF else IPv4Address("1.2.3.4"),
        dst=draw(ips),
        protocol=draw(st.integers(0, 255)),
        total_length=draw(st.integers(20 + len(options), 0xFFFF)),
        ttl=draw(st.integers(0, 255)),
        ident=draw(u16),
        dont_fragment=draw(st.booleans()),
        more_fragments=draw(st.booleans()),
        fragment_offset=draw(st.integers(0, 0x1FFF)),
        tos=draw(st.integers(0, 255)),
        reserved_flag=draw(st.booleans()),
        options=options,
    )


@given(ipv4_headers())
def test_ipv4_round_trip(header: IPv4Header) -> None:
    data = bytes(header)
    padded = data + bytes(header.total_length - len(data))
    parsed = IPv4Header.from_bytes(padded)
    assert parsed == header
    assert parsed.checksum == int.from_bytes(data[10:12], "big")
    assert inet_checksum(data) == 0


@given(u16, u16, st.binary(max_size=100), ips, ips)
def test_udp_round_trip(
    sport: int, dport: int, payload: bytes, src: IPv4Address, dst: IPv4Address
) -> None:
    header = UdpHeader(sport, dport, 8 + len(payload))
    segment = bytearray(bytes(header) + payload)
    segment[6:8] = udp_checksum(int(src), int(dst), segment).to_bytes(2, "big")
    parsed, view = parse_udp_segment(segment, src, dst)
    assert parsed == header
    assert bytes(view) == payload


@given(st.integers(0, 255), st.integers(0, 255), u16, u16, st.binary(max_size=100))
def test_icmp_round_trip(kind: int, code: int, w1: int, w2: int, payload: bytes) -> None:
    message = IcmpMessage(kind, code, w1, w2, payload)
    assert IcmpMessage.from_bytes(bytes(message)) == message


# --- parsers fail only with ParseError ---

PARSERS: list[Callable[[bytes], object]] = [
    EthernetHeader.from_bytes,
    ArpPacket.from_bytes,
    IPv4Header.from_bytes,
    UdpHeader.from_bytes,
    IcmpMessage.from_bytes,
    lambda data: parse_udp_segment(data, PEER_IP, OUR_IP),
]


@settings(max_examples=300)
@given(st.sampled_from(PARSERS), st.binary(max_size=80))
def test_parsers_raise_only_parse_errors(parser: Callable[[bytes], object], data: bytes) -> None:
    reason: object = None
    try:
        parser(data)
    except ParseError as exc:
        reason = exc.reason
    assert reason is None or isinstance(reason, DropReason)


# --- classify against a reference built from the parsers ---


def _templates() -> list[bytes]:
    udp = build_udp_frame(PEER_MAC, OUR_MAC, PEER_IP, OUR_IP, 4000, 53, b"payload")
    return [
        udp,
        build_udp_frame(PEER_MAC, OUR_MAC, PEER_IP, OUR_IP, 4000, 99, b"closed"),
        build_udp_frame(PEER_MAC, b"\xff" * 6, PEER_IP, 0x0A0000FF, 1, 53, b"bcast"),
        build_udp_frame(PEER_MAC, b"\xff" * 6, PEER_IP, 0xFFFFFFFF, 1, 99, b"bcast"),
        udp[:12] + b"\x81\x00\x00\x07" + udp[12:],
        udp[:12] + b"\x81\x00\xa0\x01" + udp[12:],
        udp[:12] + b"\x81\x00\x20\x00" + udp[12:],
        build_arp_request(PEER_MAC, PEER_IP, OUR_IP),
        build_echo_request(PEER_MAC, OUR_MAC, PEER_IP, OUR_IP, 1, 2, b"ping"),
        build_udp_frame(PEER_MAC, OUR_MAC, PEER_IP, 0xEF010203, 4000, 53, b"to a group"),
        build_ethernet_frame(
            OUR_MAC, PEER_MAC, 0x0800, build_igmp_packet(PEER_IP, 0xE0000001, bytes(12))
        ),
        build_ethernet_frame(
            OUR_MAC,
            PEER_MAC,
            0x0800,
            bytes(
                IPv4Header(
                    src=IPv4Address(PEER_IP),
                    dst=IPv4Address(OUR_IP),
                    protocol=17,
                    total_length=28,
                    more_fragments=True,
                )
            )
            + bytes(8),
        ),
    ]


TEMPLATES = _templates()


@st.composite
def mutated_frames(draw: st.DrawFn) -> bytes:
    frame = bytearray(draw(st.sampled_from(TEMPLATES)))
    for _ in range(draw(st.integers(0, 3))):
        # Mostly the headers past the MAC addresses, where the interesting checks are.
        index = draw(st.integers(12, 50) | st.integers(0, len(frame) - 1))
        frame[min(index, len(frame) - 1)] = draw(st.integers(0, 255))
    fix_checksums(frame, draw(st.booleans()), draw(st.booleans()))
    cut = draw(st.none() | st.integers(0, len(frame)))
    if cut is not None:
        del frame[cut:]
    frame += draw(st.binary(max_size=4))
    return bytes(frame)


def _ipv4_header(packet: bytes) -> IPv4Header:
    """The header parser, with the one exception to its martian-source rule: a 0/8 source
    to a group when the protocol is IGMP or the group is in 224.0.0.0/24 (check 14)."""
    try:
        return IPv4Header.from_bytes(packet)
    except ParseError as exc:
        dst = IPv4Address(packet[16:20]) if len(packet) >= 20 else None
        if (
            exc.reason is not DropReason.IP_BAD_SOURCE
            or packet[12] != 0
            or dst is None
            or not dst.is_multicast
            or not (packet[9] == 2 or dst in IPv4Network("224.0.0.0/24"))
        ):
            raise
    patched = bytearray(packet)
    patched[12:16] = IPv4Address(PEER_IP).packed  # parse the rest as the parser would
    hlen = (patched[0] & 0xF) * 4
    patched[10:12] = b"\0\0"
    patched[10:12] = inet_checksum(patched[:hlen]).to_bytes(2, "big")
    header = IPv4Header.from_bytes(bytes(patched))
    return dataclasses.replace(header, src=IPv4Address(packet[12:16]))


def reference_classify(frame: bytes, ctx: ClassifyContext) -> Verdict:
    """The documented check order, re-implemented on top of the header parsers."""
    if len(frame) < 14:
        return Drop(DropReason.ETH_TRUNCATED)
    if len(frame) > ctx.mtu + 18:
        return Drop(DropReason.ETH_OVERSIZE)
    l2_broadcast = frame[:6] == b"\xff" * 6
    if frame[:6] != ctx.mac and not l2_broadcast:
        return Drop(DropReason.ETH_MULTICAST if frame[0] & 1 else DropReason.ETH_OTHER_HOST)
    try:
        eth = EthernetHeader.from_bytes(frame)
        off = eth.header_length
        vid = 0 if eth.vlan_tci is None else eth.vlan_tci & 0xFFF
        if vid != ctx.vlan:
            if not ctx.vlan:
                return Drop(DropReason.ETH_VLAN_TAGGED)
            return Drop(DropReason.ETH_VLAN_MISMATCH if vid else DropReason.ETH_VLAN_UNTAGGED)
        if eth.ethertype == 0x0806:
            return Slow(SlowKind.ARP, off)
        if eth.ethertype == 0x86DD:
            return Slow(SlowKind.IPV6, off)
        if eth.ethertype != 0x0800:
            return Drop(DropReason.ETH_UNSUPPORTED_TYPE)
        ip = _ipv4_header(frame[off:])
        src, dst = int(ip.src), int(ip.dst)
        if src in (ctx.ip, ctx.broadcast):
            return Drop(DropReason.IP_BAD_SOURCE)
        ip_broadcast = dst in (ctx.broadcast, 0xFFFFFFFF)
        multicast = ip.dst.is_multicast
        if dst != ctx.ip and not ip_broadcast and not multicast:
            return Drop(DropReason.IP_NOT_FOR_US)
        if l2_broadcast and not (ip_broadcast or multicast):
            return Drop(DropReason.IP_L2_BROADCAST)
        if ip.is_fragment:
            return Slow(SlowKind.FRAGMENT, off)
        if ip.protocol == 1:
            return Slow(SlowKind.ICMP, off)
        if ip.protocol == 2:
            return Slow(SlowKind.IGMP, off)
        if ip.protocol != 17:
            return Drop(DropReason.IP_UNSUPPORTED_PROTOCOL)
        start = off + ip.header_length
        udp, payload = parse_udp_segment(frame[start : off + ip.total_length], src, dst)
    except ParseError as exc:
        return Drop(exc.reason)
    if multicast:
        return DeliverGroup(start + 8, len(payload), src, udp.src_port, udp.dst_port, dst)
    if udp.dst_port in (ctx.wildcard_ports if dst != ctx.ip else ctx.ports):
        return Deliver(start + 8, len(payload), src, udp.src_port, udp.dst_port)
    if ip_broadcast:
        return Drop(DropReason.UDP_NO_LISTENER)
    return Slow(SlowKind.UDP_UNREACHABLE, off)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_frames(), st.sampled_from([0, 1, 7]), st.booleans())
def test_classify_agrees_with_parser_reference(frame: bytes, vlan: int, wildcard: bool) -> None:
    ports = CTX.ports if wildcard else frozenset()
    ctx = ClassifyContext(CTX.mac, CTX.ip, CTX.broadcast, CTX.ports, CTX.mtu, vlan, ports)
    assert classify(frame, ctx) == reference_classify(frame, ctx)


# --- the host never raises ---


def _fresh_host() -> Host:
    host = Host(OUR_MAC, "10.0.0.1/24")
    host.bind_udp(53)
    return host


@settings(max_examples=500)
@given(st.binary(max_size=120))
def test_receive_frame_never_raises_on_arbitrary_bytes(data: bytes) -> None:
    host = _fresh_host()
    host.receive_frame(data, 1.0)
    host.receive_frame(OUR_MAC + data, 1.0)  # past the MAC filter
    assert host.stats.drops[DropReason.INTERNAL_ERROR] == 0
    assert host.stats.dropped <= 2


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutated_frames(), min_size=1, max_size=6), st.floats(0, 100))
def test_receive_frame_never_raises_on_mutated_frames(frames: list[bytes], step: float) -> None:
    host = _fresh_host()
    now = 0.0
    for frame in frames:
        host.receive_frame(frame, now)
        host.handle_timer(now)
        now += step
    assert host.stats.drops[DropReason.INTERNAL_ERROR] == 0
    assert host.stats.rx_frames == len(frames)
    host.frames_to_send()
    while host.next_event() is not None:
        pass
