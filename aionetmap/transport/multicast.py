"""The multicast socket options of a UDP endpoint (the ``IP_ADD_MEMBERSHIP`` family).

A mixin of :class:`~aionetmap.UdpTransport`: each option is checked here and carried out
by the interface's host, which sends the IGMP reports and keeps the memberships.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from ipaddress import IPv4Address
from typing import Any

from aionetmap._aio.netif import InterfaceCore

__all__ = ["MulticastOptions"]


class MulticastOptions:
    """``join_group``, ``leave_group``, ``set_multicast_ttl``, ``set_multicast_loop`` and
    ``groups`` for a transport that has the attributes declared below."""

    _iface: InterfaceCore
    local_port: int
    _wildcard: bool
    _closing: bool
    _conn_lost: int

    def join_group(self, group: str) -> None:
        """Join ``group`` (``IP_ADD_MEMBERSHIP``, any source, on this interface).

        ``OSError``: ``EINVAL`` if this endpoint is not bound to the wildcard (it could
        never receive the group) or ``group`` is not a 224.0.0.0/4 address,
        ``EADDRINUSE`` if it joined the group already, ``ENOBUFS`` past the host's group
        limits, ``EBADF`` once closing.
        """
        self._option_allowed("join a group")
        if not self._wildcard:
            raise OSError(
                errno.EINVAL,
                f"cannot join {group}: only an endpoint bound to the wildcard "
                "(local_ip='0.0.0.0') receives multicast, as on Linux",
            )
        self._socket_option(self._iface.join_group, self.local_port, _group_text(group))

    def leave_group(self, group: str) -> None:
        """Leave ``group`` (``IP_DROP_MEMBERSHIP``); ``OSError(EADDRNOTAVAIL)`` if this
        endpoint had not joined it, ``EINVAL`` for an address that is not a group."""
        self._option_allowed("leave a group")
        self._socket_option(self._iface.leave_group, self.local_port, _group_text(group))

    def set_multicast_ttl(self, ttl: int) -> None:
        """TTL of datagrams this endpoint sends to groups, 0..255 (``IP_MULTICAST_TTL``;
        1 by default); ``OSError(EINVAL)`` outside that range. It applies to what has
        not left yet, datagrams still queued by ``sendto`` included."""
        self._option_allowed("set the multicast TTL")
        self._socket_option(self._iface.host.set_multicast_ttl, self.local_port, ttl)

    def set_multicast_loop(self, loop: bool) -> None:
        """Whether datagrams this endpoint sends to a group this host joined are also
        delivered to the host's own members (``IP_MULTICAST_LOOP``; on by default)."""
        self._option_allowed("set multicast loop")
        self._iface.host.set_multicast_loop(self.local_port, bool(loop))

    @property
    def groups(self) -> frozenset[str]:
        """The groups this endpoint joined."""
        if self._conn_lost:
            return frozenset()
        return frozenset(map(str, self._iface.host.groups_of(self.local_port)))

    def _option_allowed(self, what: str) -> None:
        if self._closing or self._conn_lost:
            raise OSError(errno.EBADF, f"cannot {what}: the transport is closing")

    @staticmethod
    def _socket_option(setter: Callable[[int, Any], None], port: int, value: Any) -> None:
        """Call a host option setter; its ``ValueError`` becomes the ``EINVAL`` that
        ``setsockopt`` gives for a bad value."""
        try:
            setter(port, value)
        except ValueError as exc:
            raise OSError(errno.EINVAL, str(exc)) from None


def _group_text(group: Any) -> str:
    """A group argument as text: ``str`` or an ``IPv4Address`` (``TypeError`` else, as
    ``socket.inet_aton`` would raise)."""
    if isinstance(group, str):
        return group
    if isinstance(group, IPv4Address):
        return str(group)
    raise TypeError(f"group must be a str or an IPv4Address, not {type(group).__name__}")
