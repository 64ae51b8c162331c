"""The IPv6 half of the fast path's send side (:class:`Udp6Sender`), and how a dual-stack
endpoint's queue is cut into runs of one family (:func:`family_runs`).

Datagrams to IPv6 destinations whose next hop the host has resolved (a usable NDP
neighbour cache entry: REACHABLE, STALE, DELAY or PROBE; or a group, whose MAC is mapped)
are built by one native call (``FastUdp6Builder``), with the source address and MAC the
host picks for them (``Host6.udp_route``). The others go through ``Host.send_datagram``,
which solicits and parks them, or refuses them (the table's rules are
:class:`~aionetmap._aio.fastsend.TableSender`'s). Only datagrams that fit the MTU come
here: the scheduler gives larger ones to the host, which fragments.
"""

from __future__ import annotations

from collections.abc import Callable

from aionetmap._aio.fastsend import TableSender
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


class Udp6Sender(TableSender):
    """Native build of IPv6 UDP frames for one host (its IPv6 side ``host6``)."""

    def __init__(
        self, host: Host, host6: Host6, capacity: int, stats: StackStats, recheck: float
    ) -> None:
        self._destinations = DestinationTable6()
        super().__init__(host, self._destinations, recheck)
        self._host6 = host6
        self._stats = stats
        self._builder = FastUdp6Builder(capacity)
        self._builder.set_source(host.mac, host.config.hop_limit, host.context.vlan)

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
        payloads, indexes = self._indexes(payloads, dsts, src_port, now, failed, False)
        if not payloads:
            return None
        batch = self._builder.build_to(
            payloads, indexes, self._destinations, src_port, self._host6.max_unfragmented
        )
        self._stats.tx_udp += batch.count
        return batch

    def _number(self, dst: Address, now: float) -> int | None:
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
        return self._destinations.add(dst, mac, src, ip, dst[1])
