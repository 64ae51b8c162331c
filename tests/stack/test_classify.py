"""classify(): the verdict for every kind of frame, and the documented order of checks.

These verdicts are what the C fast path must reproduce; frames are built with scapy so the
inputs do not come from the code under test.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_Router_Alert
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Packet

from aionetmap.stack.classify import (
    ClassifyContext,
    Deliver,
    DeliverGroup,
    Drop,
    Slow,
    SlowKind,
    Verdict,
    classify,
    classify_ipv4,
)
from aionetmap.stack.drops import DropReason

OUR_MAC, PEER_MAC, BCAST = "02:00:00:00:00:01", "02:00:00:00:00:02", "ff:ff:ff:ff:ff:ff"
OUR_IP, PEER_IP = "10.0.0.1", "10.0.0.2"
PEER = 0x0A000002
CTX = ClassifyContext(bytes.fromhex("020000000001"), 0x0A000001, 0x0A0000FF, frozenset({53}))


def eth(dst: str = OUR_MAC, src: str = PEER_MAC) -> Ether:
    return Ether(dst=dst, src=src)


def ip(**fields: Any) -> IP:
    base: dict[str, Any] = {"src": PEER_IP, "dst": OUR_IP}
    base.update(fields)
    return IP(**base)


def udp(dport: int = 53, **fields: Any) -> UDP:
    return UDP(sport=4000, dport=dport, **fields)


def raw(packet: Packet) -> bytes:
    return bytes(packet)


def patch(data: bytes, offset: int, value: bytes) -> bytes:
    return data[:offset] + value + data[offset + len(value) :]


PAYLOAD = b"0123456789"
GOOD = raw(eth() / ip() / udp() / PAYLOAD)
DELIVER_GOOD = Deliver(42, 10, PEER, 4000, 53)


@pytest.mark.parametrize(
    ("frame", "verdict"),
    [
        pytest.param(GOOD, DELIVER_GOOD, id="udp-to-bound-port"),
        pytest.param(GOOD + bytes(8), DELIVER_GOOD, id="ethernet-padding-ignored"),
        pytest.param(
            raw(eth() / ip() / udp(chksum=0) / PAYLOAD), DELIVER_GOOD, id="zero-udp-checksum"
        ),
        pytest.param(
            raw(eth() / Dot1Q(vlan=0, prio=5) / ip() / udp() / PAYLOAD),
            Deliver(46, 10, PEER, 4000, 53),
            id="priority-tag-skipped",
        ),
        pytest.param(
            raw(eth() / ip(options=[IPOption_Router_Alert()]) / udp() / PAYLOAD),
            Deliver(46, 10, PEER, 4000, 53),
            id="ip-options-skipped",
        ),
        pytest.param(
            raw(eth() / ip(flags="evil", ttl=0) / udp() / PAYLOAD),
            DELIVER_GOOD,
            id="reserved-flag-and-ttl-ignored",
        ),
        pytest.param(
            raw(eth(BCAST) / ip(dst="10.0.0.255") / udp() / PAYLOAD),
            Drop(DropReason.UDP_NO_LISTENER),
            id="subnet-broadcast-to-unicast-bound-port",
        ),
        pytest.param(
            raw(eth(BCAST) / ip(dst="255.255.255.255") / udp() / PAYLOAD),
            Drop(DropReason.UDP_NO_LISTENER),
            id="limited-broadcast-to-unicast-bound-port",
        ),
        pytest.param(
            raw(eth() / ip() / UDP(sport=0, dport=53)),
            Deliver(42, 0, PEER, 0, 53),
            id="empty-payload-source-port-0",
        ),
        pytest.param(
            patch(GOOD + b"tail", 16, (20 + 8 + 10 + 4).to_bytes(2, "big")),
            None,
            id="ip-payload-longer-than-udp-length",
        ),
        pytest.param(
            raw(eth() / ip() / udp(dport=54)), Slow(SlowKind.UDP_UNREACHABLE, 14), id="closed-port"
        ),
        pytest.param(
            raw(eth(BCAST) / ip(dst="10.0.0.255") / udp(dport=54)),
            Drop(DropReason.UDP_NO_LISTENER),
            id="closed-port-broadcast",
        ),
        pytest.param(raw(eth(BCAST) / ARP(pdst=OUR_IP)), Slow(SlowKind.ARP, 14), id="arp"),
        pytest.param(
            raw(eth(BCAST) / Dot1Q(vlan=0) / ARP(pdst=OUR_IP)),
            Slow(SlowKind.ARP, 18),
            id="arp-priority-tagged",
        ),
        pytest.param(raw(eth() / ip() / ICMP()), Slow(SlowKind.ICMP, 14), id="icmp"),
        pytest.param(
            raw(eth(BCAST) / ip(dst="10.0.0.255") / ICMP()),
            Slow(SlowKind.ICMP, 14),
            id="icmp-bcast",
        ),
        pytest.param(
            raw(eth() / ip(flags="MF") / udp() / PAYLOAD),
            Slow(SlowKind.FRAGMENT, 14),
            id="first-frag",
        ),
        pytest.param(
            raw(eth() / ip(flags="MF", frag=1) / PAYLOAD),
            Slow(SlowKind.FRAGMENT, 14),
            id="middle-frag",
        ),
        pytest.param(
            raw(eth() / ip(frag=2, proto=17) / PAYLOAD), Slow(SlowKind.FRAGMENT, 14), id="last-frag"
        ),
    ],
)
def test_accepted_frames(frame: bytes, verdict: Verdict | None) -> None:
    if verdict is None:  # only the IPv4 total length changed: fix the header checksum
        frame = _fix_ip_checksum(frame)
        verdict = DELIVER_GOOD
    assert classify(frame, CTX) == verdict
    if isinstance(verdict, Deliver):
        start = verdict.payload_offset
        assert frame[start : start + verdict.payload_length] in (PAYLOAD, b"")


def _fix_ip_checksum(frame: bytes, offset: int = 14) -> bytes:
    packet = IP(frame[offset:])
    del packet.chksum
    return frame[:offset] + bytes(packet) + frame[offset + len(bytes(packet)) :]


R = DropReason
DROPS: list[tuple[str, bytes, DropReason]] = [
    ("empty", b"", R.ETH_TRUNCATED),
    ("13-bytes", GOOD[:13], R.ETH_TRUNCATED),
    # 14 + 4 + 1500 = 1518 bytes is the largest frame; this one is 1519
    ("oversize", raw(eth() / ip() / udp() / bytes(1477)), R.ETH_OVERSIZE),
    ("other-host", raw(eth("02:00:00:00:00:09") / ip() / udp()), R.ETH_OTHER_HOST),
    ("multicast-mac", raw(eth("01:00:5e:00:00:01") / ip() / udp()), R.ETH_MULTICAST),
    ("ipv6-multicast-mac", raw(eth("33:33:00:00:00:01") / ip() / udp()), R.ETH_MULTICAST),
    ("group-source", raw(eth(src="01:00:00:00:00:01") / ip() / udp()), R.ETH_BAD_SOURCE),
    ("vlan-cut", raw(eth() / Dot1Q())[:16], R.ETH_TRUNCATED),
    ("double-tag", raw(eth() / Dot1Q(vlan=0) / Dot1Q() / ip() / udp()), R.ETH_UNSUPPORTED_TYPE),
    ("vlan-tagged", raw(eth() / Dot1Q(vlan=7) / ip() / udp()), R.ETH_VLAN_TAGGED),
    ("vlan-4095", raw(eth() / Dot1Q(vlan=4095) / ip() / udp()), R.ETH_VLAN_TAGGED),
    ("arp-vlan-tagged", raw(eth(BCAST) / Dot1Q(vlan=3) / ARP(pdst=OUR_IP)), R.ETH_VLAN_TAGGED),
    (
        "802.3-length",
        bytes.fromhex("020000000001 020000000002 002e") + bytes(46),
        R.ETH_UNSUPPORTED_TYPE,
    ),
    ("ip-under-20", GOOD[:33], R.IP_TRUNCATED),
    ("version-6", raw(eth() / ip(version=6) / udp()), R.IP_BAD_VERSION),
    ("ihl-4", raw(eth() / ip(ihl=4) / udp()), R.IP_BAD_IHL),
    ("ihl-past-frame", raw(eth() / ip(ihl=15) / udp()), R.IP_TRUNCATED),
    ("total-under-ihl", raw(eth() / ip(len=19) / udp()), R.IP_BAD_TOTAL_LENGTH),
    ("total-past-frame", raw(eth() / ip(len=200) / udp()), R.IP_TRUNCATED),
    ("ip-checksum", raw(eth() / ip(chksum=1) / udp()), R.IP_BAD_CHECKSUM),
    ("src-zero", raw(eth() / ip(src="0.0.0.0") / udp()), R.IP_BAD_SOURCE),
    ("src-loopback", raw(eth() / ip(src="127.0.0.1") / udp()), R.IP_BAD_SOURCE),
    ("src-multicast", raw(eth() / ip(src="224.0.0.5") / udp()), R.IP_BAD_SOURCE),
    ("src-limited-bcast", raw(eth() / ip(src="255.255.255.255") / udp()), R.IP_BAD_SOURCE),
    ("src-subnet-bcast", raw(eth() / ip(src="10.0.0.255") / udp()), R.IP_BAD_SOURCE),
    ("src-is-us", raw(eth() / ip(src=OUR_IP) / udp()), R.IP_BAD_SOURCE),
    ("dst-other", raw(eth() / ip(dst="10.0.0.3") / udp()), R.IP_NOT_FOR_US),
    ("dst-class-e", raw(eth() / ip(dst="240.0.0.1") / udp()), R.IP_NOT_FOR_US),
    ("dst-other-subnet-bcast", raw(eth() / ip(dst="10.0.1.255") / udp()), R.IP_NOT_FOR_US),
    ("unicast-in-l2-bcast", raw(eth(BCAST) / ip() / udp()), R.IP_L2_BROADCAST),
    ("tcp", raw(eth() / ip() / TCP()), R.IP_UNSUPPORTED_PROTOCOL),
    ("udp-under-8", raw(eth() / ip(proto=17) / b"1234567"), R.UDP_TRUNCATED),
    ("udp-len-7", raw(eth() / ip() / udp(len=7) / PAYLOAD), R.UDP_BAD_LENGTH),
    ("udp-len-past-ip", raw(eth() / ip() / udp(len=19) / PAYLOAD), R.UDP_TRUNCATED),
    ("udp-checksum", raw(eth() / ip() / udp(chksum=0x1234) / PAYLOAD), R.UDP_BAD_CHECKSUM),
]


@pytest.mark.parametrize(("frame", "reason"), [pytest.param(f, r, id=n) for n, f, r in DROPS])
def test_dropped_frames(frame: bytes, reason: DropReason) -> None:
    assert classify(frame, CTX) == Drop(reason)


def test_ipv6_ethertype() -> None:
    # Handed to the host's IPv6 side whatever follows (it does its own checks).
    frame = bytes.fromhex("020000000001 020000000002 86dd") + bytes(40)
    assert classify(frame, CTX) == Slow(SlowKind.IPV6, 14)
    tagged = bytes.fromhex("020000000001 020000000002 8100 0000 86dd")
    assert classify(tagged, CTX) == Slow(SlowKind.IPV6, 18)


def test_oversize_limit_follows_mtu() -> None:
    frame = raw(eth() / ip() / udp() / bytes(1472))
    assert len(frame) == 1514
    assert isinstance(classify(frame, CTX), Deliver)
    tagged = raw(eth() / Dot1Q(vlan=0) / ip() / udp() / bytes(1472))
    assert isinstance(classify(tagged, CTX), Deliver)
    small = ClassifyContext(CTX.mac, CTX.ip, CTX.broadcast, CTX.ports, mtu=1000)
    assert classify(frame, small) == Drop(DropReason.ETH_OVERSIZE)
    assert classify(frame[: 1000 + 18], small) == Drop(DropReason.IP_TRUNCATED)


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        pytest.param(
            raw(eth("02:00:00:00:00:09") / ip(version=6))[:20], R.ETH_OTHER_HOST, id="mac-before-ip"
        ),
        pytest.param(
            raw(eth(src="01:00:00:00:00:00") / b"\x86\xdd"), R.ETH_BAD_SOURCE, id="src-before-type"
        ),
        pytest.param(raw(eth() / ip(version=6, ihl=4)), R.IP_BAD_VERSION, id="version-before-ihl"),
        pytest.param(raw(eth() / ip(ihl=4, len=10)), R.IP_BAD_IHL, id="ihl-before-total"),
        pytest.param(
            raw(eth() / ip(len=10, chksum=1)), R.IP_BAD_TOTAL_LENGTH, id="total-before-csum"
        ),
        pytest.param(
            raw(eth() / ip(src="127.0.0.1", chksum=1)), R.IP_BAD_CHECKSUM, id="csum-before-src"
        ),
        pytest.param(
            raw(eth() / ip(src="127.0.0.1", dst="1.1.1.1")), R.IP_BAD_SOURCE, id="src-before-dst"
        ),
        pytest.param(
            raw(eth(BCAST) / ip(dst="1.1.1.1")), R.IP_NOT_FOR_US, id="dst-before-l2-bcast"
        ),
        pytest.param(
            raw(eth(BCAST) / ip(flags="MF") / TCP()), R.IP_L2_BROADCAST, id="l2-before-frag"
        ),
        pytest.param(
            raw(eth() / ip() / udp(dport=54, chksum=1) / PAYLOAD),
            R.UDP_BAD_CHECKSUM,
            id="csum-before-port",
        ),
        pytest.param(
            raw(eth() / ip() / udp(len=7, chksum=1) / PAYLOAD),
            R.UDP_BAD_LENGTH,
            id="len-before-csum",
        ),
    ],
)
def test_first_failing_check_decides(frame: bytes, reason: DropReason) -> None:
    assert classify(frame, CTX) == Drop(reason)


def test_fragment_check_comes_before_protocol() -> None:
    frame = raw(eth() / ip(flags="MF") / TCP())
    assert classify(frame, CTX) == Slow(SlowKind.FRAGMENT, 14)


@pytest.mark.parametrize("size", range(len(GOOD)))
def test_truncated_at_every_offset(size: int) -> None:
    expected = R.ETH_TRUNCATED if size < 14 else R.IP_TRUNCATED
    assert classify(GOOD[:size], CTX) == Drop(expected)


@pytest.mark.parametrize("size", range(len(GOOD) - 14))
def test_truncated_ipv4_alone(size: int) -> None:
    assert classify_ipv4(GOOD[14 : 14 + size], 0, CTX) == Drop(R.IP_TRUNCATED)


def test_ports_are_read_live() -> None:
    ports: set[int] = set()
    ctx = ClassifyContext(CTX.mac, CTX.ip, CTX.broadcast, ports)
    assert classify(GOOD, ctx) == Slow(SlowKind.UDP_UNREACHABLE, 14)
    ports.add(53)
    assert classify(GOOD, ctx) == DELIVER_GOOD


@pytest.mark.parametrize(
    "convert", [bytes, bytearray, memoryview], ids=["bytes", "bytearray", "memoryview"]
)
def test_accepts_bytes_like(convert: Callable[[bytes], bytes]) -> None:
    assert classify(convert(GOOD), CTX) == DELIVER_GOOD
    assert classify(convert(GOOD[:20]), CTX) == Drop(R.IP_TRUNCATED)


def test_slash_31_has_no_directed_broadcast() -> None:
    ctx = ClassifyContext(CTX.mac, 0x0A000000, 0xFFFFFFFF, frozenset({53}))
    frame = raw(eth() / ip(src="10.0.0.1", dst="10.0.0.0") / udp() / PAYLOAD)
    assert classify(frame, ctx) == Deliver(42, 10, 0x0A000001, 4000, 53)


def test_drop_and_slow_verdicts_are_shared() -> None:
    # Only Deliver allocates per frame.
    assert classify(b"", CTX) is classify(b"x", CTX)
    icmp = raw(eth() / ip() / ICMP())
    assert classify(icmp, CTX) is classify(icmp, CTX)


WILD = ClassifyContext(CTX.mac, CTX.ip, CTX.broadcast, frozenset({53}), wildcard_ports={53})


@pytest.mark.parametrize("dst", ["10.0.0.255", "255.255.255.255"])
def test_broadcast_reaches_only_wildcard_bound_ports(dst: str) -> None:
    frame = raw(eth(BCAST) / ip(dst=dst) / udp() / PAYLOAD)
    assert classify(frame, CTX) == Drop(R.UDP_NO_LISTENER)
    assert classify(frame, WILD) == DELIVER_GOOD
    # The IPv4 destination decides, not the frame's: broadcast in a unicast frame too.
    unicast_frame = raw(eth() / ip(dst=dst) / udp() / PAYLOAD)
    assert classify(unicast_frame, CTX) == Drop(R.UDP_NO_LISTENER)
    assert classify(unicast_frame, WILD) == DELIVER_GOOD


def test_wildcard_bound_port_gets_unicast_too() -> None:
    assert classify(GOOD, WILD) == DELIVER_GOOD


@pytest.mark.parametrize("dst", ["224.0.0.1", "239.1.2.3"])
def test_multicast_never_delivered(dst: str) -> None:
    """The classifier never delivers to a group itself: frames to a group MAC not
    listened on are dropped, others are a DeliverGroup, for the host's memberships."""
    frame = raw(eth("01:00:5e:00:00:01") / ip(dst=dst) / udp() / PAYLOAD)
    assert classify(frame, WILD) == Drop(R.ETH_MULTICAST)
    # In a frame to our MAC (Linux takes these too) the memberships decide.
    verdict = classify(raw(eth() / ip(dst=dst) / udp() / PAYLOAD), WILD)
    group = int(ipaddress.IPv4Address(dst))
    assert verdict == DeliverGroup(42, len(PAYLOAD), PEER, 4000, 53, group)


VLAN7 = ClassifyContext(CTX.mac, CTX.ip, CTX.broadcast, frozenset({53}), vlan=7)


@pytest.mark.parametrize(
    ("frame", "verdict"),
    [
        pytest.param(
            raw(eth() / Dot1Q(vlan=7) / ip() / udp() / PAYLOAD),
            Deliver(46, 10, PEER, 4000, 53),
            id="our-vid",
        ),
        pytest.param(
            raw(eth() / Dot1Q(vlan=7, prio=3, dei=1) / ip() / udp() / PAYLOAD),
            Deliver(46, 10, PEER, 4000, 53),
            id="our-vid-with-priority-and-dei",
        ),
        pytest.param(
            raw(eth(BCAST) / Dot1Q(vlan=7) / ARP(pdst=OUR_IP)), Slow(SlowKind.ARP, 18), id="arp"
        ),
        pytest.param(GOOD, Drop(R.ETH_VLAN_UNTAGGED), id="untagged"),
        pytest.param(
            raw(eth() / Dot1Q(vlan=0) / ip() / udp() / PAYLOAD),
            Drop(R.ETH_VLAN_UNTAGGED),
            id="priority-tagged",
        ),
        pytest.param(
            raw(eth() / Dot1Q(vlan=8) / ip() / udp() / PAYLOAD),
            Drop(R.ETH_VLAN_MISMATCH),
            id="other-vid",
        ),
        pytest.param(
            raw(eth(BCAST) / ARP(pdst=OUR_IP)), Drop(R.ETH_VLAN_UNTAGGED), id="untagged-arp"
        ),
        pytest.param(
            raw(eth("02:00:00:00:00:09") / Dot1Q(vlan=7) / ip() / udp()),
            Drop(R.ETH_OTHER_HOST),
            id="mac-before-vlan",
        ),
        pytest.param(raw(eth() / Dot1Q(vlan=7))[:16], Drop(R.ETH_TRUNCATED), id="cut-tag"),
    ],
)
def test_vlan_host(frame: bytes, verdict: Verdict) -> None:
    assert classify(frame, VLAN7) == verdict
