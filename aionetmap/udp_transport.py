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
"""

from __future__ import annotations

import asyncio
import errno
from typing import TYPE_CHECKING, Any

from aionetmap._constants import UDP_HEADER_SIZE
from aionetmap._transport_base import PortTransportBase

if TYPE_CHECKING:
    from aionetmap.interface import NetInterface

__all__ = ["UdpTransport"]

Address = tuple[str, int]


class UdpTransport(PortTransportBase, asyncio.DatagramTransport):
    """One bound UDP port on a :class:`~aionetmap.interface.NetInterface`."""

    def __init__(
        self,
        iface: NetInterface,
        protocol: Any,
        local_port: int,
        remote: Address | None,
        *,
        waiter: asyncio.Future[None] | None = None,
    ) -> None:
        loop = iface.loop
        extra = {
            "sockname": (str(iface.host.address), local_port),
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
        self._buffer: list[tuple[bytes, Address]] = []
        self._head = 0
        self.counters = {
            "rx_datagrams": 0,
            "tx_datagrams": 0,
            "rx_dropped_paused": 0,
            "rx_dropped_not_peer": 0,
            "tx_failed": 0,
        }
        loop.call_soon(protocol.connection_made, self)
        loop.call_soon(self._set_connected)
        if waiter is not None:
            loop.call_soon(_set_result_unless_cancelled, waiter)

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
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(
                f"data argument must be a bytes-like object, not {type(data).__name__!r}"
            )
        if self._remote is not None:
            if addr is not None and addr != self._remote:
                raise ValueError(f"Invalid address: must be None or {self._remote}")
            addr = self._remote
        elif addr is None:
            raise ValueError("this endpoint is not connected: sendto() needs an address")
        if not self._check_open():
            return
        dst = self._iface.check_address(addr)
        payload = bytes(data)
        if len(payload) > self._iface.max_payload:
            self.counters["tx_failed"] += 1
            self._report(
                OSError(
                    errno.EMSGSIZE,
                    f"datagram of {len(payload)} bytes does not fit the MTU of "
                    f"{self._iface.host.mtu} (at most {self._iface.max_payload} bytes of payload)",
                )
            )
            return
        self._buffer.append((payload, dst))
        self._buffer_size += len(payload) + UDP_HEADER_SIZE
        self._iface.want_tx(self)
        if self._buffer_size > self._high_water:
            # The ring may well have room: push now before deciding to pause the protocol.
            self._iface.flush_now()
        self._maybe_pause_protocol()

    def stats(self) -> dict[str, int]:
        """Counters of this endpoint (the interface has its own, see ``NetInterface.stats``)."""
        return dict(self.counters)

    # === Called by the NetInterface ===

    def pending(self) -> list[tuple[bytes, Address]]:
        """Datagrams not yet handed to the ring, oldest first (a slice: do not keep it)."""
        return self._buffer[self._head :]

    def consumed(self, count: int) -> None:
        """The interface took the first ``count`` pending datagrams (sent or failed)."""
        buffer = self._buffer
        end = self._head + count
        self._buffer_size -= (
            sum(len(p) for p, _ in buffer[self._head : end]) + count * UDP_HEADER_SIZE
        )
        self._head = end
        if end >= len(buffer):
            buffer.clear()
            self._head = 0
            self._buffer_drained()

    def deliver(self, payload: bytes, src: Address) -> None:
        if not self._connected or self._closing:
            return
        if not self._reading:
            self.counters["rx_dropped_paused"] += 1
            return
        if self._remote is not None and src != self._remote:
            # A connected UDP socket only hears from its peer.
            self.counters["rx_dropped_not_peer"] += 1
            return
        self.counters["rx_datagrams"] += 1
        try:
            self._protocol.datagram_received(payload, src)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._protocol_callback_failed(exc, "protocol.datagram_received()")

    def send_failed(self, exc: OSError) -> None:
        """A datagram of ours was dropped on the way (ARP failure, ICMP error...)."""
        self.counters["tx_failed"] += 1
        if not self._closing or self._buffer:
            self._report(exc)

    def is_connected_to(self, addr: Address) -> bool:
        return self._remote is not None and self._remote == addr

    def interface_failed(self, exc: BaseException, message: str) -> None:
        self._fatal_error(exc, message)

    # === PortTransportBase hooks ===

    def _buffer_empty(self) -> bool:
        return self._head >= len(self._buffer)

    def _drop_buffer(self) -> None:
        self._buffer.clear()
        self._head = 0

    def _detach(self) -> None:
        self._iface.detach(self)

    def _report(self, exc: OSError) -> None:
        if self._protocol is None:
            return
        try:
            self._protocol.error_received(exc)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as err:
            self._protocol_callback_failed(err, "protocol.error_received()")


def _set_result_unless_cancelled(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled():
        fut.set_result(None)
