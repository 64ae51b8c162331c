"""The Internet checksum and the UDP pseudo-header checksum, against RFC 1071 and scapy."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP
from scapy.utils import checksum as scapy_checksum

from aionetmap.stack.checksum import inet_checksum, inet_sum, pseudo_header_sum, udp_checksum


def _reference_sum(data: bytes) -> int:
    """Word-by-word ones' complement sum with end-around carry, straight from RFC 1071."""
    if len(data) % 2:
        data += b"\0"
    total = 0
    for i in range(0, len(data), 2):
        total += data[i] << 8 | data[i + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return total


def test_rfc1071_example() -> None:
    # RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
    data = bytes.fromhex("0001f203f4f5f6f7")
    assert inet_sum(data) == 0xDDF2
    assert inet_checksum(data) == 0x220D


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(b"", 0xFFFF, id="empty"),
        pytest.param(bytes(20), 0xFFFF, id="all-zero"),
        pytest.param(b"\xff\xff", 0x0000, id="negative-zero"),
        pytest.param(b"\x01", 0xFEFF, id="odd-byte-padded-on-the-right"),
        pytest.param(b"\x00\x01\xff\xfe", 0x0000, id="sums-to-ffff"),
    ],
)
def test_edge_cases(data: bytes, expected: int) -> None:
    assert inet_checksum(data) == expected


@settings(max_examples=300)
@given(st.binary(max_size=300), st.integers(0, 0x3FFFF))
def test_matches_rfc1071_reference(data: bytes, initial: int) -> None:
    assert inet_sum(data) == _reference_sum(data)
    folded = _reference_sum(data) + initial
    while folded > 0xFFFF:
        folded = (folded & 0xFFFF) + (folded >> 16)
    assert inet_sum(data, initial) == folded


@settings(max_examples=200)
@given(st.binary(max_size=300))
def test_matches_scapy(data: bytes) -> None:
    assert inet_checksum(data) == scapy_checksum(data)


@settings(max_examples=100)
@given(st.binary(min_size=2, max_size=200).filter(lambda b: len(b) % 2 == 0))
def test_inserted_checksum_verifies(data: bytes) -> None:
    # Put the checksum in a zeroed word: summing over the whole thing must then give 0.
    body = bytes(2) + data
    csum = inet_checksum(body)
    assert inet_checksum(csum.to_bytes(2, "big") + data) == 0


def test_memoryview_of_other_format_is_read_as_bytes() -> None:
    data = bytes(range(1, 17))
    assert inet_checksum(memoryview(data).cast("H")) == inet_checksum(data)


@settings(max_examples=100)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFF),
    st.binary(max_size=64),
)
def test_udp_checksum_matches_scapy(
    src: int, dst: int, sport: int, dport: int, payload: bytes
) -> None:
    length = 8 + len(payload)
    segment = b"".join(x.to_bytes(2, "big") for x in (sport, dport, length, 0)) + payload
    packet = IP(bytes(IP(src=_ip(src), dst=_ip(dst)) / UDP(sport=sport, dport=dport) / payload))
    assert udp_checksum(src, dst, segment) == packet[UDP].chksum


def test_computed_zero_is_sent_as_ffff() -> None:
    # Choose the last payload word so that the ones' complement sum is 0xFFFF: the
    # checksum is then 0, which must go on the wire as 0xFFFF.
    src, dst = 0x0A000001, 0x0A000002
    head = bytes.fromhex("1234 0035 000c 0000")
    partial = inet_sum(head, pseudo_header_sum(src, dst, 17, 12))
    segment = head + (0xFFFF - partial).to_bytes(2, "big") + b"\0\0"
    assert inet_checksum(segment, pseudo_header_sum(src, dst, 17, 12)) == 0
    assert udp_checksum(src, dst, segment) == 0xFFFF
    built = IP(src=_ip(src), dst=_ip(dst)) / UDP(sport=0x1234, dport=53) / segment[8:]
    scapy_udp = IP(bytes(built))[UDP]
    assert scapy_udp.chksum == 0xFFFF


def test_pseudo_header_sum_words() -> None:
    assert pseudo_header_sum(0x0A000001, 0xC0A80102, 17, 30) == (
        0x0A00 + 0x0001 + 0xC0A8 + 0x0102 + 17 + 30
    )


def _ip(value: int) -> str:
    return ".".join(str(value >> s & 255) for s in (24, 16, 8, 0))
