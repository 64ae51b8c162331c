"""The host's place on its link (stack/link.py): what the constructor refuses, and the
integers and header the per-frame code uses."""

from __future__ import annotations

import errno

import pytest

from aionetmap.stack import Host
from aionetmap.stack.link import Link

A_MAC = bytes.fromhex("020000000001")
A_IP = "10.0.0.1"


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        pytest.param(("01:00:00:00:00:01", "10.0.0.1/24"), {}, "unicast", id="group-mac"),
        pytest.param(("00:00:00:00:00:00", "10.0.0.1/24"), {}, "unicast", id="zero-mac"),
        pytest.param(("02:00:00:00:00", "10.0.0.1/24"), {}, "MAC", id="short-mac"),
        pytest.param((A_MAC, "10.0.0.0/24"), {}, "network", id="network-address"),
        pytest.param((A_MAC, "10.0.0.255/24"), {}, "broadcast", id="broadcast-address"),
        pytest.param((A_MAC, "127.0.0.1/8"), {}, "host address", id="loopback"),
        pytest.param((A_MAC, "10.0.0.1/24"), {"gateway": "10.0.1.1"}, "gateway", id="gw-off"),
        pytest.param((A_MAC, "10.0.0.1/24"), {"gateway": A_IP}, "gateway", id="gw-self"),
        pytest.param((A_MAC, "10.0.0.1/24"), {"mtu": 67}, "MTU", id="mtu-small"),
        pytest.param((A_MAC, "10.0.0.1/24"), {"mtu": 65536}, "MTU", id="mtu-big"),
    ],
)
def test_constructor_validation(
    args: tuple[bytes | str, str], kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        Host(*args, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("interface", "broadcast"),
    [("10.0.0.1/24", 0x0A0000FF), ("10.0.0.0/31", 0xFFFFFFFF), ("10.0.0.1/32", 0xFFFFFFFF)],
)
def test_broadcast_is_the_subnets_or_the_limited_one(interface: str, broadcast: int) -> None:
    link = Link.create(A_MAC, interface, None, 1500, None)
    assert link.broadcast == broadcast
    assert link.ip == int.from_bytes(bytes(map(int, interface.split("/")[0].split("."))), "big")


@pytest.mark.parametrize(("vlan", "tag"), [(None, b""), (5, b"\x81\x00\x00\x05")])
def test_frames_start_with_our_mac_the_tag_and_ipv4(vlan: int | None, tag: bytes) -> None:
    link = Link.create(A_MAC, f"{A_IP}/24", None, 1500, vlan)
    assert link.eth_suffix == A_MAC + tag + b"\x08\x00"
    assert link.vlan_tci == vlan


def test_next_hop() -> None:
    link = Link.create(A_MAC, f"{A_IP}/24", "10.0.0.254", 1500, None)
    assert link.hop(0x0A000009) == 0x0A000009
    assert link.hop(0x0A0000FF) == 0x0A0000FF  # the subnet's broadcast is on the subnet
    assert link.hop(0xFFFFFFFF) == 0xFFFFFFFF
    assert link.hop(0x08080808) == 0x0A0000FE
    bare = Link.create(A_MAC, f"{A_IP}/24", None, 1500, None)
    with pytest.raises(OSError, match="no default gateway") as info:
        bare.hop(0x08080808)
    assert info.value.errno == errno.ENETUNREACH
