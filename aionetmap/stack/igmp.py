"""IGMP messages (RFC 1112 v1, RFC 2236 v2, RFC 3376 v3): what a host parses and sends.

```
 0                   1                   2                   3
 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
|      Type     | Max Resp Code |           Checksum            |
+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
|                         Group Address                         |
+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
| v3 query: Resv|S|QRV|  QQIC  |     Number of Sources (N)     |
|           Source Address [1..N]                               |
+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
```

A query of 8 bytes is v1 (Max Resp Code 0) or v2; one of 12 bytes or more is v3; other
lengths are malformed (RFC 3376 7.1). A v3 report (type 0x22) is a header of 8 bytes
(reserved, checksum, reserved, number of records) followed by group records of 8 bytes
(record type, aux length 0, number of sources 0, group) for the any-source memberships
this stack holds. The checksum covers the whole message.

Every IGMP packet the host sends is built the way Linux builds them: TTL 1, TOS 0xC0
(internetwork control), DF set, identification 0, and the IPv4 Router Alert option
(RFC 2113) so that routers look at it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from ipaddress import IPv4Address

from aionetmap.stack.addresses import BytesLike
from aionetmap.stack.checksum import inet_checksum
from aionetmap.stack.drops import DropReason
from aionetmap.stack.errors import IntegrityError, SanityError
from aionetmap.stack.ipv4 import IPv4Header

__all__ = [
    "ALL_HOSTS",
    "ALL_ROUTERS",
    "IGMPV3_ROUTERS",
    "IgmpQuery",
    "IgmpReport",
    "IgmpType",
    "RecordType",
    "build_igmp_packet",
    "build_v1_report",
    "build_v2_leave",
    "build_v2_report",
    "build_v3_report",
    "group_mac",
    "is_multicast",
    "max_resp_seconds",
    "parse_igmp",
]

ALL_HOSTS = 0xE0000001
"""224.0.0.1: general queries go here; every host is a member, none reports it."""
ALL_ROUTERS = 0xE0000002
"""224.0.0.2: where v2 leaves go."""
IGMPV3_ROUTERS = 0xE0000016
"""224.0.0.22: where v3 reports go."""
ROUTER_ALERT = b"\x94\x04\x00\x00"
"""The IPv4 Router Alert option (RFC 2113), value 0: "examine this packet"."""
V3_RECORDS_OFFSET = 8
_HEAD = struct.Struct("!BBHI")
_RECORD = struct.Struct("!BBHI")


class IgmpType(IntEnum):
    """IGMP message types a host deals with."""

    QUERY = 0x11
    V1_REPORT = 0x12
    V2_REPORT = 0x16
    V2_LEAVE = 0x17
    V3_REPORT = 0x22


class RecordType(IntEnum):
    """IGMPv3 group record types (RFC 3376 4.2.12)."""

    MODE_IS_INCLUDE = 1
    MODE_IS_EXCLUDE = 2
    CHANGE_TO_INCLUDE = 3
    CHANGE_TO_EXCLUDE = 4


_TYPES = frozenset(int(t) for t in IgmpType)


def is_multicast(ip: int) -> bool:
    """True for an address in 224.0.0.0/4."""
    return ip >> 28 == 0xE


def group_mac(group: int) -> bytes:
    """The Ethernet address of an IPv4 group (RFC 1112 6.4): 01:00:5e and its low 23 bits."""
    return b"\x01\x00\x5e" + (group & 0x7FFFFF).to_bytes(3, "big")


def max_resp_seconds(code: int, version: int) -> float:
    """The Max Resp Code of a query as seconds. v3 codes from 128 up are a floating-point
    form (RFC 3376 4.1.1); v1 queries carry 0, meaning 10 seconds (RFC 2236 4)."""
    if version == 1:
        return 10.0
    if version == 3 and code >= 128:
        code = ((code & 0x0F) | 0x10) << (((code >> 4) & 0x07) + 3)
    return code / 10


@dataclass(frozen=True, slots=True)
class IgmpQuery:
    """A membership query: general (``group`` 0) or for one group."""

    version: int
    """1, 2 or 3, by length and Max Resp Code (RFC 3376 7.1)."""
    group: int
    """The group asked about, or 0 for a general query."""
    max_resp: float
    """Seconds within which to answer."""
    sources: tuple[int, ...] = ()
    """A v3 group-and-source-specific query's sources."""
    robustness: int = 0
    """A v3 query's QRV (the querier's Robustness Variable), 0 if unset or not v3."""


@dataclass(frozen=True, slots=True)
class IgmpReport:
    """A report or leave heard from another host (hosts act only on v1/v2 reports)."""

    type: IgmpType
    """Which report or leave it is."""
    group: int
    """The group of a v1/v2 report or leave (0 for a v3 report)."""


def parse_igmp(data: BytesLike) -> IgmpQuery | IgmpReport:
    """Parse a whole IGMP message (the IPv4 payload).

    Check order: under 8 bytes (``IGMP_TRUNCATED``), checksum (``IGMP_BAD_CHECKSUM``),
    type (``IGMP_UNSUPPORTED_TYPE``), a query of 9-11 bytes or whose source list runs past
    the message (``IGMP_BAD_LENGTH``), a group field that is neither 0 (general query) nor
    a multicast address (``IGMP_BAD_GROUP``), a v3 general query that lists sources
    (``IGMP_BAD_QUERY``, ignored by Linux too). A v1 query is general whatever its group.
    """
    size = len(data)
    if size < 8:
        raise IntegrityError(DropReason.IGMP_TRUNCATED, f"IGMP message of {size} bytes is under 8")
    if inet_checksum(data) != 0:
        raise IntegrityError(DropReason.IGMP_BAD_CHECKSUM, "IGMP checksum is wrong")
    kind, code, _csum, group = _HEAD.unpack_from(data)
    if kind not in _TYPES:
        raise SanityError(DropReason.IGMP_UNSUPPORTED_TYPE, f"IGMP type {kind:#x} is not handled")
    if kind != IgmpType.QUERY:
        if kind != IgmpType.V3_REPORT and not is_multicast(group):
            raise SanityError(DropReason.IGMP_BAD_GROUP, f"IGMP report for {IPv4Address(group)}")
        return IgmpReport(IgmpType(kind), 0 if kind == IgmpType.V3_REPORT else group)
    if group and not is_multicast(group):
        raise SanityError(DropReason.IGMP_BAD_GROUP, f"IGMP query for {IPv4Address(group)}")
    if size == 8:
        if not code:  # v1: always a general query (RFC 2236 4), as Linux takes it
            return IgmpQuery(1, 0, max_resp_seconds(code, 1))
        return IgmpQuery(2, group, max_resp_seconds(code, 2))
    if size < 12:
        raise IntegrityError(DropReason.IGMP_BAD_LENGTH, f"IGMP query of {size} bytes")
    count = data[10] << 8 | data[11]
    if 12 + 4 * count > size:
        raise IntegrityError(
            DropReason.IGMP_BAD_LENGTH, f"IGMPv3 query lists {count} sources in {size} bytes"
        )
    if count and not group:
        raise SanityError(DropReason.IGMP_BAD_QUERY, "IGMPv3 general query lists sources")
    sources = tuple(int.from_bytes(data[i : i + 4], "big") for i in range(12, 12 + 4 * count, 4))
    return IgmpQuery(3, group, max_resp_seconds(code, 3), sources, data[8] & 7)


def _with_checksum(message: bytearray) -> bytes:
    message[2:4] = inet_checksum(message).to_bytes(2, "big")
    return bytes(message)


def build_v3_report(records: list[tuple[RecordType, int]]) -> bytes:
    """An IGMPv3 report of source-less group records ``(record type, group)``."""
    message = bytearray(_HEAD.pack(IgmpType.V3_REPORT, 0, 0, len(records)))
    for kind, group in records:
        message += _RECORD.pack(kind, 0, 0, group)
    return _with_checksum(message)


def build_v2_report(group: int) -> bytes:
    """An IGMPv2 membership report for ``group`` (sent to the group itself)."""
    return _with_checksum(bytearray(_HEAD.pack(IgmpType.V2_REPORT, 0, 0, group)))


def build_v1_report(group: int) -> bytes:
    """An IGMPv1 membership report for ``group`` (sent to the group itself)."""
    return _with_checksum(bytearray(_HEAD.pack(IgmpType.V1_REPORT, 0, 0, group)))


def build_v2_leave(group: int) -> bytes:
    """An IGMPv2 leave for ``group`` (sent to 224.0.0.2)."""
    return _with_checksum(bytearray(_HEAD.pack(IgmpType.V2_LEAVE, 0, 0, group)))


def build_igmp_packet(src: int, dst: int, message: bytes) -> bytes:
    """``message`` in an IPv4 packet as Linux sends IGMP: TTL 1, TOS 0xC0, DF, id 0, and
    the Router Alert option."""
    header = IPv4Header(
        src=IPv4Address(src),
        dst=IPv4Address(dst),
        protocol=2,
        total_length=24 + len(message),
        ttl=1,
        dont_fragment=True,
        tos=0xC0,
        options=ROUTER_ALERT,
    )
    return bytes(header) + message
