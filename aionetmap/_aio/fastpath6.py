"""The IPv6 half of the fast path's send side (:class:`Udp6Sender`), and how a dual-stack
endpoint's queue is cut into runs of one family (:func:`family_runs`).

Datagrams to IPv6 destinations whose next hop the host has resolved (a usable NDP
neighbour cache entry: REACHABLE, STALE, DELAY or PROBE; or a group, whose MAC is mapped)
are built by one native call (``FastUdp6Builder``), with the source address and MAC the
host picks for them (``Host6.udp_route``). The others go through ``Host.send_datagram``,
which solicits and parks them, or refuses them. Destinations are numbered in a
``DestinationTable6`` forgotten every ``recheck`` seconds, so neighbour and address
changes in the host show here within that time. Only datagrams that fit the MTU come
here: the scheduler gives larger ones to the host, which fragments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from aionetmap._native.fast_builder6 import DestinationTable6, FastUdp6Builder
from aionetmap.ports.base import FrameBatch
from aionetmap.protocol import Address
from aionetmap.stack import Host, StackStats
from aionetmap.stack.host6 import Host6
from aionetmap.stack.host6_build import parse_destination6

__all__ = ["Udp6Sender", "family_runs"]

_MAPPED_PREFIX = bytes(10) + b"\xff\xff"


def family_runs(dsts: list[Address]) -> list[tuple[int, int, bool]]:
    """``(start, stop, ipv6)`` for each run of consecutive destinations of one family
    (IPv6 4-tuples, IPv4 pairs), in order: building each run in turn keeps the queue's
    order on the wire."""
    sizes = list(map(len, dsts))
    if 2 not in sizes:
        return [(0, len(dsts), True)]
    if 4 not in sizes:
        return [(0, len(dsts), False)]
    runs = []
    start, six = 0, sizes[0] == 4
    for i, size in enumerate(sizes):
        if (size == 4) != six:
            runs.append((start, i, six))
            start, six = i, not six
    runs.append((start, len(dsts), six))
    return runs


class Udp6Sender:
    """Native build of IPv6 UDP frames for one host (its IPv6 side ``host6``)."""

    def __init__(
        self, host: Host, host6: Host6, capacity: int, stats: StackStats, recheck: float
    ) -> None:
        self.host = host
        self._host6 = host6
        self._stats = stats
        self._recheck = recheck
        self._builder = FastUdp6Builder(capacity)
        self._builder.set_source(host.mac, host.config.hop_limit, host.context.vlan)
        self._table = DestinationTable6()
        self._forget_at = 0.0
        self.used_host = False
        """Whether the last :meth:`send` handed anything to the host or looked a
        neighbour up in it (which may have started NDP timers)."""

    @property
    def max_unfragmented(self) -> int:
        """The largest payload this sender builds (``mtu - 48``)."""
        return self._host6.max_unfragmented

    def send(
        self,
        payloads: list[bytes],
        dsts: list[Address],
        src_port: int,
        now: float,
        failed: Callable[[OSError], None],
    ) -> FrameBatch | None:
        """Frames for ``payloads[i]`` to the IPv6 4-tuple ``dsts[i]`` (each fitting the
        MTU): those to resolved destinations built in a FrameBatch (owned by the builder,
        valid until the next call); the others handed to the host (the caller collects
        its frames). ``failed`` hears of datagrams the host refused at once."""
        table = self._table
        if now >= self._forget_at or table.count + len(payloads) > table.capacity:
            # Also ahead of a pass that could fill the table (see UdpFastPath.send).
            table.clear()
            self._forget_at = now + self._recheck
        found = list(map(table.index.get, dsts))
        self.used_host = None in found
        if self.used_host:
            payloads, indexes = self._resolve_misses(payloads, dsts, found, src_port, now, failed)
            if not payloads:
                return None
        else:
            indexes = cast("list[int]", found)
        batch = self._builder.build_to(
            payloads, indexes, table, src_port, self._host6.max_unfragmented
        )
        self._stats.tx_udp += batch.count
        return batch

    def _resolve_misses(
        self,
        payloads: list[bytes],
        dsts: list[Address],
        found: list[int | None],
        src_port: int,
        now: float,
        failed: Callable[[OSError], None],
    ) -> tuple[list[bytes], list[int]]:
        """Number newly resolved destinations; hand the others to the host."""
        kept_payloads: list[bytes] = []
        kept: list[int] = []
        host = self.host
        for payload, dst, index in zip(payloads, dsts, found, strict=True):
            if index is None:
                index = self._number(dst, now)
            if index is None:
                try:
                    host.send_datagram(payload, dst, src_port, now)
                except OSError as exc:
                    failed(exc)
                continue
            kept_payloads.append(payload)
            kept.append(index)
        return kept_payloads, kept

    def _number(self, dst: Address, now: float) -> int | None:
        """The table entry for ``dst`` if the host would frame a datagram to it now."""
        table = self._table
        index = table.index.get(dst)
        if index is not None:
            return index
        try:
            ip = parse_destination6(dst[0])
        except ValueError:
            return None  # the host path reports it
        if ip.startswith(_MAPPED_PREFIX):
            return None  # the host sends it over IPv4 (scheduler queues hold none)
        route = self._host6.udp_route(ip, now)
        if route is None:
            return None
        src, mac = route
        # None if full (a pass larger than the table): the host sends it, correctly.
        return table.add(dst, mac, src, ip, dst[1])
