"""Run asyncio UDP code written for kernel sockets, unchanged, on an aionetmap interface.

:func:`route_datagram_endpoints` makes one event loop's ``create_datagram_endpoint``
create aionetmap endpoints on a given :class:`~aionetmap.NetInterface` for as long as it
is active. Code that calls ``loop.create_datagram_endpoint`` itself (a QUIC library, a DNS
client, a test suite) then runs over the user-space stack without a line changed: the
transports it gets are :class:`~aionetmap.UdpTransport` (or, for AF_INET6,
:class:`~aionetmap.UdpTransport6`) objects, which keep asyncio's datagram contract.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any

from aionetmap.interface import NetInterface
from aionetmap.transport import UdpTransport

__all__ = ["route_datagram_endpoints"]

_UNSET = object()


@contextlib.contextmanager
def route_datagram_endpoints(iface: NetInterface) -> Iterator[NetInterface]:
    """Within the block, ``iface.loop.create_datagram_endpoint(...)`` creates aionetmap
    endpoints on ``iface`` instead of kernel sockets; on leaving it, the loop's own method
    is back (endpoints created meanwhile stay open).

    The loop's method is replaced on that loop object only (an instance attribute, which
    works for asyncio's loops and uvloop's), so other loops, and the kernel sockets other
    code opens directly, are untouched. It takes asyncio's arguments and reads them as a
    kernel socket would:

    * ``local_addr`` ``(ip, port)`` (or an AF_INET6 4-tuple): ``ip`` is the interface's
      IPv4 address, ``""``/``"0.0.0.0"`` (the wildcard), one of its IPv6 addresses, or
      ``"::"`` (dual-stack, ``IPV6_V6ONLY`` off);
    * ``family=socket.AF_INET6`` without ``local_addr``, or an IPv6 ``remote_addr``,
      binds ``::``, as the kernel binds an unbound AF_INET6 socket (dual-stack);
    * ``sock``: a UDP socket the caller made and bound (aioquic's ``connect()`` binds an
      AF_INET6 one to ``("::", 0)``): its family, address and port, and its peer if it is
      connected, make the endpoint; the kernel socket itself is closed, since nothing is
      sent through it (``IPV6_V6ONLY`` on a ``::`` socket is refused: an endpoint on
      ``::`` always hears IPv4 too);
    * ``remote_addr`` and ``allow_broadcast`` as asyncio takes them.

    Limits: names are not resolved (give numeric addresses; asyncio would resolve them
    with ``getaddrinfo``); ``reuse_port``, and ``proto``/``flags`` other than 0, raise
    ``ValueError``; each endpoint needs a free port on the interface (one UDP port space
    for both families, as in the kernel); the interface must outlive the endpoints.
    """
    loop = iface.loop
    previous = loop.__dict__.get("create_datagram_endpoint", _UNSET)

    async def create_datagram_endpoint(
        protocol_factory: Any, local_addr: Any = None, remote_addr: Any = None, **kwargs: Any
    ) -> tuple[UdpTransport, Any]:
        local_ip, local_port, remote = _binding(iface, local_addr, remote_addr, kwargs)
        return await iface.create_datagram_endpoint(
            protocol_factory,
            local_port=local_port,
            remote_addr=remote,
            allow_broadcast=bool(kwargs.get("allow_broadcast")),
            local_ip=local_ip,
        )

    loop.create_datagram_endpoint = create_datagram_endpoint  # type: ignore[method-assign]
    try:
        yield iface
    finally:
        if previous is _UNSET:
            del loop.create_datagram_endpoint
        else:
            loop.create_datagram_endpoint = previous  # type: ignore[method-assign]


def _binding(
    iface: NetInterface, local_addr: Any, remote_addr: Any, kwargs: dict[str, Any]
) -> tuple[str | None, int, Any]:
    """``(local_ip, local_port, remote_addr)`` for ``iface.create_datagram_endpoint``
    from asyncio's arguments (see :func:`route_datagram_endpoints`)."""
    unknown = set(kwargs) - {"family", "proto", "flags", "reuse_port", "allow_broadcast", "sock"}
    if unknown:
        raise TypeError(f"create_datagram_endpoint() got unexpected arguments {sorted(unknown)}")
    if kwargs.get("reuse_port") or kwargs.get("proto", 0) or kwargs.get("flags", 0):
        raise ValueError("reuse_port, proto and flags are not supported on aionetmap endpoints")
    sock = kwargs.get("sock")
    if sock is not None:
        if local_addr is not None or remote_addr is not None:
            raise ValueError("local_addr/remote_addr may not be specified together with sock")
        ip, port, peer = _from_socket(sock)
        return _local_ip(iface, ip), port, peer
    family = kwargs.get("family", 0)
    v6 = family == socket.AF_INET6 or (remote_addr is not None and _is_ipv6(remote_addr))
    if local_addr is None:
        return ("::" if v6 else None), 0, remote_addr
    ip, port = str(local_addr[0]), int(local_addr[1])
    if ip == "" and v6:
        ip = "::"
    return _local_ip(iface, ip), port, remote_addr


def _local_ip(iface: NetInterface, ip: str) -> str | None:
    """``ip`` as ``NetInterface.create_datagram_endpoint`` takes it (None: the
    interface's IPv4 address)."""
    return None if ip == str(iface.interface.ip) else ip


def _from_socket(sock: socket.socket) -> tuple[str, int, Any]:
    """Binding and peer of a caller's UDP socket, which is closed (it is replaced)."""
    if sock.type != socket.SOCK_DGRAM:
        raise ValueError(f"A UDP Socket was expected, got {sock!r}")
    family = sock.family
    try:
        name = sock.getsockname()
        try:
            peer: Any = sock.getpeername()
        except OSError:
            peer = None
        wildcard6 = family == socket.AF_INET6 and name[0] == "::"
        if wildcard6 and sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY):
            raise ValueError(
                "an AF_INET6 socket on :: with IPV6_V6ONLY set: aionetmap's :: "
                "endpoints are dual-stack (clear IPV6_V6ONLY, or bind an IPv6 address)"
            )
    finally:
        sock.close()
    # The kernel's own port choice stands (an unbound socket's is 0: any free one).
    return str(name[0]), int(name[1]), peer


def _is_ipv6(addr: Any) -> bool:
    return isinstance(addr, tuple) and (len(addr) == 4 or ":" in str(addr[0]))
