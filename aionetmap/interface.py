"""NetInterface: one port, the user-space host that owns an IPv4 address on it, and the UDP
endpoints bound to that address.

Received frames go to the host (ARP, ICMP, UDP demultiplexing); its events reach the right
endpoint; the frames it wants sent (ARP replies, echo replies, resolved datagrams) go out
ahead of queued datagrams; its timers (ARP retries and expiry) run on ``loop.call_at``.

A datagram larger than the MTU leaves as IPv4 fragments, built by the host (the C fast
path builds single frames only). Its fragments are one group: they go into the TX ring in
one pass or not at all, so a full ring never leaves a peer half a datagram. An endpoint's
datagrams are taken from its buffer only when the ring has room for all their frames, so
its flow control (``pause_writing``) sees every fragment of a queued datagram.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import itertools
import os
import time
from collections.abc import Callable
from typing import Any

from aionetmap._aio import constants
from aionetmap._aio.address import parse_destination, unreachable
from aionetmap._aio.constants import EPHEMERAL_PORTS
from aionetmap._aio.driver import PortDriver
from aionetmap._aio.fastpath import UdpFastPath
from aionetmap._aio.log import logger
from aionetmap._aio.txqueue import TxQueue, slots_per_frame, tx_capacity
from aionetmap.ports.base import FrameBatch, Port
from aionetmap.stack import (
    AddressConflict,
    DatagramReceived,
    EchoReplyReceived,
    Host,
    IcmpErrorReceived,
    SendFailed,
)
from aionetmap.stack.addresses import LIMITED_BROADCAST
from aionetmap.stack.ipv4 import fragment_payload_size
from aionetmap.stack.udp import UDP_HEADER_LEN
from aionetmap.transport import UdpTransport

__all__ = ["NetInterface"]

Address = tuple[str, int]

_ADDRESS_CACHE_LIMIT = 4096
_CONFLICT_WARN_LIMIT = 64  # stations warned about by name; after that, warn every time


class NetInterface:
    """A port with an IPv4 host on it; UDP endpoints on the port share it.

    Create one with :func:`aionetmap.open_interface` (or implicitly through
    :func:`aionetmap.create_datagram_endpoint`). Closing it aborts its endpoints and, when it
    opened the port itself, closes the port.
    """

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
        info = port.info
        self._frame_slots = slots_per_frame(info.backend, info.buf_size, host.mtu)
        self._tx_capacity = tx_capacity(info.tx_slots, info.tx_rings)
        self._fragment_size = fragment_payload_size(host.mtu)
        self.max_payload = self._largest_payload(host.max_payload)
        """Largest UDP payload one datagram may carry: 65507 (the IPv4 limit), or less on
        a port whose TX ring cannot hold that many fragments at once."""
        self._owns_port = owns_port
        self._close_when_unused = close_when_unused
        self._endpoints: dict[int, UdpTransport] = {}
        self._tx_ready: dict[UdpTransport, None] = {}  # insertion-ordered set: round robin
        # Frames the host built (ARP, ICMP, resolved datagrams, fragments in groups).
        self._control = TxQueue(port, self._frame_slots, self._tx_capacity)
        self.address_cache: dict[Any, Address] = {}
        """Validated unicast destinations, keyed by what callers passed (endpoints read it
        directly)."""
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
        self._close_callbacks: list[Callable[[NetInterface], None]] = []
        self._retiring = False
        self._tx_dropped_close = 0
        self.driver = PortDriver(
            loop,
            port,
            on_batch=self._on_batch,
            fill_tx=self._fill_tx,
            backlog=self._backlog,
            on_error=self._port_failed,
            on_link_down=self._link_down,
        )
        # fast_path=False runs every frame through the Python host (same behaviour, slower).
        self._fast = UdpFastPath(host, self.driver.batch.capacity) if fast_path else None

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{len(self._endpoints)} endpoints"
        return f"<NetInterface {self.interface} on {self.port.info.name} {state}>"

    # === Public API ===

    @property
    def endpoints(self) -> dict[int, UdpTransport]:
        """The open UDP endpoints by local port (a copy)."""
        return dict(self._endpoints)

    def start(self) -> None:
        """Start reading and announce our address (gratuitous ARP)."""
        self.host.start(self.loop.time())
        self.driver.start()
        self._after_host()

    async def create_datagram_endpoint(
        self,
        protocol_factory: Any,
        *,
        local_port: int = 0,
        remote_addr: Address | None = None,
        allow_broadcast: bool = False,
        read_buffer_limit: int | None = None,
        local_ip: str | None = None,
    ) -> tuple[UdpTransport, Any]:
        """Bind a UDP port (0 picks a free one) and connect a protocol to it.

        ``allow_broadcast`` lets the endpoint send to the limited and the subnet broadcast
        address (a kernel socket's ``SO_BROADCAST``). A ``remote_addr`` the endpoint cannot
        send to raises here, as ``connect()`` would (see :meth:`check_address`).
        ``read_buffer_limit``: bytes held for the protocol while it has paused reading
        (see :meth:`UdpTransport.set_read_buffer_limit`; None keeps the default).
        ``local_ip`` is the address to bind to: the interface's own (the default) or the
        wildcard ``"0.0.0.0"`` (``""`` too, as asyncio takes it). As with a kernel socket,
        only a wildcard-bound endpoint also receives datagrams sent to the subnet broadcast
        and to 255.255.255.255; its replies still leave from the interface's address.
        """
        if self.closed:
            raise OSError(errno.EBADF, f"interface {self} is closed")
        wildcard = self._is_wildcard(local_ip)
        remote = None
        if remote_addr is not None:
            remote = self.check_address(remote_addr, allow_broadcast=allow_broadcast)
        port_number = self._allocate(local_port, wildcard)
        try:  # bound first, then the protocol, as loop.create_datagram_endpoint does
            protocol = protocol_factory()
            waiter: asyncio.Future[None] = self.loop.create_future()
            transport = UdpTransport(
                self,
                protocol,
                port_number,
                remote,
                waiter=waiter,
                allow_broadcast=allow_broadcast,
                wildcard=wildcard,
            )
            if read_buffer_limit is not None:
                transport.set_read_buffer_limit(read_buffer_limit)
        except BaseException:
            self._release(port_number)  # else the port would stay bound to nobody
            raise
        self._endpoints[port_number] = transport
        if self._retiring:  # a new endpoint arrived while the last one's frames drained
            self._retiring = False
            self.driver.cancel_drain()
        try:
            await waiter
        except BaseException:
            transport.abort()
            raise
        return transport, protocol

    async def ping(self, dst: str, *, timeout: float = 1.0, payload: bytes = b"aionetmap") -> float:
        """Send one ICMP echo request and return the round-trip time in seconds.

        Raises ``TimeoutError`` when no reply arrives in time (ARP resolution included).
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
        """Port counters, stack counters (drops by reason) and TX queue state, in one dict.

        The port and the stack both count ``rx_frames``/``tx_frames``; the stack's appear as
        ``stack_rx_frames``/``stack_tx_frames`` (frames the host handled or built).
        ``tx_dropped_close`` counts frames an interface closing by itself (its last endpoint
        gone) left unsent because the port took none for ``CLOSE_STALL_TIMEOUT`` seconds.
        ``control_queue`` counts host frames waiting for the ring (a fragmented datagram
        once); ``tx_groups_dropped`` the host's fragmented datagrams too large for it (its
        own ICMP replies: an endpoint's are refused at ``sendto``);
        ``reassembly_datagrams``/``reassembly_bytes`` what fragment reassembly holds now.
        """
        merged: dict[str, int] = dict(self.port.stats())
        for name, value in self.host.stats.as_dict().items():
            merged[f"stack_{name}" if name in ("rx_frames", "tx_frames") else name] = value
        merged["control_queue"] = len(self._control)
        merged["tx_dropped_close"] = self._tx_dropped_close
        merged["tx_groups_dropped"] = self._control.groups_dropped
        merged["reassembly_datagrams"], merged["reassembly_bytes"] = self.host.reassembly
        return merged

    def close(self) -> None:
        """Abort every endpoint, stop reading, and close the port if we opened it."""
        if self.closed:
            return
        self.closed = True
        for transport in list(self._endpoints.values()):
            transport.abort()
        self.driver.close()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
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

    def add_close_callback(self, callback: Callable[[NetInterface], None]) -> None:
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

    # === Called by UdpTransport ===

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

    def want_tx(self, transport: UdpTransport) -> None:
        self._tx_ready[transport] = None
        self.driver.request_flush()

    def flush_now(self) -> None:
        self.driver.flush_now()

    def detach(self, transport: UdpTransport) -> None:
        if self._endpoints.get(transport.local_port) is transport:
            del self._endpoints[transport.local_port]
            self._release(transport.local_port)
        self._tx_ready.pop(transport, None)
        if self._close_when_unused and not self._endpoints and not self._retiring:
            # Let what the endpoints queued (and ARP/ICMP replies) reach the peer first.
            self._retiring = True
            self.driver.drain(self._retire, constants.CLOSE_STALL_TIMEOUT)

    @property
    def retiring(self) -> bool:
        """Closing by itself (no endpoints left) once its queued frames are out."""
        return self._retiring

    def _retire(self, left: int) -> None:
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

    def _allocate(self, wanted: int, wildcard: bool = False) -> int:
        port = self._pick_port(wanted)
        self.host.bind_udp(port, wildcard=wildcard)
        if self._fast is not None:
            self._fast.bind(port, wildcard=wildcard)
        return port

    def _release(self, port: int) -> None:
        self.host.unbind_udp(port)
        if self._fast is not None:
            self._fast.unbind(port)

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

    def _backlog(self) -> int:
        """Frames and datagrams waiting for the ring."""
        queued = sum(len(transport.pending()[0]) for transport in self._tx_ready)
        return len(self._control) + queued

    def _on_batch(self, batch: FrameBatch) -> None:
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
        while (event := host.next_event()) is not None:
            self._dispatch(event)
        if self._control.take_from(host):
            self.driver.request_flush()
        self._reschedule_timer()

    def _dispatch(self, event: object) -> None:
        if isinstance(event, DatagramReceived):
            endpoint = self._endpoints.get(event.dst_port)
            if endpoint is not None:
                endpoint.deliver(event.payload, event.src)
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

    def _fill_tx(self) -> bool:
        """Move host frames, then queued datagrams, into the ring; True if the ring filled."""
        if self._control and self._control.send():
            return True
        now = self.loop.time()
        ready = self._tx_ready
        for transport in list(ready):
            full = self._send_datagrams(transport, now)
            if self.closed:  # a protocol callback closed the interface
                return False
            # Protocol callbacks during the pass (error_received, resume_writing) may
            # have queued more: only an endpoint with nothing left leaves the round.
            if not transport.pending()[0]:
                ready.pop(transport, None)
            elif full:  # round robin: the next pass serves the others first
                ready.pop(transport, None)
                ready[transport] = None
            if full:
                return True
        if ready:  # queued from a callback after its turn in this pass
            self.driver.request_flush()
        return False

    def _send_datagrams(self, transport: UdpTransport, now: float) -> bool:
        """Turn one endpoint's queue into frames in the ring; True when the ring filled first."""
        host = self.host
        payloads, dsts = transport.pending()
        take = min(self.port.tx_space(), self.driver.batch.capacity, len(payloads))
        fragmented = bool(take) and max(map(len, payloads[:take])) > host.max_unfragmented
        if fragmented:
            take = self._fitting(payloads, take)
        left_behind = take < len(payloads)
        chunk, chunk_dsts = payloads[:take], dsts[:take]
        built: FrameBatch | None = None
        connected = transport.get_extra_info("peername") is not None
        # error_received may run from here on: the protocol may send, close, or close us.
        if self._fast is not None and not fragmented:
            built = self._fast.send(
                chunk, chunk_dsts, transport.local_port, now, transport.send_failed, connected
            )
        else:  # the host fragments; a mixed chunk goes there whole, to keep its order
            for payload, dst in zip(chunk, chunk_dsts, strict=True):
                try:
                    host.send_datagram(payload, dst, transport.local_port, now, connected=connected)
                except OSError as exc:
                    transport.send_failed(exc)
        full = False
        if not self.closed:
            full = self._queue_built(built)
            if self._fast is None or fragmented or self._fast.used_host:
                # Events (ARP queue overflow, resolution requests) are handled outside
                # the pass. Datagrams the fast path built itself cannot cause any.
                self._schedule_stack_poll()
        # Only now that this chunk's frames are in the ring may the protocol hear that its
        # buffer drained (resume_writing, or connection_lost after close()).
        transport.counters["tx_datagrams"] += len(chunk)
        transport.consumed(len(chunk))
        return full or left_behind

    def _fitting(self, payloads: list[bytes], take: int) -> int:
        """How many of the first ``take`` datagrams the ring has room for now, counting
        every fragment. A datagram is left in its endpoint's buffer (and flow control)
        until all of its frames fit; ``sendto`` refused any that could never fit."""
        space = self.port.tx_space()
        for i in range(take):
            space -= self._datagram_slots(len(payloads[i]))
            if space < 0:
                return i
        return take

    def _datagram_slots(self, size: int) -> int:
        """TX slots a UDP datagram with ``size`` bytes of payload takes."""
        if size <= self.host.max_unfragmented:
            return 1  # as the unfragmented path has always counted (one frame)
        fragments = -(-(size + UDP_HEADER_LEN) // self._fragment_size)
        return fragments * self._frame_slots

    def _largest_payload(self, limit: int) -> int:
        """``limit``, or the largest payload whose fragments fit the whole TX ring."""
        if self._datagram_slots(limit) <= self._tx_capacity:
            return limit
        fragments = self._tx_capacity // self._frame_slots
        return max(self.host.max_unfragmented, fragments * self._fragment_size - UDP_HEADER_LEN)

    def _queue_built(self, built: FrameBatch | None) -> bool:
        """Put the fast path's frames, then the host's, into the ring; True if it filled."""
        full = False
        if built is not None and built.count:
            sent = self.port.send_batch(built)
            if sent < built.count:  # frames spanning slots: keep the rest, in order
                self._control.extend(built.frame_bytes(i) for i in range(sent, built.count))
                full = True
        self._control.take_from(self.host)
        if self._control and not full:
            full = self._control.send()
        return full or bool(self._control)

    def _link_down(self, exc: OSError) -> None:
        # Every endpoint hears of it; they stay open and serve again when the link is back.
        for transport in list(self._endpoints.values()):
            transport.link_down(exc)

    def _port_failed(self, exc: BaseException, message: str) -> None:
        for transport in list(self._endpoints.values()):
            transport.interface_failed(exc, message)
        self.close()
