"""Send half of the UDP fast path for IPv6: build a batch of Ethernet/IPv6/UDP frames in
one C call (``fast_udp6_build_to`` in fast_tx6.c)."""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Any, Final

from aionetmap._native._fast import ffi, lib
from aionetmap._native.batch import DEFAULT_BATCH, FrameBatch
from aionetmap._native.fast_builder import _join_payloads
from aionetmap._native.fast_common import cdata_view, check_mac

__all__ = ["MAX_UDP6_PAYLOAD", "UDP6_OVERHEAD", "DestinationTable6", "FastUdp6Builder"]

MAX_UDP6_PAYLOAD: Final = lib.FAST_MAX_UDP6_PAYLOAD
"""The largest payload a UDP datagram over IPv6 can carry (65535 - 8)."""
UDP6_OVERHEAD: Final = lib.FAST_UDP6_OVERHEAD
"""Frame bytes besides the payload: Ethernet 14 + IPv6 40 + UDP 8 (a VLAN tag adds 4)."""


class FastUdp6Builder:
    """Batch UDP sender over IPv6: the C twin of the Python host's framing of a UDP
    datagram that fits the MTU (``Host6.send_udp``: traffic class and flow label 0, the
    mandatory checksum, hop limit ``HostConfig.hop_limit``)."""

    __slots__ = ("_index", "_index_view", "_lens", "_lens_view", "_src", "batch", "capacity")

    def __init__(self, capacity: int = DEFAULT_BATCH, *, arena_size: int | None = None) -> None:
        if not isinstance(capacity, int) or capacity <= 0:
            raise ValueError(f"FastUdp6Builder: capacity must be a positive int, not {capacity!r}")
        self.capacity = capacity
        self.batch = FrameBatch(capacity, arena_size)
        """The frames of the last :meth:`build_to` (reused by the next one)."""
        self._src: Any = None
        self._lens: Any = ffi.new("uint32_t[]", capacity)
        self._index: Any = ffi.new("uint32_t[]", capacity)
        self._lens_view = cdata_view(self._lens, "I")
        self._index_view = cdata_view(self._index, "I")

    def __repr__(self) -> str:
        return f"<FastUdp6Builder capacity={self.capacity}>"

    def set_source(self, mac: bytes, hop_limit: int = 64, vlan: int = 0) -> None:
        """Our MAC, the hop limit of every frame (0..255) and the 802.1Q VLAN id every
        frame is tagged with (1..4094, priority 0; 0: untagged). Source addresses are per
        destination (:class:`DestinationTable6`)."""
        who = "FastUdp6Builder.set_source"
        mac = check_mac(mac, who)
        if not isinstance(hop_limit, int) or not 0 <= hop_limit <= 255:
            raise ValueError(f"{who}: hop limit must be in 0..255, not {hop_limit!r}")
        if not isinstance(vlan, int) or not 0 <= vlan <= 4094:
            raise ValueError(f"{who}: VLAN id must be in 0..4094, not {vlan!r}")
        src: Any = ffi.new("struct fast_src6 *")
        src.mac = list(mac)
        src.hop_limit = hop_limit
        src.vlan_tci = vlan
        self._src = src

    def build_to(
        self,
        payloads: Sequence[bytes | bytearray | memoryview],
        dst_index: Sequence[int],
        table: DestinationTable6,
        src_port: int,
        max_payload: int = MAX_UDP6_PAYLOAD,
    ) -> FrameBatch:
        """Build one Ethernet/IPv6/UDP frame per payload, in one C call; datagram ``i``
        goes to ``table`` entry ``dst_index[i]``.

        Builds ``min(len(payloads), capacity)`` frames, fewer if the arena fills:
        ``batch.count`` says how many, and the caller keeps the rest. Raises
        ``ValueError`` for an index outside the table, a source port out of range, a
        payload over ``max_payload`` (the caller's single-frame limit, ``mtu - 48``) or
        65527 bytes, or a first frame larger than the whole arena (nothing is built
        then), and ``TypeError`` for a payload that is not bytes-like.
        """
        who = "FastUdp6Builder.build_to"
        if self._src is None:
            raise RuntimeError(f"{who}: set_source() must be called first")
        if len(dst_index) != len(payloads):
            raise ValueError(f"{who}: {len(payloads)} payloads, {len(dst_index)} indexes")
        if not 0 <= src_port <= 0xFFFF:
            raise ValueError(f"{who}: source port must be in 0..65535, not {src_port!r}")
        limit = min(max_payload, MAX_UDP6_PAYLOAD)
        if limit < 0:
            raise ValueError(f"{who}: max_payload must not be negative, not {max_payload!r}")
        n = min(len(payloads), self.capacity)
        batch = self.batch
        batch.count = 0
        if n == 0:
            return batch
        blob, lens = _join_payloads(payloads[:n], who)
        self._lens_view[:n] = array("I", lens)
        try:
            self._index_view[:n] = array("I", dst_index[:n])
        except OverflowError:
            bad = next(i for i in dst_index[:n] if not 0 <= i <= 0xFFFFFFFF)
            raise ValueError(f"{who}: index {bad} is not in the table") from None
        built = lib.fast_udp6_build_to(
            self._src, src_port, limit, blob, len(blob), self._lens,
            table.entries, table.count, self._index, n,
            batch.arena, batch.arena_size, batch.offs, batch.lens,
        )  # fmt: skip
        if built < n:
            self._check_stop(built, lens[built], dst_index[built], table, limit, who)
        batch.count = built
        return batch

    def _check_stop(
        self, built: int, length: int, index: int, table: DestinationTable6, limit: int, who: str
    ) -> None:
        """C stopped before datagram ``built``: raise if that datagram is invalid or if not
        even the first frame fits; else the arena is full."""
        if not 0 <= index < table.count:
            raise ValueError(f"{who}: index {index} is not in the table")
        if length > limit:
            raise ValueError(f"{who}: a {length}-byte payload exceeds {limit} bytes")
        if built == 0:
            raise ValueError(
                f"{who}: a {length}-byte payload does not fit in the "
                f"{self.batch.arena_size}-byte arena"
            )


class DestinationTable6:
    """Numbered IPv6 destinations (next-hop MAC, our source address, the destination
    address, UDP port) for :meth:`FastUdp6Builder.build_to`.

    ``index`` maps the caller's key (the AF_INET6 4-tuple) to an entry; :meth:`add`
    appends one, :meth:`clear` forgets them all (the caller does, so that neighbour and
    address changes in the host are looked up again).
    """

    __slots__ = ("capacity", "count", "entries", "index")

    def __init__(self, capacity: int = 4096) -> None:
        if not isinstance(capacity, int) or capacity <= 0:
            raise ValueError(
                f"DestinationTable6: capacity must be a positive int, not {capacity!r}"
            )
        self.capacity = capacity
        self.entries: Any = ffi.new("struct fast_dst6[]", capacity)
        self.index: dict[Any, int] = {}
        self.count = 0

    def __repr__(self) -> str:
        return f"<DestinationTable6 {self.count}/{self.capacity}>"

    def add(self, key: Any, mac: bytes, src: bytes, ip: bytes, port: int) -> int | None:
        """Number a destination (``src`` and ``ip`` are 16-byte addresses); ``None`` when
        the table is full."""
        who = "DestinationTable6.add"
        mac = check_mac(mac, who)
        for name, value in (("source", src), ("destination", ip)):
            if not isinstance(value, bytes | bytearray) or len(value) != 16:
                raise ValueError(f"{who}: the {name} address must be 16 bytes, not {value!r}")
        if not isinstance(port, int) or not 0 <= port <= 0xFFFF:
            raise ValueError(f"{who}: UDP port must be in 0..65535, not {port!r}")
        if self.count == self.capacity:
            return None
        slot = self.count
        entry = self.entries[slot]
        entry.mac = list(mac)
        entry.src = list(src)
        entry.ip = list(ip)
        entry.port = port
        self.index[key] = slot
        self.count = slot + 1
        return slot

    def clear(self) -> None:
        self.index.clear()
        self.count = 0
