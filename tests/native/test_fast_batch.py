"""Whole batches through the C fast path: every verdict in one batch, full 256-frame
batches, absolute offsets in unordered and clamped arenas, results rewritten between calls,
and builder -> classifier round trips."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Packet

from aionetmap._native.batch import FrameBatch
from aionetmap._native.fast_builder import FastUdpBuilder
from aionetmap._native.fast_classifier import FastClassifier
from aionetmap._native.fast_common import KIND_DELIVER, KIND_DROP, KIND_GROUP, KIND_SLOW
from aionetmap.ports.pipe import pipe_pair
from aionetmap.stack.classify import (
    ClassifyContext,
    Deliver,
    DeliverGroup,
    Drop,
    Slow,
    SlowKind,
    classify,
)
from aionetmap.stack.drops import DropReason
from tests.native.udp_build import build_each

OUR_MAC, PEER_MAC = "02:00:00:00:00:01", "02:00:00:00:00:02"
OUR_IP, PEER_IP = "10.0.0.1", "10.0.0.2"
CTX = ClassifyContext(bytes.fromhex("020000000001"), 0x0A000001, 0x0A0000FF, frozenset({53}))


def classifier(capacity: int = 256, ctx: ClassifyContext = CTX) -> FastClassifier:
    fc = FastClassifier(capacity)
    fc.set_context(ctx.mac, ctx.ip, ctx.broadcast, ctx.mtu, ctx.vlan)
    for port in ctx.ports:
        fc.bind(port, wildcard=port in ctx.wildcard_ports)
    return fc


def udp_frame(dport: int = 53, payload: bytes = b"data", **ip: Any) -> Packet:
    fields: dict[str, Any] = {"src": PEER_IP, "dst": OUR_IP}
    fields.update(ip)
    return Ether(dst=OUR_MAC, src=PEER_MAC) / IP(**fields) / UDP(sport=4000, dport=dport) / payload


def patched(frame: Packet, offset: int, value: bytes) -> bytes:
    data = bytes(frame)
    return data[:offset] + value + data[offset + len(value) :]


def every_verdict() -> list[bytes]:
    """At least one frame for each reason and slow kind classify() can return."""
    good = udp_frame()
    bcast = Ether(dst="ff:ff:ff:ff:ff:ff", src=PEER_MAC)
    return [
        bytes(good),
        bytes(
            Ether(dst=OUR_MAC, src=PEER_MAC)
            / Dot1Q(vlan=0)
            / IP(src=PEER_IP, dst=OUR_IP)
            / UDP(dport=53)
        ),
        bytes(Ether(dst=OUR_MAC, src=PEER_MAC) / Dot1Q(vlan=3) / IP(src=PEER_IP, dst=OUR_IP)),
        bytes(good)[:10],
        bytes(udp_frame(payload=bytes(1472))) + bytes(5),
        patched(good, 0, b"\x02\x00\x00\x00\x00\x99"),
        patched(good, 0, b"\x01\x00\x5e\x00\x00\x01"),
        patched(good, 6, b"\x03"),
        patched(good, 12, b"\x88\xb5"),
        patched(good, 12, b"\x86\xdd"),
        bytes(good)[:33],
        patched(good, 14, b"\x65"),
        patched(good, 14, b"\x44"),
        bytes(udp_frame(len=19)),
        patched(good, 24, b"\x00\x00"),
        bytes(udp_frame(src="127.0.0.1")),
        bytes(udp_frame(dst="10.0.0.9")),
        bytes(bcast / IP(src=PEER_IP, dst=OUR_IP) / UDP(dport=53)),
        bytes(Ether(dst=OUR_MAC, src=PEER_MAC) / IP(src=PEER_IP, dst=OUR_IP) / TCP()),
        bytes(Ether(dst=OUR_MAC, src=PEER_MAC) / IP(src=PEER_IP, dst=OUR_IP, proto=17) / b"abc"),
        patched(good, 38, b"\x00\x07"),
        patched(good, 40, b"\x12\x34"),
        bytes(bcast / IP(src=PEER_IP, dst="10.0.0.255") / UDP(dport=99)),
        bytes(Ether(dst=OUR_MAC, src=PEER_MAC) / ARP(psrc=PEER_IP, pdst=OUR_IP)),
        bytes(Ether(dst=OUR_MAC, src=PEER_MAC) / IP(src=PEER_IP, dst=OUR_IP) / ICMP()),
        bytes(udp_frame(flags="MF")),
        bytes(udp_frame(dport=99)),
        patched(udp_frame(), 40, b"\x00\x00"),
        bytes(Ether(dst=OUR_MAC, src=PEER_MAC) / IP(src=PEER_IP, dst="239.1.2.3") / UDP(dport=53)),
        bytes(Ether(dst=OUR_MAC, src=PEER_MAC) / IP(src=PEER_IP, dst="224.0.0.1", proto=2)),
    ]


def place(frames: list[bytes], order: list[int], gap: int = 3) -> FrameBatch:
    """Frames written into the arena in ``order`` (so offsets need not ascend)."""
    batch = FrameBatch(max(1, len(frames)), sum(map(len, frames)) + gap * len(frames) + 1)
    pos = 1
    for i in order:
        batch.data[pos : pos + len(frames[i])] = frames[i]
        batch.offsets[i], batch.lengths[i] = pos, len(frames[i])
        pos += len(frames[i]) + gap
    batch.count = len(frames)
    return batch


def rows(fc: FastClassifier, n: int) -> list[tuple[int, ...]]:
    cols = (fc.kinds, fc.reasons, fc.payload_offsets, fc.payload_lengths, fc.src_ips)
    return [(*(c[i] for c in cols), fc.src_ports[i], fc.dst_ports[i]) for i in range(n)]


def expected(batch: FrameBatch, ctx: ClassifyContext = CTX) -> list[tuple[int, ...]]:
    out: list[tuple[int, ...]] = []
    for i in range(batch.count):
        off, v = batch.offsets[i], classify(batch.frame(i), ctx)
        if isinstance(v, Deliver | DeliverGroup):
            out.append(
                (
                    KIND_GROUP if isinstance(v, DeliverGroup) else KIND_DELIVER,
                    0,
                    off + v.payload_offset,
                    v.payload_length,
                    v.src_ip,
                    v.src_port,
                    v.dst_port,
                )
            )
        elif isinstance(v, Drop):
            out.append((KIND_DROP, int(v.reason), 0, 0, 0, 0, 0))
        else:
            assert isinstance(v, Slow)  # no IPv6 in CTX: no Deliver6
            out.append((KIND_SLOW, int(v.kind), off + v.l3_offset, 0, 0, 0, 0))
    return out


def test_one_batch_with_every_verdict() -> None:
    frames = every_verdict()
    batch = place(frames, list(reversed(range(len(frames)))))
    verdicts = {classify(f, CTX) for f in frames}
    reasons = {v.reason for v in verdicts if isinstance(v, Drop)}
    vlan_host_only = {DropReason.ETH_VLAN_MISMATCH, DropReason.ETH_VLAN_UNTAGGED}
    # 60-79 (IPv6): CTX has no IPv6 addresses, so IPv6 is all the Python side's here
    # (tests/native/test_fast_classify6.py has them).
    ipv6 = {r for r in DropReason if 60 <= r < 80}
    assert reasons == {r for r in DropReason if r < 100} - vlan_host_only - ipv6
    assert {v.kind for v in verdicts if isinstance(v, Slow)} == set(SlowKind) - {
        SlowKind.MULTICAST_UDP  # a DeliverGroup now
    }
    assert sum(isinstance(v, DeliverGroup) for v in verdicts) == 1
    fc = classifier()
    assert fc.classify(batch) == len(frames)
    assert rows(fc, len(frames)) == expected(batch)
    delivered = [i for i in range(len(frames)) if fc.kinds[i] == KIND_DELIVER]
    assert fc.delivered == len(delivered) == 3
    assert (fc.dropped, fc.grouped, fc.slow) == (20, 1, 6)
    payloads = [
        batch.data[fc.payload_offsets[i] : fc.payload_offsets[i] + fc.payload_lengths[i]]
        for i in delivered
    ]
    assert [bytes(p) for p in payloads] == [b"data", b"", b"data"]


def test_full_batch_of_256_builder_frames() -> None:
    builder = FastUdpBuilder(256)
    builder.set_source(bytes.fromhex("020000000002"), 0x0A000002)
    payloads = [i.to_bytes(2, "big") * 11 for i in range(256)]  # 64-byte frames
    batch = build_each(builder, payloads, CTX.mac * 256, [CTX.ip] * 256, [53] * 256, 4000)
    assert batch.count == 256
    assert set(batch.lengths.tolist()) == {64}
    fc = classifier()
    assert fc.classify(batch) == 256
    assert fc.delivered == 256
    assert fc.payload_offsets.tolist() == [64 * i + 42 for i in range(256)]
    got = [
        bytes(batch.data[o : o + n])
        for o, n in zip(fc.payload_offsets, fc.payload_lengths, strict=True)
    ]
    assert got == payloads
    assert set(fc.src_ips.tolist()) == {0x0A000002}
    assert set(fc.src_ports.tolist()) == {4000}


def test_full_batch_of_256_mixed_frames_in_shuffled_arena() -> None:
    base = every_verdict()
    frames = [base[i % len(base)] for i in range(256)]
    order = [(i * 97) % 256 for i in range(256)]  # 97 is coprime with 256: a permutation
    batch = place(frames, order, gap=5)
    fc = classifier()
    fc.classify(batch)
    assert rows(fc, 256) == expected(batch)


def test_frames_reaching_past_the_arena_are_cut_like_a_slice() -> None:
    good = bytes(udp_frame())
    batch = FrameBatch(5, 100)
    batch.data[: len(good)] = good
    batch.data[60:100] = good[:40]
    cases = [(0, len(good)), (60, len(good)), (0, 0xFFFFFFFF), (100, 10), (0xFFFFFFF0, 0xFFFFFFFF)]
    for i, (off, n) in enumerate(cases):
        batch.offsets[i], batch.lengths[i] = off, n
    batch.count = len(cases)
    fc = classifier()
    fc.classify(batch)
    assert rows(fc, len(cases)) == expected(batch)
    # 0xFFFFFFFF bytes from 0 is the whole arena: the good frame plus trailing padding.
    kinds = [KIND_DELIVER, KIND_DROP, KIND_DELIVER, KIND_DROP, KIND_DROP]
    assert [fc.kinds[i] for i in range(5)] == kinds
    assert [fc.reasons[i] for i in (3, 4)] == [DropReason.ETH_TRUNCATED] * 2


def test_results_are_rewritten_by_each_call() -> None:
    good, bad = bytes(udp_frame()), patched(udp_frame(), 24, b"\x00\x00")
    fc = classifier()
    fc.classify(place([good, good], [0, 1]))
    assert fc.delivered == 2
    batch = place([bad], [0])
    assert fc.classify(batch) == 1
    assert rows(fc, 1) == [(KIND_DROP, DropReason.IP_BAD_CHECKSUM, 0, 0, 0, 0, 0)]
    assert (fc.delivered, fc.dropped, fc.slow) == (0, 1, 0)
    batch.count = 0
    assert fc.classify(batch) == 0
    assert (fc.delivered, fc.dropped, fc.slow) == (0, 0, 0)


@settings(max_examples=60)
@given(
    st.lists(st.binary(max_size=200), min_size=1, max_size=40),
    st.sets(st.integers(1, 65535), min_size=1, max_size=5),
    st.integers(1, 40),
)
def test_builder_to_classifier_round_trip(payloads: list[bytes], ports: set[int], cap: int) -> None:
    """What the builder writes, the classifier delivers: same payloads, ports, source."""
    dports = [sorted(ports)[i % len(ports)] for i in range(len(payloads))]
    builder = FastUdpBuilder(cap)
    builder.set_source(bytes.fromhex("020000000002"), 0x0A000002)
    batch = build_each(
        builder, payloads, CTX.mac * len(payloads), [CTX.ip] * len(payloads), dports, 7
    )
    n = min(cap, len(payloads))
    assert batch.count == n
    fc = classifier(cap, ClassifyContext(CTX.mac, CTX.ip, CTX.broadcast, frozenset(ports)))
    fc.classify(batch)
    assert fc.delivered == n
    got = [
        bytes(batch.data[fc.payload_offsets[i] : fc.payload_offsets[i] + fc.payload_lengths[i]])
        for i in range(n)
    ]
    assert got == payloads[:n]
    assert fc.dst_ports.tolist()[:n] == dports[:n]
    assert set(fc.src_ports.tolist()[:n]) == {7}


def test_through_the_software_pipe() -> None:
    """Builder batch -> PipePort (the ring C code) -> received batch -> classifier: the
    arrays of three native modules used together, as the transport does."""
    a, b = pipe_pair(slots=128, buf_size=2048)  # a ring holds slots - 1
    try:
        builder = FastUdpBuilder(64)
        builder.set_source(bytes.fromhex("020000000002"), 0x0A000002)
        payloads = [bytes([i]) * i for i in range(64)]
        sent = build_each(builder, payloads, CTX.mac * 64, [CTX.ip] * 64, [53, 54] * 32, 4000)
        assert a.send_batch(sent) == 64
        a.flush()
        received = FrameBatch(64, 64 * 2048)
        assert b.recv(received) == 64
        fc = classifier(64)
        fc.classify(received)
        assert rows(fc, 64) == expected(received)
        assert fc.delivered == 32  # port 54 is not bound
        assert [fc.kinds[i] for i in (0, 1)] == [KIND_DELIVER, KIND_SLOW]
        offs, lens = fc.payload_offsets, fc.payload_lengths
        got = [bytes(received.data[offs[i] : offs[i] + lens[i]]) for i in range(0, 64, 2)]
        assert got == payloads[::2]
    finally:
        a.close()
        b.close()


def test_vlan_host_batch_agrees_and_counts_every_vlan_reason() -> None:
    ctx = ClassifyContext(CTX.mac, CTX.ip, CTX.broadcast, frozenset({53}), vlan=3)
    eth = Ether(dst=OUR_MAC, src=PEER_MAC)
    body = IP(src=PEER_IP, dst=OUR_IP) / UDP(sport=4000, dport=53) / b"data"
    frames = [bytes(eth / Dot1Q(vlan=v) / body) for v in (3, 4, 0, 4095)] + [bytes(eth / body)]
    batch = place(frames, list(range(len(frames))))
    fc = classifier(ctx=ctx)
    assert fc.classify(batch) == len(frames)
    assert rows(fc, len(frames)) == expected(batch, ctx)
    assert [fc.reasons[i] for i in range(len(frames))] == [
        0,
        DropReason.ETH_VLAN_MISMATCH,
        DropReason.ETH_VLAN_UNTAGGED,
        DropReason.ETH_VLAN_MISMATCH,
        DropReason.ETH_VLAN_UNTAGGED,
    ]


def test_broadcast_batch_reaches_only_wildcard_ports() -> None:
    ctx = ClassifyContext(CTX.mac, CTX.ip, CTX.broadcast, frozenset({53, 54}), wildcard_ports={54})
    bcast = Ether(dst="ff:ff:ff:ff:ff:ff", src=PEER_MAC)
    frames = [
        bytes(bcast / IP(src=PEER_IP, dst=dst) / UDP(sport=4000, dport=port) / b"b")
        for dst in ("10.0.0.255", "255.255.255.255")
        for port in (53, 54)
    ]
    batch = place(frames, list(range(len(frames))))
    fc = classifier(ctx=ctx)
    fc.classify(batch)
    assert rows(fc, len(frames)) == expected(batch, ctx)
    assert [fc.kinds[i] for i in range(len(frames))] == [KIND_DROP, KIND_DELIVER] * 2
    fc.bind(54)  # bound again on the unicast address only: no more broadcast
    fc.classify(batch)
    assert [fc.kinds[i] for i in range(len(frames))] == [KIND_DROP] * 4
