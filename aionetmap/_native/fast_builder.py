"""Send half of the UDP fast path: build a batch of UDP frames in one C call."""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Any

from aionetmap._native._fast import ffi, lib
from aionetmap._native.batch import DEFAULT_BATCH, FrameBatch
from aionetmap._native.fast_common import MAX_UDP_PAYLOAD, cdata_view, check_mac, check_u32


class FastUdpBuilder:
    """Batch UDP sender: the C twin of :func:`~aionetmap.stack.udp.build_udp_frame`.

    Every frame carries identification ``ident``, which then advances by ``ident_step``
    (mod 65536) per datagram built. The host's rules (``Host.reserve_idents``) give step 1
    to continue a connected endpoint's counter, and ident 0 with step 0 for unconnected
    datagrams (atomic: DF set, never fragmented, as Linux numbers them).
    """

    __slots__ = (
        "_ident",
        "_ident_step",
        "_index",
        "_index_view",
        "_lens",
        "_lens_view",
        "_src",
        "batch",
        "capacity",
    )

    def __init__(self, capacity: int = DEFAULT_BATCH, *, arena_size: int | None = None) -> None:
        if not isinstance(capacity, int) or capacity <= 0:
            raise ValueError(f"FastUdpBuilder: capacity must be a positive int, not {capacity!r}")
        self.capacity = capacity
        self.batch = FrameBatch(capacity, arena_size)
        """The frames of the last :meth:`build_to` (reused by the next one)."""
        self._src: Any = None
        self._ident = 0
        self._ident_step = 1
        self._lens: Any = ffi.new("uint32_t[]", capacity)
        self._index: Any = ffi.new("uint32_t[]", capacity)
        self._lens_view = cdata_view(self._lens, "I")
        self._index_view = cdata_view(self._index, "I")

    def __repr__(self) -> str:
        return (
            f"<FastUdpBuilder capacity={self.capacity} ident={self._ident} step={self._ident_step}>"
        )

    @property
    def ident(self) -> int:
        """The IPv4 identification of the next datagram."""
        return self._ident

    @ident.setter
    def ident(self, value: int) -> None:
        if not isinstance(value, int) or not 0 <= value <= 0xFFFF:
            raise ValueError(f"FastUdpBuilder: ident must be in 0..65535, not {value!r}")
        self._ident = value

    @property
    def ident_step(self) -> int:
        """How much the identification advances per datagram (0 keeps it fixed)."""
        return self._ident_step

    @ident_step.setter
    def ident_step(self, value: int) -> None:
        if not isinstance(value, int) or not 0 <= value <= 0xFFFF:
            raise ValueError(f"FastUdpBuilder: ident_step must be in 0..65535, not {value!r}")
        self._ident_step = value

    @property
    def group_ttl(self) -> int:
        """The TTL of datagrams to a group (224.0.0.0/4): the sending port's
        ``IP_MULTICAST_TTL``, set before each :meth:`build_to` that has group destinations
        (the table is shared by all ports)."""
        return int(self._src.group_ttl) if self._src is not None else 1

    @group_ttl.setter
    def group_ttl(self, value: int) -> None:
        who = "FastUdpBuilder.group_ttl"
        if self._src is None:
            raise RuntimeError(f"{who}: set_source() must be called first")
        self._src.group_ttl = _check_ttl(value, who)

    def set_source(
        self, mac: bytes, ip: int, ttl: int = 64, vlan: int = 0, group_ttl: int = 1
    ) -> None:
        """Our MAC and IPv4 address (an int), the TTL of every frame (0..255) but those to
        a group (``group_ttl``), and the 802.1Q VLAN id every frame is tagged with
        (1..4094, priority 0; 0: untagged)."""
        who = "FastUdpBuilder.set_source"
        mac = check_mac(mac, who)
        check_u32(ip, "the IPv4 address", who)
        _check_ttl(ttl, who)
        _check_ttl(group_ttl, who)
        if not isinstance(vlan, int) or not 0 <= vlan <= 4094:
            raise ValueError(f"{who}: VLAN id must be in 0..4094, not {vlan!r}")
        src: Any = ffi.new("struct fast_src *")
        src.mac = list(mac)
        src.ip = ip
        src.ttl = ttl
        src.vlan_tci = vlan
        src.group_ttl = group_ttl
        self._src = src

    def build_to(
        self,
        payloads: Sequence[bytes | bytearray | memoryview],
        dst_index: Sequence[int],
        table: DestinationTable,
        src_port: int,
        idents: tuple[int, int] | None = None,
    ) -> FrameBatch:
        """Build one Ethernet/IPv4/UDP frame per payload, in one C call; datagram ``i``
        goes to ``table`` entry ``dst_index[i]``, so the sender's per-datagram work is one
        table lookup. ``idents``: ``(ident, ident_step)`` to set first, as the two
        properties do (one call instead of three on a per-pass path).

        Builds ``min(len(payloads), capacity)`` frames, fewer if the arena fills:
        ``batch.count`` says how many, and the caller keeps the rest. Raises
        ``ValueError`` for an index outside the table, a source port out of range, a
        payload over 65507 bytes, or a first frame larger than the whole arena (nothing is
        built then), and ``TypeError`` for a payload that is not bytes-like.
        """
        who = "FastUdpBuilder.build_to"
        if idents is not None:
            ident, step = idents
            if (
                type(ident) is not int
                or type(step) is not int
                or (ident | step) >> 16
                or ident < 0
                or step < 0
            ):
                raise ValueError(f"{who}: idents must be two ints in 0..65535, not {idents!r}")
            self._ident, self._ident_step = ident, step
        if self._src is None:
            raise RuntimeError(f"{who}: set_source() must be called first")
        if len(dst_index) != len(payloads):
            raise ValueError(f"{who}: {len(payloads)} payloads, {len(dst_index)} indexes")
        if not 0 <= src_port <= 0xFFFF:
            raise ValueError(f"{who}: source port must be in 0..65535, not {src_port!r}")
        n = min(len(payloads), self.capacity)
        batch = self.batch
        batch.count = 0
        if n == 0:
            return batch
        if n == 1 and type(payloads[0]) is bytes:  # one datagram in flight: no list work
            blob = payloads[0]
            lens = [len(blob)]
            self._lens[0] = lens[0]
            index = dst_index[0]
            if not isinstance(index, int):  # what array("I", ...) refuses below
                raise TypeError(f"{who}: an index must be an int, not {type(index).__name__}")
            if not 0 <= index <= 0xFFFFFFFF:
                raise ValueError(f"{who}: index {index} is not in the table")
            self._index[0] = index
        else:
            blob, lens = _join_payloads(payloads if n == len(payloads) else payloads[:n], who)
            self._lens_view[:n] = array("I", lens)
            try:
                if type(dst_index) is array and dst_index.typecode == "I":  # copied as bytes
                    self._index_view[:n] = dst_index if n == len(dst_index) else dst_index[:n]
                else:
                    self._index_view[:n] = array("I", dst_index[:n])
            except OverflowError:
                bad = next(i for i in dst_index[:n] if not 0 <= i <= 0xFFFFFFFF)
                raise ValueError(f"{who}: index {bad} is not in the table") from None
        built = lib.fast_udp_build_to(
            self._src, src_port, self._ident, self._ident_step, blob, len(blob), self._lens,
            table.entries, table.count, self._index, n,
            batch.arena, batch.arena_size, batch.offs, batch.lens,
        )  # fmt: skip
        if built < n:
            if not 0 <= dst_index[built] < table.count:
                raise ValueError(f"{who}: index {dst_index[built]} is not in the table")
            self._check_stop(built, lens[built], who)
        batch.count = built
        self._ident = (self._ident + built * self._ident_step) & 0xFFFF
        return batch

    def _check_stop(self, built: int, length: int, who: str) -> None:
        """C stopped before datagram ``built``: raise if that datagram is invalid (nothing
        is kept then) or if not even the first frame fits; else the arena is full."""
        if length > MAX_UDP_PAYLOAD:
            raise ValueError(f"{who}: a {length}-byte payload exceeds {MAX_UDP_PAYLOAD} bytes")
        if built == 0:
            raise ValueError(
                f"{who}: a {length}-byte payload does not fit in the "
                f"{self.batch.arena_size}-byte arena"
            )


def _check_ttl(ttl: int, who: str) -> int:
    if not isinstance(ttl, int) or not 0 <= ttl <= 255:
        raise ValueError(f"{who}: TTL must be in 0..255, not {ttl!r}")
    return ttl


def _join_payloads(
    payloads: Sequence[bytes | bytearray | memoryview], who: str
) -> tuple[bytes, list[int]]:
    """All payloads in one ``bytes`` and their byte lengths."""
    try:
        blob = b"".join(payloads)
    except TypeError as exc:
        raise TypeError(f"{who}: payloads must be bytes-like ({exc})") from None
    lens = list(map(len, payloads))
    if sum(lens) != len(blob):  # a memoryview of wider items: len() counts items
        lens = [memoryview(p).nbytes for p in payloads]
    return blob, lens


class DestinationTable:
    """Numbered destinations (MAC, IPv4 address, UDP port) for :meth:`FastUdpBuilder.build_to`.

    ``index`` maps whatever key the caller uses (an ``(ip, port)`` tuple) to an entry;
    :meth:`add` appends one, :meth:`clear` forgets them all (the caller does, so that
    expired neighbours are looked up again).
    """

    __slots__ = ("capacity", "count", "entries", "index")

    def __init__(self, capacity: int = 4096) -> None:
        if not isinstance(capacity, int) or capacity <= 0:
            raise ValueError(f"DestinationTable: capacity must be a positive int, not {capacity!r}")
        self.capacity = capacity
        self.entries: Any = ffi.new("struct fast_dst[]", capacity)
        self.index: dict[Any, int] = {}
        self.count = 0

    def __repr__(self) -> str:
        return f"<DestinationTable {self.count}/{self.capacity}>"

    def add(self, key: Any, mac: bytes, ip: int, port: int) -> int | None:
        """Number a destination; ``None`` when the table is full."""
        who = "DestinationTable.add"
        mac = check_mac(mac, who)
        check_u32(ip, "the IPv4 address", who)
        if not isinstance(port, int) or not 0 <= port <= 0xFFFF:
            raise ValueError(f"{who}: UDP port must be in 0..65535, not {port!r}")
        if self.count == self.capacity:
            return None
        slot = self.count
        entry = self.entries[slot]
        entry.mac = list(mac)
        entry.ip = ip
        entry.port = port
        self.index[key] = slot
        self.count = slot + 1
        return slot

    def clear(self) -> None:
        self.index.clear()
        self.count = 0
