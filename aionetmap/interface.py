"""NetInterface: one port, the user-space host that owns an IPv4 address (and any IPv6
addresses) on it, and the UDP endpoints bound to them.

The machinery (driver, fast path, TX scheduler, host events) is
:class:`~aionetmap._aio.netif.InterfaceCore`'s; this class adds what needs the transport
classes: creating a :class:`~aionetmap.UdpTransport` on a bound port.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Callable
from typing import Any, cast

from aionetmap._aio.address import mapped
from aionetmap._aio.netif import InterfaceCore
from aionetmap.protocol import Address
from aionetmap.transport import UdpTransport, UdpTransport6

__all__ = ["NetInterface"]


class NetInterface(InterfaceCore):
    """A port with an IPv4 (and optionally IPv6) host on it; UDP endpoints on the port
    share it, IPv4 and IPv6 ones alike (one UDP port space, as in the kernel).

    Create one with :func:`aionetmap.open_interface` (or implicitly through
    :func:`aionetmap.create_datagram_endpoint`). Closing it aborts its endpoints and, when it
    opened the port itself, closes the port.
    """

    @property
    def endpoints(self) -> dict[int, UdpTransport]:
        """The open UDP endpoints by local port (a copy)."""
        return cast("dict[int, UdpTransport]", dict(self._endpoints))

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
        wildcard ``"0.0.0.0"`` (``""`` too, as asyncio takes it); or one of its IPv6
        addresses or ``"::"``, which makes an AF_INET6-style endpoint (see
        :class:`~aionetmap.UdpTransport6`; ``"::"`` is dual-stack). As with a kernel socket,
        only a wildcard-bound endpoint also receives datagrams sent to the subnet broadcast
        and to 255.255.255.255; its replies still leave from the interface's address.
        """
        if self.closed:
            raise OSError(errno.EBADF, f"interface {self} is closed")
        if local_ip is not None and ":" in local_ip:
            return await self._create_endpoint6(
                protocol_factory,
                local_ip,
                local_port=local_port,
                remote_addr=remote_addr,
                allow_broadcast=allow_broadcast,
                read_buffer_limit=read_buffer_limit,
            )
        wildcard = self._is_wildcard(local_ip)
        remote = None
        if remote_addr is not None:
            remote = self.check_address(remote_addr, allow_broadcast=allow_broadcast)
        port_number = self._allocate(local_port, wildcard)

        def make(protocol: Any, waiter: asyncio.Future[None]) -> UdpTransport:
            return UdpTransport(
                self,
                protocol,
                port_number,
                remote,
                waiter=waiter,
                allow_broadcast=allow_broadcast,
                wildcard=wildcard,
            )

        return await self._start_endpoint(port_number, protocol_factory, make, read_buffer_limit)

    async def _create_endpoint6(
        self,
        protocol_factory: Any,
        local_ip: str,
        *,
        local_port: int,
        remote_addr: Any,
        allow_broadcast: bool,
        read_buffer_limit: int | None,
    ) -> tuple[UdpTransport, Any]:
        """:meth:`create_datagram_endpoint` for an IPv6 ``local_ip`` (``::``: dual-stack)."""
        bound = self._bind_ip6(local_ip)
        remote: Address | None = None
        if remote_addr is not None:
            checked = self.check_address6(remote_addr, allow_broadcast=allow_broadcast)
            # Kept as the peer names itself in received datagrams (AF_INET6), which is
            # also a destination check_address6 takes.
            remote = cast("Address", mapped(checked) if len(checked) == 2 else checked)
        port_number = self._allocate(local_port, bound == "::")

        def make(protocol: Any, waiter: asyncio.Future[None]) -> UdpTransport:
            return UdpTransport6(
                self,
                protocol,
                port_number,
                remote,
                local_ip6=bound,
                peername=remote,
                waiter=waiter,
                allow_broadcast=allow_broadcast,
            )

        return await self._start_endpoint(port_number, protocol_factory, make, read_buffer_limit)

    async def _start_endpoint(
        self,
        port_number: int,
        protocol_factory: Any,
        make: Callable[[Any, asyncio.Future[None]], UdpTransport],
        read_buffer_limit: int | None,
    ) -> tuple[UdpTransport, Any]:
        """Connect a protocol to bound ``port_number`` through the transport ``make``
        builds; the port is released if that fails, the transport aborted if
        ``connection_made`` is cancelled."""
        try:  # bound first, then the protocol, as loop.create_datagram_endpoint does
            protocol = protocol_factory()
            waiter: asyncio.Future[None] = self.loop.create_future()
            transport = make(protocol, waiter)
            if read_buffer_limit is not None:
                transport.set_read_buffer_limit(read_buffer_limit)
        except BaseException:
            self._release(port_number)  # else the port would stay bound to nobody
            raise
        self.attach(transport)
        try:
            await waiter
        except BaseException:
            transport.abort()
            raise
        return transport, protocol
