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
from typing import Any, Self, cast

from aionetmap._aio import constants
from aionetmap._aio.address import parse_destination, parse_destination6, unreachable
from aionetmap._aio.constants import EPHEMERAL_PORTS
from aionetmap._aio.driver import PortDriver
from aionetmap._aio.fastpath import UdpFastPath
from aionetmap._aio.log import logger
from aionetmap._aio.scheduler import TxScheduler
from aionetmap.ports.base import FrameBatch, Port
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
from aionetmap.stack.addr6 import PREFERRED
from aionetmap.stack.addresses import LIMITED_BROADCAST

__all__ = ["InterfaceCore"]

_ADDRESS_CACHE_LIMIT = 4096
_CONFLICT_WARN_LIMIT = 64  # stations warned about by name; after that, warn every time


class InterfaceCore:
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
        self.address_cache: dict[Any, Address] = {}
        """Validated unicast destinations, keyed by what callers passed (endpoints read it
        directly)."""
        self.address_cache6: dict[Any, Address] = {}
        """The same for IPv6 (dual-stack) endpoints, which read destinations as AF_INET6."""
        self.ipv6_interfaces: list[ipaddress.IPv6Interface] = (
            [] if host.ipv6 is None else host.ipv6.interfaces()
        )
        """The host's IPv6 addresses with their prefixes (the EUI-64 link-local one too)."""
        self._dad_waiters: list[asyncio.Future[None]] = []
        self.duplicate_addresses: list[str] = []
        """IPv6 addresses that DAD found in use by another station (unusable)."""
        network = self.interface.network
        self._broadcasts = {ipaddress.IPv4Address(LIMITED_BROADCAST)}
        if network.prefixlen < 31:  # /31 and /32 have no broadcast address (RFC 3021)
            self._broadcasts.add(network.broadcast_address)
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
        """Validate a destination and return it as ``(dotted-quad str, int port)``.

        Raises what a kernel AF_INET socket's ``sendto`` would raise (see
        :mod:`aionetmap._aio.address`): ``TypeError``/``OverflowError`` for an argument of the
        wrong shape, an ``OSError`` for a destination refused or out of this host's reach,
        ``PermissionError`` (``EACCES``) for a broadcast address unless ``allow_broadcast``.
        Unicast results are cached, since servers answer the same few peers again and
        again; broadcast ones are not, since each endpoint has its own permission.
        """
        try:
            return self.address_cache[addr]
        except (KeyError, TypeError):
            pass
        ip, port = parse_destination(addr)
        error = unreachable(ip, self.interface.ip)
        if error is not None:
            raise error
        normal = (str(ip), port)
        if ip in self._broadcasts:
            if not allow_broadcast:
                raise PermissionError(
                    errno.EACCES,
                    f"cannot send to {ip}: a broadcast address, and the endpoint was not "
                    "created with allow_broadcast=True",
                )
            return normal
        if len(self.address_cache) >= _ADDRESS_CACHE_LIMIT:
            self.address_cache.clear()
        self.address_cache[addr] = normal
        return normal

    def check_address6(self, addr: Any, *, allow_broadcast: bool = False) -> Address:
        """Validate a destination for an IPv6 (dual-stack) endpoint: an AF_INET6 2- or
        4-tuple (see :func:`~aionetmap._aio.address.parse_destination6`). Returns the IPv6
        4-tuple, or for an IPv4-mapped address the IPv4 ``(dotted quad, port)`` checked
        as :meth:`check_address` checks it. Cached like IPv4 destinations."""
        try:
            return self.address_cache6[addr]
        except (KeyError, TypeError):
            pass
        parsed = parse_destination6(addr)
        if len(parsed) == 2:
            return self.check_address(parsed, allow_broadcast=allow_broadcast)
        if len(self.address_cache6) >= _ADDRESS_CACHE_LIMIT:
            self.address_cache6.clear()
        normal = cast("Address", parsed)
        self.address_cache6[addr] = normal
        return normal

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
