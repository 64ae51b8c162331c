"""ICMP for IPv4 (RFC 792): echo request/reply and the error messages the stack reports.

```
 0                   1                   2                   3
 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
|     Type      |     Code      |          Checksum             |
+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
|   Identifier (echo) / unused  | Sequence (echo) / next-hop MTU|
+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
|  Data (echo) / IP header + leading payload bytes (errors) ... |
+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
```

The checksum covers the whole message.
"""

from __future__ import annotations

import errno
import struct
from dataclasses import dataclass, field
from enum import IntEnum

from aionetmap.stack.addresses import BytesLike, IPv4Like, MacLike
from aionetmap.stack.checksum import inet_checksum
from aionetmap.stack.drops import DropReason
from aionetmap.stack.errors import IntegrityError
from aionetmap.stack.ethernet import EtherType, build_ethernet_frame
from aionetmap.stack.ipv4 import IpProtocol, build_ipv4_packet

__all__ = [
    "ICMP_HEADER_LEN",
    "MAX_ERROR_QUOTE",
    "IcmpMessage",
    "IcmpType",
    "build_echo_reply",
    "build_echo_request",
    "build_port_unreachable",
    "error_kind",
    "port_unreachable_message",
]

ICMP_HEADER_LEN = 8
MAX_ERROR_QUOTE = 576 - 20 - ICMP_HEADER_LEN
"""Bytes of the offending datagram quoted in an error, so the error fits 576 bytes (RFC 1812)."""
_HEADER = struct.Struct("!BBHHH")
_PORT_UNREACHABLE = 3


class IcmpType(IntEnum):
    """ICMP types the stack handles."""

    ECHO_REPLY = 0
    DEST_UNREACHABLE = 3
    ECHO_REQUEST = 8
    TIME_EXCEEDED = 11


@dataclass(frozen=True, slots=True)
class IcmpMessage:
    """An ICMP message. ``word1``/``word2`` are the two 16-bit fields after the checksum:
    identifier and sequence for echo, unused (or next-hop MTU in ``word2``) for errors."""

    type: int
    """Message type."""
    code: int
    """Message code."""
    word1: int = 0
    """Echo identifier; unused in errors."""
    word2: int = 0
    """Echo sequence number; next-hop MTU in "fragmentation needed"."""
    payload: bytes = b""
    """Echo data, or the quoted datagram of an error."""
    checksum: int | None = field(default=None, compare=False)
    """Checksum as received, or ``None`` to compute it in ``__bytes__``."""

    def __post_init__(self) -> None:
        if not (0 <= self.type <= 255 and 0 <= self.code <= 255):
            raise ValueError("ICMP type and code must be in 0..255")
        if not (0 <= self.word1 <= 0xFFFF and 0 <= self.word2 <= 0xFFFF):
            raise ValueError("ICMP identifier and sequence must be in 0..65535")

    @property
    def ident(self) -> int:
        """Echo identifier."""
        return self.word1

    @property
    def seq(self) -> int:
        """Echo sequence number."""
        return self.word2

    @classmethod
    def from_bytes(cls, data: BytesLike) -> IcmpMessage:
        """Parse a whole ICMP message (the IPv4 payload).

        Check order: under 8 bytes (``ICMP_TRUNCATED``), checksum (``ICMP_BAD_CHECKSUM``).
        """
        if len(data) < ICMP_HEADER_LEN:
            raise IntegrityError(
                DropReason.ICMP_TRUNCATED, f"ICMP message of {len(data)} bytes is under 8"
            )
        if inet_checksum(data) != 0:
            raise IntegrityError(DropReason.ICMP_BAD_CHECKSUM, "ICMP checksum is wrong")
        kind, code, csum, word1, word2 = _HEADER.unpack_from(data)
        return cls(kind, code, word1, word2, bytes(data[ICMP_HEADER_LEN:]), csum)

    def __bytes__(self) -> bytes:
        csum = 0 if self.checksum is None else self.checksum
        message = _HEADER.pack(self.type, self.code, csum, self.word1, self.word2) + self.payload
        if self.checksum is not None:
            return message
        value = inet_checksum(message)
        return message[:2] + value.to_bytes(2, "big") + message[4:]


# Destination-unreachable codes -> (kind, errno), as BSD and Linux sockets report them.
_UNREACHABLE: dict[int, tuple[str, int]] = {
    0: ("net_unreachable", errno.ENETUNREACH),
    1: ("host_unreachable", errno.EHOSTUNREACH),
    2: ("protocol_unreachable", errno.ENOPROTOOPT),
    3: ("port_unreachable", errno.ECONNREFUSED),
    4: ("fragmentation_needed", errno.EMSGSIZE),
    5: ("source_route_failed", errno.EOPNOTSUPP),
    6: ("net_unknown", errno.ENETUNREACH),
    7: ("host_unknown", errno.EHOSTDOWN),
    8: ("source_host_isolated", errno.ENONET),
    9: ("net_prohibited", errno.ENETUNREACH),
    10: ("host_prohibited", errno.EHOSTUNREACH),
    11: ("net_unreachable_for_tos", errno.ENETUNREACH),
    12: ("host_unreachable_for_tos", errno.EHOSTUNREACH),
    13: ("communication_prohibited", errno.EHOSTUNREACH),
    14: ("host_precedence_violation", errno.EHOSTUNREACH),
    15: ("precedence_cutoff", errno.EHOSTUNREACH),
}


def error_kind(icmp_type: int, code: int) -> tuple[str, int] | None:
    """``(kind, errno)`` for an ICMP error the stack reports, ``None`` for other types.

    ``kind`` names the error (``"port_unreachable"``); ``errno`` is what a kernel socket
    would report for it (``ECONNREFUSED``).
    """
    if icmp_type == IcmpType.DEST_UNREACHABLE:
        return _UNREACHABLE.get(code, ("unreachable", errno.EHOSTUNREACH))
    if icmp_type == IcmpType.TIME_EXCEEDED:
        return ("time_exceeded", errno.EHOSTUNREACH)
    return None


def _icmp_frame(
    src_mac: MacLike,
    dst_mac: MacLike,
    src_ip: IPv4Like,
    dst_ip: IPv4Like,
    message: IcmpMessage,
    ttl: int,
    ip_ident: int,
) -> bytes:
    packet = build_ipv4_packet(
        src_ip, dst_ip, IpProtocol.ICMP, bytes(message), ttl=ttl, ident=ip_ident
    )
    return build_ethernet_frame(dst_mac, src_mac, EtherType.IPV4, packet)


def build_echo_request(
    src_mac: MacLike,
    dst_mac: MacLike,
    src_ip: IPv4Like,
    dst_ip: IPv4Like,
    ident: int,
    seq: int,
    payload: BytesLike = b"",
    *,
    ttl: int = 64,
    ip_ident: int = 0,
) -> bytes:
    """A complete Ethernet/IPv4/ICMP echo request frame."""
    message = IcmpMessage(IcmpType.ECHO_REQUEST, 0, ident, seq, bytes(payload))
    return _icmp_frame(src_mac, dst_mac, src_ip, dst_ip, message, ttl, ip_ident)


def build_echo_reply(
    src_mac: MacLike,
    dst_mac: MacLike,
    src_ip: IPv4Like,
    dst_ip: IPv4Like,
    ident: int,
    seq: int,
    payload: BytesLike = b"",
    *,
    ttl: int = 64,
    ip_ident: int = 0,
) -> bytes:
    """A complete Ethernet/IPv4/ICMP echo reply frame."""
    message = IcmpMessage(IcmpType.ECHO_REPLY, 0, ident, seq, bytes(payload))
    return _icmp_frame(src_mac, dst_mac, src_ip, dst_ip, message, ttl, ip_ident)


def port_unreachable_message(quote: bytes) -> IcmpMessage:
    """The ICMP port-unreachable message quoting ``quote`` (the caller trims it to at most
    :data:`MAX_ERROR_QUOTE` bytes of the offending datagram)."""
    return IcmpMessage(IcmpType.DEST_UNREACHABLE, _PORT_UNREACHABLE, 0, 0, quote)


def build_port_unreachable(
    src_mac: MacLike,
    dst_mac: MacLike,
    src_ip: IPv4Like,
    dst_ip: IPv4Like,
    offending: BytesLike,
    *,
    ttl: int = 64,
    ip_ident: int = 0,
) -> bytes:
    """A port-unreachable frame quoting the start of the ``offending`` IPv4 datagram
    (at most :data:`MAX_ERROR_QUOTE` bytes of it)."""
    message = port_unreachable_message(bytes(offending[:MAX_ERROR_QUOTE]))
    return _icmp_frame(src_mac, dst_mac, src_ip, dst_ip, message, ttl, ip_ident)
