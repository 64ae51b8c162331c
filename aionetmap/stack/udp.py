"""UDP header (RFC 768) and complete UDP/IPv4/Ethernet frames.

```
 0                   1                   2                   3
 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
|          Source Port          |       Destination Port        |
+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
|            Length             |           Checksum            |
+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
```

The checksum covers a pseudo header (source and destination address, protocol 17, UDP
length), the header and the payload. Zero on the wire means "not computed" and is
accepted; a computed zero is sent as 0xFFFF. When the IPv4 payload is longer than the UDP
length field, the extra bytes are ignored (as Linux does).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from aionetmap.stack.addresses import BytesLike, IPv4Like, MacLike, ip_to_int
from aionetmap.stack.checksum import inet_checksum, pseudo_header_sum, udp_checksum
from aionetmap.stack.drops import DropReason
from aionetmap.stack.errors import IntegrityError
from aionetmap.stack.ethernet import EtherType, build_ethernet_frame
from aionetmap.stack.ipv4 import IpProtocol, build_ipv4_packet

__all__ = [
    "UDP_HEADER_LEN",
    "UdpHeader",
    "build_udp_frame",
    "build_udp_segment",
    "parse_udp_segment",
    "verify_udp_checksum",
]

UDP_HEADER_LEN = 8
_HEADER = struct.Struct("!HHHH")


@dataclass(frozen=True, slots=True)
class UdpHeader:
    """A UDP header. The checksum is written as given (it needs the IP addresses, see
    :func:`build_udp_segment`) and does not take part in equality."""

    src_port: int
    """Source port (0 means "no reply expected")."""
    dst_port: int
    """Destination port."""
    length: int
    """Header plus payload, in bytes."""
    checksum: int = field(default=0, compare=False)
    """Checksum as received; 0 means "not computed"."""

    def __post_init__(self) -> None:
        if not (0 <= self.src_port <= 0xFFFF and 0 <= self.dst_port <= 0xFFFF):
            raise ValueError("UDP ports must be in 0..65535")
        if not UDP_HEADER_LEN <= self.length <= 0xFFFF or not 0 <= self.checksum <= 0xFFFF:
            raise ValueError(f"UDP length {self.length} or checksum out of range")

    @classmethod
    def from_bytes(cls, segment: BytesLike) -> UdpHeader:
        """Parse the header of ``segment`` (the IPv4 payload), checking lengths only.

        Check order: segment under 8 (``UDP_TRUNCATED``), length field under 8
        (``UDP_BAD_LENGTH``), length field past the segment (``UDP_TRUNCATED``).
        """
        if len(segment) < UDP_HEADER_LEN:
            raise IntegrityError(
                DropReason.UDP_TRUNCATED, f"UDP segment of {len(segment)} bytes is under 8"
            )
        sport, dport, length, csum = _HEADER.unpack_from(segment)
        if length < UDP_HEADER_LEN:
            raise IntegrityError(DropReason.UDP_BAD_LENGTH, f"UDP length {length} is under 8")
        if length > len(segment):
            raise IntegrityError(
                DropReason.UDP_TRUNCATED,
                f"UDP length {length} exceeds the {len(segment)}-byte IPv4 payload",
            )
        return cls(sport, dport, length, csum)

    def __bytes__(self) -> bytes:
        return _HEADER.pack(self.src_port, self.dst_port, self.length, self.checksum)


def verify_udp_checksum(segment: BytesLike, src: IPv4Like, dst: IPv4Like) -> bool:
    """True when the UDP checksum of ``segment`` (exactly header + payload) verifies or is 0."""
    if segment[6] == 0 and segment[7] == 0:
        return True
    pseudo = pseudo_header_sum(ip_to_int(src), ip_to_int(dst), IpProtocol.UDP, len(segment))
    return inet_checksum(segment, pseudo) == 0


def parse_udp_segment(
    segment: BytesLike, src: IPv4Like, dst: IPv4Like
) -> tuple[UdpHeader, memoryview]:
    """Parse and verify a UDP segment; returns the header and a view of the payload.

    Adds ``UDP_BAD_CHECKSUM`` after the length checks of :meth:`UdpHeader.from_bytes`.
    """
    header = UdpHeader.from_bytes(segment)
    view = memoryview(segment)[: header.length]
    if not verify_udp_checksum(view, src, dst):
        raise IntegrityError(DropReason.UDP_BAD_CHECKSUM, "UDP checksum is wrong")
    return header, view[UDP_HEADER_LEN:]


def build_udp_segment(
    src: IPv4Like, dst: IPv4Like, src_port: int, dst_port: int, payload: BytesLike
) -> bytes:
    """UDP header with its checksum, followed by ``payload``."""
    size = payload.nbytes if isinstance(payload, memoryview) else len(payload)
    length = UDP_HEADER_LEN + size
    if not (0 <= src_port <= 0xFFFF and 0 <= dst_port <= 0xFFFF and length <= 0xFFFF):
        raise ValueError("UDP ports must be in 0..65535 and the payload under 65528 bytes")
    segment = bytearray(_HEADER.pack(src_port, dst_port, length, 0))
    segment += payload
    csum = udp_checksum(ip_to_int(src), ip_to_int(dst), segment)
    segment[6:8] = csum.to_bytes(2, "big")
    return bytes(segment)


def build_udp_frame(
    src_mac: MacLike,
    dst_mac: MacLike,
    src_ip: IPv4Like,
    dst_ip: IPv4Like,
    src_port: int,
    dst_port: int,
    payload: BytesLike,
    ttl: int = 64,
    ident: int = 0,
    *,
    vlan_tci: int | None = None,
) -> bytes:
    """A complete Ethernet/IPv4/UDP frame with both checksums (DF set, no options), with an
    802.1Q tag when ``vlan_tci`` is given."""
    segment = build_udp_segment(src_ip, dst_ip, src_port, dst_port, payload)
    packet = build_ipv4_packet(src_ip, dst_ip, IpProtocol.UDP, segment, ttl=ttl, ident=ident)
    return build_ethernet_frame(dst_mac, src_mac, EtherType.IPV4, packet, vlan_tci=vlan_tci)
