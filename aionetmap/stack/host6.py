"""``Host6``: the IPv6 side of a :class:`~aionetmap.stack.host.Host` (a collaborator it
builds when given ``ipv6=[...]``).

It owns the IPv6 state: the :class:`.AddressBook` (addresses with their DAD state,
routes), the :class:`.NeighborCache`, MLD (:class:`.MldState`), reassembly, and the
groups the host listens to (all-nodes, each address's solicited-node group, joined
groups), whose MAC addresses it asks the host to listen on. It receives through
:class:`.Receiver6` and sends through :class:`.Sender6`; what is NDP and MLD it handles
itself (:meth:`on_ndp`).

Lifecycle (RFC 4862 5.4, RFC 3810, RFC 4861 7.2.6): :meth:`start` joins the groups
(MLDv2 reports), and sends a DAD solicitation for each address; an address with no
answer after ``dad_transmits`` x ``ndp_retrans_timer`` becomes preferred (an
``AddressReady`` event) and is announced with an unsolicited NA. An NA for a tentative
address, or a DAD NS for it from another node, makes it duplicate: a
``DuplicateAddress`` event, and the address is never used.
"""

from __future__ import annotations

import errno
from collections import deque
from collections.abc import Callable
from ipaddress import IPv6Address, IPv6Interface, IPv6Network

from aionetmap.stack.addr6 import DUPLICATE, PREFERRED, TENTATIVE, AddressBook, OwnAddress
from aionetmap.stack.addresses import BytesLike
from aionetmap.stack.config import HostConfig
from aionetmap.stack.drops import DropReason, StackStats
from aionetmap.stack.errors import DatagramTooLarge, ParseError
from aionetmap.stack.events import AddressReady, DuplicateAddress, Event
from aionetmap.stack.fragments6 import Reassembler6
from aionetmap.stack.icmpv6 import Icmp6Type, build_icmpv6, echo_body
from aionetmap.stack.ipv6 import (
    ALL_NODES,
    IPV6_HEADER_LEN,
    Ipv6Packet,
    NextHeader,
    is_link_local,
    is_multicast6,
    multicast_mac6,
    solicited_node,
)
from aionetmap.stack.mld import MldState, parse_query
from aionetmap.stack.ndp import NA_OVERRIDE, NA_SOLICITED, parse_na, parse_ns, parse_ra
from aionetmap.stack.ndp_cache import NeighborCache
from aionetmap.stack.receive6 import Receiver6
from aionetmap.stack.send6 import Parked6, Sender6
from aionetmap.stack.udp6 import build_udp6_segment

__all__ = ["MAX_UDP6_PAYLOAD", "Host6"]

R = DropReason
_UNSPECIFIED = bytes(16)
_LOOPBACK = bytes(15) + b"\x01"


def _group(text: str) -> bytes:
    group = IPv6Address(text).packed
    if not is_multicast6(group) or group[1] & 0xF < 2:
        raise ValueError(f"{text} is not a link-scope or wider IPv6 multicast group")
    return group


MAX_UDP6_PAYLOAD = 0xFFFF - 8
"""65527: the largest UDP payload over IPv6 without jumbograms (Linux's limit too)."""


class Host6:
    """The IPv6 addresses, neighbours, groups and timers of one host."""

    def __init__(
        self,
        mac: bytes,
        book: AddressBook,
        config: HostConfig,
        stats: StackStats,
        events: deque[Event],
        sender: Sender6,
        cache: NeighborCache[Parked6],
        reassembler: Reassembler6,
        listen_mac: Callable[[bytes], None],
        unlisten_mac: Callable[[bytes], None],
    ) -> None:
        self._mac = mac
        self.book = book
        self._config = config
        self._stats = stats
        self._events = events
        self.sender = sender
        self.cache = cache
        self.reassembler = reassembler
        self._listen_mac = listen_mac
        self._unlisten_mac = unlisten_mac
        self.groups: dict[bytes, int] = {}
        """Groups listened to (counted), all-nodes and solicited-node ones included."""
        self.mld = MldState(
            robustness=config.mld_robustness,
            unsolicited_interval=config.mld_unsolicited_interval,
            seed=int.from_bytes(mac, "big"),
        )
        self.receiver: Receiver6 | None = None  # set by Host (it needs the context)
        self.started = False
        self.addresses_version = 0
        """Changes whenever an address's DAD state does: the C fast path's copy of
        :meth:`preferred_addresses` is checked against it before each batch."""

    # === Lifecycle ===

    def start(self, now: float) -> None:
        """Join all-nodes and the solicited-node groups, start DAD (RFC 4862 5.4)."""
        if self.started:
            return
        self.started = True
        self.join(ALL_NODES, now)
        for own in self.book.all():
            self.join(solicited_node(own.ip), now)
        transmits = self._config.dad_transmits
        for own in self.book.all():
            if transmits:
                own.dad_left = transmits - 1
                own.dad_deadline = now + self._config.ndp_retrans_timer
                self.sender.dad_solicit(own.ip)
            else:
                self._ready(own)

    def preferred_addresses(self) -> list[bytes]:
        """Our preferred addresses (the only ones that receive), in the book's order."""
        return [own.ip for own in self.book.all() if own.state == PREFERRED]

    def _ready(self, own: OwnAddress) -> None:
        own.state, own.dad_deadline = PREFERRED, None
        self.addresses_version += 1
        self._events.append(AddressReady(str(own.interface.ip)))
        if self._config.unsolicited_na:
            self.sender.announce(own.ip)

    def _duplicate(self, own: OwnAddress, mac: bytes | None) -> None:
        own.state, own.dad_deadline = DUPLICATE, None
        self.addresses_version += 1
        self._stats.dad_conflicts += 1
        self._events.append(DuplicateAddress(str(own.interface.ip), mac))

    # === Groups ===

    def join_group(self, group: str, now: float) -> None:
        """Join an IPv6 multicast group for datagrams (``IPV6_JOIN_GROUP``): its
        datagrams reach ports bound with ``wildcard``; counted, undo with
        :meth:`leave_group`. ``ValueError`` for a non-multicast address."""
        self.join(_group(group), now)

    def leave_group(self, group: str, now: float) -> None:
        """Undo one :meth:`join_group` (the last one sends an MLD leave)."""
        self.leave(_group(group), now)

    def join(self, group: bytes, now: float) -> None:
        """Listen to ``group`` (counted): its MAC on the host, and an MLD report."""
        count = self.groups.get(group, 0)
        self.groups[group] = count + 1
        if not count:
            self._listen_mac(multicast_mac6(group))
        records = self.mld.join(group, now)
        if records and self.started:
            self.sender.mld_report(records)

    def leave(self, group: bytes, now: float) -> None:
        """Undo one :meth:`join`."""
        count = self.groups.get(group, 0)
        if not count:
            return
        if count > 1:
            self.groups[group] = count - 1
        else:
            del self.groups[group]
            self._unlisten_mac(multicast_mac6(group))
        records = self.mld.leave(group, now)
        if records and self.started:
            self.sender.mld_report(records)

    # === Timers ===

    def next_deadline(self) -> float | None:
        times = [
            self.cache.next_deadline(),
            self.mld.next_deadline(),
            self.reassembler.next_deadline(),
            *(own.dad_deadline for own in self.book.all()),
        ]
        return min((t for t in times if t is not None), default=None)

    def handle_timer(self, now: float) -> None:
        for own in self.book.all():
            if own.state == TENTATIVE and own.dad_deadline is not None and own.dad_deadline <= now:
                if own.dad_left:
                    own.dad_left -= 1
                    own.dad_deadline = now + self._config.ndp_retrans_timer
                    self.sender.dad_solicit(own.ip)
                else:
                    self._ready(own)
        self.sender.handle_timer(now)
        records = self.mld.handle_timer(now)
        if records:
            self.sender.mld_report(records)
        self.reassembler.expire(now)

    # === NDP and MLD received ===

    def on_ndp(
        self, packet: Ipv6Packet, icmp_type: int, body: bytes, l2_src: bytes | None, now: float
    ) -> None:
        """An NDP or MLD message (``body`` is the code byte then the message body)."""
        code, rest = body[0], body[1:]
        if icmp_type in (130, 131, 132, 143):
            self._on_mld(packet, icmp_type, rest, now)
            return
        if packet.hop_limit != 255 or code != 0:
            self._stats.drop(R.NDP_INVALID)
            return
        if l2_src == self._mac:
            self._stats.drop(R.NDP_LOOPED_BACK)
            return
        try:
            if icmp_type == Icmp6Type.NEIGHBOR_SOLICIT:
                self._on_ns(packet, rest, now)
            elif icmp_type == Icmp6Type.NEIGHBOR_ADVERT:
                self._on_na(packet, rest, l2_src, now)
            elif icmp_type == Icmp6Type.ROUTER_ADVERT and self._config.accept_ra:
                self._on_ra(packet, rest, now)
            elif icmp_type in (Icmp6Type.ROUTER_ADVERT, Icmp6Type.ROUTER_SOLICIT):
                self._stats.drop(R.RA_IGNORED)
            else:
                self._stats.drop(R.ICMP6_UNSUPPORTED_TYPE)  # redirects
        except ParseError as exc:
            self._stats.drop(exc.reason)

    def _on_ns(self, packet: Ipv6Packet, body: bytes, now: float) -> None:
        ns = parse_ns(body, packet.src, packet.dst)
        own = self.book.get(ns.target)
        if own is None or own.state == DUPLICATE:
            self._stats.drop(R.NDP_NOT_FOR_US)
            return
        dad = packet.src == _UNSPECIFIED
        if own.state == TENTATIVE:
            if dad:  # another node is doing DAD for the same address
                self._stats.drop(R.NDP_DUPLICATE)
                self._duplicate(own, None)
            else:
                self._stats.drop(R.NDP_TENTATIVE)
            return
        if dad:
            self.sender.advertise(own.ip, ALL_NODES, multicast_mac6(ALL_NODES), NA_OVERRIDE)
            return
        if ns.source_mac is not None:
            self.sender.learn(
                packet.src, ns.source_mac, now, solicited=False, override=True, create=True
            )
            mac = ns.source_mac
        else:
            found = self.cache.lookup(packet.src, now)
            if found is None:
                self._stats.drop(R.NDP_INVALID)  # nowhere to answer (RFC 4861 7.2.4)
                return
            mac = found
        self.sender.advertise(own.ip, packet.src, mac, NA_SOLICITED | NA_OVERRIDE)

    def _on_na(self, packet: Ipv6Packet, body: bytes, l2_src: bytes | None, now: float) -> None:
        na = parse_na(body, packet.dst)
        own = self.book.get(na.target)
        if own is not None:
            self._stats.drop(R.NDP_DUPLICATE)
            if own.state == TENTATIVE:
                self._duplicate(own, na.target_mac or l2_src)
            return
        if na.target_mac is None:
            self._stats.drop(R.NDP_INVALID)  # no TLLA: nothing to learn on Ethernet
            return
        learned = self.sender.learn(
            na.target,
            na.target_mac,
            now,
            solicited=na.solicited,
            override=na.override,
            create=False,
        )
        if not learned:
            self._stats.drop(R.NDP_UNSOLICITED)

    def _on_ra(self, packet: Ipv6Packet, body: bytes, now: float) -> None:
        if not is_link_local(packet.src):
            self._stats.drop(R.NDP_INVALID)
            return
        ra = parse_ra(body)
        if ra.source_mac is not None:
            self.sender.learn(
                packet.src, ra.source_mac, now, solicited=False, override=True, create=True
            )
        self.book.learn_router(packet.src, ra.lifetime, now)
        for info in ra.prefixes:
            if info.on_link and not is_link_local(info.prefix):
                network = IPv6Network((info.prefix, info.length), strict=False)
                self.book.learn_prefix(network, info.valid_lifetime, now)

    def _on_mld(self, packet: Ipv6Packet, icmp_type: int, body: bytes, now: float) -> None:
        if packet.hop_limit != 1 or not is_link_local(packet.src):
            self._stats.drop(R.MLD_INVALID)
            return
        if icmp_type != Icmp6Type.MLD_QUERY:
            self._stats.drop(R.MLD_IGNORED)  # other listeners' reports and dones
            return
        try:
            delay, group = parse_query(body)
        except ParseError as exc:
            self._stats.drop(exc.reason)
            return
        if group != _UNSPECIFIED and not self.mld.is_joined(group):
            self._stats.drop(R.MLD_IGNORED)
            return
        self.mld.on_query(delay, group, now)

    # === Sending (Host.send_datagram and send_echo_request on an IPv6 destination) ===

    def send_udp(
        self, payload: BytesLike, dst: bytes, port: int, src_port: int, now: float
    ) -> None:
        """A UDP datagram to ``[dst]:port``; raises as ``Host.send_datagram`` does."""
        size = payload.nbytes if isinstance(payload, memoryview) else len(payload)
        if size > MAX_UDP6_PAYLOAD:
            raise DatagramTooLarge(
                "UDP payload", size, MAX_UDP6_PAYLOAD, self.sender.mtu, ipv6=True
            )
        src = self._source(dst)
        segment = build_udp6_segment(src, dst, src_port, port, bytes(payload))
        packets = self.sender.packets(src, dst, NextHeader.UDP, segment)
        self._stats.tx_udp += 1
        self.sender.send(Parked6(packets, (str(IPv6Address(dst)), port), src_port), dst, now)

    def send_echo(self, dst: bytes, ident: int, seq: int, payload: bytes, now: float) -> None:
        """An ICMPv6 echo request; replies come as ``EchoReplyReceived``."""
        if len(payload) > MAX_UDP6_PAYLOAD:
            raise DatagramTooLarge(
                "ICMPv6 echo payload", len(payload), MAX_UDP6_PAYLOAD, self.sender.mtu, ipv6=True
            )
        src = self._source(dst)
        message = build_icmpv6(src, dst, Icmp6Type.ECHO_REQUEST, 0, echo_body(ident, seq, payload))
        packets = self.sender.packets(src, dst, NextHeader.ICMPV6, message)
        self._stats.tx_echo_requests += 1
        self.sender.send(Parked6(packets, (str(IPv6Address(dst)), 0), 0), dst, now)

    @property
    def max_unfragmented(self) -> int:
        """The largest UDP payload that leaves in one frame: ``mtu - 40 - 8``."""
        return self.sender.mtu - IPV6_HEADER_LEN - 8

    def udp_route(self, dst: bytes, now: float) -> tuple[bytes, bytes] | None:
        """``(source address, next-hop MAC)`` that :meth:`send_udp` frames a datagram to
        ``dst`` with at ``now``, for a sender that builds the frame itself (the native
        fast path); ``None`` when send_udp would refuse it or park it for NDP. Looks the
        neighbour up as send_udp does (a STALE entry starts DELAY, RFC 4861 7.3.3)."""
        try:
            src = self._source(dst)
            if is_multicast6(dst):
                return src, multicast_mac6(dst)
            mac = self.cache.lookup(self.book.next_hop(dst, now), now)
        except (OSError, ValueError):
            return None
        return None if mac is None else (src, mac)

    def _source(self, dst: bytes) -> bytes:
        if dst in self.book.own_addresses():
            raise ValueError(f"cannot send to {IPv6Address(dst)}: it is this host's own address")
        if dst in (_UNSPECIFIED, _LOOPBACK):
            raise ValueError(f"cannot send to {IPv6Address(dst)}")
        if is_multicast6(dst) and dst[1] & 0xF < 2:
            raise ValueError(f"cannot send to {IPv6Address(dst)}: interface-local scope")
        return self.book.source_for(dst)

    # === Checks for the host's API ===

    def check_source(self, ip: bytes) -> None:
        """``OSError(EADDRNOTAVAIL)`` unless ``ip`` is one of our preferred addresses."""
        own = self.book.get(ip)
        if own is None or own.state != PREFERRED:
            state = "not ours" if own is None else own.state
            raise OSError(errno.EADDRNOTAVAIL, f"{IPv6Address(ip)} is {state}")

    def state_of(self, ip: bytes) -> str | None:
        own = self.book.get(ip)
        return None if own is None else own.state

    def interfaces(self) -> list[IPv6Interface]:
        return [own.interface for own in self.book.all()]

    def set_rx_csum(self, csum: int) -> None:
        """The port's ``RxChecksum`` flag for the frame about to be received."""
        if self.receiver is not None:
            self.receiver.rx_csum = csum

    def receive(self, buf: BytesLike, offset: int, now: float) -> None:
        assert self.receiver is not None
        self.receiver.receive(buf, offset, now)
