"""Send half of the UDP fast path: build a batch of UDP frames in one C call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aionetmap._native._fast import ffi, lib
from aionetmap._native.batch import DEFAULT_BATCH, FrameBatch
from aionetmap._native.fast_build_common import BatchBuilder, DestinationTableBase, check_vlan
from aionetmap._native.fast_common import MAX_UDP_PAYLOAD, check_mac, check_u32


class FastUdpBuilder(BatchBuilder):
    """Batch UDP sender: the C twin of :func:`~aionetmap.stack.udp.build_udp_frame`.

    Every frame carries identification ``ident``, which then advances by ``ident_step``
    (mod 65536) per datagram built. The host's rules (``Host.reserve_idents``) give step 1
    to continue a connected endpoint's counter, and ident 0 with step 0 for unconnected
    datagrams (atomic: DF set, never fragmented, as Linux numbers them).
    """

    __slots__ = ("_ident", "_ident_step")

    def __init__(self, capacity: int = DEFAULT_BATCH, *, arena_size: int | None = None) -> None:
        super().__init__(capacity, arena_size=arena_size)
        self._ident = 0
        self._ident_step = 1

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
        check_vlan(vlan, who)
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
        *,
        lens: Sequence[int] | None = None,
    ) -> FrameBatch:
        """Build one Ethernet/IPv4/UDP frame per payload, in one C call; datagram ``i``
        goes to ``table`` entry ``dst_index[i]``, so the sender's per-datagram work is one
        table lookup. ``idents``: ``(ident, ident_step)`` to set first, as the two
        properties do (one call instead of three on a per-pass path). ``lens``: the
        payloads' byte lengths, when the caller already has them (the builder then does
        not measure each payload again; they must add up to the payloads' bytes).

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
        batch = self.batch
        batch.count = 0
        n, blob, sizes = self._stage(payloads, dst_index, src_port, who, lens)
        if n == 0:
            return batch
        built = lib.fast_udp_build_to(
            self._src, src_port, self._ident, self._ident_step, blob, len(blob), self._lens,
            table.entries, table.count, self._index, n,
            batch.arena, batch.arena_size, batch.offs, batch.lens,
        )  # fmt: skip
        if built < n:
            index = dst_index[built]
            self._check_stop(built, sizes[built], index, table.count, MAX_UDP_PAYLOAD, who)
        batch.count = built
        self._ident = (self._ident + built * self._ident_step) & 0xFFFF
        return batch


def _check_ttl(ttl: int, who: str) -> int:
    if not isinstance(ttl, int) or not 0 <= ttl <= 255:
        raise ValueError(f"{who}: TTL must be in 0..255, not {ttl!r}")
    return ttl


class DestinationTable(DestinationTableBase):
    """Numbered destinations (MAC, IPv4 address, UDP port) for :meth:`FastUdpBuilder.build_to`,
    keyed by whatever the caller uses (an ``(ip, port)`` tuple)."""

    __slots__ = ()

    def __init__(self, capacity: int = 4096) -> None:
        super().__init__("struct fast_dst", capacity)

    def add(self, key: Any, mac: bytes, ip: int, port: int) -> int | None:
        """Number a destination; ``None`` when the table is full."""
        who = "DestinationTable.add"
        mac = check_mac(mac, who)
        check_u32(ip, "the IPv4 address", who)
        slot = self._next_slot(port, who)
        if slot is None:
            return None
        entry = self.entries[slot]
        entry.mac = list(mac)
        entry.ip = ip
        entry.port = port
        return self._filled(key, slot)
