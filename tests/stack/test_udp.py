"""UDP: golden frames, build_udp_frame checked by scapy, length and checksum checks."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from aionetmap.stack.drops import DropReason
from aionetmap.stack.errors import IntegrityError
from aionetmap.stack.udp import (
    UdpHeader,
    build_udp_frame,
    build_udp_segment,
    parse_udp_segment,
    verify_udp_checksum,
)

A_MAC, B_MAC = "02:00:00:00:00:01", "02:00:00:00:00:02"
A_IP, B_IP = "10.0.0.1", "10.0.0.2"


@pytest.mark.parametrize(
    ("name", "sport", "dport", "payload"),
    [
        ("udp", 40000, 53, b"hello golden!"),
        ("udp_empty", 1, 65535, b""),
    ],
)
def test_build_matches_golden(
    golden: Callable[[str], bytes], name: str, sport: int, dport: int, payload: bytes
) -> None:
    frame = build_udp_frame(A_MAC, B_MAC, A_IP, B_IP, sport, dport, payload, ident=0x1234)
    assert frame == golden(name)


def test_parse_golden(golden: Callable[[str], bytes]) -> None:
    segment = golden("udp")[34:]
    header, payload = parse_udp_segment(segment, A_IP, B_IP)
    assert header == UdpHeader(40000, 53, 21)
    assert header.checksum == int.from_bytes(segment[6:8], "big")
    assert bytes(payload) == b"hello golden!"
    assert bytes(header) == segment[:8]


def test_zero_checksum_is_accepted(golden: Callable[[str], bytes]) -> None:
    segment = golden("udp_zero_checksum")[34:]
    header, payload = parse_udp_segment(segment, A_IP, B_IP)
    assert header.checksum == 0
    assert bytes(payload) == b"no checksum"


def test_bad_checksum(golden: Callable[[str], bytes]) -> None:
    segment = bytearray(golden("udp")[34:])
    segment[-1] ^= 0x01
    assert not verify_udp_checksum(segment, A_IP, B_IP)
    with pytest.raises(IntegrityError) as info:
        parse_udp_segment(segment, A_IP, B_IP)
    assert info.value.reason is DropReason.UDP_BAD_CHECKSUM


def test_checksum_depends_on_pseudo_header(golden: Callable[[str], bytes]) -> None:
    segment = golden("udp")[34:]
    with pytest.raises(IntegrityError, match="checksum"):
        parse_udp_segment(segment, A_IP, "10.0.0.3")


def test_extra_ip_payload_after_udp_length_is_ignored(golden: Callable[[str], bytes]) -> None:
    segment = golden("udp")[34:] + b"trailer"
    _, payload = parse_udp_segment(segment, A_IP, B_IP)
    assert bytes(payload) == b"hello golden!"


@pytest.mark.parametrize(
    ("segment", "reason"),
    [
        *(pytest.param(bytes(n), DropReason.UDP_TRUNCATED, id=f"cut-{n}") for n in range(8)),
        pytest.param(bytes.fromhex("0001000200070000"), DropReason.UDP_BAD_LENGTH, id="len-7"),
        pytest.param(bytes.fromhex("0001000200000000"), DropReason.UDP_BAD_LENGTH, id="len-0"),
        pytest.param(
            bytes.fromhex("00010002000a0000") + b"x", DropReason.UDP_TRUNCATED, id="len-10"
        ),
    ],
)
def test_length_errors(segment: bytes, reason: DropReason) -> None:
    with pytest.raises(IntegrityError) as info:
        UdpHeader.from_bytes(segment)
    assert info.value.reason is reason


@settings(max_examples=60)
@given(
    st.integers(1, 0xFFFF),
    st.integers(1, 0xFFFF),
    st.binary(max_size=200),
    st.integers(1, 255),
    st.integers(0, 0xFFFF),
)
def test_frame_checked_by_scapy(
    sport: int, dport: int, payload: bytes, ttl: int, ident: int
) -> None:
    raw = build_udp_frame(
        A_MAC, B_MAC, "192.0.2.7", "198.51.100.9", sport, dport, payload, ttl, ident
    )
    frame = Ether(raw)
    ip, udp = frame[IP], frame[UDP]
    # Let scapy recompute both checksums from our fields and compare.
    fresh = Ether(raw)
    del fresh[IP].chksum
    del fresh[UDP].chksum
    recomputed = Ether(bytes(fresh))
    assert (ip.chksum, udp.chksum) == (recomputed[IP].chksum, recomputed[UDP].chksum)
    assert (udp.sport, udp.dport, udp.len) == (sport, dport, 8 + len(payload))
    assert (ip.ttl, ip.id, ip.len) == (ttl, ident, 28 + len(payload))
    assert bytes(udp.payload) == payload
    assert frame.src == A_MAC
    assert frame.dst == B_MAC


def test_segment_round_trip() -> None:
    segment = build_udp_segment(A_IP, B_IP, 5, 6, b"data")
    header, payload = parse_udp_segment(memoryview(segment), A_IP, B_IP)
    assert (header.src_port, header.dst_port, header.length, bytes(payload)) == (5, 6, 12, b"data")


@pytest.mark.parametrize(
    "args",
    [
        pytest.param((-1, 1, 8), id="sport"),
        pytest.param((1, 65536, 8), id="dport"),
        pytest.param((1, 1, 7), id="length"),
    ],
)
def test_constructor_rejects_bad_values(args: tuple[int, int, int]) -> None:
    with pytest.raises(ValueError, match="UDP"):
        UdpHeader(*args)
