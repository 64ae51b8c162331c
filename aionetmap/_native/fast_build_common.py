"""What the IPv4 and IPv6 frame builders share (:mod:`.fast_builder`,
:mod:`.fast_builder6`): the batch they fill, the per-call arrays handed to C (payload
lengths, destination indexes), the checks on a call's arguments, the marshalling of its
payloads into one ``bytes``, and the numbered destination tables."""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Any

from aionetmap._native._fast import ffi
from aionetmap._native.batch import DEFAULT_BATCH, FrameBatch
from aionetmap._native.fast_common import cdata_view

__all__ = ["BatchBuilder", "DestinationTableBase", "check_vlan", "join_payloads"]


class BatchBuilder:
    """The part of a frame builder that is not about one family's headers."""

    __slots__ = ("_index", "_index_view", "_lens", "_lens_view", "_src", "batch", "capacity")

    def __init__(self, capacity: int = DEFAULT_BATCH, *, arena_size: int | None = None) -> None:
        if not isinstance(capacity, int) or capacity <= 0:
            name = type(self).__name__
            raise ValueError(f"{name}: capacity must be a positive int, not {capacity!r}")
        self.capacity = capacity
        self.batch = FrameBatch(capacity, arena_size)
        """The frames of the last ``build_to`` (reused by the next one)."""
        self._src: Any = None
        self._lens: Any = ffi.new("uint32_t[]", capacity)
        self._index: Any = ffi.new("uint32_t[]", capacity)
        self._lens_view = cdata_view(self._lens, "I")
        self._index_view = cdata_view(self._index, "I")

    def _stage(
        self,
        payloads: Sequence[bytes | bytearray | memoryview],
        dst_index: Sequence[int],
        src_port: int,
        who: str,
        lens: Sequence[int] | None = None,
    ) -> tuple[int, bytes, Sequence[int]]:
        """Check a ``build_to`` call and copy the lengths and indexes of its first ``n``
        datagrams into the C arrays: ``(n, their payloads joined, their lengths)``, with
        ``n`` 0 when there is nothing to build. ``lens``: the caller's byte lengths of
        ``payloads`` (checked against the joined bytes), so they are not measured again."""
        if self._src is None:
            raise RuntimeError(f"{who}: set_source() must be called first")
        if len(dst_index) != len(payloads):
            raise ValueError(f"{who}: {len(payloads)} payloads, {len(dst_index)} indexes")
        if not 0 <= src_port <= 0xFFFF:
            raise ValueError(f"{who}: source port must be in 0..65535, not {src_port!r}")
        n = min(len(payloads), self.capacity)
        if n == 1 and type(payloads[0]) is bytes:  # one datagram in flight: no list work
            blob = payloads[0]
            self._lens[0] = len(blob)
            index = dst_index[0]
            if not isinstance(index, int):  # what array("I", ...) refuses below
                raise TypeError(f"{who}: an index must be an int, not {type(index).__name__}")
            if not 0 <= index <= 0xFFFFFFFF:
                raise ValueError(f"{who}: index {index} is not in the table")
            self._index[0] = index
            return 1, blob, [len(blob)]
        if n == 0:
            return 0, b"", []
        whole = n == len(payloads)
        if lens is not None:
            if len(lens) != len(payloads):
                raise ValueError(f"{who}: {len(payloads)} payloads, {len(lens)} lengths")
            lens = lens if whole else lens[:n]
        blob, lens = join_payloads(payloads if whole else payloads[:n], who, lens)
        self._lens_view[:n] = array("I", lens)
        try:
            if type(dst_index) is array and dst_index.typecode == "I":  # copied as bytes
                self._index_view[:n] = dst_index if n == len(dst_index) else dst_index[:n]
            else:
                self._index_view[:n] = array("I", dst_index[:n])
        except OverflowError:
            bad = next(i for i in dst_index[:n] if not 0 <= i <= 0xFFFFFFFF)
            raise ValueError(f"{who}: index {bad} is not in the table") from None
        return n, blob, lens

    def _check_stop(
        self, built: int, length: int, index: int, table_count: int, limit: int, who: str
    ) -> None:
        """C stopped before datagram ``built`` (``length`` bytes of payload, to table entry
        ``index``): raise if that datagram is invalid (nothing of it is kept) or if not
        even the first frame fits; otherwise the arena is full and the caller keeps the
        rest for the next call."""
        if not 0 <= index < table_count:
            raise ValueError(f"{who}: index {index} is not in the table")
        if length > limit:
            raise ValueError(f"{who}: a {length}-byte payload exceeds {limit} bytes")
        if built == 0:
            raise ValueError(
                f"{who}: a {length}-byte payload does not fit in the "
                f"{self.batch.arena_size}-byte arena"
            )


class DestinationTableBase:
    """Numbered destinations in a C array of one builder's destination struct.

    ``index`` maps whatever key the caller uses (the address tuple) to an entry; a
    subclass's ``add`` appends one, :meth:`clear` forgets them all (the caller does, so
    that neighbour changes in the host are looked up again).
    """

    __slots__ = ("capacity", "count", "entries", "index")

    def __init__(self, ctype: str, capacity: int) -> None:
        if not isinstance(capacity, int) or capacity <= 0:
            name = type(self).__name__
            raise ValueError(f"{name}: capacity must be a positive int, not {capacity!r}")
        self.capacity = capacity
        self.entries: Any = ffi.new(f"{ctype}[]", capacity)
        self.index: dict[Any, int] = {}
        self.count = 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.count}/{self.capacity}>"

    def _next_slot(self, port: int, who: str) -> int | None:
        """The entry ``add`` fills, once ``port`` is checked; None when the table is full."""
        if not isinstance(port, int) or not 0 <= port <= 0xFFFF:
            raise ValueError(f"{who}: UDP port must be in 0..65535, not {port!r}")
        return None if self.count == self.capacity else self.count

    def _filled(self, key: Any, slot: int) -> int:
        """``slot`` now holds ``key``'s destination."""
        self.index[key] = slot
        self.count = slot + 1
        return slot

    def clear(self) -> None:
        self.index.clear()
        self.count = 0


def check_vlan(vlan: int, who: str) -> int:
    """An 802.1Q VLAN id to tag every frame with: 1..4094, or 0 for untagged."""
    if not isinstance(vlan, int) or not 0 <= vlan <= 4094:
        raise ValueError(f"{who}: VLAN id must be in 0..4094, not {vlan!r}")
    return vlan


def join_payloads(
    payloads: Sequence[bytes | bytearray | memoryview],
    who: str,
    lens: Sequence[int] | None = None,
) -> tuple[bytes, Sequence[int]]:
    """All payloads in one ``bytes`` and their byte lengths: ``lens`` if given (the
    caller measured them; ``ValueError`` unless they add up to the joined bytes),
    else measured here."""
    try:
        blob = b"".join(payloads)
    except TypeError as exc:
        raise TypeError(f"{who}: payloads must be bytes-like ({exc})") from None
    if lens is not None:
        if sum(lens) != len(blob):
            raise ValueError(f"{who}: the lengths given do not add up to the payloads")
        return blob, lens
    lens = list(map(len, payloads))
    if sum(lens) != len(blob):  # a memoryview of wider items: len() counts items
        lens = [memoryview(p).nbytes for p in payloads]
    return blob, lens
