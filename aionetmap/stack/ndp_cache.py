"""The IPv6 neighbour cache (RFC 4861 7.3), on the injected clock.

States, as the RFC's and Linux's: INCOMPLETE (resolving: multicast solicitations every
``retrans_timer``, up to ``max_multicast_solicit``, packets wait in a per-neighbour queue
of at most ``queue_limit``), REACHABLE (confirmed within ``reachable_time``), STALE (usable;
nothing is sent until it is used), DELAY (used while stale: wait ``delay_first_probe``
for a confirmation), PROBE (unicast solicitations every ``retrans_timer``, up to
``max_unicast_solicit``, then the entry is deleted). There are no upper-layer reachability
hints (UDP has none), so a neighbour in use is re-confirmed by probing, as Linux does.
At most ``max_entries`` neighbours are kept (the oldest unused ones make room) and at most
``max_pending`` are resolved at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Generic, TypeVar

from aionetmap.stack.arp_cache import Enqueued

__all__ = ["NeighborCache", "NeighborState"]

T = TypeVar("T")


class NeighborState(Enum):
    """RFC 4861 7.3.2's states."""

    INCOMPLETE = "incomplete"
    REACHABLE = "reachable"
    STALE = "stale"
    DELAY = "delay"
    PROBE = "probe"


@dataclass(slots=True)
class _Entry(Generic[T]):
    state: NeighborState
    mac: bytes | None
    deadline: float | None
    probes: int = 0
    queue: list[T] = field(default_factory=list)


class NeighborCache(Generic[T]):
    """Neighbours by 16-byte address; ``T`` is what waits for resolution."""

    def __init__(
        self,
        *,
        reachable_time: float = 30.0,
        retrans_timer: float = 1.0,
        delay_first_probe: float = 5.0,
        max_multicast_solicit: int = 3,
        max_unicast_solicit: int = 3,
        queue_limit: int = 256,
        max_entries: int = 1024,
        max_pending: int = 256,
    ) -> None:
        self.reachable_time = reachable_time
        self.retrans_timer = retrans_timer
        self.delay_first_probe = delay_first_probe
        self.max_multicast_solicit = max_multicast_solicit
        self.max_unicast_solicit = max_unicast_solicit
        self.queue_limit = queue_limit
        self.max_entries = max_entries
        self.max_pending = max_pending
        self._entries: dict[bytes, _Entry[T]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def state(self, ip: bytes) -> NeighborState | None:
        """The neighbour's state, or ``None`` if it is not in the cache."""
        entry = self._entries.get(ip)
        return None if entry is None else entry.state

    def lookup(self, ip: bytes, now: float) -> bytes | None:
        """The MAC to send to ``ip`` with, if known; using a STALE entry starts DELAY."""
        entry = self._entries.get(ip)
        if entry is None or entry.mac is None:
            return None
        if entry.state is NeighborState.STALE:
            entry.state, entry.deadline = NeighborState.DELAY, now + self.delay_first_probe
        return entry.mac

    def enqueue(self, ip: bytes, item: T, now: float) -> Enqueued:
        """Park ``item`` until ``ip`` resolves; ``REQUEST`` means solicit it now."""
        entry = self._entries.get(ip)
        if entry is not None:
            if len(entry.queue) >= self.queue_limit:
                return Enqueued.QUEUE_FULL
            entry.queue.append(item)
            return Enqueued.WAITING
        pending = sum(e.state is NeighborState.INCOMPLETE for e in self._entries.values())
        if pending >= self.max_pending or not self._make_room():
            return Enqueued.TABLE_FULL
        self._entries[ip] = _Entry(
            NeighborState.INCOMPLETE, None, now + self.retrans_timer, 1, [item]
        )
        return Enqueued.REQUEST

    def learn(
        self, ip: bytes, mac: bytes, now: float, *, solicited: bool, override: bool, create: bool
    ) -> list[T] | None:
        """Apply what a neighbour said about itself (RFC 4861 7.2.5 for an NA, 7.2.3 for
        the source address of an NS: ``create``, never solicited, always override).

        Returns the packets that waited and may leave now, or ``None`` when an NA is
        about a neighbour not in the cache (the RFC says: ignore it)."""
        entry = self._entries.get(ip)
        if entry is None:
            if not create or not self._make_room():
                return None
            self._entries[ip] = _Entry(NeighborState.STALE, mac, None)
            return []
        if entry.state is NeighborState.INCOMPLETE:
            entry.mac = mac
            self._confirm(entry, now, solicited)
            waiting, entry.queue = entry.queue, []
            return waiting
        changed = mac != entry.mac
        if override or not changed:
            entry.mac = mac
            if solicited:
                self._confirm(entry, now, True)
            elif changed:
                entry.state, entry.deadline = NeighborState.STALE, None
        elif entry.state is NeighborState.REACHABLE:
            entry.state, entry.deadline = NeighborState.STALE, None
        return []

    def _confirm(self, entry: _Entry[T], now: float, reachable: bool) -> None:
        if reachable:
            entry.state, entry.deadline = NeighborState.REACHABLE, now + self.reachable_time
        else:
            entry.state, entry.deadline = NeighborState.STALE, None
        entry.probes = 0

    def _make_room(self) -> bool:
        """Evict the oldest resolved neighbour if the cache is full."""
        if len(self._entries) < self.max_entries:
            return True
        for ip, entry in self._entries.items():
            if entry.state is not NeighborState.INCOMPLETE:
                del self._entries[ip]
                return True
        return False

    def handle_timer(
        self, now: float
    ) -> tuple[list[tuple[bytes, bytes | None]], list[tuple[bytes, list[T]]]]:
        """Due work: ``(solicitations, failures)``. A solicitation is ``(ip, mac)``:
        multicast (``mac`` None) while resolving, unicast to ``mac`` while probing. A
        failure is a neighbour that never answered and the packets that waited for it."""
        solicits: list[tuple[bytes, bytes | None]] = []
        failed: list[tuple[bytes, list[T]]] = []
        for ip, entry in list(self._entries.items()):
            if entry.deadline is None or entry.deadline > now:
                continue
            state = entry.state
            if state is NeighborState.REACHABLE:
                entry.state, entry.deadline = NeighborState.STALE, None
            elif state is NeighborState.DELAY:
                entry.state, entry.probes = NeighborState.PROBE, 1
                entry.deadline = now + self.retrans_timer
                solicits.append((ip, entry.mac))
            else:
                limit = (
                    self.max_multicast_solicit
                    if state is NeighborState.INCOMPLETE
                    else self.max_unicast_solicit
                )
                if entry.probes >= limit:
                    del self._entries[ip]
                    failed.append((ip, entry.queue))
                    continue
                entry.probes += 1
                entry.deadline = now + self.retrans_timer
                solicits.append((ip, entry.mac))
        return solicits, failed

    def next_deadline(self) -> float | None:
        """The earliest time :meth:`handle_timer` has work."""
        return min(
            (e.deadline for e in self._entries.values() if e.deadline is not None), default=None
        )
