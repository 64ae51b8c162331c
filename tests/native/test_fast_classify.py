"""FastClassifier (C) against aionetmap.stack.classify.classify (the reference): the same
kind, reason, offsets and addresses for random valid frames, mutated and truncated frames,
random contexts and bound-port sets; plus the wrapper's own API.

Frames are put in the arena at varying offsets, so absolute offsets and alignment are
exercised by every comparison.
"""

from __future__ import annotations

import dataclasses
import random
import re
import struct
from collections.abc import Iterable, Sequence
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aionetmap._native._fast import lib
from aionetmap._native.batch import FrameBatch
from aionetmap._native.fast_classifier import FastClassifier
from aionetmap._native.fast_common import (
    KIND_DELIVER,
    KIND_DELIVER6,
    KIND_DROP,
    KIND_GROUP,
    KIND_SLOW,
)
from aionetmap.stack.classify import (
    ClassifyContext,
    Deliver,
    Deliver6,
    DeliverGroup,
    Drop,
    RxChecksum,
    Slow,
    SlowKind,
    UdpChecksum,
    Verdict,
    classify,
)
from aionetmap.stack.drops import DropReason
from tests.frame_checksums import fix_checksums, partial_checksum

OUR_MAC, PEER_MAC = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
OUR_IP, PEER_IP, BCAST = 0x0A000001, 0x0A000002, 0x0A0000FF
Row = tuple[int, int, int, int, int, int, int, int, int, bytes]
"""kind, reason, payload offset and length, source address and port, destination port,
group (KIND_GROUP), 1 + destination index (KIND_DELIVER6), IPv6 source key (its bytes)."""
T = TypeVar("T")


def expected_row(
    frame_offset: int, verdict: Verdict, ipv6_addresses: Sequence[bytes] | None = None
) -> Row:
    """What the C result arrays must hold for a frame at ``frame_offset``."""
    v = verdict
    if isinstance(v, Deliver | DeliverGroup):
        off = frame_offset + v.payload_offset
        group = v.group if isinstance(v, DeliverGroup) else 0
        kind = KIND_GROUP if isinstance(v, DeliverGroup) else KIND_DELIVER
        # reasons[i] of a delivered frame: how its UDP checksum was accepted
        fields = (v.payload_length, v.src_ip, v.src_port, v.dst_port, group, 0, b"")
        return (kind, v.checksum, off, *fields)
    if isinstance(v, Deliver6):
        assert ipv6_addresses is not None
        index = list(ipv6_addresses).index(v.dst) + 1
        key = v.src + v.src_port.to_bytes(2, "big")
        off = frame_offset + v.payload_offset
        return (KIND_DELIVER6, v.checksum, off, v.payload_length, 0, v.src_port, v.dst_port,
                0, index, key)  # fmt: skip
    if isinstance(v, Drop):
        return (KIND_DROP, int(v.reason), 0, 0, 0, 0, 0, 0, 0, b"")
    return (KIND_SLOW, int(v.kind), frame_offset + v.l3_offset, 0, 0, 0, 0, 0, 0, b"")


def place(frames: Sequence[bytes], seed: int = 0, flags: Sequence[int] | None = None) -> FrameBatch:
    """A batch holding ``frames`` with random gaps between them (every start alignment),
    and the port's checksum ``flags`` per frame if given."""
    rng = random.Random(seed)
    batch = FrameBatch(max(1, len(frames)), sum(map(len, frames)) + 16 * len(frames) + 16)
    pos = rng.randrange(16)
    for i, frame in enumerate(frames):
        batch.data[pos : pos + len(frame)] = frame
        batch.offsets[i], batch.lengths[i] = pos, len(frame)
        pos += len(frame) + rng.randrange(16)
    batch.count = len(frames)
    if flags is not None:
        batch.csum_flags[: len(flags)] = bytes(flags)
        batch.csum_known = True
    return batch


def c_rows(fc: FastClassifier, batch: FrameBatch) -> list[Row]:
    assert fc.classify(batch) == batch.count
    cols = (
        fc.kinds,
        fc.reasons,
        fc.payload_offsets,
        fc.payload_lengths,
        fc.src_ips,
        fc.src_ports,
        fc.dst_ports,
        fc.groups,
        fc.dst6,
    )
    # The combined source key the transport uses as a dict key is (ip << 16 | port) of the
    # same verdict (0 for drops and slow frames, whose address fields are 0).
    assert [fc.src_keys[i] for i in range(batch.count)] == [
        fc.src_ips[i] << 16 | fc.src_ports[i] for i in range(batch.count)
    ]
    rows = []
    for i in range(batch.count):
        key = fc.source6(i) if fc.kinds[i] == KIND_DELIVER6 else b""
        rows.append((*(col[i] for col in cols), key))
    return rows  # type: ignore[return-value]


def classifier_for(ctx: ClassifyContext, capacity: int = 256) -> FastClassifier:
    fc = FastClassifier(capacity)
    fc.set_context(
        ctx.mac,
        ctx.ip,
        ctx.broadcast,
        ctx.mtu,
        ctx.vlan,
        accept_partial_checksum=ctx.accept_partial_checksum,
    )
    for port in ctx.ports:
        fc.bind(port, wildcard=port in ctx.wildcard_ports)
    fc.set_multicast_macs(ctx.multicast_macs)
    fc.set_ipv6(ctx.ipv6_addresses)
    return fc


def assert_agree(
    frames: Sequence[bytes],
    ctx: ClassifyContext,
    seed: int = 0,
    flags: Sequence[int] | None = None,
) -> None:
    """C and Python agree on every frame (with the port's checksum ``flags``, if given),
    and the C totals add up."""
    batch = place(frames, seed, flags)
    fc = classifier_for(ctx, batch.capacity)
    got = c_rows(fc, batch)
    csums = list(flags) if flags is not None else [0] * batch.count
    want = [
        expected_row(batch.offsets[i], classify(batch.frame(i), ctx, csums[i]), ctx.ipv6_addresses)
        for i in range(batch.count)
    ]
    bad = [
        (i, frames[i].hex(), w, g) for i, (w, g) in enumerate(zip(want, got, strict=True)) if w != g
    ]
    assert bad == []
    kinds = [row[0] for row in want]
    assert (fc.delivered, fc.delivered6, fc.grouped, fc.dropped, fc.slow) == (
        kinds.count(KIND_DELIVER),
        kinds.count(KIND_DELIVER6),
        kinds.count(KIND_GROUP),
        kinds.count(KIND_DROP),
        kinds.count(KIND_SLOW),
    )
    # How the checksum passed is counted for unicast/broadcast and IPv6 deliveries (as
    # the host counts them), not for group datagrams.
    hows = [row[1] for row in want if row[0] in (KIND_DELIVER, KIND_DELIVER6)]
    assert (fc.csum_offloaded, fc.csum_pseudo) == (
        hows.count(UdpChecksum.OFFLOADED),
        hows.count(UdpChecksum.PSEUDO),
    )


# --- frame construction (by hand, so every field can be set to anything) ---


def make_frame(
    *,
    dst_mac: bytes = OUR_MAC,
    src_mac: bytes = PEER_MAC,
    tags: Iterable[int] = (),
    ethertype: int = 0x0800,
    src: int = PEER_IP,
    dst: int = OUR_IP,
    proto: int = 17,
    options: bytes = b"",
    frag: int = 0x4000,
    sport: int = 4000,
    dport: int = 53,
    payload: bytes = b"payload",
    zero_udp_checksum: bool = False,
    partial: bool = False,
    padding: bytes = b"",
) -> bytes:
    """An Ethernet/IPv4/UDP frame with correct checksums (unless asked otherwise;
    ``partial``: the UDP field holds the pseudo-header sum, as TX offload leaves it)."""
    eth = dst_mac + src_mac + b"".join(struct.pack("!HH", 0x8100, t) for t in tags)
    eth += struct.pack("!H", ethertype)
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    hlen = 20 + len(options)
    ip = struct.pack(
        "!BBHHHBBHII", 0x40 | hlen // 4, 0, hlen + len(udp), 7, frag, 64, proto, 0, src, dst
    )
    frame = bytearray(eth + ip + options + udp)
    fix_checksums(frame, True, not zero_udp_checksum)
    if partial:
        partial_checksum(frame)
    return bytes(frame) + padding


def templates() -> list[bytes]:
    """One frame per interesting path, to mutate and truncate."""
    return [
        make_frame(),
        make_frame(tags=[7]),
        make_frame(options=b"\x94\x04\x00\x00" * 3),
        make_frame(dst_mac=b"\xff" * 6, dst=BCAST, dport=99),
        make_frame(dst_mac=b"\xff" * 6, dst=0xFFFFFFFF, dport=53),
        make_frame(dport=99),
        make_frame(zero_udp_checksum=True, padding=bytes(10)),
        make_frame(proto=1, payload=b"\x08\x00\xf7\xff\x00\x00\x00\x00"),
        make_frame(frag=0x2000),
        make_frame(frag=0x0010, payload=b"x" * 30),
        make_frame(ethertype=0x0806, proto=0),
        make_frame(payload=bytes(range(256)) * 5 + b"odd"),
        make_frame(partial=True, payload=b"partial checksum"),
        make_frame(partial=True, dport=99),
        make_frame(ethertype=0x86DD, proto=0),  # IPv6: the Python side's
        # IPv4 multicast: UDP to a group (to its MAC and to ours), IGMP, 0.0.0.0 sources.
        make_frame(dst_mac=bytes.fromhex("01005e010203"), dst=GROUP, dport=5000),
        make_frame(dst=GROUP, frag=0),
        make_frame(dst_mac=ALL_HOSTS_MAC, dst=0xE0000001, proto=2, options=b"\x94\x04\0\0"),
        make_frame(dst_mac=ALL_HOSTS_MAC, src=0, dst=0xE0000001, proto=2),
        make_frame(src=0, dst=0xE00000FB, dport=5353),
        make_frame(src=0, dst=GROUP),
        make_frame(proto=2, payload=b"\x11\x64\xee\x9b\0\0\0\0"),
    ]


GROUP = 0xEF010203  # 239.1.2.3, MAC 01:00:5e:01:02:03
ALL_HOSTS_MAC = bytes.fromhex("01005e000001")
TEMPLATES = templates()
CTX = ClassifyContext(OUR_MAC, OUR_IP, BCAST, frozenset({53, 54, 0}), 1500)
CTX_PARTIAL = dataclasses.replace(CTX, accept_partial_checksum=True)
FLAG_VALUES = [*RxChecksum, 3, 255]
"""Every checksum flag a port may give, and values no port gives (they mean UNKNOWN)."""


# --- deterministic sweeps ---


def test_templates_reach_every_kind() -> None:
    verdicts = [classify(f, CTX) for f in TEMPLATES]
    assert {type(v) for v in verdicts} == {Deliver, DeliverGroup, Drop, Slow}
    # Group UDP is a DeliverGroup now: MULTICAST_UDP is kept for its number only.
    assert {v.kind for v in verdicts if isinstance(v, Slow)} == set(SlowKind) - {
        SlowKind.MULTICAST_UDP
    }
    assert_agree(TEMPLATES, CTX)
    # Listening on the group MACs lets the group frames through check 3 as well.
    listening = dataclasses.replace(CTX, multicast_macs=frozenset({ALL_HOSTS_MAC, GROUP_MACS[0]}))
    assert_agree(TEMPLATES, listening)
    verdicts = [classify(f, listening) for f in TEMPLATES]
    kinds = [v.kind for v in verdicts if isinstance(v, Slow)]
    assert kinds.count(SlowKind.IGMP) == 3
    assert sum(isinstance(v, DeliverGroup) for v in verdicts) == 3
    assert verdicts[-2] == Drop(DropReason.IP_BAD_SOURCE)  # 0.0.0.0 to 239/8, not IGMP


@pytest.mark.parametrize("index", range(len(TEMPLATES)))
def test_truncation_at_every_length(index: int) -> None:
    frame = TEMPLATES[index]
    cuts = [frame[:cut] for cut in range(len(frame) + 1)]
    assert_agree(cuts, CTX, seed=index)
    flags = [FLAG_VALUES[i % len(FLAG_VALUES)] for i in range(len(cuts))]
    assert_agree(cuts, CTX_PARTIAL, seed=index, flags=flags)


@pytest.mark.parametrize("index", range(len(TEMPLATES)))
def test_every_header_byte_changed(index: int) -> None:
    """Each byte of the headers (and the first payload bytes) set to several values, with
    checksums left stale or recomputed, so every check is reached in turn."""
    frame = TEMPLATES[index]
    mutated = []
    for pos in range(min(len(frame), 80)):
        for value in {0x00, 0xFF, frame[pos] ^ 0x01, frame[pos] ^ 0x80, frame[pos] ^ 0x10}:
            copy = bytearray(frame)
            copy[pos] = value
            mutated.append(bytes(copy))
            fix_checksums(copy)
            mutated.append(bytes(copy))
    for start in range(0, len(mutated), 256):
        chunk = mutated[start : start + 256]
        assert_agree(chunk, CTX, seed=start)
        flags = [FLAG_VALUES[(start + i) % len(FLAG_VALUES)] for i in range(len(chunk))]
        assert_agree(chunk, CTX_PARTIAL, seed=start, flags=flags)


def test_mtu_boundary_and_empty_frames() -> None:
    ctx = ClassifyContext(OUR_MAC, OUR_IP, BCAST, frozenset({53}), 100)
    at_limit = make_frame(payload=bytes(100 - 28), padding=bytes(4))
    assert len(at_limit) == 118
    frames = [b"", at_limit, at_limit + b"\0", make_frame(tags=[1], payload=bytes(72))]
    assert_agree(frames, ctx)
    assert [type(classify(f, ctx)) for f in frames[1:3]] == [Deliver, Drop]


# --- hypothesis ---

u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
GROUP_MACS = (bytes.fromhex("01005e010203"), bytes.fromhex("3333ff000002"))
"""Group addresses a host may listen on (IPv4 multicast, IPv6 solicited-node)."""


def usually(draw: st.DrawFn, good: st.SearchStrategy[T], anything: st.SearchStrategy[T]) -> T:
    """``good`` seven times in eight: random values everywhere would stop every frame at
    the first check, and the later checks would never be reached."""
    return draw(anything if draw(st.integers(0, 7)) == 0 else good)


@st.composite
def contexts(draw: st.DrawFn) -> ClassifyContext:
    mac = bytes([draw(st.integers(0, 255)) & 0xFE]) + draw(st.binary(min_size=5, max_size=5))
    ip = usually(draw, st.just(OUR_IP), u32)
    prefix = draw(st.integers(8, 32))
    host_mask = (1 << (32 - prefix)) - 1
    broadcast = ip | host_mask if prefix < 31 else 0xFFFFFFFF
    ports = draw(st.sets(st.sampled_from([0, 53, 4000, 65535]) | u16, max_size=20))
    mtu = usually(draw, st.sampled_from([1500, 9000, 68]), st.integers(0, 0xFFFF))
    vlan = draw(st.sampled_from([0, 0, 1, 7, 4094]))
    wildcard = frozenset(p for p in ports if draw(st.booleans()))
    partial = draw(st.booleans())
    groups = st.binary(min_size=5, max_size=5).map(lambda rest: b"\x01" + rest)
    listened = frozenset(draw(st.sets(st.sampled_from(GROUP_MACS) | groups, max_size=4)))
    return ClassifyContext(
        mac, ip, broadcast, frozenset(ports), mtu, vlan, wildcard, partial, listened
    )


@st.composite
def frames_for(draw: st.DrawFn, ctx: ClassifyContext) -> bytes:
    """A frame aimed at ``ctx`` with each field usually sensible and sometimes anything."""
    any_mac = st.binary(min_size=6, max_size=6)
    group_macs = sorted(ctx.multicast_macs) + list(GROUP_MACS)
    dst_mac = usually(
        draw,
        st.sampled_from([ctx.mac, ctx.mac, b"\xff" * 6]),
        any_mac | st.sampled_from(group_macs),
    )
    src_mac = usually(draw, st.just(PEER_MAC), any_mac)
    tci = st.sampled_from([ctx.vlan, ctx.vlan, ctx.vlan | 0xE000, 0]) | u16
    tags = usually(draw, st.lists(tci, max_size=1), st.lists(u16, max_size=3))
    ethertype = usually(draw, st.sampled_from([0x0800] * 6 + [0x0806, 0x86DD]), u16)
    groups = [0xE0000001, 0xE00000FB, 0xE0000016, GROUP, 0xEFFFFFFF]
    addrs = [ctx.ip, ctx.broadcast, 0xFFFFFFFF, PEER_IP, 0x7F000001, *groups, 0, 0x00000001]
    src = usually(draw, st.sampled_from([PEER_IP] * 6 + [0]), st.sampled_from(addrs) | u32)
    dst = usually(
        draw, st.sampled_from([ctx.ip] * 4 + addrs[:3] + groups), st.sampled_from(addrs) | u32
    )
    proto = usually(draw, st.sampled_from([17] * 6 + [1, 2]), st.integers(0, 255))
    options = usually(
        draw, st.just(b""), st.binary(max_size=40).map(lambda b: b[: len(b) // 4 * 4])
    )
    frag = usually(draw, st.sampled_from([0, 0x4000]), u16)
    dport = usually(draw, st.sampled_from(sorted(ctx.ports) or [53]), u16)
    payload = usually(draw, st.binary(max_size=64), st.binary(max_size=1600))
    frame = bytearray(
        make_frame(
            dst_mac=dst_mac, src_mac=src_mac, tags=tags, ethertype=ethertype, src=src,
            dst=dst, proto=proto, options=options, frag=frag, sport=draw(u16), dport=dport,
            payload=payload, zero_udp_checksum=draw(st.booleans()),
            partial=draw(st.integers(0, 3)) == 0,
            padding=usually(draw, st.just(b""), st.binary(max_size=8)),
        )
    )  # fmt: skip
    if draw(st.integers(0, 3)) == 0:
        for _ in range(draw(st.integers(1, 3))):
            pos = draw(st.integers(0, min(len(frame), 70) - 1) | st.integers(0, len(frame) - 1))
            frame[pos] = draw(st.integers(0, 255))
        if draw(st.booleans()):
            fix_checksums(frame, draw(st.booleans()), draw(st.booleans()))
    if draw(st.integers(0, 7)) == 0:
        del frame[draw(st.integers(0, len(frame))) :]
    return bytes(frame)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[ClassifyContext, list[bytes], list[int] | None]:
    ctx = draw(contexts())
    frames = draw(st.lists(frames_for(ctx), min_size=1, max_size=12))
    flag = usually(draw, st.sampled_from([0, 0, 1, 2]), st.sampled_from(FLAG_VALUES))
    flags = None if draw(st.booleans()) else [flag] * len(frames)
    if flags is not None and draw(st.booleans()):
        flags = draw(
            st.lists(st.sampled_from(FLAG_VALUES), min_size=len(frames), max_size=len(frames))
        )
    return ctx, frames, flags


@settings(max_examples=250, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.integers(0, 1000))
def test_random_frames_and_contexts_agree(
    scenario: tuple[ClassifyContext, list[bytes], list[int] | None], seed: int
) -> None:
    ctx, frames, flags = scenario
    assert_agree(frames, ctx, seed, flags)


@settings(max_examples=200)
@given(st.lists(st.binary(max_size=120).map(lambda b: OUR_MAC + b), min_size=1, max_size=8))
def test_arbitrary_bytes_past_the_mac_agree(frames: list[bytes]) -> None:
    assert_agree(frames, CTX)


# --- the wrapper ---


def test_constants_mirror_the_python_enums() -> None:
    for reason in DropReason:
        if reason < 100:
            assert getattr(lib, f"FAST_{reason.name}") == reason, reason.name
    for kind in SlowKind:
        assert getattr(lib, f"FAST_SLOW_{kind.name}") == kind, kind.name
    assert len({KIND_DELIVER, KIND_DROP, KIND_SLOW, KIND_DELIVER6, KIND_GROUP, 0}) == 6


def test_bind_unbind_follow_delivery() -> None:
    fc = classifier_for(ClassifyContext(OUR_MAC, OUR_IP, BCAST, frozenset(), 1500))
    batch = place([make_frame(dport=p) for p in (0, 7, 8, 65535)])
    assert [row[0] for row in c_rows(fc, batch)] == [KIND_SLOW] * 4
    for port in (0, 8, 65535):
        fc.bind(port)
    fc.bind(8)  # twice is harmless
    assert [fc.is_bound(p) for p in (0, 7, 8, 9, 65535)] == [True, False, True, False, True]
    assert [row[0] for row in c_rows(fc, batch)] == [KIND_DELIVER, KIND_SLOW] + [KIND_DELIVER] * 2
    fc.unbind(8)
    fc.unbind(9)  # not bound: nothing happens
    assert [row[0] for row in c_rows(fc, batch)] == [
        KIND_DELIVER,
        KIND_SLOW,
        KIND_SLOW,
        KIND_DELIVER,
    ]
    assert fc.delivered == 2


@pytest.mark.parametrize("port", [-1, 65536, 1.5, "53"])
def test_bad_ports_are_refused(port: object) -> None:
    fc = FastClassifier(4)
    with pytest.raises(ValueError, match=re.escape("FastClassifier: UDP port must be in 0..65535")):
        fc.bind(port)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((OUR_MAC[:5], 1, 2, 1500), "a MAC address must be 6 bytes"),
        ((OUR_MAC, -1, 2, 1500), "the IPv4 address must be a 32-bit integer"),
        ((OUR_MAC, 1, 2**32, 1500), "the broadcast address must be a 32-bit integer"),
        ((OUR_MAC, 1, 2, 65536), "MTU must be in 0..65535"),
        ((OUR_MAC, 1, 2, 1500, 4095), "VLAN id must be in 0..4094"),
        ((OUR_MAC, 1, 2, 1500, -1), "VLAN id must be in 0..4094"),
    ],
)
def test_bad_context_is_refused(args: tuple[bytes, int, int, int], match: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"FastClassifier.set_context: {match}")):
        FastClassifier(4).set_context(*args)


def test_classify_needs_a_context_and_room() -> None:
    batch = place([make_frame()] * 3)
    fc = FastClassifier(2)
    with pytest.raises(RuntimeError, match="set_context"):
        FastClassifier(4).classify(batch)
    fc.set_context(OUR_MAC, OUR_IP, BCAST, 1500)
    with pytest.raises(ValueError, match="batch of 3 frames exceeds the capacity 2"):
        fc.classify(batch)
    with pytest.raises(ValueError, match="capacity must be a positive int"):
        FastClassifier(0)


# --- UDP checksum: the port's flags and the partial-checksum rule (check 22) ---


def damaged(frame: bytes, pos: int, *, fix_ip: bool = False) -> bytes:
    """``frame`` with byte ``pos`` flipped (and the IPv4 header checksum put right)."""
    copy = bytearray(frame)
    copy[pos] ^= 0x01
    if fix_ip:
        fix_checksums(copy, True, False)
    return bytes(copy)


PARTIAL = make_frame(partial=True, payload=b"from a kernel with TX offload on")
COMPLETE = make_frame(payload=b"a complete checksum")
UDP_CSUM_HIGH = 14 + 20 + 6  # the high byte of the UDP checksum field

# (frame, rule on, port flag) -> (Python verdict kind, reason or how)
CHECKSUM_CASES = {
    "partial-rule-off": (PARTIAL, False, 0, Drop, DropReason.UDP_BAD_CHECKSUM),
    "partial-rule-on": (PARTIAL, True, 0, Deliver, UdpChecksum.PSEUDO),
    "partial-field-off-by-one": (
        damaged(PARTIAL, UDP_CSUM_HIGH + 1),
        True,
        0,
        Drop,
        DropReason.UDP_BAD_CHECKSUM,
    ),
    "partial-source-damaged": (
        damaged(PARTIAL, 14 + 12, fix_ip=True),
        True,
        0,
        Drop,
        DropReason.UDP_BAD_CHECKSUM,
    ),
    # the limit of the rule: the data is not covered by a partial checksum
    "partial-payload-damaged": (
        damaged(PARTIAL, 14 + 28 + 3),
        True,
        0,
        Deliver,
        UdpChecksum.PSEUDO,
    ),
    "complete-rule-on": (COMPLETE, True, 0, Deliver, UdpChecksum.VERIFIED),
    "wrong-rule-on": (damaged(COMPLETE, 14 + 28), True, 0, Drop, DropReason.UDP_BAD_CHECKSUM),
    "wrong-rule-off": (damaged(COMPLETE, 14 + 28), False, 0, Drop, DropReason.UDP_BAD_CHECKSUM),
    "flag-partial": (PARTIAL, False, RxChecksum.PARTIAL, Deliver, UdpChecksum.OFFLOADED),
    "flag-valid": (damaged(COMPLETE, 14 + 28), False, RxChecksum.VALID, Deliver, 1),
    "flag-unknown-value": (PARTIAL, False, 3, Drop, DropReason.UDP_BAD_CHECKSUM),
    "flag-on-zero-field": (
        make_frame(zero_udp_checksum=True),
        False,
        RxChecksum.PARTIAL,
        Deliver,
        0,
    ),
    "partial-closed-port": (
        make_frame(partial=True, dport=99),
        True,
        0,
        Slow,
        SlowKind.UDP_UNREACHABLE,
    ),
    "partial-closed-port-rule-off": (
        make_frame(partial=True, dport=99),
        False,
        0,
        Drop,
        DropReason.UDP_BAD_CHECKSUM,
    ),
}


@pytest.mark.parametrize("case", CHECKSUM_CASES)
def test_udp_checksum_flags_and_partial_rule(case: str) -> None:
    """Python and C take the same decision, and it is the documented one."""
    frame, rule, flag, kind, detail = CHECKSUM_CASES[case]
    ctx = CTX_PARTIAL if rule else CTX
    verdict = classify(frame, ctx, flag)
    assert isinstance(verdict, kind)
    if isinstance(verdict, Drop):
        assert verdict.reason == detail
    elif isinstance(verdict, Deliver):
        assert verdict.checksum == detail
    else:
        assert isinstance(verdict, Slow)
        assert verdict.kind == detail
    assert_agree([frame], ctx, flags=[flag])
    assert_agree([frame], ctx)  # the same frame without any flag


def test_checksum_constants_mirror_the_python_enums() -> None:
    from aionetmap._native._packet import lib as packet_lib

    for flag in RxChecksum:
        assert getattr(lib, f"FAST_RXCSUM_{flag.name}") == flag, flag.name
        assert getattr(packet_lib, f"PKT_RXCSUM_{flag.name}") == flag, flag.name
    assert lib.FAST_CSUM_VERIFIED == UdpChecksum.VERIFIED
    assert lib.FAST_CSUM_OFFLOADED == UdpChecksum.OFFLOADED
    assert lib.FAST_CSUM_PSEUDO == UdpChecksum.PSEUDO
    assert len(UdpChecksum) == 3


def test_flags_are_ignored_unless_the_batch_says_they_are_known() -> None:
    batch = place([PARTIAL], flags=[RxChecksum.PARTIAL])
    fc = classifier_for(CTX)
    assert c_rows(fc, batch)[0][:2] == (KIND_DELIVER, UdpChecksum.OFFLOADED)
    assert fc.csum_offloaded == 1
    batch.csum_known = False  # a port that knows nothing filled it since
    assert c_rows(fc, batch)[0][:2] == (KIND_DROP, DropReason.UDP_BAD_CHECKSUM)
    assert (fc.csum_offloaded, fc.csum_pseudo) == (0, 0)


def test_rebinding_a_port_sets_or_clears_its_wildcard_bit() -> None:
    fc = classifier_for(ClassifyContext(OUR_MAC, OUR_IP, BCAST, frozenset(), 1500))
    batch = place([make_frame(dst=BCAST, dst_mac=b"\xff" * 6, dport=7)])
    fc.bind(7)
    assert c_rows(fc, batch)[0][:2] == (KIND_DROP, DropReason.UDP_NO_LISTENER)
    fc.bind(7, wildcard=True)
    assert c_rows(fc, batch)[0][0] == KIND_DELIVER
    fc.unbind(7)
    fc.bind(7)  # unbind cleared the wildcard bit too
    assert c_rows(fc, batch)[0][0] == KIND_DROP


def test_listened_group_macs_pass_check_3() -> None:
    """A frame to a listened group address goes on like a broadcast one (so unicast IPv4
    inside it is refused at check 16, ARP is handed over); others stay ETH_MULTICAST."""
    group = GROUP_MACS[0]
    ctx = ClassifyContext(OUR_MAC, OUR_IP, BCAST, frozenset({7}), 1500, wildcard_ports={7})
    listening = dataclasses.replace(ctx, multicast_macs=frozenset({group}))
    udp_unicast = make_frame(dst_mac=group, dport=7)
    udp_bcast = make_frame(dst_mac=group, dst=BCAST, dport=7)
    arp = make_frame(dst_mac=group, ethertype=0x0806)
    for frame in (udp_unicast, udp_bcast, arp):
        assert classify(frame, ctx) == Drop(DropReason.ETH_MULTICAST)
    assert classify(udp_unicast, listening) == Drop(DropReason.IP_L2_BROADCAST)
    assert isinstance(classify(udp_bcast, listening), Deliver)
    assert isinstance(classify(arp, listening), Slow)
    assert_agree([udp_unicast, udp_bcast, arp], ctx)
    assert_agree([udp_unicast, udp_bcast, arp], listening)


def test_multicast_mac_table_is_checked() -> None:
    fc = FastClassifier(4)
    with pytest.raises(ValueError, match="not a group address"):
        fc.set_multicast_macs([OUR_MAC])
    with pytest.raises(ValueError, match="at most 256"):
        fc.set_multicast_macs(b"\x01" + i.to_bytes(5, "big") for i in range(257))
    fc.set_multicast_macs([GROUP_MACS[0]] * 256)  # a full table is fine
