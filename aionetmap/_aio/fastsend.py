"""The send side of the UDP fast path: what both families share (:class:`TableSender`) and
the IPv4 sender (:class:`Udp4Sender`; IPv6 is :class:`~aionetmap._aio.fastpath6.Udp6Sender`).

A sender numbers the destinations of queued datagrams in a native destination table once
the host has resolved their next hop, and builds the datagrams to numbered destinations
in one native call. The others go through ``Host.send_datagram``, which resolves (ARP,
NDP) and parks them, or refuses them. The table is forgotten every ``recheck`` seconds, so
neighbour expiry and address changes in the host show here within that time, and ahead
of a pass that could fill it: an entry numbered earlier in a pass must never be reused
for another destination in the same pass.
"""

from __future__ import annotations

import ipaddress
from array import array
from collections.abc import Callable, Sequence

from aionetmap._native.fast_build_common import DestinationTableBase
from aionetmap._native.fast_builder import DestinationTable, FastUdpBuilder
from aionetmap.ports.base import FrameBatch
from aionetmap.protocol import Address
from aionetmap.stack import Host, StackStats
from aionetmap.stack.igmp import group_mac

__all__ = ["TableSender", "Udp4Sender"]

_ATOMIC = (0, 0)  # (ident, step) of unconnected datagrams: DF set, never fragmented


class TableSender:
    """A destination table and how a pass's destinations are found in it. A subclass
    says how a destination is numbered (:meth:`_number`) and builds the frames."""

    def __init__(self, host: Host, table: DestinationTableBase, recheck: float) -> None:
        self.host = host
        self._table = table
        self._recheck = recheck
        self._forget_at = 0.0
        self.used_host = False
        """Whether the last pass handed anything to the host or looked a neighbour up in
        it (only destinations not yet in the table make it do either)."""

    def _indexes(
        self,
        payloads: list[bytes],
        dsts: list[Address],
        src_port: int,
        now: float,
        failed: Callable[[OSError], None],
        connected: bool,
    ) -> tuple[list[bytes], Sequence[int]]:
        """The datagrams of a pass this sender builds, and their table entries; the
        others are handed to the host now (``failed`` hears of those it refuses)."""
        table = self._table
        if now >= self._forget_at or table.count + len(payloads) > table.capacity:
            self._forget()
            self._forget_at = now + self._recheck
        count = len(dsts)
        first = dsts[0] if count else None
        if count > 1 and dsts[-1] is first and dsts.count(first) == count:
            single = table.index.get(first)  # one peer (an echo): one lookup
            self.used_host = single is None
            if single is not None:  # the builder copies an array without converting
                return payloads, array("I", [single]) * count
            found: list[int | None] = [None] * count
        else:
            found = list(map(table.index.get, dsts))
            self.used_host = None in found
            if not self.used_host:
                return payloads, found  # type: ignore[return-value]  # no None in it
        return self._resolve_misses(payloads, dsts, found, src_port, now, failed, connected)

    def _resolve_misses(
        self,
        payloads: list[bytes],
        dsts: list[Address],
        found: list[int | None],
        src_port: int,
        now: float,
        failed: Callable[[OSError], None],
        connected: bool,
    ) -> tuple[list[bytes], list[int]]:
        """Number newly resolved destinations; hand unresolved ones to the host."""
        kept_payloads: list[bytes] = []
        kept: list[int] = []
        host = self.host
        for payload, dst, index in zip(payloads, dsts, found, strict=True):
            if index is None:
                index = self._table.index.get(dst)
            if index is None:
                index = self._number(dst, now)
            if index is None:
                try:
                    host.send_datagram(payload, dst, src_port, now, connected=connected)
                except OSError as exc:
                    failed(exc)
                continue
            kept_payloads.append(payload)
            kept.append(index)
        return kept_payloads, kept

    def _forget(self) -> None:
        self._table.clear()

    def _number(self, dst: Address, now: float) -> int | None:
        """A new table entry for ``dst`` if the host would frame a datagram to it now
        (None: the host sends it, and says why if it cannot)."""
        raise NotImplementedError


class Udp4Sender(TableSender):
    """Native build of IPv4 UDP frames for one host, numbered by its identification
    rules (``Host.reserve_idents``).

    Datagrams to an IPv4 group are built here too: to the group's MAC (no ARP), with the
    sending port's ``IP_MULTICAST_TTL`` (the builder's per-call ``group_ttl``: the table
    is shared by all ports, the TTL is the port's), and each is then handed to
    ``Host.sent_to_group``, which counts it and loops a copy back to our own members as
    ``IP_MULTICAST_LOOP`` says, exactly as ``Host.send_datagram`` does after framing one.
    """

    def __init__(self, host: Host, capacity: int, stats: StackStats, recheck: float) -> None:
        self._destinations = DestinationTable()
        super().__init__(host, self._destinations, recheck)
        self._stats = stats
        self._builder = FastUdpBuilder(capacity)
        self._builder.set_source(
            host.mac, int(host.address), host.config.default_ttl, host.context.vlan
        )
        # Table entries that are IPv4 groups: slot -> (group, port), for the loopback.
        self._group_slots: dict[int, tuple[int, int]] = {}

    def send(
        self,
        payloads: list[bytes],
        dsts: list[Address],
        src_port: int,
        now: float,
        failed: Callable[[OSError], None],
        connected: bool = False,
        sizes: list[int] | None = None,
    ) -> FrameBatch | None:
        """Frames for ``payloads[i]`` to the IPv4 pair ``dsts[i]`` (each fitting the MTU):
        those to resolved destinations in a FrameBatch (owned by the builder, valid until
        the next call); the others handed to the host (the caller collects its frames).
        ``connected``: sent by a connected endpoint (see ``Host``'s identification rules).
        ``sizes``: the payloads' byte lengths, if the caller has them (not measured again).
        """
        queued = payloads
        payloads, indexes = self._indexes(payloads, dsts, src_port, now, failed, connected)
        if not payloads:
            return None
        if payloads is not queued:  # some went to the host: the lengths no longer match
            sizes = None
        host = self.host
        builder = self._builder
        # Unconnected datagrams are atomic, ident 0 (Host.reserve_idents' rule): no call.
        idents = host.reserve_idents(len(payloads), src_port) if connected else _ATOMIC
        groups = self._group_slots
        if groups:
            builder.group_ttl = host.multicast_options(src_port).ttl
        batch = builder.build_to(
            payloads, indexes, self._destinations, src_port, idents, lens=sizes
        )
        self._stats.tx_udp += batch.count
        if groups:
            self._sent_to_groups(payloads, indexes, batch.count, src_port)
        return batch

    def _sent_to_groups(
        self, payloads: list[bytes], indexes: Sequence[int], count: int, src_port: int
    ) -> None:
        """The host's part of each datagram built to a group: its count, and the copy it
        loops back to our own members (events: the caller then polls the host)."""
        groups = self._group_slots
        host = self.host
        for payload, index in zip(payloads[:count], indexes[:count], strict=True):
            dest = groups.get(index)
            if dest is not None:
                host.sent_to_group(dest[0], dest[1], src_port, payload)
                self.used_host = True

    def _forget(self) -> None:
        super()._forget()
        self._group_slots.clear()

    def _number(self, dst: Address, now: float) -> int | None:
        resolved = self._resolve(dst[0], now)
        if resolved is None:
            return None
        mac, ip = resolved
        # None if full (a pass larger than the table): the host sends it, correctly.
        index = self._destinations.add(dst, mac, ip, dst[1])
        if index is not None and ip >> 28 == 0xE:
            self._group_slots[index] = (ip, dst[1])
        return index

    def _resolve(self, ip_text: str, now: float) -> tuple[bytes, int] | None:
        """(MAC, address) a datagram to ``ip_text`` goes to, if the host has resolved it
        (a group always is: its MAC is mapped, RFC 1112 6.4)."""
        host = self.host
        ip = ipaddress.IPv4Address(ip_text)
        if ip.is_multicast:
            return group_mac(int(ip)), int(ip)
        try:
            hop = host.next_hop(ip)
        except OSError:
            return None  # the host path reports it
        mac = host.cached_mac(hop, now)
        return None if mac is None else (mac, int(ip))
