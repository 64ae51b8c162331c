"""The host's side of a NetInterface's TX path: frames the host built (ARP and ICMP
answers, datagrams released by ARP, fragments), waiting for room in the port's TX ring.

An entry is one frame, or a tuple of frames: the fragments of one datagram. A tuple goes
into the ring in one ``send`` or not at all (a receiver can do nothing with part of a
datagram, and a full ring must not split one across passes). A tuple that needs more
slots than the whole ring has could never go, so it is dropped and counted rather than
left to block everything behind it.
"""

from __future__ import annotations

from collections.abc import Iterable

from aionetmap._aio.log import logger
from aionetmap.ports.base import Port
from aionetmap.stack.host import Host, TxItem

__all__ = ["TxQueue", "slots_per_frame", "tx_capacity"]


class TxQueue:
    """Host frames waiting for the ring, oldest first, groups kept whole."""

    def __init__(self, port: Port, frame_slots: int, capacity: int) -> None:
        self._port = port
        self._frame_slots = frame_slots
        self._capacity = capacity
        self._items: list[TxItem] = []
        self.waiting = self._items
        """The entries waiting, oldest first (read only: true while any is), so the
        scheduler's every pass tests it without a method call."""
        self._groups = 0  # tuples in _items: none is the common case, sent without checks
        self.groups_dropped = 0
        """Groups dropped because they need more slots than the whole ring has."""

    def __len__(self) -> int:
        """Entries waiting (a group counts once)."""
        return len(self._items)

    def take_from(self, host: Host) -> bool:
        """Queue what the host wants sent; True if there was any."""
        self._groups += host.pending_groups
        items = host.take_frames()
        self._items.extend(items)
        return bool(items)

    def extend(self, frames: Iterable[bytes]) -> None:
        """Queue single frames (what the fast path built that did not fit)."""
        self._items.extend(frames)

    def send(self) -> bool:
        """Move what fits into the ring, groups whole or not at all; True if some entries
        are left (the ring is full)."""
        items = self._items
        if not self._groups:  # single frames: the port takes what fits
            sent = self._port.send(items)  # type: ignore[arg-type]  # no tuples in it
            del items[:sent]
            return bool(items)
        frames, count = self._prefix()
        sent = self._port.send(frames) if frames else 0
        if sent < len(frames):
            count = self._keep_unsent(count, sent)
        self._groups -= sum(isinstance(item, tuple) for item in items[:count])
        del items[:count]
        return bool(items)

    def _prefix(self) -> tuple[list[bytes], int]:
        """The frames of the leading entries that fit the ring now, and how many entries
        that is. A group too large for the whole ring is dropped on the way."""
        space = self._port.tx_space()
        frames: list[bytes] = []
        items = self._items
        i = 0
        while i < len(items):
            item = items[i]
            if isinstance(item, bytes):
                if space < 1:
                    break
                frames.append(item)
                space -= 1
            else:
                need = len(item) * self._frame_slots
                if need > self._capacity:
                    self._drop_group(i)
                    continue
                if need > space:
                    break
                frames.extend(item)
                space -= need
            i += 1
        return frames, i

    def _drop_group(self, index: int) -> None:
        group = self._items.pop(index)
        self._groups -= 1
        self.groups_dropped += 1
        if self.groups_dropped == 1:
            logger.warning(
                "%s: dropped a datagram of %d fragments: the TX ring holds only %d slots "
                "(counted as tx_groups_dropped)",
                self._port.info.name,
                len(group),
                self._capacity,
            )

    def _keep_unsent(self, count: int, sent: int) -> int:
        """The port took only ``sent`` of the frames it had room for: how many leading
        entries left whole. A group it cut keeps its unsent fragments at the head (they
        follow the others as soon as there is room; the port broke its promise, and
        holding them back would only lose the datagram)."""
        items = self._items
        for i in range(count):
            item = items[i]
            size = len(item) if isinstance(item, tuple) else 1
            if sent < size:
                if sent and isinstance(item, tuple):
                    rest = item[sent:]
                    items[i] = rest if len(rest) > 1 else rest[0]
                    self._groups -= len(rest) == 1
                return i
            sent -= size
        return count


def slots_per_frame(backend: str, buf_size: int, mtu: int) -> int:
    """TX slots one full-MTU frame takes (a packet socket stages any frame in one)."""
    if backend == "packet" or buf_size <= 0:
        return 1
    return max(1, -(-(mtu + 14) // buf_size))


def tx_capacity(slots: int, rings: int) -> int:
    """TX slots the port can hold at once (a netmap ring keeps one slot empty)."""
    rings = max(1, rings)
    return max(1, slots * rings - rings)
