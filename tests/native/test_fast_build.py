"""FastUdpBuilder.build_to (C) against aionetmap.stack.udp.build_udp_frame and the Host's send path
(the references), with scapy as an independent parser of every frame it writes."""

from __future__ import annotations

import re
from ipaddress import IPv4Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from aionetmap._native.fast_builder import DestinationTable, FastUdpBuilder
from aionetmap._native.fast_common import MAX_UDP_PAYLOAD
from aionetmap.stack.checksum import inet_checksum, pseudo_header_sum
from aionetmap.stack.config import HostConfig
from aionetmap.stack.host import Host
from aionetmap.stack.udp import build_udp_frame
from tests.native.udp_build import build_each

SRC_MAC, DST_MAC = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
SRC_IP, DST_IP = 0x0A000001, 0x0A000002
MTU = 1500


def builder(capacity: int = 256, arena_size: int | None = None, ttl: int = 64) -> FastUdpBuilder:
    b = FastUdpBuilder(capacity, arena_size=arena_size)
    b.set_source(SRC_MAC, SRC_IP, ttl)
    return b


def scapy_checks(frame: bytes) -> tuple[int, int, bytes]:
    """Parse with scapy, recompute both checksums there, and return (ip ok, udp ok, payload)."""
    pkt = Ether(frame)
    ip_sum, udp_sum = pkt[IP].chksum, pkt[UDP].chksum
    del pkt[IP].chksum
    del pkt[UDP].chksum
    again = Ether(bytes(pkt))
    return ip_sum == again[IP].chksum, udp_sum == again[UDP].chksum, bytes(pkt[UDP].payload)


def test_every_payload_length_up_to_the_mtu() -> None:
    """Lengths 0..mtu-28, each equal to build_udp_frame and valid for scapy."""
    b = builder()
    sizes = list(range(MTU - 28 + 1))
    frames: list[bytes] = []
    while len(frames) < len(sizes):
        chunk = sizes[len(frames) : len(frames) + 256]
        payloads = [bytes((n + i) & 0xFF for i in range(n)) for n in chunk]
        batch = build_each(b, payloads, DST_MAC * len(chunk), [DST_IP] * len(chunk), chunk, 4000)
        assert batch.count == len(chunk)
        frames += batch.frames()
    for n, frame in enumerate(frames):
        payload = bytes((n + i) & 0xFF for i in range(n))
        ref = build_udp_frame(SRC_MAC, DST_MAC, SRC_IP, DST_IP, 4000, n, payload, ident=n)
        assert frame == ref, n
    for n in range(0, len(frames), 7):  # scapy is slow: a spread of lengths, odd and even
        assert scapy_checks(frames[n]) == (True, True, bytes((n + i) & 0xFF for i in range(n)))
    assert b.ident == len(sizes)


macs = st.binary(min_size=6, max_size=6)
u32 = st.integers(0, 0xFFFFFFFF)
u16 = st.integers(0, 0xFFFF)


@settings(max_examples=150)
@given(
    st.lists(st.tuples(st.binary(max_size=MTU - 28), macs, u32, u16), max_size=10),
    macs,
    u32,
    u16,
    st.integers(0, 255),
    u16,
    st.sampled_from([0, 1, 100, 4094]),
)
def test_random_datagrams_equal_build_udp_frame(
    items: list[tuple[bytes, bytes, int, int]],
    src_mac: bytes,
    src_ip: int,
    src_port: int,
    ttl: int,
    ident: int,
    vlan: int,
) -> None:
    b = FastUdpBuilder(16)
    b.set_source(src_mac, src_ip, ttl, vlan, group_ttl=ttl)  # groups too: any u32
    b.ident = ident
    batch = build_each(
        b,
        [p for p, _, _, _ in items],
        b"".join(m for _, m, _, _ in items),
        [ip for _, _, ip, _ in items],
        [port for _, _, _, port in items],
        src_port,
    )
    want = [
        build_udp_frame(
            src_mac,
            mac,
            src_ip,
            ip,
            src_port,
            port,
            payload,
            ttl=ttl,
            ident=(ident + i) & 0xFFFF,
            vlan_tci=vlan or None,
        )
        for i, (payload, mac, ip, port) in enumerate(items)
    ]
    assert batch.frames() == want
    assert batch.offsets[: batch.count].tolist() == [
        sum(map(len, want[:i])) for i in range(len(want))
    ]
    assert b.ident == (ident + len(items)) & 0xFFFF


@pytest.mark.parametrize("connected", [False, True], ids=["unconnected", "connected"])
def test_same_frames_as_a_host_by_its_ident_rules(connected: bool) -> None:
    """The Host numbers what it sends (0 for unconnected atomic datagrams, a per-port
    counter for connected ones); a builder given ``reserve_idents`` writes the same bytes."""
    seed = 0xFFFE  # a connected port's counter starts from it, spread by the port number
    config = HostConfig(ip_ident_seed=seed, default_ttl=33)
    host = Host(SRC_MAC, "10.0.0.1/24", config=config)
    twin = Host(SRC_MAC, "10.0.0.1/24", config=config)
    payloads = [bytes([i]) * i for i in range(5)]
    for i, payload in enumerate(payloads):
        host.send_datagram(payload, ("10.0.0.255", 7000 + i), 53, now=0.0, connected=connected)
    b = builder(ttl=33)
    b.ident, b.ident_step = twin.reserve_idents(5, 53 if connected else None)
    ports = [7000 + i for i in range(5)]
    batch = build_each(b, payloads, b"\xff" * 30, [0x0A0000FF] * 5, ports, 53)
    assert batch.frames() == host.frames_to_send()
    ids = [int.from_bytes(f[18:20], "big") for f in batch.frames()]
    assert (ids[0] == 0 and len(set(ids)) == 1) is not connected
    assert twin.reserve_idents(1, 53 if connected else None) == host.reserve_idents(
        1, 53 if connected else None
    )


def test_ident_step_wraps() -> None:
    b = builder()
    b.ident, b.ident_step = 0xFFFF, 3
    batch = build_each(b, [b"a", b"b"], DST_MAC * 2, [DST_IP] * 2, [53, 53], 4000)
    assert [int.from_bytes(f[18:20], "big") for f in batch.frames()] == [0xFFFF, 2]
    assert b.ident == 5
    with pytest.raises(ValueError, match="ident_step"):
        b.ident_step = 0x10000


def test_a_computed_zero_udp_checksum_is_sent_as_ffff() -> None:
    # Choose the last payload word so that the checksum comes out as zero: with it at 0
    # the sum is S and the checksum ~S; putting ~S there makes the sum 0xFFFF.
    head = b"zero checksum!"
    segment = (4000).to_bytes(2, "big") + (53).to_bytes(2, "big") + (8 + 16).to_bytes(2, "big")
    pseudo = pseudo_header_sum(SRC_IP, DST_IP, 17, 24)
    fixer = inet_checksum(segment + b"\0\0" + head + b"\0\0", pseudo)
    payload = head + fixer.to_bytes(2, "big")
    assert inet_checksum(segment + b"\0\0" + payload, pseudo) == 0
    batch = build_each(builder(), [payload], DST_MAC, [DST_IP], [53], 4000)
    frame = batch.frames()[0]
    assert frame[40:42] == b"\xff\xff"
    assert frame == build_udp_frame(SRC_MAC, DST_MAC, SRC_IP, DST_IP, 4000, 53, payload)


def test_capacity_and_arena_limit_the_batch() -> None:
    b = builder(capacity=4, arena_size=3 * (42 + 100) + 41)
    payloads = [bytes(100)] * 6
    batch = build_each(b, payloads, DST_MAC * 6, [DST_IP] * 6, [1] * 6, 2)
    assert batch.count == 3  # the fourth frame misses the arena by one byte
    assert batch.used == 3 * 142
    assert b.ident == 3
    b2 = builder(capacity=4)
    assert build_each(b2, payloads, DST_MAC * 6, [DST_IP] * 6, [1] * 6, 2).count == 4
    assert build_each(b2, [], b"", [], [], 2).count == 0
    assert b2.ident == 4


def test_batch_is_reused_and_rewritten() -> None:
    b = builder(capacity=4)
    first = build_each(b, [b"aaaa"] * 3, DST_MAC * 3, [DST_IP] * 3, [9] * 3, 8)
    second = build_each(b, [b"b"], DST_MAC, [DST_IP], [9], 8)
    assert first is second is b.batch
    assert second.count == 1
    ref = build_udp_frame(SRC_MAC, DST_MAC, SRC_IP, DST_IP, 8, 9, b"b", ident=3)
    assert second.frames() == [ref]


def test_bytes_like_payloads() -> None:
    b = builder()
    data = bytes(range(40))
    payloads: list[bytes | bytearray | memoryview] = [
        bytearray(data),
        memoryview(data)[3:9],
        memoryview(data).cast("I"),  # len() counts 10 items; the datagram carries 40 bytes
    ]
    batch = build_each(b, payloads, DST_MAC * 3, [DST_IP] * 3, [5] * 3, 6)
    want = [bytes(p) for p in payloads]
    got = [frame[42:] for frame in batch.frames()]
    assert got == want
    assert [IPv4Address(Ether(f)[IP].dst) for f in batch.frames()] == [IPv4Address(DST_IP)] * 3


def test_max_udp_payload_is_accepted_and_one_more_byte_refused() -> None:
    b = builder(capacity=2, arena_size=65600)
    batch = build_each(b, [bytes(MAX_UDP_PAYLOAD)], DST_MAC, [DST_IP], [5], 6)
    assert batch.count == 1
    assert batch.frames()[0] == build_udp_frame(
        SRC_MAC, DST_MAC, SRC_IP, DST_IP, 6, 5, bytes(MAX_UDP_PAYLOAD)
    )
    with pytest.raises(ValueError, match="65508-byte payload exceeds 65507 bytes"):
        build_each(b, [bytes(MAX_UDP_PAYLOAD + 1)], DST_MAC, [DST_IP], [5], 6)


def one_table() -> DestinationTable:
    table = DestinationTable(1)
    table.add("dst", DST_MAC, DST_IP, 1)
    return table


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        (([b"x"], [0, 0], 2), ValueError, "1 payloads, 2 indexes"),
        (([b"x"], [1], 2), ValueError, "index 1 is not in the table"),
        (([b"x"], [-1], 2), ValueError, "index -1 is not in the table"),
        (([b"x"], [0], 65536), ValueError, "source port must be in 0..65535"),
        ((["x"], [0], 2), TypeError, "payloads must be bytes-like"),
        (([bytes(3000)], [0], 2), ValueError, "does not fit in the 2048-byte"),
    ],
)
def test_bad_input_is_refused_with_the_cause(
    args: tuple[list[bytes], list[int], int], error: type[Exception], match: str
) -> None:
    b = builder(capacity=1)
    payloads, index, src_port = args
    with pytest.raises(
        error, match=re.escape("FastUdpBuilder.build_to: ") + ".*" + re.escape(match)
    ):
        b.build_to(payloads, index, one_table(), src_port)
    assert b.ident == 0
    assert b.batch.count == 0


@pytest.mark.parametrize(
    ("payloads", "index", "match"),
    [
        ([b"a", b"b", bytes(MAX_UDP_PAYLOAD + 1)], [0, 0, 0], "65508-byte payload exceeds"),
        ([b"a", b"b", b"c"], [0, 1, 0], "index 1 is not in the table"),
        ([b"a", b"b", b"c"], [0, 0, -1], "index -1 is not in the table"),
    ],
)
def test_an_invalid_datagram_mid_batch_keeps_nothing(
    payloads: list[bytes], index: list[int], match: str
) -> None:
    b = builder(capacity=8, arena_size=70000)
    b.ident = 10
    build_each(b, [b"old"], DST_MAC, [DST_IP], [9], 8)
    with pytest.raises(ValueError, match=re.escape(match)):
        b.build_to(payloads, index, one_table(), 8)
    assert (b.batch.count, b.ident) == (0, 11)


@pytest.mark.parametrize(
    ("mac", "ip", "port", "match"),
    [
        (DST_MAC * 2, DST_IP, 1, "MAC address must be 6 bytes"),
        (DST_MAC, 2**32, 1, "IPv4 address must be a 32-bit integer"),
        (DST_MAC, -1, 1, "IPv4 address must be a 32-bit integer"),
        (DST_MAC, DST_IP, 65536, "UDP port must be in 0..65535"),
        (DST_MAC, DST_IP, -1, "UDP port must be in 0..65535"),
    ],
)
def test_a_bad_destination_is_refused_by_the_table(
    mac: bytes, ip: int, port: int, match: str
) -> None:
    """Destinations reach the C loop only through the table, which checks each one."""
    table = DestinationTable(1)
    with pytest.raises(
        ValueError, match=re.escape("DestinationTable.add: ") + ".*" + re.escape(match)
    ):
        table.add("dst", mac, ip, port)
    assert (table.count, table.index) == (0, {})


def test_source_and_ident_are_validated() -> None:
    b = FastUdpBuilder(2)
    with pytest.raises(RuntimeError, match="set_source"):
        b.build_to([b""], [0], one_table(), 2)
    with pytest.raises(ValueError, match=r"TTL must be in 0\.\.255"):
        b.set_source(SRC_MAC, SRC_IP, 256)
    with pytest.raises(ValueError, match="MAC address must be 6 bytes"):
        b.set_source(SRC_MAC + b"\0", SRC_IP)
    with pytest.raises(ValueError, match="32-bit integer"):
        b.set_source(SRC_MAC, 2**32)
    with pytest.raises(ValueError, match=r"ident must be in 0\.\.65535"):
        b.ident = 65536
    with pytest.raises(ValueError, match="capacity must be a positive int"):
        FastUdpBuilder(0)


def test_tagged_frames_fill_the_arena_by_their_tagged_size() -> None:
    """A tag adds 4 bytes per frame: the arena check counts them (46 + payload)."""
    b = FastUdpBuilder(8, arena_size=3 * 56 + 10)
    b.set_source(SRC_MAC, SRC_IP, 64, 7)
    batch = build_each(b, [bytes(10)] * 8, DST_MAC * 8, [DST_IP] * 8, [53] * 8, 4000)
    assert batch.count == 3
    assert batch.lengths[:3].tolist() == [56] * 3
    frame = Ether(batch.frames()[0])
    assert (frame.type, frame.vlan, frame.prio) == (0x8100, 7, 0)
    assert scapy_checks(batch.frames()[0])[:2] == (True, True)


@pytest.mark.parametrize("vlan", [-1, 4095, 65536])
def test_set_source_refuses_bad_vlan_ids(vlan: int) -> None:
    with pytest.raises(ValueError, match="VLAN id"):
        FastUdpBuilder(1).set_source(SRC_MAC, SRC_IP, 64, vlan)
