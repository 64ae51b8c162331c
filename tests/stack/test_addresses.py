"""Address helpers."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from aionetmap.stack.addresses import (
    format_mac,
    int_to_str,
    ip_to_int,
    is_martian_source,
    is_unicast_mac,
    parse_mac,
)


@pytest.mark.parametrize("value", ["10.0.0.1", 0x0A000001, IPv4Address("10.0.0.1")])
def test_ip_to_int(value: str | int | IPv4Address) -> None:
    assert ip_to_int(value) == 0x0A000001


@pytest.mark.parametrize("value", ["10.0.0", "::1", -1, 2**32, True])
def test_ip_to_int_rejects(value: str | int) -> None:
    with pytest.raises(ValueError, match=r"IPv4|Expected|octets|address"):
        ip_to_int(value)


@pytest.mark.parametrize("value", [0, 1, 0x7F000001, 0xC0A80101, 0xFFFFFFFF])
def test_int_to_str_matches_ipaddress(value: int) -> None:
    assert int_to_str(value) == str(IPv4Address(value))


def test_mac_round_trip() -> None:
    assert parse_mac("02:AB:cd:00:00:01") == bytes.fromhex("02abcd000001")
    assert parse_mac("02-ab-cd-00-00-01") == bytes.fromhex("02abcd000001")
    assert parse_mac(bytes(6)) == bytes(6)
    assert format_mac(bytes.fromhex("02abcd000001")) == "02:ab:cd:00:00:01"


@pytest.mark.parametrize(
    "value", ["02:ab:cd:00:00", "02:ab:cd:00:00:zz", "2:ab:cd:0:0:1", b"12345"]
)
def test_parse_mac_rejects(value: str | bytes) -> None:
    with pytest.raises(ValueError, match="MAC"):
        parse_mac(value)


def test_unicast_mac() -> None:
    assert is_unicast_mac(bytes.fromhex("020000000001"))
    assert not is_unicast_mac(bytes.fromhex("010000000001"))
    assert not is_unicast_mac(bytes(6))


@pytest.mark.parametrize(
    ("address", "martian"),
    [
        ("0.0.0.0", True),
        ("0.1.2.3", True),
        ("127.0.0.1", True),
        ("224.0.0.1", True),
        ("239.255.255.255", True),
        ("255.255.255.255", True),
        ("240.0.0.1", False),
        ("10.0.0.1", False),
        ("1.1.1.1", False),
    ],
)
def test_martian_sources(address: str, martian: bool) -> None:
    assert is_martian_source(int(IPv4Address(address))) is martian
