"""ARP for Ethernet and IPv4 (RFC 826), with RFC 5227 announcements.

```
 0                   1                   2                   3
 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
|     Hardware type (1)         |     Protocol type (0x0800)    |
+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
|  HW len (6)   | Proto len (4) |          Operation            |
+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
|                 Sender hardware address                       |
+                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
|                               |   Sender protocol address     |
+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
|   Sender protocol address     |                               |
+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
|                 Target hardware address                       |
+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
|                 Target protocol address                       |
+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
```

Bytes after the 28th (Ethernet padding) are ignored.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from ipaddress import IPv4Address

from aionetmap.stack.addresses import (
    BROADCAST_MAC,
    LIMITED_BROADCAST,
    ZERO_MAC,
    BytesLike,
    IPv4Like,
    MacLike,
    format_mac,
    ip_to_int,
    is_multicast_ip,
    is_unicast_mac,
    parse_mac,
)
from aionetmap.stack.drops import DropReason
from aionetmap.stack.errors import IntegrityError, SanityError
from aionetmap.stack.ethernet import EtherType, build_ethernet_frame

__all__ = [
    "ARP_LEN",
    "ArpOperation",
    "ArpPacket",
    "build_arp_reply",
    "build_arp_request",
    "build_gratuitous_arp",
]

ARP_LEN = 28
_ARP = struct.Struct("!HHBBH6s4s6s4s")
_HTYPE_ETHERNET = 1


class ArpOperation(IntEnum):
    """ARP operation codes the stack handles."""

    REQUEST = 1
    REPLY = 2


@dataclass(frozen=True, slots=True)
class ArpPacket:
    """An Ethernet/IPv4 ARP packet."""

    operation: ArpOperation
    """Request or reply."""
    sender_mac: bytes
    """Hardware address of the sender (6 bytes)."""
    sender_ip: IPv4Address
    """Protocol address of the sender (0.0.0.0 in an RFC 5227 probe)."""
    target_mac: bytes
    """Hardware address of the target (zeros in a request)."""
    target_ip: IPv4Address
    """Protocol address being asked about (request) or answered to (reply)."""

    def __post_init__(self) -> None:
        if len(self.sender_mac) != 6 or len(self.target_mac) != 6:
            raise ValueError("ARP hardware addresses must be 6 bytes")

    @classmethod
    def from_bytes(cls, data: BytesLike) -> ArpPacket:
        """Parse an ARP packet (the Ethernet payload).

        Check order: length (``ARP_TRUNCATED``), hardware/protocol types
        (``ARP_UNSUPPORTED``), address lengths (``ARP_BAD_LENGTHS``), operation
        (``ARP_BAD_OPERATION``), sender addresses (``ARP_BAD_SENDER``).
        """
        if len(data) < ARP_LEN:
            raise IntegrityError(
                DropReason.ARP_TRUNCATED, f"ARP packet of {len(data)} bytes is under 28"
            )
        htype, ptype, hlen, plen, op, sha, spa, tha, tpa = _ARP.unpack_from(data)
        if htype != _HTYPE_ETHERNET or ptype != EtherType.IPV4:
            raise SanityError(
                DropReason.ARP_UNSUPPORTED,
                f"ARP hardware type {htype} / protocol type {ptype:#06x} is not Ethernet/IPv4",
            )
        if hlen != 6 or plen != 4:
            raise IntegrityError(
                DropReason.ARP_BAD_LENGTHS,
                f"ARP address lengths {hlen}/{plen} are not 6/4",
            )
        if op not in (ArpOperation.REQUEST, ArpOperation.REPLY):
            raise SanityError(DropReason.ARP_BAD_OPERATION, f"ARP operation {op} is unknown")
        sender = int.from_bytes(spa, "big")
        if not is_unicast_mac(sha):
            raise SanityError(
                DropReason.ARP_BAD_SENDER, f"ARP sender MAC {format_mac(sha)} is not unicast"
            )
        if is_multicast_ip(sender) or sender == LIMITED_BROADCAST:
            raise SanityError(
                DropReason.ARP_BAD_SENDER,
                f"ARP sender IP {IPv4Address(sender)} is multicast or broadcast",
            )
        return cls(ArpOperation(op), sha, IPv4Address(sender), tha, IPv4Address(tpa))

    def __bytes__(self) -> bytes:
        return _ARP.pack(
            _HTYPE_ETHERNET,
            EtherType.IPV4,
            6,
            4,
            self.operation,
            self.sender_mac,
            self.sender_ip.packed,
            self.target_mac,
            self.target_ip.packed,
        )


def build_arp_request(
    src_mac: MacLike, src_ip: IPv4Like, target_ip: IPv4Like, *, vlan_tci: int | None = None
) -> bytes:
    """A broadcast frame asking who has ``target_ip`` (802.1Q-tagged with ``vlan_tci``)."""
    mac = parse_mac(src_mac)
    packet = ArpPacket(
        ArpOperation.REQUEST,
        mac,
        IPv4Address(ip_to_int(src_ip)),
        ZERO_MAC,
        IPv4Address(ip_to_int(target_ip)),
    )
    return build_ethernet_frame(BROADCAST_MAC, mac, EtherType.ARP, bytes(packet), vlan_tci=vlan_tci)


def build_arp_reply(
    src_mac: MacLike,
    src_ip: IPv4Like,
    dst_mac: MacLike,
    dst_ip: IPv4Like,
    *,
    vlan_tci: int | None = None,
) -> bytes:
    """A frame to ``dst_mac`` telling it that ``src_ip`` is at ``src_mac`` (802.1Q-tagged
    with ``vlan_tci``)."""
    mac, peer = parse_mac(src_mac), parse_mac(dst_mac)
    packet = ArpPacket(
        ArpOperation.REPLY,
        mac,
        IPv4Address(ip_to_int(src_ip)),
        peer,
        IPv4Address(ip_to_int(dst_ip)),
    )
    return build_ethernet_frame(peer, mac, EtherType.ARP, bytes(packet), vlan_tci=vlan_tci)


def build_gratuitous_arp(mac: MacLike, ip: IPv4Like, *, vlan_tci: int | None = None) -> bytes:
    """An RFC 5227 announcement: a broadcast request whose sender and target IP are ``ip``."""
    return build_arp_request(mac, ip, ip, vlan_tci=vlan_tci)
