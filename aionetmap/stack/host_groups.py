"""The IPv4 multicast side of :class:`~aionetmap.stack.Host`: group MAC listening, the
``IP_ADD_MEMBERSHIP`` family of options per bound port, and the loopback of what the host
sends to a group. A mixin: the memberships and their IGMP timers live in
:class:`~aionetmap.stack.multicast.Memberships`, the receive rule in the host's Receiver.
"""

from __future__ import annotations

from collections import deque
from ipaddress import IPv4Address

from aionetmap.stack.addresses import BROADCAST_MAC, BytesLike, int_to_str, parse_mac
from aionetmap.stack.drops import DropReason, StackStats
from aionetmap.stack.events import DatagramReceived, Event
from aionetmap.stack.igmp import ALL_HOSTS, group_mac, is_multicast
from aionetmap.stack.link import Link, check_port
from aionetmap.stack.multicast import Memberships, MulticastOptions
from aionetmap.stack.receive import Receiver

__all__ = ["HostGroups"]


class HostGroups:
    """Group membership methods of a host that has the attributes declared below."""

    stats: StackStats
    multicast_version: int
    _mcast: dict[bytes, int]
    _multicast: Memberships
    _ports: set[int]
    _wildcard: set[int]
    _receiver: Receiver
    _link: Link
    _events: deque[Event]

    def listen_multicast_mac(self, mac: bytes) -> None:
        """Receive frames sent to the group MAC address ``mac`` (counted: each call needs
        its :meth:`unlisten_multicast_mac`); ``ValueError`` if it is not a group address."""
        mac = parse_mac(mac)
        if not mac[0] & 1 or mac == BROADCAST_MAC:
            raise ValueError(f"{mac.hex(':')} is not a multicast MAC address")
        count = self._mcast.get(mac, 0)
        self._mcast[mac] = count + 1
        if not count:
            self.multicast_version += 1

    def unlisten_multicast_mac(self, mac: bytes) -> None:
        """Undo one :meth:`listen_multicast_mac` (nothing happens for one not listened on)."""
        mac = parse_mac(mac)
        count = self._mcast.get(mac, 0)
        if count > 1:
            self._mcast[mac] = count - 1
        elif count:
            del self._mcast[mac]
            self.multicast_version += 1

    @property
    def multicast_macs(self) -> frozenset[bytes]:
        """The group MAC addresses listened on besides broadcast."""
        return frozenset(self._mcast)

    def join_group(self, group: str | IPv4Address, port: int, now: float) -> None:
        """Bound ``port`` joins ``group`` (``IP_ADD_MEMBERSHIP`` on its socket, any source).

        The first join of a group by any port listens on its MAC address (and, while any
        group is joined, on 224.0.0.1's, where general queries arrive) and sends an
        IGMP state-change report (repeated by :meth:`handle_timer`). ``ValueError`` for a
        port not bound or an address that is not a group; ``OSError``: ``EADDRINUSE`` if
        the port joined it already, ``ENOBUFS`` past the limits in ``HostConfig``.
        """
        value = self._group(group, port)
        if self._multicast.join(value, port, now):
            if len(self._multicast.groups) == 1:
                # General queries go to 224.0.0.1: hear them while there is a group.
                self.listen_multicast_mac(group_mac(ALL_HOSTS))
            self.listen_multicast_mac(group_mac(value))

    def leave_group(self, group: str | IPv4Address, port: int, now: float) -> None:
        """``port`` leaves ``group`` (``IP_DROP_MEMBERSHIP``); when no port is left in it
        the host stops listening on its MAC and reports the leave. ``OSError``
        (``EADDRNOTAVAIL``) if the port had not joined it, ``ValueError`` as for join."""
        value = self._group(group, port)
        if self._multicast.leave(value, port, now):
            self._unlisten_group(value)

    def group_verdict(self, group: int, port: int) -> DropReason | None:
        """Deliver a valid UDP datagram to IPv4 ``group``:``port`` (a ``DeliverGroup``
        verdict)? None if so, else the drop reason; either is counted in ``stats`` as
        ``receive_frame`` counts it (the fast path delivers such datagrams itself)."""
        return self._receiver.group_verdict(group, port)

    @property
    def groups(self) -> frozenset[IPv4Address]:
        """The groups this host joined (for any port)."""
        return frozenset(map(IPv4Address, self._multicast.groups))

    def groups_of(self, port: int) -> frozenset[IPv4Address]:
        """The groups ``port`` joined."""
        return frozenset(map(IPv4Address, self._multicast.groups_of(port)))

    def multicast_options(self, port: int) -> MulticastOptions:
        """``port``'s multicast options (a copy): ``ttl``, ``loop``, ``all``."""
        options = self._multicast.options(port)
        return MulticastOptions(options.ttl, options.loop, options.all)

    def set_multicast_ttl(self, port: int, ttl: int) -> None:
        """TTL of ``port``'s datagrams to groups, 0..255 (``IP_MULTICAST_TTL``; 1 by
        default). Bound ports only; forgotten when the port is unbound."""
        if not isinstance(ttl, int) or isinstance(ttl, bool) or not 0 <= ttl <= 255:
            raise ValueError(f"multicast TTL must be in 0..255, not {ttl!r}")
        self._multicast.set_options(self._bound(port), ttl=ttl)

    def set_multicast_loop(self, port: int, loop: bool) -> None:
        """Whether ``port``'s datagrams to a group joined here are also delivered to this
        host's own ports (``IP_MULTICAST_LOOP``; on by default, as on Linux)."""
        self._multicast.set_options(self._bound(port), loop=bool(loop))

    def set_multicast_all(self, port: int, receive_all: bool) -> None:
        """Whether wildcard ``port`` receives every group the host joined (``True``, the
        default, like Linux's ``IP_MULTICAST_ALL``) or only those it joined itself."""
        self._multicast.set_options(self._bound(port), all=bool(receive_all))

    def _unlisten_group(self, group: int) -> None:
        """The interface left ``group``: stop listening on its MAC (and on 224.0.0.1's
        when it was the last group)."""
        self.unlisten_multicast_mac(group_mac(group))
        if not self._multicast.groups:
            self.unlisten_multicast_mac(group_mac(ALL_HOSTS))

    def _bound(self, port: int) -> int:
        check_port(port, "UDP port")
        if port not in self._ports:
            raise ValueError(f"UDP port {port} is not bound")
        return port

    def _group(self, group: str | IPv4Address, port: int) -> int:
        try:
            value = int(IPv4Address(group))
        except ValueError:
            raise ValueError(f"not an IPv4 address: {group!r}") from None
        if not is_multicast(value):
            raise ValueError(f"{group} is not a multicast group address")
        self._bound(port)
        return value

    def _group_ttl(self, port: int, ttl: int | None) -> int:
        if ttl is None:
            return self._multicast.options(port).ttl
        if not isinstance(ttl, int) or isinstance(ttl, bool) or not 0 <= ttl <= 255:
            raise ValueError(f"multicast TTL must be in 0..255, not {ttl!r}")
        return ttl

    def sent_to_group(self, group: int, port: int, src_port: int, payload: BytesLike) -> None:
        """A datagram from ``src_port`` to ``group``:``port`` was built outside the host
        (the native fast path): count it and loop it back to our own ports as
        :meth:`send_datagram` does (``IP_MULTICAST_LOOP``; a ``DatagramReceived`` event)."""
        self._sent_to_group(group, port, src_port, payload)

    def _sent_to_group(self, group: int, port: int, src_port: int, payload: BytesLike) -> None:
        """Loop a datagram we sent to a group back to our own port, as Linux's
        ``IP_MULTICAST_LOOP`` does (after the same delivery rules as a received one)."""
        self.stats.tx_multicast += 1
        multicast = self._multicast
        if not multicast.options(src_port).loop:
            return
        if multicast.accepts(group, port, self._wildcard) is None:
            src = (int_to_str(self._link.ip), src_port)
            self._events.append(DatagramReceived(src, port, bytes(payload)))
            self.stats.tx_multicast_looped += 1
