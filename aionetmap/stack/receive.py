"""The receive half of :class:`~aionetmap.stack.host.Host`: ``Receiver`` does what each
verdict of :func:`~aionetmap.stack.classify.classify` asks (deliver a datagram, count a
drop, handle ARP, ICMP, a fragment or a closed port).

Every received frame ends in exactly one place: a delivered datagram, a handled ARP or
ICMP message, a held fragment, or one counted drop reason (drops found after reassembly
count the datagram once).

ARP is answered and learned only from plausible senders, as Linux does: never from 0/8,
127/8, multicast, 255.255.255.255, the subnet broadcast or our own address. A packet that
claims our address from another MAC, or an RFC 5227 probe for it, is reported as an
``AddressConflict`` event (counted in ``arp_conflicts``); the claim is dropped, the probe
answered (the answer is what tells the prober the address is in use).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from ipaddress import IPv4Address

from aionetmap.stack.addresses import BytesLike, int_to_str
from aionetmap.stack.arp import ArpOperation, ArpPacket, build_arp_reply
from aionetmap.stack.arp_cache import ArpCache
from aionetmap.stack.classify import (
    ClassifyContext,
    Deliver,
    Deliver6,
    DeliverGroup,
    Drop,
    Slow,
    SlowKind,
    UdpChecksum,
    Verdict,
    classify_ipv4,
)
from aionetmap.stack.config import HostConfig
from aionetmap.stack.drops import DropReason, StackStats
from aionetmap.stack.errors import ParseError
from aionetmap.stack.events import (
    AddressConflict,
    DatagramReceived,
    EchoReplyReceived,
    Event,
    IcmpErrorReceived,
)
from aionetmap.stack.fragments import Reassembler
from aionetmap.stack.icmp import (
    MAX_ERROR_QUOTE,
    IcmpMessage,
    IcmpType,
    error_kind,
    port_unreachable_message,
)
from aionetmap.stack.igmp import ALL_HOSTS, IgmpQuery, is_multicast, parse_igmp
from aionetmap.stack.ipv4 import IpProtocol, IPv4Header
from aionetmap.stack.link import Link
from aionetmap.stack.multicast import Memberships
from aionetmap.stack.ratelimit import TokenBucket
from aionetmap.stack.transmit import Parked, Sender

__all__ = ["Receiver"]


class Receiver:
    """What one host does with each verdict; :meth:`dispatch` is its one entry point.

    Everything it works with is the host's and handed in: it reads ``link``, ``config``
    and ``ctx`` (to classify a reassembled datagram), counts in ``stats``, appends events
    to ``events``, asks ``arp`` whether it knows a sender, holds fragments in
    ``reassembler``, takes ICMP error tokens from ``icmp_bucket``, and answers (ARP
    replies, echo replies, ICMP errors) and learns neighbours through ``sender``, and asks
    ``memberships`` about groups (and hands it IGMP messages).
    """

    def __init__(
        self,
        link: Link,
        config: HostConfig,
        ctx: ClassifyContext,
        stats: StackStats,
        events: deque[Event],
        arp: ArpCache[Parked],
        reassembler: Reassembler,
        icmp_bucket: TokenBucket,
        sender: Sender,
        memberships: Memberships,
        ipv6: Callable[[BytesLike, int, float], None] | None = None,
    ) -> None:
        self._link = link
        self._config = config
        self._ctx = ctx
        self._stats = stats
        self._events = events
        self._arp = arp
        self._reassembler = reassembler
        self._icmp_bucket = icmp_bucket
        self._sender = sender
        self._memberships = memberships
        self._ipv6 = ipv6
        """The host's IPv6 side (``Host6.receive``), ``None`` when IPv6 is off."""

    def dispatch(self, buf: BytesLike, verdict: Verdict, now: float) -> None:
        """Act on ``verdict`` for the frame (or reassembled datagram) in ``buf``."""
        if isinstance(verdict, Deliver):
            self._deliver(buf, verdict)
        elif isinstance(verdict, Drop):
            self._stats.drop(verdict.reason)
        elif isinstance(verdict, DeliverGroup):
            self._on_multicast_udp(buf, verdict)
        elif isinstance(verdict, Deliver6):  # only with ctx.ipv6_addresses, which ours lacks
            self._on_ipv6(buf, verdict.l3_offset, now)
        elif verdict.kind is SlowKind.ARP:
            self._on_arp(buf, verdict.l3_offset, now)
        elif verdict.kind is SlowKind.ICMP:
            self._on_icmp(buf, verdict.l3_offset, now)
        elif verdict.kind is SlowKind.FRAGMENT:
            self._on_fragment(buf, verdict.l3_offset, now)
        elif verdict.kind is SlowKind.IGMP:
            self._on_igmp(buf, verdict.l3_offset, now)
        elif verdict.kind is SlowKind.IPV6:
            self._on_ipv6(buf, verdict.l3_offset, now)
        else:
            self._on_closed_port(buf, verdict.l3_offset, now)

    def _deliver(self, buf: BytesLike, verdict: Deliver) -> None:
        start = verdict.payload_offset
        payload = bytes(buf[start : start + verdict.payload_length])
        src = (int_to_str(verdict.src_ip), verdict.src_port)
        self._events.append(DatagramReceived(src, verdict.dst_port, payload))
        stats = self._stats
        stats.rx_udp_delivered += 1
        if verdict.checksum == UdpChecksum.OFFLOADED:
            stats.rx_udp_csum_offloaded += 1
        elif verdict.checksum == UdpChecksum.PSEUDO:
            stats.rx_udp_csum_partial += 1

    def _on_arp(self, buf: BytesLike, offset: int, now: float) -> None:
        try:
            arp = ArpPacket.from_bytes(buf[offset:])
        except ParseError as exc:
            self._stats.drop(exc.reason)
            return
        self._stats.rx_arp += 1
        sender, target = int(arp.sender_ip), int(arp.target_ip)
        if sender == 0:
            self._on_arp_probe(arp, target, now)
            return
        # Martian senders are neither answered nor learned (the parser has already
        # refused multicast and 255.255.255.255); nor is someone else using our address.
        reason = self._arp_sender_problem(sender, arp.sender_mac)
        if reason is not None:
            self._stats.drop(reason)
            return
        for_us = target == self._link.ip
        if for_us and arp.operation is ArpOperation.REQUEST:
            # Learn the asker (it is about to talk to us) unless it is off our subnet;
            # answer in any case.
            if self._link.on_subnet(sender):
                self._sender.learn(sender, arp.sender_mac, now)
            self._send_arp_reply(arp.sender_mac, sender)
            return
        if self._arp.knows(sender, now):
            # Replies to our requests, and announcements by neighbours we already use.
            self._sender.learn(sender, arp.sender_mac, now)
            return
        self._stats.drop(DropReason.ARP_UNSOLICITED if for_us else DropReason.ARP_NOT_FOR_US)

    def _on_arp_probe(self, arp: ArpPacket, target: int, now: float) -> None:
        """Sender IP 0.0.0.0: an RFC 5227 probe. One for our address is answered, as Linux
        does (the answer is what tells the prober the address is taken), and reported."""
        if arp.sender_mac == self._link.mac:
            self._stats.drop(DropReason.ARP_LOOPED_BACK)
        elif target != self._link.ip or arp.operation is not ArpOperation.REQUEST:
            self._stats.drop(DropReason.ARP_SENDER_UNSPECIFIED)
        else:
            self._address_conflict(arp.sender_mac, probe=True)
            self._send_arp_reply(arp.sender_mac, 0)

    def _arp_sender_problem(self, sender: int, mac: bytes) -> DropReason | None:
        """Why an ARP packet from ``sender`` (not 0.0.0.0) must be ignored, if it must."""
        first = sender >> 24
        if first == 0:
            return DropReason.ARP_SENDER_UNSPECIFIED
        if first == 127:
            return DropReason.ARP_SENDER_LOOPBACK
        if sender == self._link.broadcast:
            return DropReason.ARP_SENDER_BROADCAST
        if sender == self._link.ip:
            if mac == self._link.mac:
                return DropReason.ARP_LOOPED_BACK
            self._address_conflict(mac, probe=False)
            return DropReason.ARP_ADDRESS_CONFLICT
        return None

    def _address_conflict(self, mac: bytes, *, probe: bool) -> None:
        self._stats.arp_conflicts += 1
        self._events.append(AddressConflict(int_to_str(self._link.ip), mac, probe))

    def _send_arp_reply(self, mac: bytes, ip: int) -> None:
        link = self._link
        self._sender.emit(build_arp_reply(link.mac, link.ip, mac, ip, vlan_tci=link.vlan_tci))
        self._stats.tx_arp_replies += 1

    def _ip_parts(self, buf: BytesLike, offset: int) -> tuple[IPv4Header, memoryview] | None:
        """Header and payload of a packet classify already validated (``None``, counted,
        should that ever disagree)."""
        try:
            header = IPv4Header.from_bytes(buf[offset:])
        except ParseError as exc:
            self._stats.drop(exc.reason)
            return None
        start = offset + header.header_length
        return header, memoryview(buf)[start : offset + header.total_length]

    def _on_icmp(self, buf: BytesLike, offset: int, now: float) -> None:
        parts = self._ip_parts(buf, offset)
        if parts is None:
            return
        header, payload = parts
        try:
            message = IcmpMessage.from_bytes(payload)
        except ParseError as exc:
            self._stats.drop(exc.reason)
            return
        self._stats.rx_icmp += 1
        if int(header.dst) != self._link.ip:
            self._stats.drop(DropReason.ICMP_BROADCAST)
        elif message.type == IcmpType.ECHO_REQUEST:
            self._answer_echo(header, message, now)
        elif message.type == IcmpType.ECHO_REPLY:
            reply = EchoReplyReceived(str(header.src), message.ident, message.seq, message.payload)
            self._events.append(reply)
        else:
            self._on_icmp_error(header, message)

    def _answer_echo(self, header: IPv4Header, request: IcmpMessage, now: float) -> None:
        if not self._config.answer_echo:
            self._stats.drop(DropReason.ICMP_ECHO_IGNORED)
            return
        reply = IcmpMessage(IcmpType.ECHO_REPLY, 0, request.ident, request.seq, request.payload)
        # Our reply carries no IPv4 options, whatever the request carried, so it is never
        # longer than the request: it fits IPv4 and is fragmented when over the MTU (the
        # request of `ping -s 3000` arrives reassembled).
        if self._sender.reply(int(header.src), IpProtocol.ICMP, bytes(reply), now):
            self._stats.tx_echo_replies += 1
        else:
            self._stats.drop(DropReason.REPLY_UNROUTABLE)

    def _on_icmp_error(self, header: IPv4Header, message: IcmpMessage) -> None:
        kind = error_kind(message.type, message.code)
        if kind is None:
            self._stats.drop(DropReason.ICMP_UNSUPPORTED_TYPE)
            return
        quote = message.payload
        # The quoted header is as we sent it (ours has no options, but accept any IHL);
        # its total length and checksum may have been changed on the way, so only the
        # fields we need are checked: it must be UDP from this host with the ports present.
        ihl = (quote[0] & 0xF) * 4 if quote else 0
        if (
            len(quote) < 20
            or quote[0] >> 4 != 4
            or ihl < 20
            or len(quote) < ihl + 8
            or quote[9] != IpProtocol.UDP
            or int.from_bytes(quote[12:16], "big") != self._link.ip
        ):
            self._stats.drop(DropReason.ICMP_BAD_QUOTE)
            return
        dst = (str(IPv4Address(quote[16:20])), int.from_bytes(quote[ihl + 2 : ihl + 4], "big"))
        src_port = int.from_bytes(quote[ihl : ihl + 2], "big")
        name, code = kind
        error = OSError(
            code,
            f"{name.replace('_', ' ')} from {header.src} for the datagram to {dst[0]}:{dst[1]}",
        )
        self._events.append(IcmpErrorReceived(str(header.src), name, dst, src_port, error))

    def _on_fragment(self, buf: BytesLike, offset: int, now: float) -> None:
        if not self._config.reassembly:
            self._stats.drop(DropReason.IP_FRAGMENT)
            return
        parts = self._ip_parts(buf, offset)
        if parts is None:
            return
        header, payload = parts
        self._stats.rx_fragments += 1
        datagram = self._reassembler.add(header, bytes(payload), now)
        if datagram is None:
            return
        self._stats.rx_reassembled += 1
        verdict = classify_ipv4(datagram, 0, self._ctx)
        if isinstance(verdict, Slow) and verdict.kind is SlowKind.FRAGMENT:
            self._stats.drop(DropReason.IP_FRAGMENT_BAD)  # cannot happen: MF and offset cleared
        else:
            self.dispatch(datagram, verdict, now)

    def _on_ipv6(self, buf: BytesLike, offset: int, now: float) -> None:
        if self._ipv6 is None:
            # A host without IPv6 is like a Linux interface with IPv6 disabled.
            self._stats.drop(DropReason.ETH_UNSUPPORTED_TYPE)
        else:
            self._ipv6(buf, offset, now)

    def _on_closed_port(self, buf: BytesLike, offset: int, now: float) -> None:
        self._stats.drop(DropReason.UDP_NO_LISTENER)
        if not self._icmp_bucket.take(now):
            self._stats.icmp_rate_limited += 1
            return
        total = buf[offset + 2] << 8 | buf[offset + 3]
        src = int.from_bytes(buf[offset + 12 : offset + 16], "big")
        quote = bytes(buf[offset : offset + min(total, MAX_ERROR_QUOTE)])
        message = port_unreachable_message(quote)
        if self._sender.reply(src, IpProtocol.ICMP, bytes(message), now):
            self._stats.tx_port_unreachable += 1
        else:
            self._stats.replies_failed += 1

    # === IPv4 multicast and IGMP ===

    def group_verdict(self, group: int, port: int) -> DropReason | None:
        """Why a valid UDP datagram to ``group``:``port`` is not delivered (the reason is
        counted), or None if it is (``rx_udp_delivered`` and ``rx_multicast`` counted): the
        memberships' rule, Linux's ``ip_mc_sf_allow``. The C fast path asks it too."""
        reason = self._memberships.accepts(group, port, self._ctx.wildcard_ports)
        if reason is not None:
            self._stats.drop(reason)  # never answered: no ICMP errors about multicast
            return reason
        self._stats.rx_udp_delivered += 1
        self._stats.rx_multicast += 1
        return None

    def _on_multicast_udp(self, buf: BytesLike, verdict: DeliverGroup) -> None:
        """A UDP datagram to a group; classify checked every length and the checksum."""
        if self.group_verdict(verdict.group, verdict.dst_port) is not None:
            return
        start = verdict.payload_offset
        src = (int_to_str(verdict.src_ip), verdict.src_port)
        payload = bytes(buf[start : start + verdict.payload_length])
        self._events.append(DatagramReceived(src, verdict.dst_port, payload))

    def _on_igmp(self, buf: BytesLike, offset: int, now: float) -> None:
        """An IGMP message to a group, to us, or to a broadcast address (classify checked
        the IPv4 header; a 0.0.0.0 source is allowed here)."""
        dst = int.from_bytes(buf[offset + 16 : offset + 20], "big")
        if is_multicast(dst):
            if dst != ALL_HOSTS and not self._memberships.is_member(dst):
                self._stats.drop(DropReason.MCAST_NOT_JOINED)
                return
        elif dst != self._link.ip:
            self._stats.drop(DropReason.IGMP_NOT_MULTICAST)
            return
        hlen = (buf[offset] & 0xF) * 4
        total = buf[offset + 2] << 8 | buf[offset + 3]
        try:
            message = parse_igmp(memoryview(buf)[offset + hlen : offset + total])
        except ParseError as exc:
            self._stats.drop(exc.reason)
            return
        self._stats.rx_igmp += 1
        if isinstance(message, IgmpQuery):
            self._memberships.on_query(message, now)
        else:
            self._memberships.on_report(message, now)
