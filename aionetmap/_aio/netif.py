"""InterfaceCore: one port, the user-space host that owns an IPv4 address (and any IPv6
addresses) on it, and the UDP endpoints bound to them; everything of
:class:`aionetmap.NetInterface` but the creation of endpoints (which needs the transport
classes, one layer up).

Received frames go to the host (ARP, ICMP, UDP demultiplexing), or through the C fast path
straight to an endpoint; the host's events reach the right endpoint through its
:class:`~aionetmap.protocol.DatagramEndpoint` contract; the frames it wants sent go into
the :class:`~aionetmap._aio.scheduler.TxScheduler` ahead of queued datagrams; its timers
(ARP retries and expiry) run on ``loop.call_at``. The interface is its driver's
:class:`~aionetmap.protocol.PortOwner`.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import itertools
import os
import time
from collections.abc import Callable
from typing import Any, Self

from aionetmap._aio import constants
from aionetmap._aio.address import Destinations
from aionetmap._aio.constants import EPHEMERAL_PORTS
from aionetmap._aio.driver import PortDriver
from aionetmap._aio.fastpath import UdpFastPath
from aionetmap._aio.host_events import HostEvents
from aionetmap._aio.log import logger
from aionetmap._aio.scheduler import TxScheduler
from aionetmap.ports.base import FrameBatch, Port
from aionetmap.protocol import Address, DatagramEndpoint
from aionetmap.stack import (
    Host,
)
from aionetmap.stack.addr6 import PREFERRED

__all__ = ["InterfaceCore"]


class InterfaceCore(HostEvents):
    """A port with an IPv4 host on it, and the UDP endpoints that share it (see
    :class:`aionetmap.NetInterface`, which adds creating them)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        port: Port,
        host: Host,
        *,
        owns_port: bool = True,
        close_when_unused: bool = False,
        fast_path: bool = True,
    ) -> None:
        self.loop = loop
        self.port = port
        self.host = host
        self.interface = ipaddress.IPv4Interface(f"{host.address}/{host.network.prefixlen}")
        self._owns_port = owns_port
        self._close_when_unused = close_when_unused
        self._endpoints: dict[int, DatagramEndpoint] = {}
        self.destinations = Destinations(self.interface)
        self.address_cache = self.destinations.cache
        """Validated unicast destinations, keyed by what callers passed (endpoints read it
        directly)."""
        self.address_cache6 = self.destinations.cache6
        """The same for IPv6 (dual-stack) endpoints, which read destinations as AF_INET6."""
        self.ipv6_interfaces: list[ipaddress.IPv6Interface] = (
            [] if host.ipv6 is None else host.ipv6.interfaces()
        )
        """The host's IPv6 addresses with their prefixes (the EUI-64 link-local one too)."""
        self._dad_waiters: list[asyncio.Future[None]] = []
        self.duplicate_addresses: list[str] = []
        """IPv6 addresses that DAD found in use by another station (unusable)."""
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._stack_poll_scheduled = False
        self._next_ephemeral = EPHEMERAL_PORTS.start + int.from_bytes(os.urandom(2)) % len(
            EPHEMERAL_PORTS
        )
        self._ping_ident = int.from_bytes(os.urandom(2))
        self._ping_seq = itertools.count(1)
        self._ping_waiters: dict[tuple[int, int], asyncio.Future[float]] = {}
        self._conflicting_macs: set[bytes] = set()
        self.closed = False
        self._closed_future: asyncio.Future[None] = loop.create_future()
        self._close_callbacks: list[Callable[[Any], None]] = []
        self._retiring = False
        self._tx_dropped_close = 0
        self._rx_dropped_family = 0
        self.driver = PortDriver(loop, port, self)
        capacity = self.driver.batch.capacity
        # fast_path=False runs every frame through the Python host (same behaviour, slower).
        self._fast = UdpFastPath(host, capacity) if fast_path else None
        self.scheduler = TxScheduler(
            port,
            host,
            self._fast,
            capacity,
            request_flush=self.driver.request_flush,
            host_used=self._schedule_stack_poll,
        )
        self.max_payload = self.scheduler.max_payload
        """Largest UDP payload one datagram may carry: 65507 (the IPv4 limit), or less on
        a port whose TX ring cannot hold that many fragments at once."""
        self.max_payload6 = self.scheduler.max_payload6
        """The same for a datagram sent over IPv6: 65527 (65535 minus the UDP header: the
        IPv6 payload length counts no IP header; no jumbograms), or less on such a port.
        IPv4-mapped destinations of a dual-stack endpoint keep :attr:`max_payload`."""

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{len(self._endpoints)} endpoints"
        return f"<NetInterface {self.interface} on {self.port.info.name} {state}>"

    # === Public API ===

    def start(self) -> None:
        """Start reading and announce our address (gratuitous ARP)."""
        self.host.start(self.loop.time())
        self.driver.start()
        self._after_host()

    async def ping(self, dst: str, *, timeout: float = 1.0, payload: bytes = b"aionetmap") -> float:
        """Send one ICMP (or, to an IPv6 address, ICMPv6) echo request and return the
        round-trip time in seconds.

        Raises ``TimeoutError`` when no reply arrives in time (ARP or NDP resolution
        included).
        """
        if self.closed:
            raise OSError(errno.EBADF, f"interface {self} is closed")
        seq = next(self._ping_seq) & 0xFFFF
        key = (self._ping_ident, seq)
        fut: asyncio.Future[float] = self.loop.create_future()
        self._ping_waiters[key] = fut
        # The RTT is measured with perf_counter, not loop.time(): uvloop's clock only
        # advances in whole milliseconds per iteration, which would report 0.0 on a LAN.
        sent_at = time.perf_counter()
        try:
            self.host.send_echo_request(dst, self._ping_ident, seq, payload, self.loop.time())
            self._after_host()
            async with asyncio.timeout(timeout):
                replied_at = await fut
        finally:
            self._ping_waiters.pop(key, None)
        return replied_at - sent_at

    def stats(self) -> dict[str, int]:
        """Port counters, stack counters (drops by reason; the host's and the C fast path's
        added together) and TX queue state, in one dict.

        The port and the stack both count ``rx_frames``/``tx_frames``; the stack's appear as
        ``stack_rx_frames``/``stack_tx_frames`` (frames the host handled or built).
        ``tx_dropped_close`` counts frames an interface closing by itself (its last endpoint
        gone) left unsent because the port took none for ``CLOSE_STALL_TIMEOUT`` seconds.
        ``control_queue`` counts host frames waiting for the ring (a fragmented datagram
        once); ``tx_groups_dropped`` the host's fragmented datagrams too large for it (its
        own ICMP replies: an endpoint's are refused at ``sendto``);
        ``reassembly_datagrams``/``reassembly_bytes`` what fragment reassembly holds now.
        ``rx_dropped_family`` counts IPv6 datagrams to a port whose endpoint is IPv4 (or
        bound to another IPv6 address): like an AF_INET socket, it never hears them.
        """
        merged: dict[str, int] = dict(self.port.stats())
        stack = self.host.stats.as_dict()
        if self._fast is not None:  # the fast path counts what it decided on its own
            for name, value in self._fast.stats.as_dict().items():
                stack[name] += value
        for name, value in stack.items():
            merged[f"stack_{name}" if name in ("rx_frames", "tx_frames") else name] = value
        merged.update(self.scheduler.stats())
        merged["tx_dropped_close"] = self._tx_dropped_close
        merged["rx_dropped_family"] = self._rx_dropped_family + (
            0 if self._fast is None else self._fast.extra.rx_dropped_family
        )
        merged["reassembly_datagrams"], merged["reassembly_bytes"] = self.host.reassembly
        return merged

    def close(self) -> None:
        """Abort every endpoint, stop reading, and close the port if we opened it."""
        if self.closed:
            return
        self.closed = True
        self.scheduler.closed = True
        for transport in list(self._endpoints.values()):
            transport.abort()
        self.driver.close()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for waiter in self._dad_waiters:
            if not waiter.done():
                waiter.set_result(None)  # wait_addresses sees the interface closed
        for fut in self._ping_waiters.values():
            if not fut.done():
                fut.set_exception(OSError(errno.EBADF, f"interface {self} closed"))
        if self._owns_port:
            self.port.close()
        if not self._closed_future.done():
            self._closed_future.set_result(None)
        callbacks, self._close_callbacks = self._close_callbacks, []
        for callback in callbacks:
            callback(self)

    def add_close_callback(self, callback: Callable[[Self], None]) -> None:
        """Call ``callback(interface)`` once, when the interface closes (at once if it
        already has)."""
        if self.closed:
            callback(self)
        else:
            self._close_callbacks.append(callback)

    async def wait_closed(self) -> None:
        """Wait until the interface has closed (explicitly, or by itself once the last
        endpoint of an implicitly opened interface is gone and its frames have left)."""
        await asyncio.shield(self._closed_future)

    # === Called by the endpoints (downward: they hold their interface) ===

    def check_address(self, addr: Any, *, allow_broadcast: bool = False) -> Address:
        """A destination as an IPv4 endpoint sends to it (see
        :meth:`~aionetmap._aio.address.Destinations.check`)."""
        return self.destinations.check(addr, allow_broadcast=allow_broadcast)

    def check_address6(self, addr: Any, *, allow_broadcast: bool = False) -> Address:
        """A destination as an IPv6 (dual-stack) endpoint sends to it (see
        :meth:`~aionetmap._aio.address.Destinations.check6`)."""
        return self.destinations.check6(addr, allow_broadcast=allow_broadcast)

    async def wait_addresses(self, timeout: float) -> None:
        """Wait until DAD has ended for every IPv6 address (RFC 4862: a tentative address
        cannot send). Raises ``OSError(EADDRINUSE)`` if another station holds one of them,
        ``TimeoutError`` if DAD has not ended within ``timeout`` seconds."""
        v6 = self.host.ipv6
        if v6 is None:
            return
        while True:
            if self.duplicate_addresses:
                raise OSError(
                    errno.EADDRINUSE,
                    f"IPv6 address {self.duplicate_addresses[0]} is already in use on the "
                    f"link (duplicate address detection on {self.port.info.name})",
                )
            states = [v6.state_of(i.ip.packed) for i in self.ipv6_interfaces]
            if all(state == PREFERRED for state in states):
                return
            if self.closed:
                raise OSError(errno.EBADF, f"interface {self} is closed")
            fut: asyncio.Future[None] = self.loop.create_future()
            self._dad_waiters.append(fut)
            async with asyncio.timeout(timeout):
                await fut

    # === Multicast options of one endpoint (its socket options, set through the host) ===

    def join_group(self, port: int, group: str) -> None:
        """Bound ``port`` joins ``group``: the host listens on the group's MAC and the
        IGMP report it queued leaves now (``Host.join_group`` raises what it refuses)."""
        self.host.join_group(group, port, self.loop.time())
        self._host_output()

    def leave_group(self, port: int, group: str) -> None:
        """``port`` leaves ``group``; the last member's leave sends an IGMP leave."""
        self.host.leave_group(group, port, self.loop.time())
        self._host_output()

    def attach(self, endpoint: DatagramEndpoint) -> None:
        """Register a bound endpoint (its port came from :meth:`_allocate`)."""
        self._endpoints[endpoint.local_port] = endpoint
        if self._retiring:  # a new endpoint arrived while the last one's frames drained
            self._retiring = False
            self.driver.cancel_drain()

    def detach(self, endpoint: DatagramEndpoint) -> None:
        """The endpoint is gone (it has forgotten its TX queue already)."""
        if self._endpoints.get(endpoint.local_port) is endpoint:
            del self._endpoints[endpoint.local_port]
            self._release(endpoint.local_port)
        if self._close_when_unused and not self._endpoints and not self._retiring:
            # Let what the endpoints queued (and ARP/ICMP replies) reach the peer first.
            self._retiring = True
            self.driver.drain(constants.CLOSE_STALL_TIMEOUT)  # then tx_drained

    @property
    def retiring(self) -> bool:
        """Closing by itself (no endpoints left) once its queued frames are out."""
        return self._retiring

    def tx_drained(self, left: int) -> None:
        """The drain begun when the last endpoint left has ended: close, unless an
        endpoint came back meanwhile (which cancels the drain)."""
        if not (self._retiring and not self._endpoints):
            return
        if left:
            self._tx_dropped_close += left
            logger.warning(
                "%s: closing with %d frames unsent: the port took none for %.1f s",
                self.port.info.name,
                left,
                constants.CLOSE_STALL_TIMEOUT,
            )
        self.close()

    # === Internals ===

    def _is_wildcard(self, local_ip: str | None) -> bool:
        """Whether binding to ``local_ip`` means the wildcard; ValueError if it is neither
        that nor our address (a kernel socket says EADDRNOTAVAIL)."""
        if local_ip is None or local_ip == str(self.host.address):
            return False
        if local_ip in ("", "0.0.0.0"):
            return True
        raise ValueError(
            f"cannot bind to {local_ip!r}: the interface address is {self.host.address} "
            "(bind to it or to the wildcard 0.0.0.0)"
        )

    def _bind_ip6(self, local_ip: str) -> str:
        """The IPv6 address an endpoint binds to, compressed (``"::"``: dual-stack);
        ValueError if it is neither ``::`` nor one of the interface's IPv6 addresses."""
        ip = ipaddress.IPv6Address(local_ip.split("/")[0].split("%")[0])
        if ip.is_unspecified or ip in {i.ip for i in self.ipv6_interfaces}:
            return str(ip)
        owned = ", ".join(str(i.ip) for i in self.ipv6_interfaces) or "none"
        raise ValueError(
            f"cannot bind to {local_ip!r}: not an IPv6 address of this interface "
            f"(its IPv6 addresses: {owned}; or bind to the wildcard ::)"
        )

    def _allocate(self, wanted: int, wildcard: bool = False) -> int:
        port = self._pick_port(wanted)
        self.host.bind_udp(port, wildcard=wildcard)
        if self._fast is not None:
            self._fast.bind(port, wildcard=wildcard)
        return port

    def _release(self, port: int) -> None:
        # A closed socket leaves its groups: queue the IGMP leaves before any drain
        # begins, so an interface closing with its last endpoint sends them too.
        self.host.unbind_udp(port, self.loop.time())
        if self._fast is not None:
            self._fast.unbind(port)
        self._host_output()

    def _host_output(self) -> None:
        """Queue the frames the host built outside a receive (IGMP reports after a join
        or a leave) and re-arm its timer; its events wait for the next stack poll, so no
        protocol callback runs from inside the endpoint call that got here."""
        if self.closed:
            return
        if self.scheduler.take_host_frames():
            self.driver.request_flush()
        self._reschedule_timer()

    def _pick_port(self, wanted: int) -> int:
        if wanted:
            if not 0 < wanted < 65536:
                raise ValueError(f"invalid UDP port {wanted}")
            if self.host.is_bound(wanted):
                raise OSError(
                    errno.EADDRINUSE, f"UDP port {wanted} is already bound on {self.interface}"
                )
            return wanted
        span = len(EPHEMERAL_PORTS)
        for _ in range(span):
            candidate = self._next_ephemeral
            self._next_ephemeral = (
                EPHEMERAL_PORTS.start + (candidate + 1 - EPHEMERAL_PORTS.start) % span
            )
            if not self.host.is_bound(candidate):
                return candidate
        raise OSError(errno.EADDRINUSE, f"no free ephemeral UDP port on {self.interface}")

    # === PortOwner: called by the driver (see aionetmap.protocol.PortOwner) ===

    def batch_received(self, batch: FrameBatch) -> None:
        """Frames from the port: classify in C (or run through the host), deliver."""
        now = self.loop.time()
        if self._fast is not None:
            if not self._fast.receive(batch, now, self._endpoints, self._after_host):
                return  # all delivered or dropped in C: the host has nothing new
        else:
            receive = self.host.receive_frame
            if batch.csum_known:  # the port's checksum flags go with the frames
                for frame, csum in zip(batch, batch.csum_flags, strict=False):
                    receive(frame, now, csum)
            else:
                for frame in batch:
                    receive(frame, now)
        self._after_host()

    def _reschedule_timer(self) -> None:
        at = self.host.get_timer()
        if at == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = at
        self._timer = None if at is None or self.closed else self.loop.call_at(at, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self.host.handle_timer(self.loop.time())
        self._after_host()

    def _schedule_stack_poll(self) -> None:
        if not self._stack_poll_scheduled:
            self._stack_poll_scheduled = True
            self.loop.call_soon(self._after_host)

    def fill_tx(self) -> bool:
        """One fill of the ring from the scheduler; True if the ring filled."""
        return self.scheduler.fill(self.loop.time())

    def tx_backlog(self) -> int:
        """Frames and datagrams waiting for the ring."""
        return self.scheduler.backlog()

    def link_down(self, exc: OSError) -> None:
        """Every endpoint hears of it."""
        # Every endpoint hears of it; they stay open and serve again when the link is back.
        for transport in list(self._endpoints.values()):
            transport.link_down(exc)

    def port_failed(self, exc: BaseException, message: str) -> None:
        """The port failed: every endpoint fails with it, then the interface closes."""
        for transport in list(self._endpoints.values()):
            transport.interface_failed(exc, message)
        self.close()
