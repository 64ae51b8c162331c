"""ICMPv6 (RFC 4443): the message, its checksum with the IPv6 pseudo-header, errors.

Every message is ``type (1) code (1) checksum (2) body``; the checksum covers the IPv6
pseudo-header (next header 58) and the whole message. NDP (:mod:`.ndp`) and MLD
(:mod:`.mld`) are ICMPv6 types too and use :func:`build_icmpv6` and :func:`parse_icmpv6`.
"""

from __future__ import annotations

import errno
import struct
from enum import IntEnum

from aionetmap.stack.addresses import BytesLike
from aionetmap.stack.checksum import inet_checksum
from aionetmap.stack.drops import DropReason
from aionetmap.stack.errors import IntegrityError
from aionetmap.stack.ipv6 import IPV6_HEADER_LEN, MIN_MTU, NextHeader, pseudo_header_sum6

__all__ = [
    "MAX_ERROR6_QUOTE",
    "Icmp6Type",
    "build_icmpv6",
    "error6_body",
    "error6_kind",
    "is_error6",
    "parse_icmpv6",
]

MAX_ERROR6_QUOTE = MIN_MTU - IPV6_HEADER_LEN - 8
"""Bytes of the offending packet an error quotes: as many as keep it within 1280 (RFC
4443 2.4 (c))."""
_ECHO = struct.Struct("!HH")


class Icmp6Type(IntEnum):
    """ICMPv6 types the stack knows."""

    DEST_UNREACHABLE = 1
    PACKET_TOO_BIG = 2
    TIME_EXCEEDED = 3
    PARAMETER_PROBLEM = 4
    ECHO_REQUEST = 128
    ECHO_REPLY = 129
    MLD_QUERY = 130
    MLD_REPORT_V1 = 131
    MLD_DONE = 132
    ROUTER_SOLICIT = 133
    ROUTER_ADVERT = 134
    NEIGHBOR_SOLICIT = 135
    NEIGHBOR_ADVERT = 136
    REDIRECT = 137
    MLD_REPORT_V2 = 143


def is_error6(icmp_type: int) -> bool:
    """Types 0-127 are errors (RFC 4443 2.1): never answered with an error."""
    return icmp_type < 128


def build_icmpv6(src: bytes, dst: bytes, icmp_type: int, code: int, body: bytes) -> bytes:
    """The message with its checksum computed for the packet ``src`` -> ``dst``."""
    message = bytearray(struct.pack("!BBH", icmp_type, code, 0) + body)
    pseudo = pseudo_header_sum6(src, dst, NextHeader.ICMPV6, len(message))
    struct.pack_into("!H", message, 2, inet_checksum(message, pseudo))
    return bytes(message)


def parse_icmpv6(data: BytesLike, src: bytes, dst: bytes) -> tuple[int, int, bytes]:
    """``(type, code, body)`` of the message in ``data`` after checking its checksum."""
    if len(data) < 4:
        raise IntegrityError(DropReason.ICMP6_TRUNCATED, f"ICMPv6 message of {len(data)} bytes")
    pseudo = pseudo_header_sum6(src, dst, NextHeader.ICMPV6, len(data))
    if inet_checksum(data, pseudo):
        raise IntegrityError(DropReason.ICMP6_BAD_CHECKSUM, "ICMPv6 checksum does not verify")
    return data[0], data[1], bytes(data[4:])


def echo_body(ident: int, seq: int, payload: bytes) -> bytes:
    """The body of an echo request or reply."""
    return _ECHO.pack(ident, seq) + payload


def parse_echo(body: bytes) -> tuple[int, int, bytes]:
    """``(ident, seq, data)`` of an echo body."""
    if len(body) < 4:
        raise IntegrityError(DropReason.ICMP6_TRUNCATED, "echo message shorter than 8 bytes")
    ident, seq = _ECHO.unpack_from(body)
    return ident, seq, body[4:]


def error6_body(word: int, offending: BytesLike) -> bytes:
    """The body of an error: the 32-bit field (unused, MTU or pointer) and the quote."""
    return word.to_bytes(4, "big") + bytes(offending[:MAX_ERROR6_QUOTE])


_KINDS = {
    (1, 0): ("no_route", errno.ENETUNREACH),
    (1, 1): ("admin_prohibited", errno.EACCES),
    (1, 2): ("beyond_scope", errno.EHOSTUNREACH),
    (1, 3): ("address_unreachable", errno.EHOSTUNREACH),
    (1, 4): ("port_unreachable", errno.ECONNREFUSED),
    (1, 5): ("source_policy", errno.EACCES),
    (1, 6): ("reject_route", errno.EACCES),
    (3, 0): ("time_exceeded", errno.EHOSTUNREACH),
    (3, 1): ("reassembly_time_exceeded", errno.EHOSTUNREACH),
}


def error6_kind(icmp_type: int, code: int) -> tuple[str, int] | None:
    """An error's name and the errno a Linux socket reports for it (``icmpv6_err_convert``),
    or ``None`` for what is not reported this way."""
    if icmp_type == Icmp6Type.PACKET_TOO_BIG:
        return "packet_too_big", errno.EMSGSIZE
    if icmp_type == Icmp6Type.PARAMETER_PROBLEM:
        return "parameter_problem", errno.EPROTO
    return _KINDS.get((icmp_type, code))
