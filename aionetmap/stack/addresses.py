"""MAC and IPv4 address helpers shared by the header modules and the host.

Inside the stack an IPv4 address is an ``int`` (cheap to compare, and what the C fast path
uses); headers and events expose :class:`ipaddress.IPv4Address` or ``str``.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import TypeAlias

__all__ = [
    "BROADCAST_MAC",
    "LIMITED_BROADCAST",
    "ZERO_MAC",
    "BytesLike",
    "IPv4Like",
    "MacLike",
    "format_mac",
    "int_to_str",
    "ip_to_int",
    "is_martian_source",
    "is_multicast_ip",
    "is_unicast_mac",
    "parse_mac",
]

BytesLike: TypeAlias = bytes | bytearray | memoryview
"""Anything the parsers read from: they never keep a reference to it."""
IPv4Like: TypeAlias = str | int | IPv4Address
"""An IPv4 address as dotted-quad text, a 32-bit integer or an ``IPv4Address``."""
MacLike: TypeAlias = bytes | str
"""A MAC address as 6 bytes or ``aa:bb:cc:dd:ee:ff`` text."""

BROADCAST_MAC = b"\xff" * 6
ZERO_MAC = bytes(6)
LIMITED_BROADCAST = 0xFFFFFFFF


def ip_to_int(ip: IPv4Like) -> int:
    """The 32-bit integer of ``ip``; ``ValueError`` if it is not an IPv4 address."""
    if isinstance(ip, bool):
        raise ValueError(f"not an IPv4 address: {ip!r}")
    if isinstance(ip, int):
        if not 0 <= ip <= 0xFFFFFFFF:
            raise ValueError(f"not an IPv4 address: {ip!r} is out of the 32-bit range")
        return ip
    if isinstance(ip, IPv4Address):
        return int(ip)
    return int(IPv4Address(ip))


def int_to_str(ip: int) -> str:
    """Dotted-quad text of a 32-bit address (cheaper than going through ``IPv4Address``)."""
    return f"{ip >> 24}.{ip >> 16 & 255}.{ip >> 8 & 255}.{ip & 255}"


def parse_mac(mac: MacLike) -> bytes:
    """``mac`` as 6 bytes; ``ValueError`` for anything else."""
    if isinstance(mac, str):
        parts = mac.replace("-", ":").split(":")
        if len(parts) != 6 or not all(len(p) == 2 for p in parts):
            raise ValueError(f"not a MAC address: {mac!r}")
        try:
            return bytes(int(p, 16) for p in parts)
        except ValueError:
            raise ValueError(f"not a MAC address: {mac!r}") from None
    if isinstance(mac, bytes | bytearray) and len(mac) == 6:
        return bytes(mac)
    raise ValueError(f"not a MAC address (need 6 bytes): {mac!r}")


def format_mac(mac: bytes) -> str:
    """``aa:bb:cc:dd:ee:ff`` text for 6 bytes."""
    return mac.hex(":")


def is_unicast_mac(mac: bytes) -> bool:
    """True for an individual (not group) address that is not all zeros."""
    return len(mac) == 6 and not mac[0] & 1 and mac != ZERO_MAC


def is_multicast_ip(ip: int) -> bool:
    """True for 224.0.0.0/4."""
    return ip >> 28 == 0xE


def is_martian_source(ip: int) -> bool:
    """True for source addresses no host may use: 0/8, 127/8, multicast, 255.255.255.255.

    The subnet broadcast and the host's own address are martian too, but only the caller
    knows those.
    """
    first = ip >> 24
    return first == 0 or first == 127 or ip >> 28 == 0xE or ip == LIMITED_BROADCAST
