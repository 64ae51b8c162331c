"""Ethernet II header, with one optional IEEE 802.1Q tag.

```
 0                   1                   2                   3
 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
|                    Destination MAC address                    |
+                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
|                               |                               |
+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
|                      Source MAC address                       |
+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
|     TPID 0x8100 (optional)    |  PCP|D|   VLAN id (optional)  |
+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
|           EtherType           |
+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
```

One 802.1Q tag is parsed; a second tag (or an 802.1ad outer tag) is left as the
EtherType, which the receive path does not support. Which tags a host accepts (its own
VLAN id, or none and priority tags) is classify's check 5. No frame check sequence: ports hand
frames over without it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from aionetmap.stack.addresses import BytesLike, MacLike, format_mac, parse_mac
from aionetmap.stack.drops import DropReason
from aionetmap.stack.errors import IntegrityError, SanityError

__all__ = [
    "ETH_HEADER_LEN",
    "VLAN_TAG_LEN",
    "EtherType",
    "EthernetHeader",
    "build_ethernet_frame",
]

ETH_HEADER_LEN = 14
VLAN_TAG_LEN = 4

_HEADER = struct.Struct("!6s6sH")
_TAG = struct.Struct("!HH")


class EtherType(IntEnum):
    """EtherType values the stack knows by name."""

    IPV4 = 0x0800
    ARP = 0x0806
    VLAN = 0x8100
    IPV6 = 0x86DD
    QINQ = 0x88A8


@dataclass(frozen=True, slots=True)
class EthernetHeader:
    """An Ethernet II header; ``vlan_tci`` is the 802.1Q tag's TCI when one was present."""

    dst: bytes
    """Destination MAC address (6 bytes)."""
    src: bytes
    """Source MAC address (6 bytes)."""
    ethertype: int
    """EtherType of the payload (after the tag, if any)."""
    vlan_tci: int | None = None
    """Priority, DEI and VLAN id of the 802.1Q tag; ``None`` for an untagged frame."""

    def __post_init__(self) -> None:
        if len(self.dst) != 6 or len(self.src) != 6:
            raise ValueError("MAC addresses must be 6 bytes")
        if not 0 <= self.ethertype <= 0xFFFF:
            raise ValueError(f"EtherType out of range: {self.ethertype:#x}")
        if self.vlan_tci is not None and not 0 <= self.vlan_tci <= 0xFFFF:
            raise ValueError(f"802.1Q TCI out of range: {self.vlan_tci:#x}")

    @property
    def header_length(self) -> int:
        """14, or 18 with an 802.1Q tag: the offset of the payload in the frame."""
        return ETH_HEADER_LEN if self.vlan_tci is None else ETH_HEADER_LEN + VLAN_TAG_LEN

    @classmethod
    def from_bytes(cls, frame: BytesLike) -> EthernetHeader:
        """Parse the header at the start of ``frame``.

        Raises :class:`IntegrityError` (``ETH_TRUNCATED``) for a short frame and
        :class:`SanityError` (``ETH_BAD_SOURCE``) for a group source address.
        """
        if len(frame) < ETH_HEADER_LEN:
            raise IntegrityError(
                DropReason.ETH_TRUNCATED, f"Ethernet frame of {len(frame)} bytes is under 14"
            )
        dst, src, ethertype = _HEADER.unpack_from(frame)
        if src[0] & 1:
            raise SanityError(
                DropReason.ETH_BAD_SOURCE, f"Ethernet source {format_mac(src)} is a group address"
            )
        if ethertype != EtherType.VLAN:
            return cls(dst, src, ethertype)
        if len(frame) < ETH_HEADER_LEN + VLAN_TAG_LEN:
            raise IntegrityError(
                DropReason.ETH_TRUNCATED,
                f"802.1Q-tagged Ethernet frame of {len(frame)} bytes is under 18",
            )
        tci, inner = _TAG.unpack_from(frame, 14)
        return cls(dst, src, inner, tci)

    def __bytes__(self) -> bytes:
        if self.vlan_tci is None:
            return _HEADER.pack(self.dst, self.src, self.ethertype)
        return _HEADER.pack(self.dst, self.src, EtherType.VLAN) + _TAG.pack(
            self.vlan_tci, self.ethertype
        )


def build_ethernet_frame(
    dst: MacLike, src: MacLike, ethertype: int, payload: BytesLike, *, vlan_tci: int | None = None
) -> bytes:
    """A complete frame: header (tagged when ``vlan_tci`` is given) followed by ``payload``.

    No padding to the 60-byte minimum is added: NICs pad short frames on transmit and
    virtual links (veth, netmap pipes) carry them as they are.
    """
    header = EthernetHeader(parse_mac(dst), parse_mac(src), ethertype, vlan_tci)
    return bytes(header) + bytes(payload)
