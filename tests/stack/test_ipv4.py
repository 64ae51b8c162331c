"""IPv4 header: golden frames, options, the parse-error table, scapy as the oracle."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from ipaddress import IPv4Address
from typing import Any

import pytest
from scapy.layers.inet import IP

from aionetmap.stack.checksum import inet_checksum
from aionetmap.stack.drops import DropReason
from aionetmap.stack.errors import IntegrityError, ParseError, SanityError
from aionetmap.stack.ipv4 import IPv4Header, build_ipv4_packet

A_IP, B_IP = IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2")


def test_parse_golden(golden: Callable[[str], bytes]) -> None:
    packet = golden("udp")[14:]
    header = IPv4Header.from_bytes(packet)
    assert header == IPv4Header(
        src=A_IP,
        dst=B_IP,
        protocol=17,
        total_length=len(packet),
        ttl=64,
        ident=0x1234,
        dont_fragment=True,
    )
    assert header.checksum == int.from_bytes(packet[10:12], "big")
    assert bytes(header) == packet[:20]
    assert header.payload_length == len(packet) - 20
    assert not header.is_fragment


def test_parse_golden_with_options(golden: Callable[[str], bytes]) -> None:
    packet = golden("udp_ip_options")[14:]
    header = IPv4Header.from_bytes(packet)
    assert header.options == bytes.fromhex("94040000")  # router alert
    assert header.header_length == 24
    assert bytes(header) == packet[:24]


def test_padding_after_total_length_is_ignored(golden: Callable[[str], bytes]) -> None:
    packet = golden("udp")[14:]
    assert IPv4Header.from_bytes(packet + bytes(10)) == IPv4Header.from_bytes(packet)


def test_build_matches_golden(golden: Callable[[str], bytes]) -> None:
    frame = golden("udp")
    assert build_ipv4_packet(A_IP, B_IP, 17, frame[34:], ident=0x1234) == frame[14:]


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"ttl": 1, "ident": 0xFFFF, "dont_fragment": False},
        {"tos": 0xB8, "protocol": 1},
        {"protocol": 6, "ttl": 255},
    ],
)
def test_build_checked_by_scapy(kwargs: dict[str, int]) -> None:
    protocol = kwargs.pop("protocol", 17)
    raw = build_ipv4_packet("192.168.1.10", "8.8.4.4", protocol, b"abc", **kwargs)  # type: ignore[arg-type]
    packet = IP(raw)
    reference = IP(bytes(replace_checksum(packet)))
    assert packet.chksum == reference.chksum
    assert (packet.src, packet.dst, packet.proto, packet.len) == (
        "192.168.1.10",
        "8.8.4.4",
        protocol,
        23,
    )
    assert packet.ttl == kwargs.get("ttl", 64)
    assert packet.id == kwargs.get("ident", 0)
    assert bool(packet.flags.DF) == kwargs.get("dont_fragment", True)
    assert packet.tos == kwargs.get("tos", 0)


def replace_checksum(packet: IP) -> IP:
    """A copy of ``packet`` whose checksum scapy computes itself."""
    copy = packet.copy()
    copy.chksum = None
    return copy


def _packet(**fields: Any) -> bytes:
    """A valid IPv4/UDP-sized packet from scapy with ``fields`` overridden (checksum
    recomputed by scapy unless given)."""
    base: dict[str, Any] = {"src": "10.0.0.2", "dst": "10.0.0.1", "proto": 17}
    base.update(fields)
    return bytes(IP(**base) / (b"x" * 12))


def _with_byte(data: bytes, index: int, value: int) -> bytes:
    return data[:index] + bytes([value]) + data[index + 1 :]


@pytest.mark.parametrize(
    ("data", "error", "reason"),
    [
        *(
            pytest.param(_packet()[:n], IntegrityError, DropReason.IP_TRUNCATED, id=f"cut-{n}")
            for n in range(32)
        ),
        pytest.param(_packet(version=6), SanityError, DropReason.IP_BAD_VERSION, id="version-6"),
        pytest.param(_packet(version=0), SanityError, DropReason.IP_BAD_VERSION, id="version-0"),
        pytest.param(_packet(ihl=4), IntegrityError, DropReason.IP_BAD_IHL, id="ihl-4"),
        pytest.param(_packet(ihl=0), IntegrityError, DropReason.IP_BAD_IHL, id="ihl-0"),
        pytest.param(_packet(ihl=15), IntegrityError, DropReason.IP_TRUNCATED, id="ihl-past-end"),
        pytest.param(_packet(len=19), IntegrityError, DropReason.IP_BAD_TOTAL_LENGTH, id="len-19"),
        pytest.param(_packet(len=33), IntegrityError, DropReason.IP_TRUNCATED, id="len-past-end"),
        pytest.param(_packet(chksum=0x1234), IntegrityError, DropReason.IP_BAD_CHECKSUM, id="csum"),
        pytest.param(
            _with_byte(_packet(), 8, 63), IntegrityError, DropReason.IP_BAD_CHECKSUM, id="ttl-flip"
        ),
        pytest.param(_packet(src="0.0.0.0"), SanityError, DropReason.IP_BAD_SOURCE, id="src-0"),
        pytest.param(_packet(src="127.0.0.1"), SanityError, DropReason.IP_BAD_SOURCE, id="src-lo"),
        pytest.param(_packet(src="239.1.1.1"), SanityError, DropReason.IP_BAD_SOURCE, id="src-mc"),
        pytest.param(
            _packet(src="255.255.255.255"), SanityError, DropReason.IP_BAD_SOURCE, id="src-bcast"
        ),
    ],
)
def test_parse_errors(data: bytes, error: type[ParseError], reason: DropReason) -> None:
    with pytest.raises(error) as info:
        IPv4Header.from_bytes(data)
    assert info.value.reason is reason


def test_fragment_fields() -> None:
    data = _packet(flags="MF", frag=185, id=77)
    header = IPv4Header.from_bytes(data)
    assert header.more_fragments
    assert header.fragment_offset == 185
    assert header.ident == 77
    assert header.is_fragment
    assert bytes(header) == data[:20]


def test_reserved_flag_round_trips() -> None:
    data = _packet(flags="evil")
    header = IPv4Header.from_bytes(data)
    assert header.reserved_flag
    assert bytes(header) == data[:20]


def test_given_checksum_is_written_as_is() -> None:
    header = IPv4Header(src=A_IP, dst=B_IP, protocol=17, total_length=20, checksum=0xABCD)
    assert bytes(header)[10:12] == b"\xab\xcd"
    assert inet_checksum(bytes(replace(header, checksum=None))) == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"options": b"\x01"}, id="options-not-multiple-of-4"),
        pytest.param({"options": bytes(44)}, id="options-too-long"),
        pytest.param({"total_length": 19}, id="total-under-header"),
        pytest.param({"total_length": 65536}, id="total-over-max"),
        pytest.param({"ttl": 256}, id="ttl"),
        pytest.param({"fragment_offset": 0x2000}, id="offset"),
        pytest.param({"protocol": -1}, id="protocol"),
    ],
)
def test_constructor_rejects_bad_values(kwargs: dict[str, object]) -> None:
    fields: dict[str, object] = {"src": A_IP, "dst": B_IP, "protocol": 17, "total_length": 20}
    fields.update(kwargs)
    with pytest.raises(ValueError, match="IPv4"):
        IPv4Header(**fields)  # type: ignore[arg-type]
