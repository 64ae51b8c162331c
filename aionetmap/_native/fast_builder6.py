"""Send half of the UDP fast path for IPv6: build a batch of Ethernet/IPv6/UDP frames in
one C call (``fast_udp6_build_to`` in fast_tx6.c)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from aionetmap._native._fast import ffi, lib
from aionetmap._native.batch import FrameBatch
from aionetmap._native.fast_build_common import BatchBuilder, DestinationTableBase, check_vlan
from aionetmap._native.fast_common import check_mac

__all__ = ["MAX_UDP6_PAYLOAD", "UDP6_OVERHEAD", "DestinationTable6", "FastUdp6Builder"]

MAX_UDP6_PAYLOAD: Final = lib.FAST_MAX_UDP6_PAYLOAD
"""The largest payload a UDP datagram over IPv6 can carry (65535 - 8)."""
UDP6_OVERHEAD: Final = lib.FAST_UDP6_OVERHEAD
"""Frame bytes besides the payload: Ethernet 14 + IPv6 40 + UDP 8 (a VLAN tag adds 4)."""


class FastUdp6Builder(BatchBuilder):
    """Batch UDP sender over IPv6: the C twin of the Python host's framing of a UDP
    datagram that fits the MTU (``Host6.send_udp``: traffic class and flow label 0, the
    mandatory checksum, hop limit ``HostConfig.hop_limit``)."""

    __slots__ = ()

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
        check_vlan(vlan, who)
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
        limit = min(max_payload, MAX_UDP6_PAYLOAD)
        if limit < 0:
            raise ValueError(f"{who}: max_payload must not be negative, not {max_payload!r}")
        batch = self.batch
        batch.count = 0
        n, blob, lens = self._stage(payloads, dst_index, src_port, who)
        if n == 0:
            return batch
        built = lib.fast_udp6_build_to(
            self._src, src_port, limit, blob, len(blob), self._lens,
            table.entries, table.count, self._index, n,
            batch.arena, batch.arena_size, batch.offs, batch.lens,
        )  # fmt: skip
        if built < n:
            index = dst_index[built]
            self._check_stop(built, lens[built], index, table.count, limit, who)
        batch.count = built
        return batch


class DestinationTable6(DestinationTableBase):
    """Numbered IPv6 destinations (next-hop MAC, our source address, the destination
    address, UDP port) for :meth:`FastUdp6Builder.build_to`, keyed by the AF_INET6
    4-tuple."""

    __slots__ = ()

    def __init__(self, capacity: int = 4096) -> None:
        super().__init__("struct fast_dst6", capacity)

    def add(self, key: Any, mac: bytes, src: bytes, ip: bytes, port: int) -> int | None:
        """Number a destination (``src`` and ``ip`` are 16-byte addresses); ``None`` when
        the table is full."""
        who = "DestinationTable6.add"
        mac = check_mac(mac, who)
        for name, value in (("source", src), ("destination", ip)):
            if not isinstance(value, bytes | bytearray) or len(value) != 16:
                raise ValueError(f"{who}: the {name} address must be 16 bytes, not {value!r}")
        slot = self._next_slot(port, who)
        if slot is None:
            return None
        entry = self.entries[slot]
        entry.mac = list(mac)
        entry.src = list(src)
        entry.ip = list(ip)
        entry.port = port
        return self._filled(key, slot)
