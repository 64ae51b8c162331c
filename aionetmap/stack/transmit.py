"""The send half of :class:`~aionetmap.stack.host.Host`: ``Sender`` turns IPv4 payloads into
packets (one, or the fragments of one datagram), frames them for their next hop, and queues
the frames for ``Host.take_frames``; packets whose next hop has no known MAC yet wait in
the ARP cache until it answers or gives up.

A packet that never leaves is accounted for: a user's datagram as a
:class:`~aionetmap.stack.events.SendFailed` event (``send_failed``), a reply the host made
itself in ``replies_failed``.
"""

from __future__ import annotations

import errno
from collections import deque
from typing import NamedTuple

from aionetmap.stack.addresses import BROADCAST_MAC, LIMITED_BROADCAST, int_to_str
from aionetmap.stack.arp import build_arp_request
from aionetmap.stack.arp_cache import ArpCache, Enqueued
from aionetmap.stack.config import HostConfig
from aionetmap.stack.drops import StackStats
from aionetmap.stack.events import ArpResolved, Event, SendFailed
from aionetmap.stack.ident import Identification
from aionetmap.stack.igmp import group_mac
from aionetmap.stack.ipv4 import IPV4_HEADER_LEN, build_ipv4_fragments, build_ipv4_packet
from aionetmap.stack.link import Link

__all__ = ["Parked", "Sender", "TxItem"]

TxItem = bytes | tuple[bytes, ...]
"""What :meth:`Host.take_frames` returns per entry: one frame, or the frames of one
fragmented datagram, to be transmitted all together or not at all."""


class Parked(NamedTuple):
    """An IPv4 packet (or the fragments of one datagram) on its way to its next hop."""

    packets: tuple[bytes, ...]
    dst: tuple[str, int] | None
    """Reported in SendFailed; ``None`` for replies the host generated itself."""
    src_port: int

    @property
    def size(self) -> int:
        """Bytes of the packets (what ``HostConfig.arp_queue_bytes`` bounds)."""
        return sum(map(len, self.packets))


class Sender:
    """Frames and queues what one host sends.

    It reads ``link`` and ``config``, counts in ``stats``, appends ``ArpResolved`` and
    ``SendFailed`` to ``events``, parks packets in ``arp`` and numbers them with
    ``idents``: all of them the host's own, shared with its other collaborators.
    """

    def __init__(
        self,
        link: Link,
        config: HostConfig,
        stats: StackStats,
        events: deque[Event],
        arp: ArpCache[Parked],
        idents: Identification,
    ) -> None:
        self._link = link
        self._config = config
        self._stats = stats
        self._events = events
        self._arp = arp
        self._idents = idents
        self._tx: list[TxItem] = []
        self._tx_groups = 0  # entries of _tx that are groups (frames_to_send flattens them)
        self._parked_bytes = 0  # packet bytes waiting for ARP (HostConfig.arp_queue_bytes)

    # === The transmit queue ===

    def take(self) -> list[TxItem]:
        """Empty the queue: what to transmit, oldest first."""
        items, self._tx = self._tx, []
        self._tx_groups = 0
        return items

    @property
    def pending_groups(self) -> int:
        """How many entries the next :meth:`take` returns as groups (tuples)."""
        return self._tx_groups

    def emit(self, frame: bytes) -> None:
        """Queue a complete frame."""
        self._tx.append(frame)
        self._stats.tx_frames += 1

    def emit_group(self, frames: tuple[bytes, ...]) -> None:
        """Queue the complete frames of one fragmented datagram, to leave together."""
        self._tx.append(frames)
        self._tx_groups += 1
        self._stats.tx_frames += len(frames)
        self._stats.tx_fragments += len(frames)

    def emit_ip(self, mac: bytes, packets: tuple[bytes, ...]) -> None:
        """Queue IPv4 packets to ``mac``: one frame, or the fragments as one group."""
        header = mac + self._link.eth_suffix
        if len(packets) == 1:
            self._tx.append(header + packets[0])
            self._stats.tx_frames += 1
            return
        self._tx.append(tuple(header + packet for packet in packets))
        self._tx_groups += 1
        self._stats.tx_frames += len(packets)
        self._stats.tx_fragments += len(packets)

    def arp_request(self, ip: int) -> None:
        """Ask who has ``ip``."""
        link = self._link
        self.emit(build_arp_request(link.mac, link.ip, ip, vlan_tci=link.vlan_tci))
        self._stats.tx_arp_requests += 1

    # === IPv4 packets ===

    def ip_packets(
        self,
        dst_ip: int,
        protocol: int,
        payload: bytes,
        *,
        socket_port: int | None = None,
        dont_fragment: bool = True,
        ttl: int | None = None,
    ) -> tuple[bytes, ...]:
        """``payload`` as one IPv4 packet, or as fragments when it does not fit the MTU.

        ``socket_port``: sent by a connected endpoint on that port. ``dont_fragment``:
        set DF when the packet fits (UDP does, like Linux's default ``IP_PMTUDISC_WANT``;
        the host's ICMP replies do not, like Linux's ICMP socket). ``ttl``: instead of
        ``HostConfig.default_ttl`` (datagrams to a group).
        """
        link = self._link
        fits = IPV4_HEADER_LEN + len(payload) <= link.mtu
        ident = self._idents.select(dst_ip, protocol, socket_port, fits and dont_fragment)
        if ttl is None:
            ttl = self._config.default_ttl
        if fits:
            packet = build_ipv4_packet(
                link.ip, dst_ip, protocol, payload, ttl=ttl, ident=ident,
                dont_fragment=dont_fragment,
            )  # fmt: skip
            return (packet,)
        fragments = build_ipv4_fragments(
            link.ip, dst_ip, protocol, payload, mtu=link.mtu, ttl=ttl, ident=ident
        )
        self._stats.tx_fragmented += 1
        return tuple(fragments)

    def send_ip(self, hop: int, item: Parked, now: float) -> None:
        """Frame ``item.packets`` for ``hop`` now, or park them until ARP answers."""
        if hop == self._link.broadcast or hop == LIMITED_BROADCAST:
            self.emit_ip(BROADCAST_MAC, item.packets)
            return
        if hop >> 28 == 0xE:  # a group: its mapped MAC (RFC 1112 6.4), no ARP
            self.emit_ip(group_mac(hop), item.packets)
            return
        mac = self._arp.lookup(hop, now)
        if mac is not None:
            self.emit_ip(mac, item.packets)
            return
        size = item.size
        if self._parked_bytes + size > self._config.arp_queue_bytes:
            limit = self._config.arp_queue_bytes
            self._fail(item, errno.ENOBUFS, f"{limit} bytes already wait for ARP answers")
            return
        outcome = self._arp.enqueue(hop, item, now)
        if outcome in (Enqueued.REQUEST, Enqueued.WAITING):
            self._parked_bytes += size
        if outcome is Enqueued.REQUEST:
            self.arp_request(hop)
        elif outcome is Enqueued.QUEUE_FULL:
            limit = self._arp.queue_limit
            self._fail(
                item, errno.ENOBUFS, f"{limit} datagrams already wait for ARP of {int_to_str(hop)}"
            )
        elif outcome is Enqueued.TABLE_FULL:
            limit = self._arp.max_pending
            self._fail(item, errno.ENOBUFS, f"{limit} addresses are already being resolved")

    def reply(self, dst_ip: int, protocol: int, payload: bytes, now: float) -> bool:
        """Send a packet the host generated itself (echo reply, ICMP error) to ``dst_ip``;
        False if there is no route to it."""
        try:
            hop = self._link.hop(dst_ip)
        except OSError:
            return False
        packets = self.ip_packets(dst_ip, protocol, payload, dont_fragment=False)
        self.send_ip(hop, Parked(packets, None, 0), now)
        return True

    # === Neighbours ===

    def learn(self, ip: int, mac: bytes, now: float) -> None:
        """Record a neighbour and send whatever was waiting for it."""
        was_pending = self._arp.is_pending(ip)
        for item in self._arp.learn(ip, mac, now):
            self._parked_bytes -= item.size
            self.emit_ip(mac, item.packets)
        if was_pending:
            self._events.append(ArpResolved(int_to_str(ip), mac))

    def handle_timer(self, now: float) -> None:
        """ARP's due work: requests to repeat, and the packets of neighbours that never
        answered, which fail with ``EHOSTUNREACH``."""
        requests, failed = self._arp.handle_timer(now)
        for ip in requests:
            self.arp_request(ip)
        for ip, parked in failed:
            self._stats.arp_failures += 1
            for item in parked:
                self._parked_bytes -= item.size
                self._fail(
                    item,
                    errno.EHOSTUNREACH,
                    f"no ARP reply from {int_to_str(ip)} after {self._arp.retries} requests",
                )

    def _fail(self, item: Parked, code: int, why: str) -> None:
        if item.dst is None:
            self._stats.replies_failed += 1
            return
        self._stats.send_failed += 1
        error = OSError(code, f"datagram to {item.dst[0]}:{item.dst[1]} dropped: {why}")
        self._events.append(SendFailed(item.dst, item.src_port, error))
