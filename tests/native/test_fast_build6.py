"""The C builder's IPv6 frames (``fast_udp6_build_to``) and IPv4 group frames
(``fast_udp_build_to`` with ``group_ttl``) against what the Python host sends for the
same datagrams, byte for byte."""

from __future__ import annotations

from ipaddress import IPv6Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aionetmap._native.fast_builder import DestinationTable, FastUdpBuilder
from aionetmap._native.fast_builder6 import DestinationTable6, FastUdp6Builder
from aionetmap.stack import Host, HostConfig
from aionetmap.stack.checksum import inet_checksum
from aionetmap.stack.igmp import group_mac

MTU = 1500
LIMIT6 = MTU - 48
OUR_MAC = bytes.fromhex("020000000001")
PEER_MAC = bytes.fromhex("02000000aa02")
GLOBAL_PEER = "2001:db8::77"
LINK_PEER = "fe80::1234:5678"
OFF_LINK = "2001:db8:ffff::9"  # through the gateway
GATEWAY6 = "fe80::1"
GATEWAY_MAC = bytes.fromhex("02000000ee01")


def dual_host(vlan: int | None = None, hop_limit: int = 64) -> Host:
    """A dual-stack host whose addresses are usable at once and whose neighbours (the
    two peers and the gateway) are known, as after NDP."""
    config = HostConfig(dad_transmits=0, unsolicited_na=False, hop_limit=hop_limit)
    host = Host(
        OUR_MAC, "10.0.0.1/24", ipv6=["2001:db8::1/64"], gateway6=GATEWAY6, vlan=vlan,
        mtu=MTU, config=config,
    )  # fmt: skip
    host.start(0.0)
    six = host.ipv6
    assert six is not None
    for ip, mac in ((GLOBAL_PEER, PEER_MAC), (LINK_PEER, PEER_MAC), (GATEWAY6, GATEWAY_MAC)):
        six.sender.learn(
            IPv6Address(ip).packed, mac, 0.0, solicited=True, override=True, create=True
        )
    host.take_frames()
    return host


def c_frames6(
    host: Host, payloads: list[bytes], dsts: list[str], port: int, sport: int
) -> list[bytes]:
    """The C builder's frames for the datagrams, numbered as the fast path numbers them
    (the host's route per destination)."""
    six = host.ipv6
    assert six is not None
    builder = FastUdp6Builder(16)
    builder.set_source(host.mac, host.config.hop_limit, host.vlan or 0)
    table = DestinationTable6(8)
    indexes = []
    for text in dsts:
        ip = IPv6Address(text).packed
        slot = table.index.get(text)
        if slot is None:
            route = six.udp_route(ip, 0.0)
            assert route is not None
            slot = table.add(text, route[1], route[0], ip, port)
        assert slot is not None
        indexes.append(slot)
    return builder.build_to(payloads, indexes, table, sport, six.max_unfragmented).frames()


def host_frames6(
    host: Host, payloads: list[bytes], dsts: list[str], port: int, sport: int
) -> list[bytes]:
    for payload, dst in zip(payloads, dsts, strict=True):
        host.send_datagram(payload, (dst, port, 0, 0), sport, 0.0)
    return host.frames_to_send()


@settings(max_examples=120, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.binary(max_size=LIMIT6) | st.integers(0, LIMIT6).map(bytes),
            st.sampled_from([GLOBAL_PEER, LINK_PEER, OFF_LINK, "ff02::1:3", "ff05::fb"]),
        ),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from([None, 1, 4094]),
    st.integers(1, 255),
    st.integers(1, 0xFFFF),
    st.integers(1, 0xFFFF),
)
def test_ipv6_frames_equal_the_hosts(
    datagrams: list[tuple[bytes, str]], vlan: int | None, hop: int, port: int, sport: int
) -> None:
    """Sizes up to the MTU limit, tagged or not, link-local, global, routed and group
    destinations (the source address is the host's pick for each)."""
    payloads = [p for p, _ in datagrams]
    dsts = [d for _, d in datagrams]
    host = dual_host(vlan, hop)
    expect = host_frames6(host, payloads, dsts, port, sport)
    assert c_frames6(dual_host(vlan, hop), payloads, dsts, port, sport) == expect


def test_sources_are_the_hosts_picks() -> None:
    host = dual_host()
    frames = c_frames6(host, [b"a", b"b"], [LINK_PEER, GLOBAL_PEER], 9, 5)
    assert frames[0][22:38] == IPv6Address("fe80::ff:fe00:1").packed  # EUI-64 link-local
    assert frames[1][22:38] == IPv6Address("2001:db8::1").packed
    assert frames[0][:6] == frames[1][:6] == PEER_MAC
    routed = c_frames6(host, [b"c"], [OFF_LINK], 9, 5)[0]
    assert routed[:6] == GATEWAY_MAC


def test_every_size_up_to_the_limit_and_not_one_more() -> None:
    host = dual_host()
    payloads = [bytes([i & 0xFF]) * i for i in range(0, LIMIT6 + 1, 7)] + [bytes(LIMIT6)]
    for start in range(0, len(payloads), 16):
        part = payloads[start : start + 16]
        dsts = [GLOBAL_PEER] * len(part)
        assert c_frames6(dual_host(), part, dsts, 7, 7) == host_frames6(host, part, dsts, 7, 7)
    with pytest.raises(ValueError, match=f"exceeds {LIMIT6} bytes"):
        c_frames6(host, [bytes(LIMIT6 + 1)], [GLOBAL_PEER], 7, 7)


def test_a_computed_zero_checksum_is_sent_as_ffff() -> None:
    """RFC 8200 8.1: the tail word chosen so that the checksum computes to 0."""
    host = dual_host()
    body = b"x" * 10 + b"\x00\x00"
    first = c_frames6(host, [body], [GLOBAL_PEER], 7, 7)[0]
    csum = int.from_bytes(first[54 + 6 : 54 + 8], "big")
    payload = body[:-2] + csum.to_bytes(2, "big")
    frame = c_frames6(host, [payload], [GLOBAL_PEER], 7, 7)[0]
    assert frame[60:62] == b"\xff\xff"
    pseudo = frame[22:54] + (8 + len(payload)).to_bytes(4, "big") + bytes(3) + b"\x11"
    assert inet_checksum(pseudo + frame[54:60] + b"\0\0" + frame[62:]) == 0
    assert [frame] == host_frames6(host, [payload], [GLOBAL_PEER], 7, 7)


def test_bad_input_stops_the_build() -> None:
    host = dual_host()
    builder = FastUdp6Builder(4, arena_size=200)
    builder.set_source(host.mac)
    table = DestinationTable6(2)
    assert table.add("k", PEER_MAC, bytes(16), bytes(15) + b"\1", 9) == 0
    with pytest.raises(ValueError, match="index 1 is not in the table"):
        builder.build_to([b"a", b"b"], [0, 1], table, 5)
    with pytest.raises(ValueError, match="does not fit in the 200-byte arena"):
        builder.build_to([bytes(150)], [0], table, 5)
    assert builder.build_to([bytes(60)] * 3, [0] * 3, table, 5).count == 1  # arena full
    with pytest.raises(ValueError, match="16 bytes"):
        table.add("x", PEER_MAC, bytes(4), bytes(16), 9)
    with pytest.raises(RuntimeError, match="set_source"):
        FastUdp6Builder(1).build_to([b""], [0], table, 5)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.binary(max_size=MTU - 28),
            st.sampled_from(["239.1.2.3", "224.0.0.251", "10.0.0.2", "239.255.0.1"]),
        ),
        min_size=1,
        max_size=6,
    ),
    st.integers(0, 255),
    st.sampled_from([None, 7]),
    st.booleans(),
)
def test_group_frames_equal_the_hosts(
    datagrams: list[tuple[bytes, str]], ttl: int, vlan: int | None, connected: bool
) -> None:
    """IPv4 groups: the mapped MAC, the port's multicast TTL (unicast keeps the default),
    the host's identification rules."""
    host = Host(OUR_MAC, "10.0.0.1/24", vlan=vlan)
    host.bind_udp(5353)
    host.set_multicast_ttl(5353, ttl)
    twin = Host(OUR_MAC, "10.0.0.1/24", vlan=vlan)
    host.take_frames()
    unicast_mac = bytes.fromhex("02000000bb02")
    builder = FastUdpBuilder(16)
    builder.set_source(OUR_MAC, int(host.address), host.config.default_ttl, vlan or 0)
    builder.group_ttl = host.multicast_options(5353).ttl
    table = DestinationTable(8)
    indexes = []
    for _, dst in datagrams:
        ip = int.from_bytes(bytes(map(int, dst.split("."))), "big")
        mac = group_mac(ip) if ip >> 28 == 0xE else unicast_mac
        slot = table.index.get(dst)
        if slot is None:
            slot = table.add(dst, mac, ip, 4000)
        assert slot is not None
        indexes.append(slot)
    builder.ident, builder.ident_step = twin.reserve_idents(
        len(datagrams), 5353 if connected else None
    )
    got = builder.build_to([p for p, _ in datagrams], indexes, table, 5353).frames()
    # The host needs the unicast peer resolved to send at once.
    host._sender.learn(0x0A000002, unicast_mac, 0.0)  # a test's ARP answer
    host.take_frames()
    for payload, dst in datagrams:
        host.send_datagram(payload, (dst, 4000), 5353, 0.0, connected=connected)
    assert got == host.frames_to_send()
