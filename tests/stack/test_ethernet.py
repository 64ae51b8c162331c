"""Ethernet header: golden frames, 802.1Q, parse errors, scapy as the oracle."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from scapy.layers.l2 import Dot1Q, Ether

from aionetmap.stack.drops import DropReason
from aionetmap.stack.errors import IntegrityError, SanityError
from aionetmap.stack.ethernet import EthernetHeader, EtherType, build_ethernet_frame

A_MAC = bytes.fromhex("020000000001")
B_MAC = bytes.fromhex("020000000002")


def test_parse_golden_untagged(golden: Callable[[str], bytes]) -> None:
    header = EthernetHeader.from_bytes(golden("udp"))
    assert header == EthernetHeader(B_MAC, A_MAC, EtherType.IPV4)
    assert header.header_length == 14


def test_parse_golden_tagged(golden: Callable[[str], bytes]) -> None:
    header = EthernetHeader.from_bytes(golden("udp_vlan"))
    # prio 5, DEI 0, VLAN 100
    assert header == EthernetHeader(B_MAC, A_MAC, EtherType.IPV4, vlan_tci=5 << 13 | 100)
    assert header.header_length == 18


@pytest.mark.parametrize("golden_name", ["udp", "udp_vlan", "arp_request"])
def test_serialises_back_to_golden_header(golden: Callable[[str], bytes], golden_name: str) -> None:
    frame = golden(golden_name)
    header = EthernetHeader.from_bytes(frame)
    assert bytes(header) == frame[: header.header_length]


@pytest.mark.parametrize("size", range(14))
def test_truncated_untagged(size: int, golden: Callable[[str], bytes]) -> None:
    with pytest.raises(IntegrityError) as info:
        EthernetHeader.from_bytes(golden("udp")[:size])
    assert info.value.reason is DropReason.ETH_TRUNCATED


@pytest.mark.parametrize("size", range(14, 18))
def test_truncated_tag(size: int, golden: Callable[[str], bytes]) -> None:
    with pytest.raises(IntegrityError, match=r"802\.1Q") as info:
        EthernetHeader.from_bytes(golden("udp_vlan")[:size])
    assert info.value.reason is DropReason.ETH_TRUNCATED


def test_group_source_is_a_sanity_error() -> None:
    frame = B_MAC + bytes.fromhex("010000000001") + b"\x08\x00"
    with pytest.raises(SanityError) as info:
        EthernetHeader.from_bytes(frame)
    assert info.value.reason is DropReason.ETH_BAD_SOURCE


def test_only_one_tag_is_skipped() -> None:
    frame = bytes(EthernetHeader(B_MAC, A_MAC, EtherType.VLAN, vlan_tci=7)) + b"\x08\x00"
    assert EthernetHeader.from_bytes(frame).ethertype == EtherType.VLAN


@pytest.mark.parametrize("tci", [None, 0, 100, 0xFFFF])
def test_build_matches_scapy(tci: int | None) -> None:
    frame = build_ethernet_frame(B_MAC, "02:00:00:00:00:01", 0x0800, b"payload", vlan_tci=tci)
    parsed = Ether(frame)
    assert parsed.dst == "02:00:00:00:00:02"
    assert parsed.src == "02:00:00:00:00:01"
    if tci is None:
        assert parsed.type == 0x0800
        assert bytes(parsed.payload) == b"payload"
    else:
        assert parsed.type == 0x8100
        assert parsed[Dot1Q].prio << 13 | parsed[Dot1Q].dei << 12 | parsed[Dot1Q].vlan == tci
        assert parsed[Dot1Q].type == 0x0800
        assert bytes(parsed[Dot1Q].payload) == b"payload"


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"dst": b"\x01" * 5}, id="short-dst"),
        pytest.param({"src": b"\x01" * 7}, id="long-src"),
        pytest.param({"ethertype": 0x10000}, id="ethertype"),
        pytest.param({"vlan_tci": -1}, id="tci"),
    ],
)
def test_constructor_rejects_bad_values(kwargs: dict[str, object]) -> None:
    fields: dict[str, object] = {"dst": B_MAC, "src": A_MAC, "ethertype": 0x0800}
    fields.update(kwargs)
    with pytest.raises(ValueError, match=r"MAC|range"):
        EthernetHeader(**fields)  # type: ignore[arg-type]
