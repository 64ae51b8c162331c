"""UDP destinations, checked the way a kernel AF_INET (or AF_INET6) socket checks them.

asyncio's datagram transport sorts what ``sendto`` cannot send into two kinds, and so
does aionetmap (the transport turns the first kind into ``error_received`` and the second
into a fatal error, ``connection_lost(exc)``):

* ``OSError``: what the socket module passes on and the kernel (or the resolver) refuses:
  a name that does not resolve (``socket.gaierror``), port 0 (``EINVAL``), a broadcast
  address without ``allow_broadcast`` (``EACCES``); and what the kernel would accept but
  this stack cannot do (see :func:`unreachable`).
* ``TypeError`` / ``OverflowError``: what the socket module itself rejects before any
  system call: not a 2-tuple, a host that is not ``str``/``bytes``, a port that is not an
  integer or outside 0..65535. The messages are the socket module's.
"""

from __future__ import annotations

import errno
import operator
import socket
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, ip_address
from typing import Any, cast

from aionetmap.protocol import Address
from aionetmap.stack.addresses import LIMITED_BROADCAST

__all__ = ["Destinations", "mapped", "parse_destination", "parse_destination6", "unreachable"]


_ADDRESS_CACHE_LIMIT = 4096


def parse_destination(addr: object) -> tuple[IPv4Address, int]:
    """``(ip, port)`` from a ``sendto`` address, or the exception a kernel socket's
    ``sendto`` would raise for it (names are never looked up: see :func:`parse_host`)."""
    if not isinstance(addr, tuple):
        raise TypeError(f"sendto(): AF_INET address must be tuple, not {type(addr).__name__}")
    if len(addr) != 2:
        raise TypeError("AF_INET address must be a pair (host, port)")
    host, port = addr
    if not isinstance(host, str | bytes | bytearray):
        raise TypeError(f"str, bytes or bytearray expected, not {type(host).__name__}")
    port = operator.index(port)  # TypeError for a float or a str, as the socket module
    if not 0 <= port <= 0xFFFF:
        raise OverflowError("sendto(): port must be 0-65535.")
    ip = parse_host(host)
    if port == 0:
        raise OSError(errno.EINVAL, f"cannot send to {ip}:0: UDP port 0 is not a destination")
    return ip, port


def parse_host(host: str | bytes | bytearray) -> IPv4Address:
    """An IPv4 address in any form ``inet_aton`` takes (``10.1`` too), ``""`` (the
    unspecified address) or ``"<broadcast>"``, as the socket module reads them.

    Anything else would need a resolver, and aionetmap runs none (a lookup from
    ``sendto`` would block the loop): ``socket.gaierror``, as for a name that does not
    resolve.
    """
    text = host if isinstance(host, str) else bytes(host).decode("ascii", "replace")
    if text == "<broadcast>":
        return IPv4Address("255.255.255.255")
    if text == "":
        return IPv4Address(0)
    try:
        return IPv4Address(text)
    except ValueError:
        pass
    try:  # the short and non-decimal forms (10.1, 0x7f.1) need no lookup either
        info = socket.getaddrinfo(text, None, socket.AF_INET, flags=socket.AI_NUMERICHOST)
        return IPv4Address(info[0][4][0])
    except (OSError, UnicodeError, ValueError):
        pass
    if _is_ipv6(text):
        raise socket.gaierror(
            socket.EAI_ADDRFAMILY, f"{text!r} is an IPv6 address; aionetmap speaks IPv4 only"
        )
    raise socket.gaierror(
        socket.EAI_NONAME,
        f"{text!r} is not an IPv4 address, and aionetmap does not resolve names "
        "(resolve it first, e.g. with loop.getaddrinfo)",
    )


def _is_ipv6(text: str) -> bool:
    try:
        ip_address(text)
    except ValueError:
        return False
    return True


def unreachable(ip: IPv4Address, own: IPv4Address) -> OSError | None:
    """The error for a destination a kernel socket would reach but this host cannot, or
    None. The kernel delivers the unspecified, loopback and own addresses through its
    loopback device, which a user-space host on one port does not have. A group
    (224.0.0.0/4) is a destination like any other: the host sends it to the group's MAC
    address with the endpoint's multicast TTL (see ``UdpTransport.set_multicast_ttl``)."""
    if ip == own or ip.is_unspecified or ip.is_loopback:
        what = "this host's own address" if ip == own else "a local address"
        return OSError(
            errno.ENETUNREACH,
            f"cannot send to {ip}: {what}, which needs a loopback device (aionetmap has none)",
        )
    return None


def parse_destination6(addr: object) -> tuple[str, int, int, int] | tuple[str, int]:
    """A ``sendto`` address for an IPv6 (dual-stack) endpoint, as an AF_INET6 kernel socket
    with ``IPV6_V6ONLY`` off reads it: ``(host, port)`` or ``(host, port, flowinfo,
    scope_id)``. Returns ``(ipv6, port, flowinfo, scope_id)`` in compressed form, or, for
    an IPv4-mapped host (``::ffff:a.b.c.d``), the IPv4 ``(dotted quad, port)`` it stands
    for (the IPv4 path sends it). Raises as the socket module does (see the module
    docstring); names are never looked up."""
    if not isinstance(addr, tuple):
        raise TypeError(f"sendto(): AF_INET6 address must be tuple, not {type(addr).__name__}")
    if not 2 <= len(addr) <= 4:
        raise TypeError("AF_INET6 address must be a tuple (host, port[, flowinfo[, scopeid]])")
    host, port, *rest = addr
    if not isinstance(host, str | bytes | bytearray):
        raise TypeError(f"str, bytes or bytearray expected, not {type(host).__name__}")
    port = operator.index(port)
    if not 0 <= port <= 0xFFFF:
        raise OverflowError("sendto(): port must be 0-65535.")
    flowinfo, scope_id = (*map(operator.index, rest), 0, 0)[:2]
    if not 0 <= flowinfo <= 0xFFFFF:
        raise OverflowError("sendto(): flowinfo must be 0-1048575.")
    text = host if isinstance(host, str) else bytes(host).decode("ascii", "replace")
    text = text.split("%", 1)[0]  # a zone index names the one interface there is
    try:
        ip = IPv6Address(text)
    except ValueError:
        raise socket.gaierror(
            socket.EAI_NONAME,
            f"{text!r} is not an IPv6 address, and aionetmap does not resolve names "
            "(an IPv4 peer of a dual-stack endpoint is written ::ffff:a.b.c.d)",
        ) from None
    if port == 0:
        raise OSError(errno.EINVAL, f"cannot send to [{ip}]:0: UDP port 0 is not a destination")
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped), port
    if ip.is_unspecified or ip.is_loopback:
        raise OSError(
            errno.ENETUNREACH,
            f"cannot send to {ip}: a local address, which needs a loopback device "
            "(aionetmap has none)",
        )
    return str(ip), port, flowinfo, scope_id


def mapped(src: tuple[str, int]) -> tuple[str, int, int, int]:
    """An IPv4 peer as a dual-stack socket names it: ``("::ffff:a.b.c.d", port, 0, 0)``."""
    return f"::ffff:{src[0]}", src[1], 0, 0


class Destinations:
    """The destinations of one interface's endpoints: checked once, then cached."""

    def __init__(self, interface: IPv4Interface) -> None:
        self._ip = interface.ip
        network = interface.network
        self._broadcasts = {IPv4Address(LIMITED_BROADCAST)}
        if network.prefixlen < 31:  # /31 and /32 have no broadcast address (RFC 3021)
            self._broadcasts.add(network.broadcast_address)
        self.cache: dict[Any, Address] = {}
        """Validated unicast IPv4 destinations, keyed by what callers passed."""
        self.cache6: dict[Any, Address] = {}
        """The same for IPv6 (dual-stack) endpoints, which read destinations as AF_INET6."""

    def check(self, addr: Any, *, allow_broadcast: bool = False) -> Address:
        """Validate a destination and return it as ``(dotted-quad str, int port)``.

        Raises what a kernel AF_INET socket's ``sendto`` would raise (see this
        module): ``TypeError``/``OverflowError`` for an argument of the
        wrong shape, an ``OSError`` for a destination refused or out of this host's reach,
        ``PermissionError`` (``EACCES``) for a broadcast address unless ``allow_broadcast``.
        Unicast results are cached, since servers answer the same few peers again and
        again; broadcast ones are not, since each endpoint has its own permission.
        """
        try:
            return self.cache[addr]
        except (KeyError, TypeError):
            pass
        ip, port = parse_destination(addr)
        error = unreachable(ip, self._ip)
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
        if len(self.cache) >= _ADDRESS_CACHE_LIMIT:
            self.cache.clear()
        self.cache[addr] = normal
        return normal

    def check6(self, addr: Any, *, allow_broadcast: bool = False) -> Address:
        """Validate a destination for an IPv6 (dual-stack) endpoint: an AF_INET6 2- or
        4-tuple (see :func:`~aionetmap._aio.address.parse_destination6`). Returns the IPv6
        4-tuple, or for an IPv4-mapped address the IPv4 ``(dotted quad, port)`` checked
        as :meth:`check` checks it. Cached like IPv4 destinations."""
        try:
            return self.cache6[addr]
        except (KeyError, TypeError):
            pass
        parsed = parse_destination6(addr)
        if len(parsed) == 2:
            return self.check(parsed, allow_broadcast=allow_broadcast)
        if len(self.cache6) >= _ADDRESS_CACHE_LIMIT:
            self.cache6.clear()
        normal = cast("Address", parsed)
        self.cache6[addr] = normal
        return normal
