"""The IPv6 half of the C classifier (fast_rx6.c) against its Python twin
(stack/classify6.py), verdict for verdict; and that twin against the host's IPv6 side
(``Receiver6``): what it delivers the host delivers, what it drops the host drops for the
same reason with nothing else done. Valid, mutated and truncated frames, bad and partial
checksums (with the port's flags), extension headers, wrong destinations, link-local and
tentative addresses.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Iterable
from ipaddress import IPv6Address
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aionetmap._native.fast_common import KIND_DELIVER6, KIND_DROP, KIND_SLOW
from aionetmap.stack import Datagram6Received, Host, HostConfig
from aionetmap.stack.checksum import inet_checksum, inet_sum
from aionetmap.stack.classify import (
    ClassifyContext,
    Deliver6,
    Drop,
    RxChecksum,
    Slow,
    SlowKind,
    UdpChecksum,
    classify,
)
from aionetmap.stack.drops import DropReason
from aionetmap.stack.ipv6 import pseudo_header_sum6
from tests.native.test_fast_classify import FLAG_VALUES, assert_agree, c_rows, classifier_for, place

OUR_MAC, PEER_MAC = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
OUR_GLOBAL = IPv6Address("2001:db8::1").packed
OUR_LL = IPv6Address("fe80::ff:fe00:1").packed  # the EUI-64 one of OUR_MAC
TENTATIVE = IPv6Address("2001:db8::99").packed
PEER_GLOBAL = IPv6Address("2001:db8::2").packed
PEER_LL = IPv6Address("fe80::2").packed
ALL_NODES = IPv6Address("ff02::1").packed
LOOPBACK = IPv6Address("::1").packed
PORTS = frozenset({53, 7, 0, 65535})
OURS = (OUR_LL, OUR_GLOBAL)
ALL_NODES_MAC = bytes.fromhex("333300000001")
CTX6 = ClassifyContext(
    OUR_MAC,
    0x0A000001,
    0x0A0000FF,
    PORTS,
    multicast_macs=frozenset({ALL_NODES_MAC}),
    ipv6_addresses=OURS,
)
CTX6_PARTIAL = dataclasses.replace(CTX6, accept_partial_checksum=True)
SCOPE = 5
T = TypeVar("T")
HOST_PORTS = PORTS - {0}  # a host binds 1..65535


def frame6(
    *,
    dst_mac: bytes = OUR_MAC,
    src_mac: bytes = PEER_MAC,
    tags: Iterable[int] = (),
    ethertype: int = 0x86DD,
    first: int = 0x60000000,
    nh: int = 17,
    hop: int = 64,
    src: bytes = PEER_GLOBAL,
    dst: bytes = OUR_GLOBAL,
    sport: int = 4000,
    dport: int = 53,
    payload: bytes = b"payload",
    csum: str = "good",
    ext: bytes = b"",
    plen_delta: int = 0,
    padding: bytes = b"",
) -> bytes:
    """An Ethernet/IPv6/UDP frame; ``csum``: good, zero, partial (the pseudo-header sum
    TX offload leaves) or bad; ``ext`` goes between the fixed header and UDP."""
    eth = dst_mac + src_mac + b"".join(struct.pack("!HH", 0x8100, t) for t in tags)
    eth += struct.pack("!H", ethertype)
    length = 8 + len(payload)
    udp = bytearray(struct.pack("!HHHH", sport, dport, length, 0) + payload)
    pseudo = pseudo_header_sum6(src, dst, 17, length)
    field = {
        "good": inet_checksum(bytes(udp), pseudo) or 0xFFFF,
        "zero": 0,
        "partial": inet_sum(b"", pseudo),
        "bad": (inet_checksum(bytes(udp), pseudo) or 0xFFFF) ^ 0x0101,
    }[csum]
    udp[6:8] = field.to_bytes(2, "big")
    plen = (len(ext) + len(udp) + plen_delta) & 0xFFFF
    fixed = struct.pack("!IHBB", first, plen, nh, hop) + src + dst
    return eth + fixed + ext + bytes(udp) + padding


def templates() -> list[bytes]:
    hop_by_hop = bytes([17, 0, 1, 4, 0, 0, 0, 0])  # PadN: a valid, skippable option
    return [
        frame6(),
        frame6(tags=[0xE000]),  # a priority tag: offsets from 18
        frame6(src=PEER_LL, dst=OUR_LL),
        frame6(dport=99),  # unbound: port unreachable, Python's
        frame6(csum="zero"),
        frame6(csum="partial"),
        frame6(csum="bad"),
        frame6(payload=bytes(range(256)) * 4 + b"odd"),
        frame6(padding=bytes(12)),
        frame6(nh=0, ext=hop_by_hop),
        frame6(nh=44, ext=bytes([17, 0, 0, 1, 0, 0, 0, 9])),  # an atomic fragment
        frame6(nh=58, payload=b"\x80\x00\0\0\0\0\0\0"),  # ICMPv6
        frame6(dst=ALL_NODES, dst_mac=ALL_NODES_MAC),
        frame6(dst=PEER_GLOBAL),  # not ours
        frame6(dst=TENTATIVE),  # ours but not preferred
        frame6(src=OUR_GLOBAL),  # looped back
        frame6(src=LOOPBACK),
        frame6(src=ALL_NODES),
        frame6(src=bytes(16)),  # unspecified: allowed
        frame6(dst_mac=b"\xff" * 6),  # unicast in a link-layer group frame
        frame6(first=0x40000000),
        frame6(payload=b"", plen_delta=-8),  # payload length 0
        frame6(plen_delta=1),  # past the frame
        frame6(plen_delta=-3),  # UDP length past the payload length
        frame6(payload=b""),
    ]


TEMPLATES = templates()


def test_templates_reach_every_ipv6_verdict() -> None:
    verdicts = [classify(f, CTX6_PARTIAL) for f in TEMPLATES]
    reasons = {v.reason for v in verdicts if isinstance(v, Drop)}
    assert reasons == {
        DropReason.IP6_BAD_VERSION,
        DropReason.IP6_BAD_PAYLOAD_LENGTH,
        DropReason.IP6_TRUNCATED,
        DropReason.IP6_BAD_SOURCE,
        DropReason.IP6_NOT_FOR_US,
        DropReason.IP6_L2_MULTICAST,
        DropReason.UDP6_TRUNCATED,
        DropReason.UDP6_ZERO_CHECKSUM,
        DropReason.UDP6_BAD_CHECKSUM,
    }
    assert {v.kind for v in verdicts if isinstance(v, Slow)} == {SlowKind.IPV6}
    hows = {v.checksum for v in verdicts if isinstance(v, Deliver6)}
    assert hows == {UdpChecksum.VERIFIED, UdpChecksum.PSEUDO}
    assert_agree(TEMPLATES, CTX6)
    assert_agree(TEMPLATES, CTX6_PARTIAL)
    flags = [FLAG_VALUES[i % len(FLAG_VALUES)] for i in range(len(TEMPLATES))]
    assert_agree(TEMPLATES, CTX6_PARTIAL, flags=flags)


def test_without_ipv6_addresses_every_ipv6_frame_is_slow() -> None:
    ctx = dataclasses.replace(CTX6, ipv6_addresses=None)
    assert {classify(f, ctx) for f in TEMPLATES} <= {Slow(SlowKind.IPV6, 14),
                                                     Slow(SlowKind.IPV6, 18)}  # fmt: skip
    assert_agree(TEMPLATES, ctx)
    # With an empty table (DAD still running) nothing unicast is ours.
    empty = dataclasses.replace(CTX6, ipv6_addresses=())
    assert classify(TEMPLATES[0], empty) == Drop(DropReason.IP6_NOT_FOR_US)
    assert_agree(TEMPLATES, empty)


def test_c_result_arrays_for_a_delivery() -> None:
    frame = frame6(src=PEER_LL, dst=OUR_LL, sport=0x1234, dport=7, payload=b"hello")
    batch = place([frame, frame6(dport=99)], seed=3)
    fc = classifier_for(CTX6, batch.capacity)
    rows = c_rows(fc, batch)
    assert rows[0][0] == KIND_DELIVER6
    assert rows[1][:2] == (KIND_SLOW, SlowKind.IPV6)
    assert fc.source6(0) == PEER_LL + b"\x12\x34"
    assert fc.dst6[0] == 1  # OUR_LL is entry 0 of the table
    assert fc.dst6[1] == 0
    start = fc.payload_offsets[0]
    assert bytes(batch.data[start : start + fc.payload_lengths[0]]) == b"hello"
    assert (fc.delivered6, fc.delivered, fc.slow, fc.src_ips[0]) == (1, 0, 1, 0)


@pytest.mark.parametrize("index", range(len(TEMPLATES)))
def test_truncation_and_every_header_byte(index: int) -> None:
    frame = TEMPLATES[index]
    cuts = [frame[:cut] for cut in range(len(frame) + 1)]
    assert_agree(cuts, CTX6, seed=index)
    mutated = []
    for pos in range(min(len(frame), 80)):
        for value in {0x00, 0xFF, frame[pos] ^ 0x01, frame[pos] ^ 0x80}:
            copy = bytearray(frame)
            copy[pos] = value
            mutated.append(bytes(copy))
    for start in range(0, len(mutated), 256):
        chunk = mutated[start : start + 256]
        flags = [FLAG_VALUES[(start + i) % len(FLAG_VALUES)] for i in range(len(chunk))]
        assert_agree(chunk, CTX6_PARTIAL, seed=start, flags=flags)
        assert_agree(chunk, CTX6, seed=start)


def test_address_table_is_checked() -> None:
    fc = classifier_for(CTX6)
    with pytest.raises(ValueError, match="at most"):
        fc.set_ipv6([bytes(15) + bytes([i]) for i in range(17)])
    with pytest.raises(ValueError, match="16 bytes"):
        fc.set_ipv6([b"short"])
    fc.set_ipv6([bytes(15) + bytes([i]) for i in range(16)])  # the most there is room for


# --- hypothesis ---

ADDRS = [OUR_GLOBAL, OUR_LL, TENTATIVE, PEER_GLOBAL, PEER_LL, ALL_NODES, LOOPBACK, bytes(16)]
addr = st.sampled_from(ADDRS) | st.binary(min_size=16, max_size=16)


def usually(draw: st.DrawFn, good: st.SearchStrategy[T], anything: st.SearchStrategy[T]) -> T:
    """``good`` seven times in eight, so that the later checks are reached."""
    return draw(anything if draw(st.integers(0, 7)) == 0 else good)


@st.composite
def frames6(draw: st.DrawFn) -> bytes:
    """An IPv6 frame aimed at CTX6: each field usually sensible, sometimes anything."""
    u16 = st.integers(0, 0xFFFF)
    frame = frame6(
        dst_mac=usually(draw, st.sampled_from([OUR_MAC] * 6 + [b"\xff" * 6]),
                        st.binary(min_size=6, max_size=6)),
        tags=usually(draw, st.just([]), st.lists(st.sampled_from([0, 7]), max_size=1)),
        first=usually(draw, st.sampled_from([0x60000000, 0x6ABCDEF0]),
                      st.integers(0, 0xFFFFFFFF)),
        nh=usually(draw, st.sampled_from([17] * 6 + [0, 58]), st.integers(0, 255)),
        src=usually(draw, st.sampled_from([PEER_GLOBAL, PEER_LL]), addr),
        dst=usually(draw, st.sampled_from([OUR_GLOBAL, OUR_LL]), addr),
        sport=draw(u16),
        dport=usually(draw, st.sampled_from(sorted(PORTS)), u16),
        payload=usually(draw, st.binary(max_size=64), st.binary(max_size=1400)),
        csum=draw(st.sampled_from(["good"] * 4 + ["zero", "partial", "bad"])),
        plen_delta=usually(draw, st.just(0), st.integers(-12, 12)),
        padding=usually(draw, st.just(b""), st.binary(max_size=8)),
    )  # fmt: skip
    if draw(st.integers(0, 3)) == 0:
        copy = bytearray(frame)
        for _ in range(draw(st.integers(1, 3))):
            copy[draw(st.integers(0, len(copy) - 1))] = draw(st.integers(0, 255))
        frame = bytes(copy)
    if draw(st.integers(0, 7)) == 0:
        frame = frame[: draw(st.integers(0, len(frame)))]
    return frame


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(frames6(), min_size=1, max_size=12),
    st.lists(st.sampled_from(FLAG_VALUES), min_size=12, max_size=12) | st.none(),
    st.booleans(),
    st.lists(st.sampled_from([OUR_GLOBAL, OUR_LL, TENTATIVE]), max_size=3, unique=True),
    st.integers(0, 1000),
)
def test_random_ipv6_frames_agree(
    frames: list[bytes], flags: list[int] | None, partial: bool, ours: list[bytes], seed: int
) -> None:
    ctx = dataclasses.replace(CTX6, accept_partial_checksum=partial, ipv6_addresses=tuple(ours))
    assert_agree(frames, ctx, seed, None if flags is None else flags[: len(frames)])


# --- the Python twin against the host's IPv6 side ---


def ready_host(partial: bool) -> Host:
    """OUR_GLOBAL and the link-local address preferred, TENTATIVE still in DAD."""
    cfg = HostConfig(
        gratuitous_arp=False,
        unsolicited_na=False,
        accept_partial_checksum=partial,
        ipv6_scope_id=SCOPE,
    )
    host = Host(OUR_MAC, "10.0.0.1/24", config=cfg, ipv6=["2001:db8::1/64", "2001:db8::99/64"])
    host.start(0.0)
    host.handle_timer(1.0)  # DAD passes for both
    host6 = host.ipv6
    assert host6 is not None
    own = host6.book.get(TENTATIVE)
    assert own is not None
    own.state = "tentative"  # as if its DAD were still running
    for port in HOST_PORTS:
        host.bind_udp(port)
    host.frames_to_send()
    list(iter(host.next_event, None))
    return host


HOSTS = {partial: ready_host(partial) for partial in (False, True)}


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(frames6(), st.sampled_from(FLAG_VALUES), st.booleans())
def test_classify6_says_what_the_host_does(frame: bytes, flag: int, partial: bool) -> None:
    """A Deliver6 is exactly the host's Datagram6Received and counters; a Drop is the
    host's drop of the same reason with no event and no frame sent."""
    host = HOSTS[partial]
    host6 = host.ipv6
    assert host6 is not None
    preferred = tuple(host6.preferred_addresses())
    ctx = dataclasses.replace(
        CTX6, ports=HOST_PORTS, accept_partial_checksum=partial, ipv6_addresses=preferred
    )
    verdict = classify(frame, ctx, flag)
    before = host.stats.as_dict()
    host.receive_frame(frame, 2.0, flag)
    after = host.stats.as_dict()
    sent = host.frames_to_send()
    got = list(iter(host.next_event, None))
    if isinstance(verdict, Slow):
        return  # the host's own business: anything may happen
    changed = {k: after[k] - before[k] for k in after if after[k] != before[k]}
    if isinstance(verdict, Drop):
        assert (got, sent) == ([], [])
        name = f"drop_{verdict.reason.name.lower()}"
        assert changed == {"rx_frames": 1, name: 1, "dropped": 1}
        return
    assert isinstance(verdict, Deliver6)
    scope = SCOPE if verdict.src[:2] == b"\xfe\x80" else 0
    src = (str(IPv6Address(verdict.src)), verdict.src_port, 0, scope)
    start = verdict.payload_offset
    payload = frame[start : start + verdict.payload_length]
    dst = str(IPv6Address(verdict.dst))
    assert got == [Datagram6Received(src, verdict.dst_port, payload, dst)]
    assert sent == []
    counted = {"rx_frames": 1, "rx_udp_delivered": 1}
    if verdict.checksum == UdpChecksum.OFFLOADED:
        counted["rx_udp_csum_offloaded"] = 1
    elif verdict.checksum == UdpChecksum.PSEUDO:
        counted["rx_udp_csum_partial"] = 1
    assert changed == counted


def test_every_template_is_what_the_host_does() -> None:
    for flag in (RxChecksum.UNKNOWN, RxChecksum.VALID):
        for partial in (False, True):
            for frame in TEMPLATES:
                test_classify6_says_what_the_host_does.hypothesis.inner_test(  # type: ignore[attr-defined]
                    frame, flag, partial
                )


def test_drop_kind_rows_are_zero() -> None:
    batch = place([frame6(dst=PEER_GLOBAL)])
    fc = classifier_for(CTX6)
    assert c_rows(fc, batch)[0] == (KIND_DROP, DropReason.IP6_NOT_FOR_US, 0, 0, 0, 0, 0, 0, 0, b"")


def test_the_fast_path_follows_dad_and_a_full_table() -> None:
    """The C table holds the preferred addresses only, follows DAD, and a host with more
    than it can hold sends every IPv6 frame to its Python side."""
    from aionetmap._aio.fastpath import UdpFastPath
    from aionetmap._native._fast import ffi

    cfg = HostConfig(gratuitous_arp=False, unsolicited_na=False)
    host = Host(OUR_MAC, "10.0.0.1/24", config=cfg, ipv6=["2001:db8::1/64"])
    host.start(0.0)
    fast = UdpFastPath(host, 8)
    fast.extra.refresh()
    cls = fast._classifier
    assert cls._ctx.ip6 != ffi.NULL
    assert cls._ctx.ip6.n_addrs == 0  # both still tentative
    host.handle_timer(1.0)  # DAD passes
    fast.extra.refresh()
    assert cls._ctx.ip6.n_addrs == 2
    many = [f"2001:db8::{i + 1:x}/64" for i in range(17)]
    crowded = Host(OUR_MAC, "10.0.0.1/24", config=HostConfig(dad_transmits=0), ipv6=many)
    crowded.start(0.0)
    fast = UdpFastPath(crowded, 8)
    fast.extra.refresh()
    assert fast._classifier._ctx.ip6 == ffi.NULL


class _Endpoint:
    """Records what the fast path hands an endpoint bound to ``local_ip6`` (or IPv4)."""

    def __init__(self, local_ip6: str | None) -> None:
        if local_ip6 is not None:
            self.local_ip6 = local_ip6
        self.got: list[tuple[bytes, object]] = []

    def deliver(self, payload: bytes, src: object) -> None:
        self.got.append((payload, src))

    def deliver_many(self, payloads: list[bytes], sources: list[object]) -> None:
        self.got.extend(zip(payloads, sources, strict=True))


def test_fast_path_names_peers_as_the_host_does() -> None:
    """Link-local peers get the host's scope id, global ones 0; an endpoint bound to
    another address or to IPv4 hears nothing and ``rx_dropped_family`` counts it, as
    the interface does with the host's events."""
    from aionetmap._aio.fastpath import UdpFastPath

    host = ready_host(False)
    fast = UdpFastPath(host, 8)
    for port in HOST_PORTS:
        fast.bind(port)
    ll, glob, four = _Endpoint("::"), _Endpoint("2001:db8::1"), _Endpoint(None)
    endpoints: dict[int, object] = {7: ll, 53: glob, 65535: four}
    frames = [
        frame6(src=PEER_LL, dst=OUR_LL, sport=1111, dport=7, payload=b"a"),
        frame6(src=PEER_GLOBAL, dst=OUR_GLOBAL, sport=2222, dport=7, payload=b"b"),
        frame6(dst=OUR_GLOBAL, dport=53, payload=b"c"),
        frame6(src=PEER_LL, dst=OUR_LL, dport=53, payload=b"wrong address"),
        frame6(dport=65535, payload=b"an AF_INET endpoint"),
    ]
    for batch in (place(frames), place(frames[:2])):  # a mixed batch, an all-IPv6 one
        ll.got.clear()
        assert fast.receive(batch, 2.0, endpoints) is False  # type: ignore[arg-type]
        assert ll.got == [
            (b"a", ("fe80::2", 1111, 0, SCOPE)),
            (b"b", ("2001:db8::2", 2222, 0, 0)),
        ]
    assert glob.got == [(b"c", ("2001:db8::2", 4000, 0, 0))]
    assert four.got == []
    assert fast.extra.rx_dropped_family == 2
    assert fast.stats.rx_udp_delivered == 7
    # The host names the same peers the same way.
    host.receive_frame(frames[0], 2.0)
    event = host.next_event()
    assert isinstance(event, Datagram6Received)
    assert event.src == ("fe80::2", 1111, 0, SCOPE)
