"""Neighbor Discovery messages (RFC 4861 4): build them, parse and validate them.

The bodies here follow the ICMPv6 type/code/checksum (:func:`.icmpv6.build_icmpv6` adds
those). Validation is RFC 4861's (7.1.1 solicitations, 7.1.2 advertisements, 6.1.2
router advertisements): the caller checks the hop limit (255) and the code (0); these
parsers check lengths, the options and the target, and raise ``ParseError`` with
``NDP_INVALID``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from aionetmap.stack.drops import DropReason
from aionetmap.stack.errors import IntegrityError, SanityError
from aionetmap.stack.ipv6 import is_multicast6

__all__ = [
    "NA_OVERRIDE",
    "NA_ROUTER",
    "NA_SOLICITED",
    "NeighborAdvert",
    "NeighborSolicit",
    "PrefixInfo",
    "RouterAdvert",
    "na_body",
    "ns_body",
    "parse_na",
    "parse_ns",
    "parse_options",
    "parse_ra",
]

NA_ROUTER, NA_SOLICITED, NA_OVERRIDE = 0x80, 0x40, 0x20
_SLLA, _TLLA, _PREFIX, _MTU = 1, 2, 3, 5
_PREFIX_INFO = struct.Struct("!BBIII16s")


def _invalid(why: str) -> SanityError:
    return SanityError(DropReason.NDP_INVALID, why)


def parse_options(data: bytes) -> dict[int, list[bytes]]:
    """The NDP options in ``data`` by type (each value without type and length).

    A length of 0, or one running past the message, makes the message invalid."""
    options: dict[int, list[bytes]] = {}
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data) or data[pos + 1] == 0:
            raise _invalid("NDP option of length 0 or truncated")
        size = data[pos + 1] * 8
        if pos + size > len(data):
            raise IntegrityError(DropReason.NDP_INVALID, "NDP option past the message")
        options.setdefault(data[pos], []).append(data[pos + 2 : pos + size])
        pos += size
    return options


def _link_address(options: dict[int, list[bytes]], kind: int) -> bytes | None:
    values = options.get(kind)
    if not values:
        return None
    if len(values[0]) < 6:
        raise _invalid("link-layer address option too short")
    return values[0][:6]


def _lla_option(kind: int, mac: bytes) -> bytes:
    return bytes([kind, 1]) + mac


@dataclass(frozen=True, slots=True)
class NeighborSolicit:
    """A neighbour solicitation: who has ``target``? (``source_mac`` from the SLLA.)"""

    target: bytes
    source_mac: bytes | None


@dataclass(frozen=True, slots=True)
class NeighborAdvert:
    """A neighbour advertisement: ``target`` is at ``target_mac`` (from the TLLA)."""

    target: bytes
    flags: int
    target_mac: bytes | None

    @property
    def solicited(self) -> bool:
        return bool(self.flags & NA_SOLICITED)

    @property
    def override(self) -> bool:
        return bool(self.flags & NA_OVERRIDE)


def ns_body(target: bytes, source_mac: bytes | None) -> bytes:
    """An NS body; the SLLA option is left out for DAD (source ``::``, RFC 4861 4.3)."""
    option = b"" if source_mac is None else _lla_option(_SLLA, source_mac)
    return bytes(4) + target + option


def na_body(target: bytes, flags: int, target_mac: bytes | None) -> bytes:
    """An NA body with the TLLA option when ``target_mac`` is given."""
    option = b"" if target_mac is None else _lla_option(_TLLA, target_mac)
    return bytes([flags, 0, 0, 0]) + target + option


def parse_ns(body: bytes, src: bytes, dst: bytes) -> NeighborSolicit:
    """Validate an NS body (RFC 4861 7.1.1)."""
    if len(body) < 20:
        raise IntegrityError(DropReason.NDP_INVALID, "neighbour solicitation too short")
    target = body[4:20]
    if is_multicast6(target):
        raise _invalid("neighbour solicitation for a multicast target")
    mac = _link_address(parse_options(body[20:]), _SLLA)
    if src == bytes(16) and (dst[:13] != bytes.fromhex("ff0200000000000000000001ff") or mac):
        raise _invalid("DAD solicitation not to a solicited-node group, or with an SLLA")
    return NeighborSolicit(target, mac)


def parse_na(body: bytes, dst: bytes) -> NeighborAdvert:
    """Validate an NA body (RFC 4861 7.1.2)."""
    if len(body) < 20:
        raise IntegrityError(DropReason.NDP_INVALID, "neighbour advertisement too short")
    target = body[4:20]
    if is_multicast6(target):
        raise _invalid("neighbour advertisement for a multicast target")
    if is_multicast6(dst) and body[0] & NA_SOLICITED:
        raise _invalid("solicited neighbour advertisement sent to a group")
    return NeighborAdvert(target, body[0] & 0xE0, _link_address(parse_options(body[20:]), _TLLA))


@dataclass(frozen=True, slots=True)
class PrefixInfo:
    """A prefix information option (RFC 4861 4.6.2)."""

    prefix: bytes
    length: int
    on_link: bool
    autonomous: bool
    valid_lifetime: int
    preferred_lifetime: int


@dataclass(frozen=True, slots=True)
class RouterAdvert:
    """A router advertisement: what a host takes from it."""

    hop_limit: int
    lifetime: int
    """Router lifetime in seconds: 0 means not a default router."""
    reachable_time: int
    """Milliseconds, 0 unspecified."""
    retrans_timer: int
    """Milliseconds, 0 unspecified."""
    source_mac: bytes | None
    mtu: int | None
    prefixes: tuple[PrefixInfo, ...]


def parse_ra(body: bytes) -> RouterAdvert:
    """Validate an RA body (RFC 4861 6.1.2; the caller checks the link-local source)."""
    if len(body) < 12:
        raise IntegrityError(DropReason.NDP_INVALID, "router advertisement too short")
    hop, _flags, lifetime, reachable, retrans = struct.unpack_from("!BBHII", body)
    options = parse_options(body[12:])
    mtu = None
    for value in options.get(_MTU, []):
        if len(value) >= 6:
            mtu = int.from_bytes(value[2:6], "big")
    prefixes = []
    for value in options.get(_PREFIX, []):
        if len(value) < _PREFIX_INFO.size:
            raise _invalid("prefix information option too short")
        plen, flags, valid, preferred, _res, prefix = _PREFIX_INFO.unpack_from(value)
        if plen > 128:
            raise _invalid(f"prefix length {plen}")
        prefixes.append(
            PrefixInfo(prefix, plen, bool(flags & 0x80), bool(flags & 0x40), valid, preferred)
        )
    mac = _link_address(options, _SLLA)
    return RouterAdvert(hop, lifetime, reachable, retrans, mac, mtu, tuple(prefixes))


def ra_body(
    lifetime: int, source_mac: bytes, prefixes: tuple[PrefixInfo, ...] = (), hop_limit: int = 64
) -> bytes:
    """An RA body (for tests and for peers built from a ``Host``)."""
    out = struct.pack("!BBHII", hop_limit, 0, lifetime, 0, 0) + _lla_option(_SLLA, source_mac)
    for p in prefixes:
        flags = (0x80 if p.on_link else 0) | (0x40 if p.autonomous else 0)
        info = _PREFIX_INFO.pack(
            p.length, flags, p.valid_lifetime, p.preferred_lifetime, 0, p.prefix
        )
        out += bytes([_PREFIX, 4]) + info
    return out
