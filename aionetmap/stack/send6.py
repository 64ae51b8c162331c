"""The IPv6 send half of a host: ``Sender6`` builds packets (fragmenting those over the
MTU, RFC 8200 4.5), frames them for their next hop and queues them on the host's
:class:`~aionetmap.stack.transmit.Sender` (one transmit queue for both families);
packets whose next hop is not resolved wait in the :class:`.NeighborCache` while it is
solicited (RFC 4861 7.2.2). It also sends the host's NDP and MLD messages.

A user's datagram that never leaves becomes a ``SendFailed`` event; a reply the host made
itself is counted in ``replies_failed``.
"""

from __future__ import annotations

import errno
from collections import deque
from typing import NamedTuple

from aionetmap.stack.addr6 import AddressBook, target_text
from aionetmap.stack.arp_cache import Enqueued
from aionetmap.stack.config import HostConfig
from aionetmap.stack.drops import StackStats
from aionetmap.stack.events import Event, NeighborResolved, SendFailed
from aionetmap.stack.icmpv6 import Icmp6Type, build_icmpv6
from aionetmap.stack.ipv6 import (
    ALL_NODES,
    IPV6_HEADER_LEN,
    NextHeader,
    build_ipv6_fragments,
    build_ipv6_packet,
    is_multicast6,
    multicast_mac6,
    solicited_node,
)
from aionetmap.stack.mld import ALL_MLDV2_ROUTERS, ROUTER_ALERT_HBH, Record, report_body
from aionetmap.stack.ndp import NA_OVERRIDE, na_body, ns_body
from aionetmap.stack.ndp_cache import NeighborCache, NeighborState
from aionetmap.stack.transmit import Sender

__all__ = ["Parked6", "Sender6"]

_UNSPECIFIED = bytes(16)


class Parked6(NamedTuple):
    """IPv6 packets (one, or the fragments of one) on their way to a next hop."""

    packets: tuple[bytes, ...]
    dst: tuple[str, int] | None
    """Reported in SendFailed; ``None`` for the host's own replies."""
    src_port: int


class Sender6:
    """Frames and queues what the host sends over IPv6."""

    def __init__(
        self,
        mac: bytes,
        eth_suffix: bytes,
        mtu: int,
        config: HostConfig,
        stats: StackStats,
        events: deque[Event],
        book: AddressBook,
        cache: NeighborCache[Parked6],
        sender: Sender,
    ) -> None:
        self._mac = mac
        self._suffix = eth_suffix
        """Our MAC, the VLAN tag if any, EtherType 0x86DD: what follows the destination."""
        self.mtu = mtu
        self._config = config
        self._stats = stats
        self._events = events
        self._book = book
        self._cache = cache
        self._sender = sender
        self._ident = config.ip_ident_seed << 16 | config.ip_ident_seed

    # === Packets ===

    def packets(self, src: bytes, dst: bytes, nh: int, upper: bytes) -> tuple[bytes, ...]:
        """``upper`` in one IPv6 packet, or in fragments if it does not fit the MTU."""
        hop = self._config.hop_limit
        if IPV6_HEADER_LEN + len(upper) <= self.mtu:
            return (build_ipv6_packet(src, dst, nh, upper, hop),)
        self._ident = (self._ident + 1) & 0xFFFFFFFF
        self._stats.tx_fragmented += 1
        return tuple(
            build_ipv6_fragments(
                src, dst, nh, upper, mtu=self.mtu, ident=self._ident, hop_limit=hop
            )
        )

    def send(self, item: Parked6, dst: bytes, now: float) -> None:
        """Frame ``item`` for the next hop of ``dst`` now, or park it until resolved.
        ``OSError(ENETUNREACH)`` without a route."""
        if is_multicast6(dst):
            self._emit(multicast_mac6(dst), item.packets)
            return
        hop = self._book.next_hop(dst, now)
        mac = self._cache.lookup(hop, now)
        if mac is not None:
            self._emit(mac, item.packets)
            return
        outcome = self._cache.enqueue(hop, item, now)
        if outcome is Enqueued.REQUEST:
            self.solicit(hop, None)
        elif outcome is Enqueued.QUEUE_FULL:
            self._fail(item, errno.ENOBUFS, f"too many packets wait for {target_text(hop)}")
        elif outcome is Enqueued.TABLE_FULL:
            self._fail(item, errno.ENOBUFS, "too many IPv6 neighbours are being resolved")

    def reply(self, src: bytes, dst: bytes, nh: int, upper: bytes, now: float) -> bool:
        """Send a packet the host made itself; False if it has no route."""
        try:
            self.send(Parked6(self.packets(src, dst, nh, upper), None, 0), dst, now)
        except OSError:
            return False
        return True

    def _emit(self, mac: bytes, packets: tuple[bytes, ...]) -> None:
        header = mac + self._suffix
        if len(packets) == 1:
            self._sender.emit(header + packets[0])
        else:
            self._sender.emit_group(tuple(header + p for p in packets))

    # === NDP and MLD ===

    def icmp(self, src: bytes, dst: bytes, mac: bytes, icmp_type: int, body: bytes) -> None:
        """An NDP message (hop limit 255, RFC 4861 7.1) to ``mac``."""
        message = build_icmpv6(src, dst, icmp_type, 0, body)
        self._sender.emit(mac + self._suffix + build_ipv6_packet(src, dst, 58, message, 255))

    def solicit(self, target: bytes, mac: bytes | None) -> None:
        """A neighbour solicitation: multicast to ``target``'s solicited-node group when
        ``mac`` is None (resolution), else unicast to ``mac`` (a probe)."""
        try:
            src = self._book.source_for(target)
        except OSError:
            return  # no usable address yet: nothing to solicit from
        dst = solicited_node(target) if mac is None else target
        to = multicast_mac6(dst) if mac is None else mac
        self.icmp(src, dst, to, Icmp6Type.NEIGHBOR_SOLICIT, ns_body(target, self._mac))
        self._stats.tx_neighbor_solicits += 1

    def dad_solicit(self, target: bytes) -> None:
        """A DAD probe: from ``::`` to the solicited-node group, no SLLA (RFC 4862 5.4.2)."""
        group = solicited_node(target)
        body = ns_body(target, None)
        self.icmp(_UNSPECIFIED, group, multicast_mac6(group), Icmp6Type.NEIGHBOR_SOLICIT, body)
        self._stats.tx_neighbor_solicits += 1

    def advertise(self, target: bytes, dst: bytes, mac: bytes, flags: int) -> None:
        """A neighbour advertisement for our ``target`` with our MAC as TLLA."""
        body = na_body(target, flags, self._mac)
        self.icmp(target, dst, mac, Icmp6Type.NEIGHBOR_ADVERT, body)
        self._stats.tx_neighbor_adverts += 1

    def announce(self, target: bytes) -> None:
        """An unsolicited NA with the override flag to all-nodes (RFC 4861 7.2.6)."""
        self.advertise(target, ALL_NODES, multicast_mac6(ALL_NODES), NA_OVERRIDE)

    def mld_report(self, records: list[Record]) -> None:
        """An MLDv2 report to ff02::16 from the link-local address (``::`` while it is
        tentative, RFC 3810 5.2.13), hop limit 1, with Router Alert."""
        book = self._book
        src = book.link_local if book.is_preferred(book.link_local) else _UNSPECIFIED
        dst = ALL_MLDV2_ROUTERS
        message = build_icmpv6(src, dst, Icmp6Type.MLD_REPORT_V2, 0, report_body(records))
        packet = build_ipv6_packet(src, dst, NextHeader.HOP_BY_HOP, ROUTER_ALERT_HBH + message, 1)
        self._sender.emit(multicast_mac6(dst) + self._suffix + packet)
        self._stats.tx_mld_reports += 1

    # === Neighbours ===

    def learn(
        self, ip: bytes, mac: bytes, now: float, *, solicited: bool, override: bool, create: bool
    ) -> bool:
        """Apply a neighbour's word and send what waited for it; False if the cache
        ignored it (an advertisement for an address it does not hold)."""
        was_resolving = self._cache.state(ip) is NeighborState.INCOMPLETE
        waiting = self._cache.learn(
            ip, mac, now, solicited=solicited, override=override, create=create
        )
        if waiting is None:
            return False
        for item in waiting:
            self._emit(mac, item.packets)
        if was_resolving:
            self._events.append(NeighborResolved(target_text(ip), mac))
        return True

    def handle_timer(self, now: float) -> None:
        """Solicitations due, and neighbours that never answered (EHOSTUNREACH)."""
        solicits, failed = self._cache.handle_timer(now)
        for ip, mac in solicits:
            self.solicit(ip, mac)
        for ip, items in failed:
            self._stats.ndp_failures += 1
            for item in items:
                self._fail(item, errno.EHOSTUNREACH, f"no NDP answer from {target_text(ip)}")

    def _fail(self, item: Parked6, code: int, why: str) -> None:
        if item.dst is None:
            self._stats.replies_failed += 1
            return
        self._stats.send_failed += 1
        error = OSError(code, f"datagram to [{item.dst[0]}]:{item.dst[1]} dropped: {why}")
        self._events.append(SendFailed(item.dst, item.src_port, error))
