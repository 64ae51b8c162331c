"""MLDv2 (RFC 3810) for the groups a host listens to: reports on join and leave, answers
to queries, with the RFC's timers.

The host is in EXCLUDE({}) mode for every group it joins (any source), the mode of a
socket that joins without a source filter. On a change it sends a state-change report
(CHANGE_TO_EXCLUDE on join, CHANGE_TO_INCLUDE with no sources on leave) ``robustness``
times, ``unsolicited_interval`` apart (RFC 3810 6.1). A general query is answered after a
delay drawn from [0, Maximum Response Delay) with one report holding a MODE_IS_EXCLUDE
record per group; a group-specific query with that group's record (6.2). The link-scope
all-nodes group ff02::1 is never reported (RFC 3810 6). Delays come from a seeded
``random.Random``: runs are reproducible.

:class:`MldState` is pure: it says which records to send when; ``host6`` builds the
packets (to ff02::16, hop limit 1, with a Router Alert hop-by-hop option).
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

from aionetmap.stack.drops import DropReason
from aionetmap.stack.errors import IntegrityError
from aionetmap.stack.ipv6 import ALL_NODES

__all__ = [
    "ALL_MLDV2_ROUTERS",
    "CHANGE_TO_EXCLUDE",
    "CHANGE_TO_INCLUDE",
    "MODE_IS_EXCLUDE",
    "ROUTER_ALERT_HBH",
    "MldState",
    "parse_query",
    "report_body",
]

ALL_MLDV2_ROUTERS = bytes.fromhex("ff020000000000000000000000000016")
MODE_IS_EXCLUDE, CHANGE_TO_INCLUDE, CHANGE_TO_EXCLUDE = 2, 3, 4
ROUTER_ALERT_HBH = bytes([58, 0, 5, 2, 0, 0, 1, 0])
"""Hop-by-hop header for MLD: next header ICMPv6, Router Alert (value 0, MLD), PadN."""

Record = tuple[int, bytes]
"""(record type, group)."""


def report_body(records: list[Record]) -> bytes:
    """An MLDv2 report body (after type, code, checksum) with no source lists."""
    out = struct.pack("!HH", 0, len(records))
    for kind, group in records:
        out += struct.pack("!BBH", kind, 0, 0) + group
    return out


def parse_query(body: bytes) -> tuple[float, bytes]:
    """``(max response delay in seconds, group)`` of an MLDv1 or v2 query body; the group
    is ``::`` for a general query (RFC 3810 5.1.3 for the delay's encoding)."""
    if len(body) < 20:
        raise IntegrityError(DropReason.MLD_INVALID, f"MLD query body of {len(body)} bytes")
    code = body[0] << 8 | body[1]
    if code >= 0x8000:  # a floating-point encoding for long delays
        code = ((code & 0x0FFF) | 0x1000) << (((code >> 12) & 0x7) + 3)
    return code / 1000.0, body[4:20]


@dataclass(slots=True)
class _Retransmit:
    deadline: float
    record: Record
    left: int


class MldState:
    """Groups joined (counted), and the reports due."""

    def __init__(self, *, robustness: int = 2, unsolicited_interval: float = 1.0, seed: int = 0):
        self.robustness = robustness
        self.unsolicited_interval = unsolicited_interval
        self._random = random.Random(seed)
        self._groups: dict[bytes, int] = {}
        self._retransmits: list[_Retransmit] = []
        self._general: float | None = None
        self._specific: dict[bytes, float] = {}

    @property
    def groups(self) -> frozenset[bytes]:
        """The groups joined."""
        return frozenset(self._groups)

    def join(self, group: bytes, now: float) -> list[Record]:
        """Join ``group`` (counted); the records to send now (none if already joined)."""
        count = self._groups.get(group, 0)
        self._groups[group] = count + 1
        if count or group == ALL_NODES:
            return []
        return self._change((CHANGE_TO_EXCLUDE, group), now)

    def leave(self, group: bytes, now: float) -> list[Record]:
        """Undo one :meth:`join`; the records to send now (a leave when the last goes)."""
        count = self._groups.get(group, 0)
        if count > 1:
            self._groups[group] = count - 1
            return []
        if not count:
            return []
        del self._groups[group]
        self._specific.pop(group, None)
        if group == ALL_NODES:
            return []
        return self._change((CHANGE_TO_INCLUDE, group), now)

    def _change(self, record: Record, now: float) -> list[Record]:
        self._retransmits = [r for r in self._retransmits if r.record[1] != record[1]]
        if self.robustness > 1:
            deadline = now + self.unsolicited_interval
            self._retransmits.append(_Retransmit(deadline, record, self.robustness - 1))
        return [record]

    def on_query(self, max_delay: float, group: bytes, now: float) -> None:
        """Schedule the answer to a query (RFC 3810 6.2)."""
        delay = self._random.uniform(0, max_delay) if max_delay > 0 else 0.0
        if group == bytes(16):
            if self._general is None or now + delay < self._general:
                self._general = now + delay
        elif group in self._groups:
            current = self._specific.get(group)
            if current is None or now + delay < current:
                self._specific[group] = now + delay

    def is_joined(self, group: bytes) -> bool:
        return group in self._groups

    def handle_timer(self, now: float) -> list[Record]:
        """The records due at ``now`` (sent together in one report)."""
        records: list[Record] = []
        if self._general is not None and self._general <= now:
            self._general = None
            self._specific.clear()
            records += [(MODE_IS_EXCLUDE, g) for g in self._groups if g != ALL_NODES]
        for group, deadline in list(self._specific.items()):
            if deadline <= now:
                del self._specific[group]
                records.append((MODE_IS_EXCLUDE, group))
        for item in list(self._retransmits):
            if item.deadline <= now:
                records.append(item.record)
                item.left -= 1
                item.deadline = now + self.unsolicited_interval
                if not item.left:
                    self._retransmits.remove(item)
        return records

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` next has work."""
        times = [r.deadline for r in self._retransmits] + list(self._specific.values())
        if self._general is not None:
            times.append(self._general)
        return min(times, default=None)
