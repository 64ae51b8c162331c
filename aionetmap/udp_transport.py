"""UdpTransport: an :class:`asyncio.DatagramTransport` for one UDP port of a NetInterface.

It follows ``_SelectorDatagramTransport``'s contract point by point (see
``_transport_base``), with these documented differences:

* Nothing is sent from inside ``sendto``: datagrams queue, and all those queued during one
  loop iteration are built into frames and put in the TX ring together (one native call,
  one flush). The queue is pushed early once it passes the high-water mark, so
  ``pause_writing`` still means "the ring is full", as it means "the kernel buffer is full"
  for a socket.
* A zero-length datagram is sent (it is valid UDP); stock asyncio on Python 3.11 silently
  discards it.
* ``pause_reading()`` works (uvloop's UDP transport lacks it): datagrams for a paused
  endpoint are dropped and counted as ``rx_dropped_paused`` while ARP and ping keep working.
* A datagram that cannot be sent (too large, no ARP answer, unreachable network) reaches
  ``error_received`` and is dropped, as a kernel error on ``sendto`` would.
* ``close()`` waits at most ``CLOSE_DRAIN_TIMEOUT`` seconds for queued datagrams to find
  room in the ring (a peer that never reads would otherwise hold it open forever), then
  drops the rest and calls ``connection_lost(None)``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aionetmap._constants import CLOSE_DRAIN_TIMEOUT
from aionetmap._log import logger
from aionetmap._transport_base import PortTransportBase
from aionetmap.stack.errors import DatagramTooLarge
from aionetmap.stack.udp import UDP_HEADER_LEN

if TYPE_CHECKING:
    from aionetmap.interface import NetInterface

__all__ = ["UdpTransport"]

Address = tuple[str, int]


class UdpTransport(PortTransportBase, asyncio.DatagramTransport):
    """One bound UDP port on a :class:`~aionetmap.interface.NetInterface`.

    Bound to the interface's address (``sockname`` ``(ip, port)``) it receives only
    datagrams sent to that address; bound to the wildcard (``("0.0.0.0", port)``) it also
    receives those sent to the subnet broadcast and to 255.255.255.255, as kernel sockets
    do. Either way it sends from the interface's address, and never receives multicast.
    """

    def __init__(
        self,
        iface: NetInterface,
        protocol: Any,
        local_port: int,
        remote: Address | None,
        *,
        waiter: asyncio.Future[None] | None = None,
        wildcard: bool = False,
    ) -> None:
        loop = iface.loop
        extra = {
            # A wildcard endpoint names itself as a kernel socket bound to 0.0.0.0 does.
            "sockname": ("0.0.0.0" if wildcard else str(iface.host.address), local_port),
            "peername": remote,
            "mac": iface.host.mac,
            "interface": iface.interface,
            "netinterface": iface,
            "port_info": iface.port.info,
            "portspec": iface.port.info.name,
        }
        super().__init__(loop, protocol, extra)
        self._iface = iface
        self.local_port = local_port
        self._remote = remote
        # Queued datagrams: payloads and their destinations side by side (no pair tuple
        # per datagram; the builder wants them apart anyway).
        self._payloads: list[bytes] = []
        self._dsts: list[Address] = []
        self._careful = remote is not None
        self._addresses = iface.address_cache
        self._max_payload = iface.max_payload
        self._rx_datagrams = 0
        # The protocol's datagram_received while delivery needs no checks (connected,
        # reading, open, not filtering by peer), else None. A fresh bound method on every
        # state change, so a batch loop sees any change (even a swapped protocol) by
        # identity alone.
        self._receive: Any = None
        self._close_timer: asyncio.TimerHandle | None = None
        self.counters = {
            "tx_datagrams": 0,
            "rx_dropped_paused": 0,
            "rx_dropped_not_peer": 0,
            "tx_failed": 0,
        }
        self._schedule_connection_made(waiter)

    def __repr__(self) -> str:
        state = "closed" if self._conn_lost else ("closing" if self._closing else "open")
        local = self._extra["sockname"]
        peer = f" peer={self._remote[0]}:{self._remote[1]}" if self._remote else ""
        return (
            f"<UdpTransport {local[0]}:{local[1]}{peer} on {self._extra['portspec']} {state} "
            f"bufsize={self._buffer_size}>"
        )

    # === Public API ===

    def sendto(self, data: bytes | bytearray | memoryview, addr: Any = None) -> None:
        """Queue one datagram to ``addr`` (an ``(ipv4, port)`` tuple), or to the peer of a
        connected endpoint when ``addr`` is None. Never blocks."""
        # This runs once per datagram: the common case (bytes, a known address, a buffer
        # below the high-water mark) takes no more than a few dict and list operations.
        if type(data) is not bytes:
            if not isinstance(data, (bytearray, memoryview)):
                kind = type(data).__name__
                raise TypeError(f"data argument must be a bytes-like object, not {kind!r}")
            data = bytes(data)  # an immutable snapshot, as asyncio buffers
        if addr is None or self._careful:  # connected, or lost: the rules take longer
            if not self._sendto_rules(addr):
                return
            addr = self._remote
        try:
            dst = self._addresses[addr]
        except (KeyError, TypeError):  # new, or not even hashable: validate it
            dst = self._iface.check_address(addr)
        size = len(data)
        if size > self._max_payload:
            self._too_large(size)
            return
        payloads = self._payloads
        if not payloads:  # it was empty: ask for a TX pass this iteration
            self._iface.want_tx(self)
        payloads.append(data)
        self._dsts.append(dst)
        self._buffer_size += size + UDP_HEADER_LEN  # as CPython >= 3.12 counts a datagram
        if self._buffer_size > self._high_water:
            # The ring may well have room: push now before deciding to pause the protocol.
            self._iface.flush_now()
            self._maybe_pause_protocol()

    def _sendto_rules(self, addr: Any) -> bool:
        """asyncio's sendto rules for connected and lost endpoints; False: drop it."""
        if self._remote is None:
            if addr is None:
                raise ValueError("this endpoint is not connected: sendto() needs an address")
        elif addr is not None and addr != self._remote:
            raise ValueError(f"Invalid address: must be None or {self._remote}")
        return self._check_open()

    def _too_large(self, size: int) -> None:
        self.counters["tx_failed"] += 1
        host = self._iface.host
        self._report(DatagramTooLarge("UDP payload", size, self._max_payload, host.mtu))

    def stats(self) -> dict[str, int]:
        """Counters of this endpoint (the interface has its own, see ``NetInterface.stats``)."""
        return {"rx_datagrams": self._rx_datagrams, **self.counters}

    # === Called by the NetInterface ===

    def pending(self) -> tuple[list[bytes], list[Address]]:
        """Queued payloads and their destinations, oldest first (the live lists: read only)."""
        return self._payloads, self._dsts

    def consumed(self, count: int) -> None:
        """The interface took the first ``count`` pending datagrams (sent or failed)."""
        payloads = self._payloads
        if count >= len(payloads):
            payloads.clear()
            self._dsts.clear()
            self._buffer_size = 0
            self._buffer_drained()
            return
        self._buffer_size -= sum(map(len, payloads[:count])) + count * UDP_HEADER_LEN
        del payloads[:count]
        del self._dsts[:count]
        if not self._conn_lost:  # asyncio resumes at the low-water mark, not only when empty
            self._maybe_resume_protocol()

    def deliver_many(self, payloads: Sequence[bytes], sources: Sequence[Address]) -> None:
        """Hand a batch of received datagrams to the protocol (the interface's hot path)."""
        total = len(payloads)
        start = 0
        while start < total:
            receive = self._receive
            if receive is None:  # paused, closing, connected: datagram by datagram
                for i in range(start, total):
                    self.deliver(payloads[i], sources[i])
                return
            taken = 0
            try:
                for payload, src in zip(payloads[start:], sources[start:], strict=True):
                    taken += 1  # counted before the call: a raising callback had it too
                    receive(payload, src)
                    if self._receive is not receive:  # paused, closed, swapped protocols
                        break
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._protocol_callback_failed(exc, "protocol.datagram_received()")
            self._rx_datagrams += taken
            start += taken

    def deliver(self, payload: bytes, src: Address) -> None:
        """Hand one received datagram to the protocol."""
        receive = self._receive
        if receive is not None:
            self._rx_datagrams += 1
            try:
                receive(payload, src)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._protocol_callback_failed(exc, "protocol.datagram_received()")
            return
        if not self._connected or self._closing:
            return
        if not self._reading:
            self.counters["rx_dropped_paused"] += 1
            return
        if self._remote is not None and src != self._remote:
            # A connected UDP socket only hears from its peer.
            self.counters["rx_dropped_not_peer"] += 1
            return
        self._rx_datagrams += 1
        try:
            self._protocol.datagram_received(payload, src)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._protocol_callback_failed(exc, "protocol.datagram_received()")

    def _state_changed(self) -> None:
        # Recompute the flags the hot paths test: deliver() (open, reading, not filtering
        # by peer) and sendto() (connected or lost: the careful path).
        plain = self._connected and self._reading and not self._closing and self._remote is None
        protocol = self._protocol
        self._receive = protocol.datagram_received if plain and protocol is not None else None
        self._careful = self._remote is not None or bool(self._conn_lost)

    def send_failed(self, exc: OSError) -> None:
        """A datagram of ours was dropped on the way (ARP failure, ICMP error...)."""
        self.counters["tx_failed"] += 1
        if not self._closing or self._payloads:
            self._report(exc)

    def link_down(self, exc: OSError) -> None:
        """The port's link went down (reported once per event, not counted per datagram)."""
        self._report(exc)

    def is_connected_to(self, addr: Address) -> bool:
        return self._remote is not None and self._remote == addr

    def interface_failed(self, exc: BaseException, message: str) -> None:
        self._fatal_error(exc, message)

    # === PortTransportBase hooks ===

    def _close_when_flushed(self) -> None:
        if not self._payloads:
            self._schedule_connection_lost(None)
        elif self._close_timer is None and self._loop is not None:
            self._close_timer = self._loop.call_later(CLOSE_DRAIN_TIMEOUT, self._close_timed_out)

    def _close_timed_out(self) -> None:
        self._close_timer = None
        if not self._conn_lost:
            logger.debug("%r: dropping %d datagrams at close", self, len(self._payloads))
            self._force_close(None)

    def _drop_buffer(self) -> None:
        self._payloads.clear()
        self._dsts.clear()

    def _detach(self) -> None:
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        self._iface.detach(self)
