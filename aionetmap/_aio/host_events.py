"""What a NetInterface does with its host's events: datagrams to their endpoints, send
failures and ICMP errors to the endpoint that sent, echo replies to ``ping``, DAD results to
who waits for them, address conflicts to the log. A mixin of
:class:`~aionetmap._aio.netif.InterfaceCore`, which declares the state it uses below.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import cast

from aionetmap._aio.driver import PortDriver
from aionetmap._aio.log import logger
from aionetmap._aio.scheduler import TxScheduler
from aionetmap.ports.base import Port
from aionetmap.protocol import Address, DatagramEndpoint
from aionetmap.stack import (
    AddressConflict,
    AddressReady,
    Datagram6Received,
    DatagramReceived,
    DuplicateAddress,
    EchoReplyReceived,
    Host,
    IcmpErrorReceived,
    SendFailed,
)

__all__ = ["HostEvents"]

_CONFLICT_WARN_LIMIT = 64  # stations warned about by name; after that, warn every time


class HostEvents:
    """``_after_host`` and the event handlers, for an interface with these attributes."""

    host: Host
    port: Port
    driver: PortDriver
    scheduler: TxScheduler
    duplicate_addresses: list[str]
    _endpoints: dict[int, DatagramEndpoint]
    _stack_poll_scheduled: bool
    _ping_waiters: dict[tuple[int, int], asyncio.Future[float]]
    _dad_waiters: list[asyncio.Future[None]]
    _conflicting_macs: set[bytes]
    _rx_dropped_family: int
    _reschedule_timer: Callable[[], None]

    def _after_host(self) -> None:
        """Deliver the host's events, queue the frames it built, re-arm its timer."""
        self._stack_poll_scheduled = False
        host = self.host
        run: list[DatagramReceived] = []  # consecutive datagrams for one port: one batch
        while (event := host.next_event()) is not None:
            if isinstance(event, DatagramReceived):
                if run and run[0].dst_port != event.dst_port:
                    self._deliver_run(run)
                    run = []
                run.append(event)
                continue
            if run:
                self._deliver_run(run)
                run = []
            self._dispatch(event)
        if run:
            self._deliver_run(run)
        if self.scheduler.take_host_frames():
            self.driver.request_flush()
        self._reschedule_timer()

    def _deliver_run(self, run: list[DatagramReceived]) -> None:
        """Datagrams the host delivered in a row to one port, as the fast path hands them
        over: one ``deliver_many`` (a batch for a protocol that takes batches)."""
        endpoint = self._endpoints.get(run[0].dst_port)
        if endpoint is None:
            return
        if len(run) == 1:
            endpoint.deliver(run[0].payload, run[0].src)
            return
        endpoint.deliver_many([e.payload for e in run], [e.src for e in run])

    def _dispatch(self, event: object) -> None:
        if isinstance(event, DatagramReceived):
            endpoint = self._endpoints.get(event.dst_port)
            if endpoint is not None:
                endpoint.deliver(event.payload, event.src)
        elif isinstance(event, Datagram6Received):
            self._deliver6(event)
        elif isinstance(event, AddressReady | DuplicateAddress):
            self._dad_ended(event)
        elif isinstance(event, SendFailed):
            endpoint = self._endpoints.get(event.src_port)
            if endpoint is not None:
                endpoint.send_failed(event.error)
        elif isinstance(event, IcmpErrorReceived):
            # Like the kernel, only a connected endpoint hears of ICMP errors.
            endpoint = self._endpoints.get(event.src_port)
            if endpoint is not None and endpoint.is_connected_to(event.dst):
                endpoint.send_failed(event.error)
        elif isinstance(event, EchoReplyReceived):
            fut = self._ping_waiters.get((event.ident, event.seq))
            if fut is not None and not fut.done():
                fut.set_result(time.perf_counter())
        elif isinstance(event, AddressConflict):
            self._address_conflict(event)

    def _deliver6(self, event: Datagram6Received) -> None:
        """An IPv6 datagram, to the endpoint on its port if that one is IPv6 and bound to
        ``::`` or to the datagram's destination (the port space is shared: an IPv4
        endpoint never hears IPv6, as an AF_INET socket would not). Others are counted
        in ``rx_dropped_family``."""
        endpoint = self._endpoints.get(event.dst_port)
        bound = getattr(endpoint, "local_ip6", None)
        if endpoint is None:
            return
        if bound is None or bound not in ("::", event.dst):
            self._rx_dropped_family += 1
            return
        endpoint.deliver(event.payload, cast("Address", event.src))

    def _dad_ended(self, event: AddressReady | DuplicateAddress) -> None:
        """DAD ended for one address: wake whoever waits; a duplicate is also logged."""
        if isinstance(event, DuplicateAddress):
            self.duplicate_addresses.append(event.ip)
            station = "another station" if event.mac is None else event.mac.hex(":")
            logger.warning(
                "aionetmap: duplicate IPv6 address on %s: %s is held by %s; not using it",
                self.port.info.name,
                event.ip,
                station,
            )
        waiters, self._dad_waiters = self._dad_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def _address_conflict(self, event: AddressConflict) -> None:
        """Warn, once per other station (counted in ``arp_conflicts`` every time): the
        host keeps its address and its endpoints keep working, but peers may be reaching
        the other station instead."""
        if event.mac in self._conflicting_macs:
            return
        if len(self._conflicting_macs) < _CONFLICT_WARN_LIMIT:
            self._conflicting_macs.add(event.mac)
        what = "probes for" if event.probe else "claims"
        logger.warning(
            "aionetmap: address conflict on %s: station %s %s %s (see the arp_conflicts counter)",
            self.port.info.name,
            event.mac.hex(":"),
            what,
            event.ip,
        )
