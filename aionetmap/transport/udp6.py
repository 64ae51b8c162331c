"""UdpTransport6: a UDP endpoint bound to an IPv6 address, or dual-stack on ``::``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

from aionetmap._aio.address import mapped
from aionetmap._aio.netif import InterfaceCore
from aionetmap.protocol import Address
from aionetmap.transport.udp import UdpTransport

__all__ = ["UdpTransport6"]

_MAPPED_CACHE_LIMIT = 4096  # IPv4 peers' AF_INET6 names kept per dual-stack endpoint


class UdpTransport6(UdpTransport):
    """A UDP endpoint bound to an IPv6 address of the interface, or to ``::``: it behaves
    as a kernel AF_INET6 socket with ``IPV6_V6ONLY`` off.

    Names are AF_INET6 4-tuples: ``sockname`` ``(ip6, port, 0, 0)``, IPv6 peers
    ``(ip6, port, flowinfo, scope_id)``. Bound to ``::`` it is dual-stack: IPv4 peers
    arrive as ``("::ffff:a.b.c.d", port, 0, 0)`` and IPv4-mapped destinations leave over
    IPv4. Bound to one IPv6 address it hears only datagrams sent to that address (IPv4
    ones are dropped and counted in ``rx_dropped_family``).

    The largest payload depends on the destination, as for the kernel socket: 65527
    bytes to an IPv6 address (``NetInterface.max_payload6``), 65507 to an IPv4-mapped one
    (``max_payload``, the IPv4 limit); larger ones go to ``error_received`` as
    ``DatagramTooLarge`` (``EMSGSIZE``).
    """

    _IPV4_ONLY = False

    def __init__(
        self,
        iface: InterfaceCore,
        protocol: Any,
        local_port: int,
        remote: Address | None,
        *,
        local_ip6: str,
        peername: Any = None,
        waiter: asyncio.Future[None] | None = None,
        allow_broadcast: bool = False,
    ) -> None:
        self.local_ip6 = local_ip6
        """The bound IPv6 address (compressed), ``"::"`` for a dual-stack endpoint."""
        self._dual = local_ip6 == "::"
        self._mapped: dict[Address, Address] = {}
        super().__init__(
            iface,
            protocol,
            local_port,
            remote,
            waiter=waiter,
            allow_broadcast=allow_broadcast,
            wildcard=self._dual,
        )
        self._extra["sockname"] = (local_ip6, local_port, 0, 0)
        self._extra["peername"] = peername
        self._addresses = iface.address_cache6
        # sendto checks the limit every destination has (one comparison, the common
        # case); _oversized_fits lets larger ones through up to their family's limit.
        self._max_payload4 = iface.max_payload
        self._max_payload6 = iface.max_payload6
        self._max_payload = min(self._max_payload4, self._max_payload6)
        self.counters["rx_dropped_family"] = 0

    def _source(self, src: Address) -> Address | None:
        """``src`` as this endpoint names it, or None to drop it (IPv4 on a v6-only one)."""
        if len(src) != 2:
            return src
        if not self._dual:
            self.counters["rx_dropped_family"] += 1
            return None
        try:
            return self._mapped[src]
        except KeyError:
            if len(self._mapped) >= _MAPPED_CACHE_LIMIT:
                self._mapped.clear()
            name = self._mapped[src] = cast("Address", mapped(src))
            return name

    def deliver(self, payload: bytes, src: Address) -> None:
        """Hand one received datagram to the protocol, its source named as AF_INET6."""
        name = self._source(src)
        if name is not None:
            super().deliver(payload, name)

    def deliver_many(self, payloads: Sequence[bytes], sources: Sequence[Address]) -> None:
        """A batch, its sources named as AF_INET6 (the IPv4 ones mapped or dropped)."""
        names = [self._source(src) for src in sources]
        if None in names:
            kept = [(p, n) for p, n in zip(payloads, names, strict=True) if n is not None]
            payloads, names = [p for p, _ in kept], [n for _, n in kept]
        super().deliver_many(payloads, cast("list[Address]", names))

    def _oversized_fits(self, size: int, dst: Address) -> bool:
        """Over the lower of the two limits: fine up to the limit of the destination's
        family (IPv6: a 4-tuple), else reported with that limit."""
        ipv6 = len(dst) == 4
        limit = self._max_payload6 if ipv6 else self._max_payload4
        if size <= limit:
            return True
        self._too_large(size, limit, ipv6=ipv6)
        return False

    def check_destination(self, addr: Any) -> Address:
        """``addr`` (an AF_INET6 2- or 4-tuple) as this endpoint sends to it: an IPv6
        4-tuple, or the ``(dotted quad, port)`` of an IPv4-mapped one; raises as
        :meth:`UdpTransport.check_destination` does."""
        return self._iface.check_address6(addr, allow_broadcast=self._allow_broadcast)

    def is_connected_to(self, addr: Address) -> bool:
        remote = self._remote
        name = mapped(addr) if ":" not in addr[0] else addr  # an IPv4 error, or IPv6
        return remote is not None and remote[:2] == name[:2]
