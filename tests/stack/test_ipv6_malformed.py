"""Malformed and edge-case IPv6 input to a dual-stack Host: each frame ends in exactly one
counted drop reason (or a delivery), and ICMPv6 parameter problems go out exactly when
RFC 8200 section 4 says so."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from scapy.layers.inet import UDP
from scapy.layers.inet6 import (
    HBHOptUnknown,
    ICMPv6DestUnreach,
    ICMPv6EchoRequest,
    ICMPv6MLQuery,
    ICMPv6MLReport,
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6ND_RS,
    ICMPv6NDOptSrcLLAddr,
    ICMPv6ParamProblem,
    ICMPv6Unknown,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
)
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw

from aionetmap.stack import Datagram6Received, DropReason, Host, HostConfig

R = DropReason
A_MAC, B_MAC = "02:00:00:00:00:01", "02:00:00:00:00:02"
A6, B6, B_LL = "2001:db8::1", "2001:db8::2", "fe80::ff:fe00:2"
PORT = 7


def host() -> Host:
    cfg = HostConfig(gratuitous_arp=False, dad_transmits=0, unsolicited_na=False)
    h = Host(B_MAC, "10.0.0.2/24", config=cfg, ipv6=[f"{B6}/64"])
    h.start(0.0)
    h.bind_udp(PORT)
    # The peer introduces itself (a solicitation with its MAC), so replies need no NDP.
    h.receive_frame(eth(IPv6(src=A6, dst=B6, hlim=255) / NS), 0.0)
    h.handle_timer(1.0)  # the last MLD report
    h.frames_to_send()
    return h


NS = ICMPv6ND_NS(tgt=B6) / ICMPv6NDOptSrcLLAddr(lladdr=A_MAC)


def eth(payload: Packet | bytes, dst: str = B_MAC) -> bytes:
    return bytes(Ether(src=A_MAC, dst=dst, type=0x86DD) / payload)


def ip6(**kw: Any) -> IPv6:
    fields: dict[str, Any] = {"src": A6, "dst": B6}
    fields.update(kw)
    return IPv6(**fields)


def udp(**kw: Any) -> Packet:
    return UDP(sport=5000, dport=PORT, **kw) / b"data"


def _hbh(otype: int) -> IPv6ExtHdrHopByHop:
    return IPv6ExtHdrHopByHop(options=[HBHOptUnknown(otype=otype, optdata=b"\x00\x00\x00\x00")])


def _bad_udp_checksum() -> bytes:
    frame = bytearray(eth(ip6() / udp()))
    frame[14 + 40 + 6] ^= 0x55
    return bytes(frame)


def _set(frame: bytes, at: int, value: bytes) -> bytes:
    out = bytearray(frame)
    out[at : at + len(value)] = value
    return bytes(out)


GOOD = eth(ip6() / udp())
ALL_NODES_MAC = "33:33:00:00:00:01"

# (id, frame, the one drop reason or None for a delivery, ICMPv6 parameter problem code)
CASES: list[tuple[str, bytes, DropReason | None, int | None]] = [
    ("good", GOOD, None, None),
    ("short-header", GOOD[:14 + 39], R.IP6_TRUNCATED, None),
    ("payload-length-past-end", _set(GOOD, 18, b"\x01\x00"), R.IP6_TRUNCATED, None),
    ("version-4", _set(GOOD, 14, b"\x40"), R.IP6_BAD_VERSION, None),
    ("jumbo-zero-length", _set(GOOD, 18, b"\x00\x00"), R.IP6_BAD_PAYLOAD_LENGTH, None),
    ("src-multicast", eth(ip6(src="ff02::1") / udp()), R.IP6_BAD_SOURCE, None),
    ("src-loopback", eth(ip6(src="::1") / udp()), R.IP6_BAD_SOURCE, None),
    ("src-ours", eth(ip6(src=B6) / udp()), R.IP6_BAD_SOURCE, None),
    ("dst-other", eth(ip6(dst="2001:db8::9") / udp()), R.IP6_NOT_FOR_US, None),
    ("dst-unjoined-group", eth(ip6(dst="ff02::5") / udp()), R.IP6_NOT_FOR_US, None),
    ("unicast-in-group-frame", eth(ip6() / udp(), ALL_NODES_MAC), R.IP6_L2_MULTICAST, None),
    ("hbh-not-first", eth(ip6() / IPv6ExtHdrDestOpt() / IPv6ExtHdrHopByHop() / udp()),
     R.IP6_UNKNOWN_HEADER, 1),
    ("unknown-next-header", eth(ip6(nh=253) / Raw(bytes(16))), R.IP6_UNKNOWN_HEADER, 1),
    ("no-next-header", eth(ip6(nh=59) / Raw(bytes(8))), R.IP6_NO_NEXT_HEADER, None),
    ("ext-past-end", eth(ip6(nh=0) / Raw(bytes([17, 3]) + bytes(6))), R.IP6_BAD_EXTENSION, None),
    ("ext-too-short", eth(ip6(nh=60) / Raw(bytes([17, 0, 1, 0]))), R.IP6_BAD_EXTENSION, None),
    ("option-past-header", eth(ip6(nh=0) / Raw(bytes([17, 0, 1, 9]) + bytes(4)) / udp()),
     R.IP6_BAD_EXTENSION, None),
    ("option-00-skipped", eth(ip6() / _hbh(0x1E) / udp()), None, None),
    ("option-01-discard", eth(ip6() / _hbh(0x5E) / udp()), R.IP6_UNKNOWN_OPTION, None),
    ("option-10-icmp", eth(ip6() / _hbh(0x9E) / udp()), R.IP6_UNKNOWN_OPTION, 2),
    ("option-11-icmp-unicast", eth(ip6() / _hbh(0xDE) / udp()), R.IP6_UNKNOWN_OPTION, 2),
    ("option-11-no-icmp-multicast",
     eth(ip6(dst="ff02::1") / _hbh(0xDE) / udp(), ALL_NODES_MAC), R.IP6_UNKNOWN_OPTION, None),
    ("routing-segments-left",
     eth(ip6() / IPv6ExtHdrRouting(addresses=["2001:db8::9"], segleft=1) / udp()),
     R.IP6_ROUTING_HEADER, 0),
    ("routing-no-segments-left",
     eth(ip6() / IPv6ExtHdrRouting(addresses=["2001:db8::9"], segleft=0) / udp()), None, None),
    ("atomic-fragment", eth(ip6() / IPv6ExtHdrFragment(offset=0, m=0, id=7) / udp()), None, None),
    ("udp-short", eth(ip6(nh=17) / Raw(bytes(7))), R.UDP6_TRUNCATED, None),
    ("udp-length-below-8", eth(ip6() / UDP(sport=1, dport=PORT, len=7, chksum=1)),
     R.UDP6_BAD_LENGTH, None),
    ("udp-length-past-payload", eth(ip6() / UDP(sport=1, dport=PORT, len=50, chksum=1)),
     R.UDP6_TRUNCATED, None),
    ("udp-zero-checksum", eth(ip6() / udp(chksum=0)), R.UDP6_ZERO_CHECKSUM, None),
    ("udp-bad-checksum", _bad_udp_checksum(), R.UDP6_BAD_CHECKSUM, None),
    ("icmp-short", eth(ip6(nh=58) / Raw(b"\x80\x00")), R.ICMP6_TRUNCATED, None),
    ("icmp-bad-checksum", eth(ip6() / ICMPv6EchoRequest(cksum=1)), R.ICMP6_BAD_CHECKSUM, None),
    ("icmp-unknown-info", eth(ip6() / ICMPv6Unknown(type=200)), R.ICMP6_UNSUPPORTED_TYPE, None),
    ("ns-hop-limit", eth(ip6(hlim=64) / NS), R.NDP_INVALID, None),
    ("ns-code", eth(ip6(hlim=255) / ICMPv6ND_NS(tgt=B6, code=1)), R.NDP_INVALID, None),
    ("ns-not-ours", eth(ip6(hlim=255) / ICMPv6ND_NS(tgt="2001:db8::9")), R.NDP_NOT_FOR_US, None),
    ("ns-multicast-target", eth(ip6(hlim=255) / ICMPv6ND_NS(tgt="ff02::1")), R.NDP_INVALID, None),
    ("ns-short", eth(ip6(hlim=255, nh=58) / Raw(bytes([135, 0, 0, 0]) + bytes(8))),
     R.ICMP6_BAD_CHECKSUM, None),
    ("ns-option-zero-length",
     eth(ip6(hlim=255) / ICMPv6ND_NS(tgt=B6) / Raw(bytes([1, 0]) + bytes(6))),
     R.NDP_INVALID, None),
    ("ns-dad-with-slla",
     eth(ip6(src="::", dst="ff02::1:ff00:2", hlim=255) / NS, "33:33:ff:00:00:02"),
     R.NDP_INVALID, None),
    ("na-unsolicited", eth(ip6(hlim=255) / ICMPv6ND_NA(tgt="2001:db8::9")), R.NDP_INVALID, None),
    ("na-solicited-to-group",
     eth(ip6(dst="ff02::1", hlim=255) / ICMPv6ND_NA(tgt="2001:db8::9", S=1), ALL_NODES_MAC),
     R.NDP_INVALID, None),
    ("rs-ignored", eth(ip6(hlim=255) / ICMPv6ND_RS()), R.RA_IGNORED, None),
    ("mld-query-hop-limit", eth(ip6(src="fe80::1", hlim=64) / ICMPv6MLQuery()),
     R.MLD_INVALID, None),
    ("mld-query-not-link-local", eth(ip6(hlim=1) / ICMPv6MLQuery()), R.MLD_INVALID, None),
    ("mld-report-of-another",
     eth(ip6(src="fe80::1", hlim=1) / ICMPv6MLReport(mladdr="ff02::1:ff00:2")),
     R.MLD_IGNORED, None),
    ("fragment-not-multiple-of-8",
     eth(ip6() / IPv6ExtHdrFragment(offset=0, m=1, id=9, nh=17) / Raw(bytes(13))),
     R.IP6_FRAGMENT_BAD, None),
    ("fragment-header-truncated", eth(ip6(nh=44) / Raw(bytes(4))), R.IP6_BAD_EXTENSION, None),
]  # fmt: skip


def _received(h: Host) -> list[Datagram6Received]:
    return [e for e in iter(h.next_event, None) if isinstance(e, Datagram6Received)]


@pytest.mark.parametrize(
    ("frame", "reason", "problem"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_one_outcome_per_frame(
    frame: bytes, reason: DropReason | None, problem: int | None
) -> None:
    h = host()
    h.receive_frame(frame, 1.0)
    drops = {r: n for r, n in h.stats.drops.items() if n}
    got = _received(h)
    if reason is None:
        assert drops == {}
        assert [e.payload for e in got] == [b"data"]
    else:
        assert drops == {reason: 1}
        assert got == []
    sent = [Ether(f) for f in h.frames_to_send()]
    problems = [f[ICMPv6ParamProblem] for f in sent if f.haslayer(ICMPv6ParamProblem)]
    if problem is None:
        assert problems == []
    else:
        assert [p.code for p in problems] == [problem]


def test_parameter_problem_pointer_names_the_field() -> None:
    h = host()
    h.receive_frame(eth(ip6(nh=253) / Raw(bytes(16))), 1.0)
    ether = next(Ether(f) for f in h.frames_to_send() if Ether(f).haslayer(ICMPv6ParamProblem))
    assert ether[ICMPv6ParamProblem].ptr == 6  # the fixed header's next header
    assert ether[IPv6].src == B6
    assert ether[IPv6].dst == A6
    h.receive_frame(eth(ip6() / _hbh(0x9E) / udp()), 2.0)
    ether = next(Ether(f) for f in h.frames_to_send() if Ether(f).haslayer(ICMPv6ParamProblem))
    assert ether[ICMPv6ParamProblem].ptr == 42  # the option type, after HBH's 2 bytes


def _fragments(payload: bytes, ident: int, pieces: list[tuple[int, int, bool]]) -> list[bytes]:
    return [
        eth(ip6() / IPv6ExtHdrFragment(offset=start // 8, m=int(more), id=ident, nh=17)
            / Raw(payload[start:stop]))
        for start, stop, more in pieces
    ]  # fmt: skip


def _udp_seg() -> bytes:
    # The checksum must cover the pseudo-header of the reassembled packet.
    return bytes(IPv6(src=A6, dst=B6) / UDP(sport=5000, dport=PORT) / (b"z" * 40))[40:]


FragmentCase = Callable[[bytes], list[bytes]]


@pytest.mark.parametrize(
    ("make", "reason", "count", "delivered"),
    [
        pytest.param(lambda s: _fragments(s, 1, [(0, 24, True), (24, 48, False)]), None, 0, 1,
                     id="in-order"),
        pytest.param(lambda s: _fragments(s, 1, [(24, 48, False), (0, 24, True)]), None, 0, 1,
                     id="reversed"),
        pytest.param(lambda s: _fragments(s, 1, [(0, 24, True), (16, 48, False)]),
                     R.IP6_FRAGMENT_OVERLAP, 2, 0, id="overlap-rfc5722"),
        pytest.param(lambda s: _fragments(s, 1, [(0, 24, True), (0, 24, True), (24, 48, False)]),
                     R.IP6_FRAGMENT_DUPLICATE, 1, 1, id="duplicate"),
        pytest.param(lambda s: _fragments(s, 1, [(0, 24, True), (40, 48, False), (24, 40, False)]),
                     R.IP6_FRAGMENT_OVERLAP, 3, 0, id="two-ends"),
    ],
)  # fmt: skip
def test_fragments(make: FragmentCase, reason: DropReason | None, count: int, delivered: int
                   ) -> None:  # fmt: skip
    h = host()
    for frame in make(_udp_seg()):
        h.receive_frame(frame, 1.0)
    drops = {r: n for r, n in h.stats.drops.items() if n}
    assert drops == ({} if reason is None else {reason: count})
    assert len(_received(h)) == delivered


def test_fragment_timeout_after_60s() -> None:
    h = host()
    h.receive_frame(_fragments(_udp_seg(), 3, [(0, 24, True)])[0], 1.0)
    assert h.reassembly == (0, 0)  # the IPv4 table is separate
    assert h.get_timer() == pytest.approx(61.0)
    h.handle_timer(60.9)
    assert h.stats.drops[R.IP6_FRAGMENT_TIMEOUT] == 0
    h.handle_timer(61.0)
    assert h.stats.drops[R.IP6_FRAGMENT_TIMEOUT] == 1


def test_fragment_with_unfragmentable_header_reassembles() -> None:
    h = host()
    seg = _udp_seg()
    frames = [
        eth(ip6() / IPv6ExtHdrDestOpt() / IPv6ExtHdrFragment(offset=s // 8, m=int(m), id=5, nh=17)
            / Raw(seg[s:e]))
        for s, e, m in [(0, 24, True), (24, 48, False)]
    ]  # fmt: skip
    for frame in frames:
        h.receive_frame(frame, 1.0)
    assert [e.payload for e in _received(h)] == [b"z" * 40]
    assert h.stats.rx_reassembled == 1


def test_fragments_off_when_reassembly_disabled() -> None:
    cfg = HostConfig(gratuitous_arp=False, dad_transmits=0, reassembly=False)
    h = Host(B_MAC, "10.0.0.2/24", config=cfg, ipv6=[f"{B6}/64"])
    h.start(0.0)
    h.receive_frame(_fragments(_udp_seg(), 3, [(0, 24, True)])[0], 1.0)
    assert h.stats.drops[R.IP6_FRAGMENT] == 1


def test_no_parameter_problem_about_an_icmpv6_error() -> None:
    h = host()
    quote = bytes(IPv6(src=B6, dst=A6) / UDP(sport=5000, dport=7))
    error = ip6() / _hbh(0x9E) / ICMPv6DestUnreach(code=4) / quote
    h.receive_frame(eth(error), 1.0)
    assert h.stats.drops[R.IP6_UNKNOWN_OPTION] == 1
    assert h.frames_to_send() == []  # an informational message would get one (see above)
