"""UdpSocket: an await-based UDP socket on top of the callback transports.

``await sock.recvfrom()``, ``await sock.sendto(data, addr)`` that waits for room in the
write buffer instead of growing it without bound, ``async for data, addr in sock`` and
``async with``: the shape of anyio's UDP socket and trio's socket helpers.
"""

from __future__ import annotations

import asyncio
import collections
import errno
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any, Self

from aionetmap.endpoints import create_datagram_endpoint
from aionetmap.ports.base import Port
from aionetmap.transport import UdpTransport

__all__ = ["DEFAULT_RECV_QUEUE", "UdpSocket", "open_udp"]

Address = tuple[str, int]

DEFAULT_RECV_QUEUE = 4096
"""Datagrams a socket holds for a reader that is not keeping up; later ones are dropped
and counted, as a kernel socket drops once its receive buffer is full."""


class _SocketProtocol(asyncio.DatagramProtocol):
    def __init__(self, max_queue: int) -> None:
        self.queue: collections.deque[tuple[bytes, Address]] = collections.deque()
        self.max_queue = max_queue
        self.dropped = 0
        self.errors: collections.deque[OSError] = collections.deque()
        self.readable = asyncio.Event()
        self.writable = asyncio.Event()
        self.writable.set()
        self.lost = False
        self.lost_exc: BaseException | None = None

    def datagram_received(self, data: bytes, addr: Address) -> None:
        if len(self.queue) >= self.max_queue:
            self.dropped += 1
            return
        self.queue.append((data, addr))
        self.readable.set()

    def datagrams_received(self, data: Sequence[bytes], addrs: Sequence[Address]) -> None:
        room = self.max_queue - len(self.queue)
        if room < len(data):
            self.dropped += len(data) - max(room, 0)
            data, addrs = data[: max(room, 0)], addrs[: max(room, 0)]
        if data:
            self.queue.extend(zip(data, addrs, strict=True))
            self.readable.set()

    def error_received(self, exc: Exception) -> None:
        if isinstance(exc, OSError):
            self.errors.append(exc)
            self.readable.set()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.lost_exc = exc
        self.readable.set()
        self.writable.set()


class UdpSocket:
    """A bound UDP socket on an aionetmap interface. Create it with :func:`open_udp`.

    A bad destination raises from the ``sendto`` call that named it. Errors the transport
    reports later for sent datagrams (no ARP answer, ICMP port unreachable on a connected
    socket, oversize) are raised by the next ``recvfrom``/``sendto`` call, the way a kernel
    socket reports a pending error.
    """

    def __init__(self, transport: UdpTransport, protocol: _SocketProtocol) -> None:
        self._transport = transport
        self._protocol = protocol

    def __repr__(self) -> str:
        return f"<UdpSocket {self._transport!r}>"

    @property
    def sockname(self) -> Address:
        name: Address = self._transport.get_extra_info("sockname")
        return name

    @property
    def peername(self) -> Address | None:
        peer: Address | None = self._transport.get_extra_info("peername")
        return peer

    @property
    def transport(self) -> UdpTransport:
        return self._transport

    @property
    def dropped(self) -> int:
        """Datagrams dropped because the receive queue was full."""
        return self._protocol.dropped

    # Multicast: the transport's socket options, synchronous as setsockopt is.

    def join_group(self, group: str) -> None:
        """Join ``group`` (``IP_ADD_MEMBERSHIP``); the socket must be bound to the
        wildcard ``0.0.0.0``. See :meth:`UdpTransport.join_group`."""
        self._transport.join_group(group)

    def leave_group(self, group: str) -> None:
        """Leave ``group`` (``IP_DROP_MEMBERSHIP``)."""
        self._transport.leave_group(group)

    def set_multicast_ttl(self, ttl: int) -> None:
        """TTL of datagrams sent to groups (``IP_MULTICAST_TTL``, 1 by default)."""
        self._transport.set_multicast_ttl(ttl)

    def set_multicast_loop(self, loop: bool) -> None:
        """Loop datagrams sent to a joined group back to this host (``IP_MULTICAST_LOOP``)."""
        self._transport.set_multicast_loop(loop)

    @property
    def groups(self) -> frozenset[str]:
        """The groups this socket joined."""
        return self._transport.groups

    async def recvfrom(self) -> tuple[bytes, Address]:
        """Wait for the next datagram and return ``(data, (ip, port))``."""
        item = await self._next()
        if item is None:
            raise _closed_error(None)
        return item

    async def _next(self) -> tuple[bytes, Address] | None:
        """The next datagram; None once the socket has closed cleanly and is empty."""
        proto = self._protocol
        while True:
            self._raise_pending_error()
            if proto.queue:
                return proto.queue.popleft()
            if proto.lost:
                if proto.lost_exc is None:
                    return None
                raise _closed_error(proto.lost_exc)
            proto.readable.clear()
            await proto.readable.wait()

    async def recvfrom_many(self, max_count: int = 64) -> list[tuple[bytes, Address]]:
        """Wait for at least one datagram, then return every queued one, up to
        ``max_count``, as ``(data, (ip, port))`` pairs in arrival order. Raises as
        :meth:`recvfrom` does; after a clean close with nothing left, raises too."""
        if isinstance(max_count, bool) or not isinstance(max_count, int) or max_count < 1:
            raise ValueError(f"max_count must be an int >= 1, not {max_count!r}")
        first = await self.recvfrom()
        queue = self._protocol.queue
        items = [first]
        while queue and len(items) < max_count:
            items.append(queue.popleft())
        return items

    async def recv(self) -> bytes:
        """Wait for the next datagram and return its data only."""
        data, _ = await self.recvfrom()
        return data

    async def sendto(
        self, data: bytes | bytearray | memoryview, addr: Address | None = None
    ) -> None:
        """Send one datagram, first waiting while the write buffer is above its high-water mark.

        A destination this socket cannot send to raises here, to this caller, as a kernel
        socket's ``sendto`` raises (and as trio and anyio do), and the socket stays open:
        the ``OSError`` the transport would hand to ``error_received`` (a name, port 0, a
        broadcast address without ``allow_broadcast``...), the ``TypeError`` or
        ``OverflowError`` it would close itself with (an address of the wrong shape), or
        ``OSError(EDESTADDRREQ)`` for no address on a socket that is not connected.
        """
        self._check_destinations(addr, None)
        await self._wait_writable()
        self._transport.sendto(data, addr)

    async def sendto_many(
        self,
        data: Iterable[bytes | bytearray | memoryview],
        addr: Address | None = None,
        *,
        addrs: Sequence[Address] | None = None,
    ) -> None:
        """Send many datagrams (``UdpTransport.sendto_many``'s arguments: all to ``addr``,
        or ``data[i]`` to ``addrs[i]``), first waiting while the write buffer is above its
        high-water mark. Every destination is checked before anything is queued, and a
        bad one raises as in :meth:`sendto`; then all are queued at once (the buffer may
        pass its high-water mark by this batch, as a kernel socket's may by one datagram).
        """
        payloads = list(data)
        self._check_destinations(addr, addrs)
        await self._wait_writable()
        self._transport.sendto_many(payloads, addr, addrs=addrs)

    def _check_destinations(self, addr: Address | None, addrs: Sequence[Address] | None) -> None:
        """Raise what sending to ``addrs`` (or ``addr``, or the peer) would give
        ``error_received`` or close the transport with."""
        transport = self._transport
        if addrs is not None:
            for target in addrs:
                transport.check_destination(target)
        elif addr is not None:
            transport.check_destination(addr)
        elif self.peername is None:
            raise OSError(errno.EDESTADDRREQ, "the UDP socket is not connected: give an address")

    async def _wait_writable(self) -> None:
        """Wait while the write buffer is above its high-water mark; raise a pending
        error, or the socket's closing."""
        proto = self._protocol
        while not proto.writable.is_set():
            await proto.writable.wait()
        self._raise_pending_error()
        if proto.lost or self._transport.is_closing():
            raise _closed_error(proto.lost_exc)

    async def send(self, data: bytes | bytearray | memoryview) -> None:
        """Send to the peer of a connected socket (``open_udp(remote_addr=...)``)."""
        await self.sendto(data, None)

    def close(self) -> None:
        """Close the underlying transport (queued datagrams are still sent)."""
        self._transport.close()

    async def aclose(self) -> None:
        """Close and wait until the transport has let go of the port."""
        self._transport.close()
        while not self._protocol.lost:
            await self._protocol.readable.wait()
            self._protocol.readable.clear()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> UdpSocket:
        return self

    async def __anext__(self) -> tuple[bytes, Address]:
        # Iteration ends only at a clean close; a pending error (ConnectionRefusedError
        # included) is raised, not taken for the end.
        item = await self._next()
        if item is None:
            raise StopAsyncIteration
        return item

    def _raise_pending_error(self) -> None:
        if self._protocol.errors:
            raise self._protocol.errors.popleft()


def _closed_error(cause: BaseException | None) -> ConnectionError:
    err = ConnectionAbortedError(errno.ECONNABORTED, "the UDP socket is closed")
    err.__cause__ = cause
    return err


async def open_udp(
    *,
    port: str | Port,
    local_addr: Address | None = None,
    remote_addr: Address | None = None,
    address: str | None = None,
    max_queue: int = DEFAULT_RECV_QUEUE,
    allow_broadcast: bool = False,
    read_buffer_limit: int | None = None,
    **interface_options: Any,
) -> UdpSocket:
    """Open an await-based UDP socket; arguments as for :func:`create_datagram_endpoint`
    (``read_buffer_limit`` there applies while the transport's reading is paused; the
    socket itself queues up to ``max_queue`` datagrams for its reader)."""
    transport, protocol = await create_datagram_endpoint(
        lambda: _SocketProtocol(max_queue),
        port=port,
        local_addr=local_addr,
        remote_addr=remote_addr,
        address=address,
        allow_broadcast=allow_broadcast,
        read_buffer_limit=read_buffer_limit,
        **interface_options,
    )
    return UdpSocket(transport, protocol)
