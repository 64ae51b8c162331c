"""ICMP: golden echo and port-unreachable frames, scapy as the oracle, error kinds."""

from __future__ import annotations

import errno
from collections.abc import Callable

import pytest
from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import Ether

from aionetmap.stack.drops import DropReason
from aionetmap.stack.errors import IntegrityError
from aionetmap.stack.icmp import (
    MAX_ERROR_QUOTE,
    IcmpMessage,
    IcmpType,
    build_echo_reply,
    build_echo_request,
    build_port_unreachable,
    error_kind,
)

A_MAC, B_MAC = "02:00:00:00:00:01", "02:00:00:00:00:02"
A_IP, B_IP = "10.0.0.1", "10.0.0.2"


def test_echo_request_matches_golden(golden: Callable[[str], bytes]) -> None:
    frame = build_echo_request(A_MAC, B_MAC, A_IP, B_IP, 0xBEEF, 1, b"ping payload", ip_ident=1)
    assert frame == golden("icmp_echo_request")


def test_echo_reply_matches_golden(golden: Callable[[str], bytes]) -> None:
    frame = build_echo_reply(B_MAC, A_MAC, B_IP, A_IP, 0xBEEF, 1, b"ping payload", ip_ident=2)
    assert frame == golden("icmp_echo_reply")


def test_port_unreachable_matches_golden(golden: Callable[[str], bytes]) -> None:
    offending = golden("icmp_port_unreachable")[42:]
    frame = build_port_unreachable(A_MAC, B_MAC, A_IP, B_IP, offending, ip_ident=3)
    assert frame == golden("icmp_port_unreachable")


def test_parse_golden_echo(golden: Callable[[str], bytes]) -> None:
    message = IcmpMessage.from_bytes(golden("icmp_echo_request")[34:])
    assert message == IcmpMessage(IcmpType.ECHO_REQUEST, 0, 0xBEEF, 1, b"ping payload")
    assert (message.ident, message.seq) == (0xBEEF, 1)
    assert bytes(message) == golden("icmp_echo_request")[34:]


def test_quote_is_capped() -> None:
    frame = build_port_unreachable(A_MAC, B_MAC, A_IP, B_IP, bytes(2000))
    assert len(frame) == 14 + 20 + 8 + MAX_ERROR_QUOTE
    assert len(frame) - 14 == 576


@pytest.mark.parametrize("size", [0, 1, 7, 64, 1472])
def test_echo_checked_by_scapy(size: int) -> None:
    payload = bytes(range(256)) * 6
    raw = build_echo_request(A_MAC, B_MAC, A_IP, B_IP, 0x1234, 0xFFFF, payload[:size], ttl=9)
    packet = Ether(raw)
    icmp = packet[ICMP]
    fresh = Ether(raw)
    del fresh[ICMP].chksum
    assert icmp.chksum == Ether(bytes(fresh))[ICMP].chksum
    assert (icmp.type, icmp.code, icmp.id, icmp.seq) == (8, 0, 0x1234, 0xFFFF)
    assert bytes(icmp.payload) == payload[:size]
    assert packet[IP].ttl == 9


@pytest.mark.parametrize("size", range(8))
def test_truncated(size: int) -> None:
    with pytest.raises(IntegrityError) as info:
        IcmpMessage.from_bytes(bytes(IcmpMessage(8, 0, 1, 2))[:size])
    assert info.value.reason is DropReason.ICMP_TRUNCATED


def test_bad_checksum(golden: Callable[[str], bytes]) -> None:
    data = bytearray(golden("icmp_echo_request")[34:])
    data[-1] ^= 0xFF
    with pytest.raises(IntegrityError) as info:
        IcmpMessage.from_bytes(data)
    assert info.value.reason is DropReason.ICMP_BAD_CHECKSUM


@pytest.mark.parametrize(
    ("icmp_type", "code", "expected"),
    [
        (3, 3, ("port_unreachable", errno.ECONNREFUSED)),
        (3, 0, ("net_unreachable", errno.ENETUNREACH)),
        (3, 1, ("host_unreachable", errno.EHOSTUNREACH)),
        (3, 4, ("fragmentation_needed", errno.EMSGSIZE)),
        (3, 13, ("communication_prohibited", errno.EHOSTUNREACH)),
        (3, 99, ("unreachable", errno.EHOSTUNREACH)),
        (11, 0, ("time_exceeded", errno.EHOSTUNREACH)),
        (5, 0, None),
        (0, 0, None),
    ],
)
def test_error_kind(icmp_type: int, code: int, expected: tuple[str, int] | None) -> None:
    assert error_kind(icmp_type, code) == expected


def test_port_unreachable_errno_becomes_connection_refused() -> None:
    kind = error_kind(3, 3)
    assert kind is not None
    assert isinstance(OSError(kind[1], "x"), ConnectionRefusedError)


@pytest.mark.parametrize(
    "args", [pytest.param((256, 0, 0), id="type"), pytest.param((8, 0, 70000), id="ident")]
)
def test_constructor_rejects_bad_values(args: tuple[int, int, int]) -> None:
    with pytest.raises(ValueError, match="ICMP"):
        IcmpMessage(*args)
