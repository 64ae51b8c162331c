"""ARP packets: golden frames, builders checked by scapy, the parse-error table."""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address
from typing import Any

import pytest
from scapy.layers.l2 import ARP, Ether

from aionetmap.stack.arp import (
    ArpOperation,
    ArpPacket,
    build_arp_reply,
    build_arp_request,
    build_gratuitous_arp,
)
from aionetmap.stack.drops import DropReason
from aionetmap.stack.errors import IntegrityError, ParseError, SanityError

A_MAC = bytes.fromhex("020000000001")
B_MAC = bytes.fromhex("020000000002")
A_IP, B_IP = "10.0.0.1", "10.0.0.2"


def test_request_matches_golden(golden: Callable[[str], bytes]) -> None:
    assert build_arp_request(A_MAC, A_IP, B_IP) == golden("arp_request")


def test_reply_matches_golden(golden: Callable[[str], bytes]) -> None:
    assert build_arp_reply(B_MAC, B_IP, A_MAC, A_IP) == golden("arp_reply")


def test_gratuitous_matches_golden(golden: Callable[[str], bytes]) -> None:
    assert build_gratuitous_arp("02:00:00:00:00:01", A_IP) == golden("arp_gratuitous")


def test_parse_golden_reply(golden: Callable[[str], bytes]) -> None:
    packet = ArpPacket.from_bytes(golden("arp_reply")[14:])
    assert packet == ArpPacket(
        ArpOperation.REPLY, B_MAC, IPv4Address(B_IP), A_MAC, IPv4Address(A_IP)
    )
    assert bytes(packet) == golden("arp_reply")[14:]


def test_padding_is_ignored(golden: Callable[[str], bytes]) -> None:
    data = golden("arp_request")[14:]
    assert ArpPacket.from_bytes(data + bytes(18)) == ArpPacket.from_bytes(data)


@pytest.mark.parametrize(
    ("build", "op"),
    [
        pytest.param(lambda: build_arp_request(A_MAC, A_IP, B_IP), 1, id="request"),
        pytest.param(lambda: build_arp_reply(A_MAC, A_IP, B_MAC, B_IP), 2, id="reply"),
    ],
)
def test_builders_checked_by_scapy(build: Callable[[], bytes], op: int) -> None:
    frame = Ether(build())
    arp = frame[ARP]
    assert (arp.hwtype, arp.ptype, arp.hwlen, arp.plen, arp.op) == (1, 0x0800, 6, 4, op)
    assert arp.hwsrc == "02:00:00:00:00:01"
    assert arp.psrc == A_IP
    assert arp.pdst == B_IP
    assert frame.dst == ("ff:ff:ff:ff:ff:ff" if op == 1 else "02:00:00:00:00:02")
    assert frame.type == 0x0806


def _arp(**fields: Any) -> bytes:
    base: dict[str, Any] = {
        "op": 1,
        "hwsrc": "02:00:00:00:00:02",
        "psrc": B_IP,
        "hwdst": "00:00:00:00:00:00",
        "pdst": A_IP,
    }
    base.update(fields)
    return bytes(ARP(**base))


@pytest.mark.parametrize(
    ("data", "error", "reason"),
    [
        *(
            pytest.param(_arp()[:n], IntegrityError, DropReason.ARP_TRUNCATED, id=f"cut-{n}")
            for n in range(28)
        ),
        pytest.param(_arp(hwtype=6), SanityError, DropReason.ARP_UNSUPPORTED, id="htype"),
        pytest.param(_arp(ptype=0x86DD), SanityError, DropReason.ARP_UNSUPPORTED, id="ptype"),
        pytest.param(_arp(hwlen=8), IntegrityError, DropReason.ARP_BAD_LENGTHS, id="hlen"),
        pytest.param(_arp(plen=16), IntegrityError, DropReason.ARP_BAD_LENGTHS, id="plen"),
        pytest.param(_arp(op=3), SanityError, DropReason.ARP_BAD_OPERATION, id="op-3"),
        pytest.param(_arp(op=0), SanityError, DropReason.ARP_BAD_OPERATION, id="op-0"),
        pytest.param(
            _arp(hwsrc="01:00:5e:00:00:01"), SanityError, DropReason.ARP_BAD_SENDER, id="mcast-mac"
        ),
        pytest.param(
            _arp(hwsrc="00:00:00:00:00:00"), SanityError, DropReason.ARP_BAD_SENDER, id="zero-mac"
        ),
        pytest.param(_arp(psrc="224.0.0.1"), SanityError, DropReason.ARP_BAD_SENDER, id="mcast-ip"),
        pytest.param(
            _arp(psrc="255.255.255.255"), SanityError, DropReason.ARP_BAD_SENDER, id="bcast-ip"
        ),
    ],
)
def test_parse_errors(data: bytes, error: type[ParseError], reason: DropReason) -> None:
    with pytest.raises(error) as info:
        ArpPacket.from_bytes(data)
    assert info.value.reason is reason
    assert reason.name in str(info.value)


def test_probe_with_zero_sender_ip_parses() -> None:
    packet = ArpPacket.from_bytes(_arp(psrc="0.0.0.0"))
    assert packet.sender_ip == IPv4Address(0)


def test_constructor_rejects_short_mac() -> None:
    with pytest.raises(ValueError, match="6 bytes"):
        ArpPacket(ArpOperation.REQUEST, b"\x02", IPv4Address(1), B_MAC, IPv4Address(2))
