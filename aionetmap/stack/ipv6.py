"""IPv6 (RFC 8200): the fixed header, the walk over extension headers, addresses.

Inside the stack an IPv6 address is 16 ``bytes``; events and the public API use text.

:func:`parse_ipv6` checks the fixed header and walks the extension headers with bounds:
hop-by-hop options (first only), destination options, routing and fragment headers.
What RFC 8200 section 4 asks for unknown things is raised as :class:`ParameterProblem`
(a :class:`ParseError` that also says whether an ICMPv6 parameter problem is due, with
its code and pointer); everything else malformed is an ``IntegrityError``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from ipaddress import IPv6Address

from aionetmap.stack.addresses import BytesLike
from aionetmap.stack.drops import DropReason
from aionetmap.stack.errors import IntegrityError, ParseError, SanityError

__all__ = [
    "ALL_NODES",
    "ALL_ROUTERS",
    "IPV6_HEADER_LEN",
    "MIN_MTU",
    "FragmentInfo",
    "Ipv6Packet",
    "NextHeader",
    "ParameterProblem",
    "build_ipv6_fragments",
    "build_ipv6_packet",
    "eui64_link_local",
    "is_link_local",
    "is_multicast6",
    "multicast_mac6",
    "parse_ipv6",
    "pseudo_header_sum6",
    "solicited_node",
]

IPV6_HEADER_LEN = 40
MIN_MTU = 1280
"""The smallest link MTU IPv6 allows (RFC 8200 5)."""
ALL_NODES = bytes.fromhex("ff020000000000000000000000000001")
ALL_ROUTERS = bytes.fromhex("ff020000000000000000000000000002")
_SOLICITED_PREFIX = bytes.fromhex("ff0200000000000000000001ff")
_FIXED = struct.Struct("!IHBB16s16s")


class NextHeader(IntEnum):
    """Next header values the stack knows (IANA protocol numbers)."""

    HOP_BY_HOP = 0
    UDP = 17
    ROUTING = 43
    FRAGMENT = 44
    ICMPV6 = 58
    NO_NEXT_HEADER = 59
    DEST_OPTIONS = 60


class ParameterProblem(ParseError):
    """RFC 8200 says drop, and maybe answer with an ICMPv6 parameter problem."""

    def __init__(
        self, reason: DropReason, message: str, code: int, pointer: int, answer: bool
    ) -> None:
        super().__init__(reason, message)
        self.code = code
        """Parameter problem code: 0 erroneous field, 1 next header, 2 option."""
        self.pointer = pointer
        """Offset of the offending byte from the start of the IPv6 header."""
        self.answer = answer
        """True if an ICMPv6 parameter problem is to be sent (never to a group, for
        options whose type says so, RFC 8200 4.2)."""


@dataclass(frozen=True, slots=True)
class FragmentInfo:
    """The fragment header of a packet that is a real fragment (not atomic)."""

    offset: int
    """Byte offset of this fragment's data in the original fragmentable part."""
    more: bool
    """The M flag."""
    ident: int
    """Identification (32 bits)."""
    next_header: int
    """The first header of the fragmentable part."""
    unfragmentable: bytes
    """The extension headers before the fragment header (their last next-header field
    still names the fragment header, 44)."""
    first_header: int
    """The fixed header's next header (44 when ``unfragmentable`` is empty)."""


@dataclass(frozen=True, slots=True)
class Ipv6Packet:
    """A parsed IPv6 packet; offsets index the buffer given to :func:`parse_ipv6`."""

    src: bytes
    dst: bytes
    hop_limit: int
    next_header: int
    """The upper-layer protocol (or 44 is never here: see ``fragment``)."""
    payload_offset: int
    """Where the upper-layer data (or a fragment's data) starts."""
    end: int
    """Where the packet ends (bytes after it are Ethernet padding)."""
    fragment: FragmentInfo | None = None
    """Set when the packet is a fragment to reassemble."""


def pseudo_header_sum6(src: bytes, dst: bytes, next_header: int, length: int) -> int:
    """The (unfolded) sum of the IPv6 pseudo-header (RFC 8200 8.1)."""
    words = int.from_bytes(src, "big") % 0xFFFF + int.from_bytes(dst, "big") % 0xFFFF
    return words + (length >> 16) + (length & 0xFFFF) + next_header


def is_multicast6(addr: bytes) -> bool:
    """True for ff00::/8."""
    return addr[0] == 0xFF


def is_link_local(addr: bytes) -> bool:
    """True for fe80::/10."""
    return addr[0] == 0xFE and addr[1] & 0xC0 == 0x80


def solicited_node(addr: bytes) -> bytes:
    """The solicited-node multicast group of ``addr``: ff02::1:ffXX:XXXX (RFC 4291 2.7.1)."""
    return _SOLICITED_PREFIX + addr[13:]


def multicast_mac6(group: bytes) -> bytes:
    """The Ethernet address of an IPv6 group: 33:33 and its last 32 bits (RFC 2464 7)."""
    return b"\x33\x33" + group[12:]


def eui64_link_local(mac: bytes) -> bytes:
    """fe80::/64 with the modified EUI-64 interface id of ``mac`` (RFC 4291 appendix A)."""
    iid = bytes([mac[0] ^ 0x02]) + mac[1:3] + b"\xff\xfe" + mac[3:6]
    return b"\xfe\x80" + bytes(6) + iid


def addr_text(addr: bytes) -> str:
    """The compressed text form of a 16-byte address."""
    return str(IPv6Address(addr))


def parse_ipv6(buf: BytesLike, offset: int = 0) -> Ipv6Packet:
    """Check the IPv6 packet at ``buf[offset:]`` and walk its extension headers.

    Raises ``IntegrityError`` (truncated, bad lengths), ``SanityError`` (version, no next
    header, jumbogram) or :class:`ParameterProblem`.
    """
    avail = len(buf) - offset
    if avail < IPV6_HEADER_LEN:
        raise IntegrityError(DropReason.IP6_TRUNCATED, f"IPv6 packet of {avail} bytes")
    word, plen, nh, hop, src, dst = _FIXED.unpack_from(buf, offset)
    if word >> 28 != 6:
        raise SanityError(DropReason.IP6_BAD_VERSION, f"IP version {word >> 28}, not 6")
    if plen == 0:
        raise SanityError(DropReason.IP6_BAD_PAYLOAD_LENGTH, "payload length 0 (jumbogram)")
    end = offset + IPV6_HEADER_LEN + plen
    if end > len(buf):
        raise IntegrityError(DropReason.IP6_TRUNCATED, f"payload length {plen} > {avail - 40}")
    return _walk(buf, offset, end, nh, src, dst, hop)


def _walk(
    buf: BytesLike, base: int, end: int, nh: int, src: bytes, dst: bytes, hop: int
) -> Ipv6Packet:
    """Follow the chain from the fixed header's next header to the upper layer."""
    pos = base + IPV6_HEADER_LEN
    nh_at = base + 6  # where the current next-header value sits, for the pointer
    multicast = is_multicast6(dst)
    while True:
        if nh in (NextHeader.UDP, NextHeader.ICMPV6):
            return Ipv6Packet(src, dst, hop, nh, pos, end)
        if nh == NextHeader.NO_NEXT_HEADER:
            raise SanityError(DropReason.IP6_NO_NEXT_HEADER, "no next header")
        if nh == NextHeader.FRAGMENT:
            return _fragment(buf, base, pos, end, src, dst, hop)
        if nh not in (NextHeader.HOP_BY_HOP, NextHeader.DEST_OPTIONS, NextHeader.ROUTING) or (
            nh == NextHeader.HOP_BY_HOP and nh_at != base + 6
        ):
            raise ParameterProblem(
                DropReason.IP6_UNKNOWN_HEADER,
                f"unrecognised next header {nh}",
                1,
                nh_at - base,
                True,
            )
        if end - pos < 8:
            raise IntegrityError(DropReason.IP6_BAD_EXTENSION, "extension header truncated")
        size = (buf[pos + 1] + 1) * 8
        if pos + size > end:
            raise IntegrityError(DropReason.IP6_BAD_EXTENSION, "extension header past the end")
        if nh == NextHeader.ROUTING:
            if buf[pos + 3]:  # segments left: we would have to forward it
                raise ParameterProblem(
                    DropReason.IP6_ROUTING_HEADER,
                    "routing header with segments left",
                    0,
                    pos + 2 - base,
                    True,
                )
        else:
            _check_options(buf, base, pos + 2, pos + size, multicast)
        nh_at, nh, pos = pos, buf[pos], pos + size


def _check_options(buf: BytesLike, base: int, pos: int, stop: int, multicast: bool) -> None:
    """Walk the TLV options in ``buf[pos:stop]`` (RFC 8200 4.2): padding is skipped, and
    so is an unknown option whose type starts with 00; the other actions discard."""
    while pos < stop:
        kind = buf[pos]
        if kind == 0:  # Pad1
            pos += 1
            continue
        if pos + 2 > stop or pos + 2 + buf[pos + 1] > stop:
            raise IntegrityError(DropReason.IP6_BAD_EXTENSION, "option past its header")
        if kind != 1:  # PadN is the only other option the stack knows
            action = kind >> 6
            if action:
                raise ParameterProblem(
                    DropReason.IP6_UNKNOWN_OPTION,
                    f"unrecognised option {kind:#x}",
                    2,
                    pos - base,
                    action == 2 or (action == 3 and not multicast),
                )
        pos += 2 + buf[pos + 1]


def _fragment(
    buf: BytesLike, base: int, pos: int, end: int, src: bytes, dst: bytes, hop: int
) -> Ipv6Packet:
    """The fragment header at ``pos``; an atomic one (offset 0, no M, RFC 6946) is
    skipped and the walk goes on."""
    if end - pos < 8:
        raise IntegrityError(DropReason.IP6_BAD_EXTENSION, "fragment header truncated")
    nh = buf[pos]
    field = buf[pos + 2] << 8 | buf[pos + 3]
    ident = int.from_bytes(buf[pos + 4 : pos + 8], "big")
    if field & 0xFFF9 == 0:  # offset 0 and M clear: an atomic fragment
        return _walk_after(buf, base, pos + 8, end, nh, src, dst, hop)
    unfrag = bytes(buf[base + IPV6_HEADER_LEN : pos])
    info = FragmentInfo(field & 0xFFF8, bool(field & 1), ident, nh, unfrag, buf[base + 6])
    return Ipv6Packet(src, dst, hop, NextHeader.FRAGMENT, pos + 8, end, info)


def _walk_after(
    buf: BytesLike, base: int, pos: int, end: int, nh: int, src: bytes, dst: bytes, hop: int
) -> Ipv6Packet:
    """Go on after an atomic fragment header (only upper layers may follow it here)."""
    if nh in (NextHeader.UDP, NextHeader.ICMPV6):
        return Ipv6Packet(src, dst, hop, nh, pos, end)
    if nh == NextHeader.NO_NEXT_HEADER:
        raise SanityError(DropReason.IP6_NO_NEXT_HEADER, "no next header")
    raise ParameterProblem(
        DropReason.IP6_UNKNOWN_HEADER,
        f"next header {nh} after an atomic fragment",
        1,
        pos - 8 - base,
        True,
    )


def build_ipv6_packet(
    src: bytes, dst: bytes, next_header: int, payload: bytes, hop_limit: int = 64
) -> bytes:
    """An IPv6 packet (traffic class and flow label 0) carrying ``payload``."""
    return _FIXED.pack(6 << 28, len(payload), next_header, hop_limit, src, dst) + payload


def build_ipv6_fragments(
    src: bytes,
    dst: bytes,
    next_header: int,
    payload: bytes,
    *,
    mtu: int,
    ident: int,
    hop_limit: int = 64,
) -> list[bytes]:
    """``payload`` (an upper-layer message) split into fragments that fit ``mtu``
    (RFC 8200 4.5): each carries a fragment header and a multiple of 8 bytes but the last."""
    step = (mtu - IPV6_HEADER_LEN - 8) & ~7
    if step < 8:
        raise ValueError(f"MTU {mtu} leaves no room for a fragment")
    packets = []
    for start in range(0, len(payload), step):
        piece = payload[start : start + step]
        more = start + step < len(payload)
        header = struct.pack("!BBHI", next_header, 0, start | more, ident)
        packets.append(build_ipv6_packet(src, dst, NextHeader.FRAGMENT, header + piece, hop_limit))
    return packets
