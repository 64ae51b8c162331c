"""The ARP cache: resolved next hops with expiry, and next hops being resolved with the
datagrams waiting for them.

Policy (times in seconds of the injected clock):

- A resolved entry is used for ``ttl`` seconds after it was learned or last confirmed,
  then forgotten; the next datagram to that address starts a new resolution. (There is no
  stale-but-usable state: simpler, at the cost of one round trip per ``ttl``.)
- Resolution sends a request at once and then one every ``request_interval`` (never more
  often per address), ``retries`` requests in all; ``request_interval`` after the last one
  the address has failed and its waiting items are handed back to report.
- At most ``queue_limit`` items wait per address and ``max_pending`` addresses are resolved
  at once; past either bound a new item is refused (the caller reports ``ENOBUFS``).
- At most ``max_entries`` resolved entries are kept; the least recently confirmed goes first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Generic, TypeVar

__all__ = ["ArpCache", "Enqueued"]

T = TypeVar("T")


class Enqueued(Enum):
    """What :meth:`ArpCache.enqueue` did with an item."""

    REQUEST = "request"
    """Queued, and a new resolution started: send an ARP request now."""
    WAITING = "waiting"
    """Queued behind a resolution already under way."""
    QUEUE_FULL = "queue_full"
    """Refused: ``queue_limit`` items already wait for this address."""
    TABLE_FULL = "table_full"
    """Refused: ``max_pending`` addresses are already being resolved."""


@dataclass(slots=True)
class _Pending(Generic[T]):
    next_request: float
    requests: int = 1
    queue: list[T] = field(default_factory=list)


class ArpCache(Generic[T]):
    """Resolved and resolving IPv4 next hops (addresses as ints), generic in what waits."""

    def __init__(
        self,
        *,
        ttl: float = 60.0,
        request_interval: float = 1.0,
        retries: int = 3,
        queue_limit: int = 16,
        max_entries: int = 1024,
        max_pending: int = 256,
    ) -> None:
        if ttl <= 0 or request_interval <= 0:
            raise ValueError("ARP ttl and request interval must be positive")
        if min(retries, queue_limit, max_entries, max_pending) < 1:
            raise ValueError("ARP retries and limits must be at least 1")
        self.ttl = ttl
        self.request_interval = request_interval
        self.retries = retries
        self.queue_limit = queue_limit
        self.max_entries = max_entries
        self.max_pending = max_pending
        # ip -> (mac, expiry); insertion order is confirmation order (refresh re-inserts).
        self._resolved: dict[int, tuple[bytes, float]] = {}
        self._pending: dict[int, _Pending[T]] = {}

    def lookup(self, ip: int, now: float) -> bytes | None:
        """The MAC of ``ip`` if it is resolved and not expired."""
        entry = self._resolved.get(ip)
        if entry is None:
            return None
        if now >= entry[1]:
            del self._resolved[ip]
            return None
        return entry[0]

    def is_pending(self, ip: int) -> bool:
        """True while ``ip`` is being resolved."""
        return ip in self._pending

    def knows(self, ip: int, now: float) -> bool:
        """True if ``ip`` is resolved (unexpired) or being resolved."""
        return ip in self._pending or self.lookup(ip, now) is not None

    def learn(self, ip: int, mac: bytes, now: float) -> list[T]:
        """Record that ``ip`` is at ``mac`` for ``ttl`` seconds; return the items that were
        waiting for it (in the order they were queued)."""
        self._resolved.pop(ip, None)
        while len(self._resolved) >= self.max_entries:
            del self._resolved[next(iter(self._resolved))]
        self._resolved[ip] = (mac, now + self.ttl)
        pending = self._pending.pop(ip, None)
        return [] if pending is None else pending.queue

    def enqueue(self, ip: int, item: T, now: float) -> Enqueued:
        """Park ``item`` until ``ip`` resolves (call only when :meth:`lookup` found nothing)."""
        pending = self._pending.get(ip)
        if pending is None:
            if len(self._pending) >= self.max_pending:
                return Enqueued.TABLE_FULL
            self._pending[ip] = _Pending(now + self.request_interval, 1, [item])
            return Enqueued.REQUEST
        if len(pending.queue) >= self.queue_limit:
            return Enqueued.QUEUE_FULL
        pending.queue.append(item)
        return Enqueued.WAITING

    def handle_timer(self, now: float) -> tuple[list[int], list[tuple[int, list[T]]]]:
        """Advance resolutions: returns the addresses to send another request to, and the
        addresses that failed with the items that were waiting for them."""
        requests: list[int] = []
        failed: list[tuple[int, list[T]]] = []
        for ip, pending in list(self._pending.items()):
            if now < pending.next_request:
                continue
            if pending.requests >= self.retries:
                del self._pending[ip]
                failed.append((ip, pending.queue))
            else:
                pending.requests += 1
                pending.next_request = now + self.request_interval
                requests.append(ip)
        return requests, failed

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` next has something to do (expiry needs no timer)."""
        if not self._pending:
            return None
        return min(p.next_request for p in self._pending.values())

    def __len__(self) -> int:
        """Resolved entries (expired ones included until looked up or evicted)."""
        return len(self._resolved)
