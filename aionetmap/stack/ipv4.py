"""IPv4 header (RFC 791). Options are carried as raw bytes and otherwise skipped.

```
 0                   1                   2                   3
 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
|Version|  IHL  |   DSCP/ECN    |          Total Length         |
+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
|         Identification        |R|D|M|     Fragment Offset     |
+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
|  Time to Live |    Protocol   |         Header Checksum       |
+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
|                       Source Address                          |
+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
|                    Destination Address                        |
+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
|                    Options (IHL > 5)                          |
+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
```
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum
from ipaddress import IPv4Address

from aionetmap.stack.addresses import BytesLike, IPv4Like, ip_to_int, is_martian_source
from aionetmap.stack.checksum import inet_checksum
from aionetmap.stack.drops import DropReason
from aionetmap.stack.errors import IntegrityError, SanityError

__all__ = [
    "IPV4_HEADER_LEN",
    "MAX_DATAGRAM",
    "MAX_IPV4_PAYLOAD",
    "IPv4Header",
    "IpProtocol",
    "build_ipv4_fragments",
    "build_ipv4_packet",
    "fragment_payload_size",
]

IPV4_HEADER_LEN = 20
MAX_DATAGRAM = 0xFFFF
MAX_IPV4_PAYLOAD = MAX_DATAGRAM - IPV4_HEADER_LEN
"""The largest payload one IPv4 datagram without options carries (65515 bytes)."""
_HEADER = struct.Struct("!BBHHHBBH4s4s")
_RESERVED, _DF, _MF, _OFFSET_MASK = 0x8000, 0x4000, 0x2000, 0x1FFF


class IpProtocol(IntEnum):
    """IPv4 protocol numbers the stack handles."""

    ICMP = 1
    UDP = 17


@dataclass(frozen=True, slots=True)
class IPv4Header:
    """An IPv4 header. ``checksum=None`` means "compute it" when serialising.

    The checksum does not take part in equality, so ``from_bytes(bytes(h)) == h``.
    """

    src: IPv4Address
    """Source address."""
    dst: IPv4Address
    """Destination address."""
    protocol: int
    """Payload protocol number (1 ICMP, 17 UDP, ...)."""
    total_length: int
    """Header plus payload, in bytes."""
    ttl: int = 64
    """Time to live."""
    ident: int = 0
    """Identification, shared by the fragments of one datagram."""
    dont_fragment: bool = False
    """DF flag."""
    more_fragments: bool = False
    """MF flag: more fragments follow this one."""
    fragment_offset: int = 0
    """Offset of this fragment's payload, in units of 8 bytes."""
    tos: int = 0
    """DSCP and ECN bits."""
    reserved_flag: bool = False
    """The reserved (must be zero) flag bit, kept so parsing and serialising round-trip."""
    options: bytes = b""
    """Raw option bytes (a multiple of 4, at most 40); never interpreted."""
    checksum: int | None = field(default=None, compare=False)
    """Header checksum as received, or ``None`` to compute it in ``__bytes__``."""

    def __post_init__(self) -> None:
        if len(self.options) % 4 or len(self.options) > 40:
            raise ValueError(
                f"IPv4 options must be a multiple of 4 up to 40 bytes, not {len(self.options)}"
            )
        if not self.header_length <= self.total_length <= MAX_DATAGRAM:
            raise ValueError(f"IPv4 total length {self.total_length} is out of range")
        if not (0 <= self.ttl <= 255 and 0 <= self.ident <= 0xFFFF and 0 <= self.tos <= 255):
            raise ValueError("IPv4 TTL, identification or TOS out of range")
        if not (0 <= self.protocol <= 255 and 0 <= self.fragment_offset <= _OFFSET_MASK):
            raise ValueError("IPv4 protocol or fragment offset out of range")

    @property
    def header_length(self) -> int:
        """Header length in bytes (20 plus options)."""
        return IPV4_HEADER_LEN + len(self.options)

    @property
    def payload_length(self) -> int:
        """Bytes of payload after the header."""
        return self.total_length - self.header_length

    @property
    def is_fragment(self) -> bool:
        """True for any fragment (MF set or a non-zero offset)."""
        return self.more_fragments or self.fragment_offset != 0

    @classmethod
    def from_bytes(cls, data: BytesLike) -> IPv4Header:
        """Parse the header at the start of ``data`` (bytes past the total length ignored).

        Check order, the same as the receive classifier's: length under 20
        (``IP_TRUNCATED``), version (``IP_BAD_VERSION``), IHL under 5 (``IP_BAD_IHL``),
        header past the buffer (``IP_TRUNCATED``), total length under the header length
        (``IP_BAD_TOTAL_LENGTH``), total length past the buffer (``IP_TRUNCATED``),
        checksum (``IP_BAD_CHECKSUM``), martian source (``IP_BAD_SOURCE``).
        """
        size = len(data)
        if size < IPV4_HEADER_LEN:
            raise IntegrityError(
                DropReason.IP_TRUNCATED, f"IPv4 packet of {size} bytes is under 20"
            )
        vihl, tos, total, ident, frag, ttl, proto, csum, src, dst = _HEADER.unpack_from(data)
        if vihl >> 4 != 4:
            raise SanityError(DropReason.IP_BAD_VERSION, f"IP version {vihl >> 4} is not 4")
        hlen = (vihl & 0xF) * 4
        if hlen < IPV4_HEADER_LEN:
            raise IntegrityError(DropReason.IP_BAD_IHL, f"IPv4 header length {hlen} is under 20")
        if hlen > size:
            raise IntegrityError(
                DropReason.IP_TRUNCATED, f"IPv4 header length {hlen} exceeds the {size} bytes"
            )
        if total < hlen:
            raise IntegrityError(
                DropReason.IP_BAD_TOTAL_LENGTH,
                f"IPv4 total length {total} is under the header length {hlen}",
            )
        if total > size:
            raise IntegrityError(
                DropReason.IP_TRUNCATED, f"IPv4 total length {total} exceeds the {size} bytes"
            )
        if inet_checksum(data[:hlen]) != 0:
            raise IntegrityError(DropReason.IP_BAD_CHECKSUM, "IPv4 header checksum is wrong")
        source = int.from_bytes(src, "big")
        if is_martian_source(source):
            raise SanityError(
                DropReason.IP_BAD_SOURCE, f"IPv4 source {IPv4Address(source)} is martian"
            )
        return cls(
            src=IPv4Address(source),
            dst=IPv4Address(dst),
            protocol=proto,
            total_length=total,
            ttl=ttl,
            ident=ident,
            dont_fragment=bool(frag & _DF),
            more_fragments=bool(frag & _MF),
            fragment_offset=frag & _OFFSET_MASK,
            tos=tos,
            reserved_flag=bool(frag & _RESERVED),
            options=bytes(data[IPV4_HEADER_LEN:hlen]),
            checksum=csum,
        )

    def __bytes__(self) -> bytes:
        frag = self.fragment_offset
        frag |= _RESERVED if self.reserved_flag else 0
        frag |= _DF if self.dont_fragment else 0
        frag |= _MF if self.more_fragments else 0
        fixed = [
            0x40 | (self.header_length // 4),
            self.tos,
            self.total_length,
            self.ident,
            frag,
            self.ttl,
            self.protocol,
            0,
            self.src.packed,
            self.dst.packed,
        ]
        if self.checksum is not None:
            fixed[7] = self.checksum
            return _HEADER.pack(*fixed) + self.options
        header = _HEADER.pack(*fixed) + self.options
        csum = inet_checksum(header)
        return header[:10] + csum.to_bytes(2, "big") + header[12:]


def build_ipv4_packet(
    src: IPv4Like,
    dst: IPv4Like,
    protocol: int,
    payload: BytesLike,
    *,
    ttl: int = 64,
    ident: int = 0,
    dont_fragment: bool = True,
    tos: int = 0,
) -> bytes:
    """A complete IPv4 packet (header with checksum, then ``payload``), without options.

    DF is set by default (what Linux sends for a datagram that fits the path MTU, with
    ``IP_PMTUDISC_WANT``). This is the send path, so it packs the header directly instead
    of going through :class:`IPv4Header`; :func:`build_ipv4_fragments` splits a payload that
    does not fit the MTU.
    """
    total = IPV4_HEADER_LEN + (payload.nbytes if isinstance(payload, memoryview) else len(payload))
    if not (0 <= protocol <= 255 and 0 <= ttl <= 255 and 0 <= ident <= 0xFFFF and 0 <= tos <= 255):
        raise ValueError("IPv4 protocol, TTL, identification or TOS out of range")
    if total > MAX_DATAGRAM:
        raise ValueError(f"IPv4 total length {total} is out of range")
    header = bytearray(
        _HEADER.pack(
            0x45,
            tos,
            total,
            ident,
            _DF if dont_fragment else 0,
            ttl,
            protocol,
            0,
            ip_to_int(src).to_bytes(4, "big"),
            ip_to_int(dst).to_bytes(4, "big"),
        )
    )
    header[10:12] = inet_checksum(header).to_bytes(2, "big")
    return bytes(header) + bytes(payload)


def fragment_payload_size(mtu: int) -> int:
    """Payload bytes in every fragment but the last: the MTU minus a 20-byte header,
    rounded down to a multiple of 8 (fragment offsets count 8-byte units). 1480 at 1500."""
    if not 68 <= mtu <= MAX_DATAGRAM:
        raise ValueError(f"MTU must be in 68..65535, not {mtu}")
    return (mtu - IPV4_HEADER_LEN) & ~7


def build_ipv4_fragments(
    src: IPv4Like,
    dst: IPv4Like,
    protocol: int,
    payload: BytesLike,
    *,
    mtu: int,
    ttl: int = 64,
    ident: int = 0,
    tos: int = 0,
) -> list[bytes]:
    """``payload`` as IPv4 fragments of at most ``mtu`` bytes each, in order (RFC 791).

    The layout is Linux's: every fragment but the last carries
    :func:`fragment_payload_size` bytes, MF is set on all but the last, DF on none, all
    share ``ident``, and each header has its own checksum. A payload that fits one packet
    comes back as a single unfragmented packet without DF (the caller decides about DF
    for datagrams it does not fragment). ``ValueError`` past :data:`MAX_IPV4_PAYLOAD`.
    """
    size = payload.nbytes if isinstance(payload, memoryview) else len(payload)
    if size > MAX_IPV4_PAYLOAD:
        raise ValueError(f"IPv4 payload of {size} bytes exceeds {MAX_IPV4_PAYLOAD}")
    if not (0 <= protocol <= 255 and 0 <= ttl <= 255 and 0 <= ident <= 0xFFFF and 0 <= tos <= 255):
        raise ValueError("IPv4 protocol, TTL, identification or TOS out of range")
    step = fragment_payload_size(mtu)
    data = memoryview(payload).cast("B") if isinstance(payload, memoryview) else payload
    src_b = ip_to_int(src).to_bytes(4, "big")
    dst_b = ip_to_int(dst).to_bytes(4, "big")
    packets = []
    for start in range(0, max(size, 1), step):
        piece = data[start : start + step]
        last = start + step >= size
        flags = (start >> 3) | (0 if last else _MF)
        header = bytearray(
            _HEADER.pack(
                0x45, tos, IPV4_HEADER_LEN + len(piece), ident, flags, ttl, protocol, 0,
                src_b, dst_b,
            )
        )  # fmt: skip
        header[10:12] = inet_checksum(header).to_bytes(2, "big")
        packets.append(bytes(header) + bytes(piece))
    return packets
