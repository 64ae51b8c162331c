"""IPv4 fragment reassembly under strict bounds (RFC 791 section 3.2, RFC 815 style).

The stack reassembles (``HostConfig.reassembly``; when off, every fragment is dropped as
``IP_FRAGMENT``). Memory stays bounded under a flood of fragments that never complete:
every bound has its own drop reason.

- ``timeout`` seconds from a datagram's first fragment to its last, else every fragment
  held for it is dropped (``IP_FRAGMENT_TIMEOUT``, counted per fragment). No ICMP time
  exceeded is sent.
- ``max_datagrams`` datagrams in progress from all sources together; a fragment that
  would start one more is dropped (``IP_FRAGMENT_TABLE_FULL``). Those in progress keep
  their chance to complete, as in Linux, which refuses new fragments when full.
- ``max_per_source`` datagrams in progress per source address; a fragment that would start
  one more is dropped (``IP_FRAGMENT_SOURCE_LIMIT``).
- ``max_fragments`` fragments per datagram, else the whole datagram goes
  (``IP_FRAGMENT_LIMIT``).
- ``max_bytes`` of fragment payload held in all; to make room the oldest other datagrams
  are evicted (``IP_FRAGMENT_MEMORY``, per fragment), and if that is not enough the new
  fragment is dropped (``IP_FRAGMENT_MEMORY``). Each held fragment also costs a fixed
  bookkeeping overhead, so the per-datagram and table caps bound the rest.
- A reassembled datagram may not exceed 65535 bytes (``IP_FRAGMENT_TOO_BIG``, the whole
  datagram: the "ping of death").
- A non-final fragment must carry a non-zero multiple of 8 bytes (``IP_FRAGMENT_BAD``).
- Overlapping fragments, or fragments that disagree about where the datagram ends, drop
  the whole datagram (``IP_FRAGMENT_OVERLAP``): accepting overlaps lets an attacker choose
  which copy of the bytes wins. An exact duplicate is dropped alone
  (``IP_FRAGMENT_DUPLICATE``).

Fragments are keyed by (source, destination, protocol, identification). The completed
datagram gets the first fragment's header with MF and offset cleared, the total length set
and a new checksum, and then goes through the same receive checks as any packet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from aionetmap.stack.drops import DropReason
from aionetmap.stack.ipv4 import MAX_DATAGRAM, IPv4Header

__all__ = ["Reassembler"]

_Key = tuple[int, ...]


@dataclass(slots=True)
class _Datagram:
    deadline: float
    header: object = None
    header_length: int = 0
    end: int | None = None
    held: int = 0
    pieces: list[tuple[int, int, bytes]] = field(default_factory=list)


class Reassembler:
    """Holds fragments until their datagram is complete; reports every dropped fragment
    through ``on_drop(reason, count)``."""

    def __init__(
        self,
        on_drop: Callable[[DropReason, int], None],
        *,
        timeout: float = 30.0,
        max_bytes: int = 4 * 1024 * 1024,
        max_datagrams: int = 1024,
        max_per_source: int = 64,
        max_fragments: int = 64,
    ) -> None:
        if timeout <= 0 or min(max_bytes, max_datagrams, max_per_source, max_fragments) < 1:
            raise ValueError("reassembly timeout and limits must be positive")
        self._on_drop = on_drop
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_datagrams = max_datagrams
        self.max_per_source = max_per_source
        self.max_fragments = max_fragments
        # Insertion order is deadline order: the timeout is constant and time monotonic.
        self._datagrams: dict[_Key, _Datagram] = {}
        self._per_source: dict[int, int] = {}
        self._held = 0

    @property
    def held_bytes(self) -> int:
        """Fragment payload bytes currently held."""
        return self._held

    def __len__(self) -> int:
        """Datagrams in progress."""
        return len(self._datagrams)

    def add(self, header: IPv4Header, payload: bytes, now: float) -> bytes | None:
        """Take one fragment (``payload`` is its IPv4 payload, copied by the caller).

        Returns the complete reassembled IPv4 datagram when this fragment finishes one,
        otherwise ``None`` (the fragment is held, or dropped and reported).
        """
        key = (int(header.src), int(header.dst), header.protocol, header.ident)
        start = header.fragment_offset * 8
        more = header.more_fragments
        return self.add_piece(key, start, payload, more, header, header.header_length, now)

    def add_piece(
        self,
        key: _Key,
        start: int,
        payload: bytes,
        more: bool,
        first: object,
        header_length: int,
        now: float,
    ) -> bytes | None:
        """Take one fragment of any IP version: ``key`` names its datagram (its first
        item is the source address, which ``max_per_source`` counts), ``start`` is its
        byte offset, ``first`` what :meth:`_rebuild` needs of the offset-0 fragment and
        ``header_length`` the header bytes counted against the 65535-byte limit."""
        stop = start + len(payload)
        if more and (not payload or len(payload) % 8):
            self._on_drop(DropReason.IP_FRAGMENT_BAD, 1)
            return None
        if header_length + stop > MAX_DATAGRAM:
            self._discard(key, DropReason.IP_FRAGMENT_TOO_BIG, extra=1)
            return None
        datagram = self._datagrams.get(key)
        if datagram is not None:
            verdict = self._check_fits(datagram, start, stop, more)
            if verdict is DropReason.IP_FRAGMENT_DUPLICATE:
                self._on_drop(verdict, 1)
                return None
            if verdict is not None:
                self._discard(key, verdict, extra=1)
                return None
        elif len(self._datagrams) >= self.max_datagrams:
            self._on_drop(DropReason.IP_FRAGMENT_TABLE_FULL, 1)
            return None
        elif self._per_source.get(key[0], 0) >= self.max_per_source:
            self._on_drop(DropReason.IP_FRAGMENT_SOURCE_LIMIT, 1)
            return None
        if not self._make_room(key, len(payload)):
            self._on_drop(DropReason.IP_FRAGMENT_MEMORY, 1)
            return None
        if datagram is None:
            datagram = self._datagrams[key] = _Datagram(now + self.timeout)
            self._per_source[key[0]] = self._per_source.get(key[0], 0) + 1
        datagram.pieces.append((start, stop, payload))
        datagram.held += len(payload)
        self._held += len(payload)
        if not more:
            datagram.end = stop
        if start == 0:
            datagram.header = first
            datagram.header_length = header_length
        if datagram.end is None or datagram.held != datagram.end:
            return None
        return self._complete(key, datagram)

    def _check_fits(
        self, datagram: _Datagram, start: int, stop: int, more: bool
    ) -> DropReason | None:
        """Why this fragment cannot join ``datagram``, or ``None`` if it can."""
        if len(datagram.pieces) >= self.max_fragments:
            return DropReason.IP_FRAGMENT_LIMIT
        if not more and datagram.end is not None and datagram.end != stop:
            return DropReason.IP_FRAGMENT_OVERLAP
        limit = None if more else stop
        for p_start, p_stop, _ in datagram.pieces:
            if p_start == start and p_stop == stop:
                return DropReason.IP_FRAGMENT_DUPLICATE
            if p_start < stop and start < p_stop:
                return DropReason.IP_FRAGMENT_OVERLAP
            if limit is not None and p_stop > limit:
                return DropReason.IP_FRAGMENT_OVERLAP
        if more and datagram.end is not None and stop > datagram.end:
            return DropReason.IP_FRAGMENT_OVERLAP
        return None

    def _make_room(self, key: _Key, size: int) -> bool:
        """Evict the oldest other datagrams until ``size`` more bytes fit the cap."""
        if size > self.max_bytes:
            return False
        while self._held + size > self.max_bytes:
            victim = next((k for k in self._datagrams if k != key), None)
            if victim is None:
                return False
            self._discard(victim, DropReason.IP_FRAGMENT_MEMORY)
        return True

    def _complete(self, key: _Key, datagram: _Datagram) -> bytes | None:
        self._remove(key)
        first = datagram.header
        end = datagram.end or 0
        if first is None or datagram.header_length + end > MAX_DATAGRAM:
            self._on_drop(DropReason.IP_FRAGMENT_TOO_BIG, len(datagram.pieces))
            return None
        datagram.pieces.sort()
        return self._rebuild(first, end, b"".join(piece for _, _, piece in datagram.pieces))

    def _rebuild(self, first: object, end: int, body: bytes) -> bytes:
        """The complete datagram from its first fragment's header (what ``add_piece`` was
        given as ``first``) and the reassembled payload of ``end`` bytes."""
        assert isinstance(first, IPv4Header)
        header = replace(
            first,
            total_length=first.header_length + end,
            more_fragments=False,
            fragment_offset=0,
            checksum=None,
        )
        return bytes(header) + body

    def _remove(self, key: _Key) -> _Datagram:
        datagram = self._datagrams.pop(key)
        self._held -= datagram.held
        count = self._per_source[key[0]] - 1
        if count:
            self._per_source[key[0]] = count
        else:
            del self._per_source[key[0]]
        return datagram

    def _discard(self, key: _Key, reason: DropReason, extra: int = 0) -> None:
        """Drop a datagram in progress (if any) and ``extra`` more fragments for ``reason``."""
        held = len(self._remove(key).pieces) if key in self._datagrams else 0
        if held + extra:
            self._on_drop(reason, held + extra)

    def expire(self, now: float) -> None:
        """Drop every datagram whose deadline has passed."""
        while self._datagrams:
            key, datagram = next(iter(self._datagrams.items()))
            if datagram.deadline > now:
                break
            self._discard(key, DropReason.IP_FRAGMENT_TIMEOUT)

    def next_deadline(self) -> float | None:
        """The earliest deadline of a datagram in progress."""
        if not self._datagrams:
            return None
        return next(iter(self._datagrams.values())).deadline
