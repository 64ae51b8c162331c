"""The IPv6 receive half of a host: ``Receiver6`` checks each IPv6 packet and does what
it asks (deliver UDP, answer echo and NDP, learn neighbours and routers, schedule MLD
answers, reassemble fragments, report ICMPv6 errors).

Order of checks (each failure one counted drop)::

    1. the fixed header and the extension headers (:func:`.ipv6.parse_ipv6`); a
       parameter problem is answered (rate-limited) when RFC 8200 4 says so
    2. source multicast or ::1 -> IP6_BAD_SOURCE; one of our preferred addresses ->
       IP6_BAD_SOURCE (a looped-back packet)
    3. destination: a preferred address of ours, or a group we listen to (all-nodes,
       a solicited-node group of any of our addresses, a joined group), else
       IP6_NOT_FOR_US; a unicast destination in a link-layer group frame ->
       IP6_L2_MULTICAST
    4. a fragment -> reassembly (:class:`.Reassembler6`); the whole packet starts again
    5. UDP (:meth:`_on_udp`) or ICMPv6 (:meth:`_on_icmp`)

Datagrams and ICMPv6 to a tentative address are not for us (RFC 4862 5.4), only NDP to
its solicited-node group is looked at (that is how DAD hears of a duplicate).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from ipaddress import IPv6Address

from aionetmap.stack.addr6 import AddressBook
from aionetmap.stack.addresses import BytesLike
from aionetmap.stack.checksum import inet_checksum, inet_sum
from aionetmap.stack.classify import ClassifyContext, RxChecksum, UdpChecksum
from aionetmap.stack.config import HostConfig
from aionetmap.stack.drops import DropReason, StackStats
from aionetmap.stack.errors import ParseError
from aionetmap.stack.events import (
    Datagram6Received,
    EchoReplyReceived,
    Event,
    IcmpErrorReceived,
)
from aionetmap.stack.fragments6 import Reassembler6
from aionetmap.stack.icmpv6 import (
    Icmp6Type,
    build_icmpv6,
    echo_body,
    error6_body,
    error6_kind,
    is_error6,
    parse_echo,
    parse_icmpv6,
)
from aionetmap.stack.ipv6 import (
    Ipv6Packet,
    NextHeader,
    ParameterProblem,
    is_link_local,
    is_multicast6,
    parse_ipv6,
    pseudo_header_sum6,
)
from aionetmap.stack.ratelimit import TokenBucket
from aionetmap.stack.send6 import Sender6

__all__ = ["Receiver6"]

R = DropReason
_NDP_TYPES = frozenset(range(133, 138))
_TRUSTED = (RxChecksum.PARTIAL, RxChecksum.VALID)


class Receiver6:
    """What one host does with each IPv6 packet; :meth:`receive` is the entry point.

    ``groups`` is the live set of IPv6 groups the host listens to; ``on_ndp`` handles
    NS/NA/RS/RA/MLD (the host's :class:`~aionetmap.stack.host6.Host6`, which owns DAD,
    the neighbour cache's updates and MLD)."""

    def __init__(
        self,
        config: HostConfig,
        ctx: ClassifyContext,
        stats: StackStats,
        events: deque[Event],
        book: AddressBook,
        groups: AbstractSet[bytes],
        reassembler: Reassembler6,
        icmp_bucket: TokenBucket,
        sender: Sender6,
        on_ndp: Callable[[Ipv6Packet, int, bytes, bytes | None, float], None],
    ) -> None:
        self._config = config
        self._ctx = ctx
        self._stats = stats
        self._events = events
        self._book = book
        self._groups = groups
        self._reassembler = reassembler
        self._bucket = icmp_bucket
        self._sender = sender
        self._on_ndp = on_ndp
        self.rx_csum: int = RxChecksum.UNKNOWN
        """The port's checksum flag for the frame being received (set by ``Host``)."""

    def receive(self, buf: BytesLike, offset: int, now: float) -> None:
        """One IPv6 packet at ``buf[offset:]`` (behind an Ethernet header when
        ``offset`` > 0, whose source MAC is then looked at for looped-back NDP)."""
        try:
            packet = parse_ipv6(buf, offset)
        except ParameterProblem as problem:
            self._stats.drop(problem.reason)
            if problem.answer:
                self._param_problem(buf, offset, problem, now)
            return
        except ParseError as exc:
            self._stats.drop(exc.reason)
            return
        src, dst = packet.src, packet.dst
        if is_multicast6(src) or src == _LOOPBACK or self._book.is_preferred(src):
            self._stats.drop(R.IP6_BAD_SOURCE)
            return
        multicast = is_multicast6(dst)
        if multicast:
            if dst not in self._groups:
                self._stats.drop(R.IP6_NOT_FOR_US)
                return
        elif not self._book.is_preferred(dst):
            self._stats.drop(R.IP6_NOT_FOR_US)
            return
        elif offset and buf[0] & 1:
            self._stats.drop(R.IP6_L2_MULTICAST)
            return
        l2_src = bytes(buf[6:12]) if offset else None
        if packet.fragment is not None:
            self._on_fragment(buf, packet, now)
        elif packet.next_header == NextHeader.UDP:
            self._on_udp(buf, packet, offset, now)
        else:
            self._on_icmp(buf, packet, offset, l2_src, now)

    def _on_fragment(self, buf: BytesLike, packet: Ipv6Packet, now: float) -> None:
        if not self._config.reassembly:
            self._stats.drop(R.IP6_FRAGMENT)
            return
        self._stats.rx_fragments += 1
        whole = self._reassembler.add6(packet, buf, now)
        if whole is not None:
            self._stats.rx_reassembled += 1
            self.receive(whole, 0, now)

    # === UDP ===

    def _on_udp(self, buf: BytesLike, packet: Ipv6Packet, offset: int, now: float) -> None:
        start, size = packet.payload_offset, packet.end - packet.payload_offset
        if size < 8:
            self._stats.drop(R.UDP6_TRUNCATED)
            return
        length = buf[start + 4] << 8 | buf[start + 5]
        if length < 8:
            self._stats.drop(R.UDP6_BAD_LENGTH)
            return
        if length > size:
            self._stats.drop(R.UDP6_TRUNCATED)
            return
        how = self._udp_checksum(buf, packet, start, length)
        if how is None:
            return
        port = buf[start + 2] << 8 | buf[start + 3]
        multicast = is_multicast6(packet.dst)
        if port in (self._ctx.wildcard_ports if multicast else self._ctx.ports):
            sport = buf[start] << 8 | buf[start + 1]
            scope = self._config.ipv6_scope_id if is_link_local(packet.src) else 0
            source = (str(IPv6Address(packet.src)), sport, 0, scope)
            data = bytes(buf[start + 8 : start + length])
            dst = str(IPv6Address(packet.dst))
            self._events.append(Datagram6Received(source, port, data, dst))
            self._stats.rx_udp_delivered += 1
            if how == UdpChecksum.OFFLOADED:
                self._stats.rx_udp_csum_offloaded += 1
            elif how == UdpChecksum.PSEUDO:
                self._stats.rx_udp_csum_partial += 1
            return
        self._stats.drop(R.UDP6_NO_LISTENER)
        if not multicast:
            self._error(buf, offset, packet.src, packet.dst, Icmp6Type.DEST_UNREACHABLE, 4, 0, now)

    def _udp_checksum(
        self, buf: BytesLike, packet: Ipv6Packet, start: int, length: int
    ) -> UdpChecksum | None:
        """How the checksum is accepted (as IPv4's check 22), or None (counted)."""
        field = buf[start + 6] << 8 | buf[start + 7]
        if not field:
            self._stats.drop(R.UDP6_ZERO_CHECKSUM)  # RFC 8200 8.1
            return None
        if self.rx_csum in _TRUSTED:
            return UdpChecksum.OFFLOADED
        pseudo = pseudo_header_sum6(packet.src, packet.dst, NextHeader.UDP, length)
        if not inet_checksum(buf[start : start + length], pseudo):
            return UdpChecksum.VERIFIED
        if self._ctx.accept_partial_checksum and field == inet_sum(b"", pseudo):
            return UdpChecksum.PSEUDO
        self._stats.drop(R.UDP6_BAD_CHECKSUM)
        return None

    # === ICMPv6 ===

    def _on_icmp(
        self, buf: BytesLike, packet: Ipv6Packet, offset: int, l2_src: bytes | None, now: float
    ) -> None:
        try:
            icmp_type, code, body = parse_icmpv6(
                buf[packet.payload_offset : packet.end], packet.src, packet.dst
            )
        except ParseError as exc:
            self._stats.drop(exc.reason)
            return
        self._stats.rx_icmp6 += 1
        if icmp_type in _NDP_TYPES or icmp_type in (130, 131, 132, 143):
            self._on_ndp(packet, icmp_type, bytes([code]) + body, l2_src, now)
        elif icmp_type == Icmp6Type.ECHO_REQUEST:
            self._answer_echo(packet, body, now)
        elif icmp_type == Icmp6Type.ECHO_REPLY:
            try:
                ident, seq, data = parse_echo(body)
            except ParseError as exc:
                self._stats.drop(exc.reason)
                return
            src = str(IPv6Address(packet.src))
            self._events.append(EchoReplyReceived(src, ident, seq, data))
        elif is_error6(icmp_type):
            self._on_error(packet, icmp_type, code, body)
        else:
            self._stats.drop(R.ICMP6_UNSUPPORTED_TYPE)

    def _answer_echo(self, packet: Ipv6Packet, body: bytes, now: float) -> None:
        if not self._config.answer_echo or packet.src == _UNSPECIFIED:
            self._stats.drop(R.ICMP6_ECHO_IGNORED)
            return
        try:
            ident, seq, data = parse_echo(body)
            src = packet.dst if not is_multicast6(packet.dst) else self._book.source_for(packet.src)
        except ParseError as exc:
            self._stats.drop(exc.reason)
            return
        except OSError:
            self._stats.drop(R.REPLY6_UNROUTABLE)
            return
        reply = build_icmpv6(src, packet.src, Icmp6Type.ECHO_REPLY, 0, echo_body(ident, seq, data))
        if self._sender.reply(src, packet.src, NextHeader.ICMPV6, reply, now):
            self._stats.tx_echo_replies += 1
        else:
            self._stats.drop(R.REPLY6_UNROUTABLE)

    def _on_error(self, packet: Ipv6Packet, icmp_type: int, code: int, body: bytes) -> None:
        kind = error6_kind(icmp_type, code)
        if kind is None:
            self._stats.drop(R.ICMP6_UNSUPPORTED_TYPE)
            return
        ports = self._quoted_udp(body[4:])
        if ports is None:
            self._stats.drop(R.ICMP6_BAD_QUOTE)
            return
        dst, src_port = ports
        name, errno_ = kind
        sender = str(IPv6Address(packet.src))
        error = OSError(
            errno_,
            f"{name.replace('_', ' ')} from {sender} for the datagram to [{dst[0]}]:{dst[1]}",
        )
        self._events.append(IcmpErrorReceived(sender, name, dst, src_port, error))

    def _quoted_udp(self, quote: bytes) -> tuple[tuple[str, int], int] | None:
        """``((dst address, dst port), our src port)`` of the UDP datagram an error quotes,
        if it is one of ours (the quote is cut short: its payload length is mended)."""
        if len(quote) < 48:
            return None
        mended = bytearray(quote)
        mended[4:6] = (len(quote) - 40).to_bytes(2, "big")
        try:
            inner = parse_ipv6(mended, 0)
        except ParseError:
            return None
        nh = inner.next_header
        if inner.fragment is not None:
            nh = inner.fragment.next_header if inner.fragment.offset == 0 else -1
        start = inner.payload_offset
        if nh != NextHeader.UDP or self._book.get(inner.src) is None or len(quote) < start + 4:
            return None
        dst = (str(IPv6Address(inner.dst)), int.from_bytes(quote[start + 2 : start + 4], "big"))
        return dst, int.from_bytes(quote[start : start + 2], "big")

    # === Errors we send ===

    def _param_problem(
        self, buf: BytesLike, offset: int, problem: ParameterProblem, now: float
    ) -> None:
        if _carries_icmp_error(buf, offset):
            return  # RFC 4443 2.4 (e): never an error about an error
        src, dst = bytes(buf[offset + 8 : offset + 24]), bytes(buf[offset + 24 : offset + 40])
        self._error(buf, offset, src, dst, Icmp6Type.PARAMETER_PROBLEM, problem.code,
                    problem.pointer, now)  # fmt: skip

    def _error(
        self,
        buf: BytesLike,
        offset: int,
        src: bytes,
        dst: bytes,
        icmp_type: int,
        code: int,
        word: int,
        now: float,
    ) -> None:
        """An ICMPv6 error about the packet at ``buf[offset:]`` from ``src`` to ``dst``
        (RFC 4443 2.4: never to an unspecified or group source, from our unicast address,
        rate-limited)."""
        if src == _UNSPECIFIED or is_multicast6(src):
            return
        try:
            ours = self._book.source_for(src) if is_multicast6(dst) else dst
        except OSError:
            return
        if not self._book.is_preferred(ours):
            return
        if not self._bucket.take(now):
            self._stats.icmp_rate_limited += 1
            return
        end = min(len(buf), offset + 40 + (buf[offset + 4] << 8 | buf[offset + 5]))
        message = build_icmpv6(ours, src, icmp_type, code, error6_body(word, buf[offset:end]))
        if self._sender.reply(ours, src, NextHeader.ICMPV6, message, now):
            self._stats.tx_icmp6_errors += 1
            if icmp_type == Icmp6Type.DEST_UNREACHABLE:
                self._stats.tx_port_unreachable += 1
        else:
            self._stats.replies_failed += 1


def _carries_icmp_error(buf: BytesLike, offset: int) -> bool:
    """Whether the packet's chain of headers, followed leniently (the packet failed the
    strict walk), ends in an ICMPv6 error message."""
    nh, pos, end = buf[offset + 6], offset + 40, len(buf)
    for _ in range(16):  # bounded: a chain of more headers is not worth following
        if nh == NextHeader.ICMPV6:
            return pos < end and buf[pos] < 128
        if nh not in (0, 43, 44, 60) or pos + 2 > end:
            return False
        nh, pos = buf[pos], pos + (8 if nh == 44 else (buf[pos + 1] + 1) * 8)
    return False


_UNSPECIFIED = bytes(16)
_LOOPBACK = bytes(15) + b"\x01"
