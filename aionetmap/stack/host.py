"""``Host``: one IPv4 address (and optionally IPv6 ones) on one Ethernet link, sans I/O
(the aioquic/h11 shape).

Feed it frames with :meth:`Host.receive_frame` and the clock with :meth:`Host.handle_timer`;
take frames to transmit from :meth:`Host.take_frames` and events from
:meth:`Host.next_event`; ask :meth:`Host.get_timer` when to call ``handle_timer`` next.
Time is always passed in (``now``, monotonic seconds). The receive decision is
:func:`~aionetmap.stack.classify.classify`.

Sending follows Linux. A UDP datagram (or ICMP echo) up to 65507 bytes of payload is
accepted; one that does not fit the MTU leaves as IPv4 fragments (see
:func:`~aionetmap.stack.ipv4.build_ipv4_fragments`), which :meth:`Host.take_frames` hands
out as one atomic group. IPv4 identification follows the kernel's ``ip_select_ident``
(:mod:`~aionetmap.stack.ident`).

``Host`` holds the state and the public API; the work is done by collaborators it builds
and wires together, each in its own module and each given what it uses:

- :class:`~aionetmap.stack.link.Link`: the host's addresses, checked, as integers (read
  by all the others);
- :class:`~aionetmap.stack.transmit.Sender`: IPv4 packets and fragments, framing, the
  transmit queue, packets parked in the :class:`~aionetmap.stack.arp_cache.ArpCache`
  until ARP answers, numbered by :class:`~aionetmap.stack.ident.Identification`;
- :class:`~aionetmap.stack.receive.Receiver`: what each verdict asks for (delivery, ARP,
  ICMP, fragments through the :class:`~aionetmap.stack.fragments.Reassembler`, closed
  ports); it answers and learns through the ``Sender``;
- :class:`~aionetmap.stack.multicast.Memberships`: IPv4 groups joined per port, their
  IGMP reports and query answers (sent through the ``Sender``), and which port gets a
  datagram to a group (asked by the ``Receiver``). The host's part is the "Multicast"
  section of its API.

- :class:`~aionetmap.stack.host6.Host6` (with ``ipv6=[...]``): the IPv6 side, built by
  :func:`~aionetmap.stack.host6_build.build_host6` with its own collaborators (address
  book, neighbour cache, ``Sender6``, ``Receiver6``, MLD, reassembly); it queues frames
  through the ``Sender`` and the ``Receiver`` hands it every ``Slow(IPV6)`` frame.

They share the host's ``stats`` (:class:`~aionetmap.stack.drops.StackStats`) and its
event queue. Calls go one way: ``Host`` calls ``Receiver``, ``Memberships`` and ``Sender``,
``Receiver`` calls ``Memberships`` and ``Sender``, ``Memberships`` calls ``Sender``, and
nothing calls back up.
"""

from __future__ import annotations

import errno
import logging
from collections import deque
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Interface

from aionetmap.stack.addresses import BytesLike, int_to_str
from aionetmap.stack.arp import build_gratuitous_arp
from aionetmap.stack.arp_cache import ArpCache
from aionetmap.stack.classify import ClassifyContext, RxChecksum, classify
from aionetmap.stack.config import HostConfig
from aionetmap.stack.drops import DropReason, StackStats
from aionetmap.stack.errors import DatagramTooLarge
from aionetmap.stack.events import Event
from aionetmap.stack.fragments import Reassembler
from aionetmap.stack.host6 import Host6
from aionetmap.stack.host6_build import (
    SharedParts,
    build_host6,
    mapped_ipv4,
    parse_destination6,
)
from aionetmap.stack.host_groups import HostGroups
from aionetmap.stack.icmp import IcmpMessage, IcmpType
from aionetmap.stack.ident import Identification
from aionetmap.stack.igmp import is_multicast
from aionetmap.stack.ipv4 import MAX_IPV4_PAYLOAD, IpProtocol
from aionetmap.stack.link import Link, check_port
from aionetmap.stack.multicast import Memberships
from aionetmap.stack.ratelimit import TokenBucket
from aionetmap.stack.receive import Receiver
from aionetmap.stack.transmit import Parked, Sender, TxItem
from aionetmap.stack.udp import UDP_HEADER_LEN, build_udp_segment

__all__ = ["MAX_UDP_PAYLOAD", "Host", "TxItem"]

_log = logging.getLogger("aionetmap.stack")
_OVERHEAD = 20 + 8  # IPv4 header without options + UDP (or ICMP echo) header
MAX_UDP_PAYLOAD = MAX_IPV4_PAYLOAD - UDP_HEADER_LEN
"""65507: the largest UDP (or ICMP echo) payload, as for a Linux socket (else EMSGSIZE)."""


class Host(HostGroups):
    """An IPv4 host with ARP, ICMP echo, UDP and IPv4 multicast (IGMP) on one Ethernet
    interface.

    ``interface`` is the address with its prefix (``"10.0.0.2/24"``); ``gateway``, if given,
    must be on that subnet and is the next hop for every other destination. ``vlan``
    (1..4094) puts the host on that 802.1Q VLAN: it accepts only frames tagged with that
    id and tags every frame it sends (priority 0); without it the host is untagged and
    drops frames tagged with a VLAN id (``ETH_VLAN_TAGGED``), as Linux does. ``mtu`` is
    the IPv4 MTU either way: a tag adds 4 bytes to the frame.

    ``ipv6`` (a list of addresses with prefixes, e.g. ``["2001:db8::2/64"]``; an empty
    list for the link-local address alone) makes the host dual-stack: :attr:`ipv6` is
    then its :class:`~aionetmap.stack.host6.Host6` side, and ``send_datagram`` and
    ``send_echo_request`` take IPv6 destinations. The link-local address is derived from
    the MAC (modified EUI-64) unless a ``fe80::/10`` one is in the list. ``gateway6`` is a
    static default router (link-local or on one of the prefixes); without it one is
    learned from router advertisements. IPv6 needs ``mtu >= 1280``. Without ``ipv6`` the
    host is IPv4-only and drops IPv6 frames as ``ETH_UNSUPPORTED_TYPE``. The IPv4 address
    stays required.
    """

    def __init__(
        self,
        mac: bytes | str,
        interface: str | IPv4Interface,
        *,
        gateway: str | IPv4Address | None = None,
        mtu: int = 1500,
        config: HostConfig | None = None,
        vlan: int | None = None,
        ipv6: Iterable[str | IPv6Interface] | None = None,
        gateway6: str | IPv6Address | None = None,
    ) -> None:
        link = Link.create(mac, interface, gateway, mtu, vlan)
        self._link = link
        # The public view of the link (read-only by convention).
        self.mac: bytes = link.mac
        self.address: IPv4Address = link.address
        self.network: IPv4Network = link.network
        self.gateway: IPv4Address | None = link.gateway
        self.mtu: int = mtu
        self.vlan: int | None = vlan
        self.config: HostConfig = config or HostConfig()
        self.stats: StackStats = StackStats()
        cfg = self.config
        self._ports: set[int] = set()
        self._wildcard: set[int] = set()
        # Group MAC addresses listened on (by how many users: groups may share one),
        # and a version the native classifier's copy is checked against.
        self._mcast: dict[bytes, int] = {}
        self.multicast_version = 0
        self._ctx = ClassifyContext(
            link.mac,
            link.ip,
            link.broadcast,
            self._ports,
            mtu,
            vlan or 0,
            self._wildcard,
            accept_partial_checksum=bool(cfg.accept_partial_checksum),
            multicast_macs=self._mcast.keys(),
        )
        self._events: deque[Event] = deque()
        self._arp: ArpCache[Parked] = ArpCache(
            ttl=cfg.arp_ttl,
            request_interval=cfg.arp_request_interval,
            retries=cfg.arp_retries,
            queue_limit=cfg.arp_queue_limit,
            max_entries=cfg.arp_max_entries,
            max_pending=cfg.arp_max_pending,
        )
        self._reassembler = Reassembler(
            self.stats.drop,
            timeout=cfg.reassembly_timeout,
            max_bytes=cfg.reassembly_max_bytes,
            max_datagrams=cfg.reassembly_max_datagrams,
            max_per_source=cfg.reassembly_max_per_source,
            max_fragments=cfg.reassembly_max_fragments,
        )
        self._idents = Identification(cfg.ip_ident_seed)
        self._sender = Sender(link, cfg, self.stats, self._events, self._arp, self._idents)
        seed = cfg.igmp_random_seed
        self._multicast = Memberships(
            link, cfg, self.stats, self._sender, int.from_bytes(link.mac) if seed is None else seed
        )
        self._host6: Host6 | None = None
        if ipv6 is not None:
            shared = SharedParts(
                link.mac,
                link.mtu,
                link.eth_suffix,
                cfg,
                self.stats,
                self._events,
                self._sender,
                self._ctx,
                self.listen_multicast_mac,
                self.unlisten_multicast_mac,
            )
            self._host6 = build_host6(shared, ipv6, gateway6)
        self._receiver = Receiver(
            link,
            cfg,
            self._ctx,
            self.stats,
            self._events,
            self._arp,
            self._reassembler,
            TokenBucket(cfg.icmp_error_rate, cfg.icmp_error_burst),
            self._sender,
            self._multicast,
            None if self._host6 is None else self._host6.receive,
        )
        self._dispatch = self._receiver.dispatch  # bound once: called per received frame

    def __repr__(self) -> str:
        vlan = "" if self.vlan is None else f" vlan={self.vlan}"
        return (
            f"<Host {self.mac.hex(':')} {self.address}/{self.network.prefixlen} "
            f"mtu={self.mtu}{vlan}>"
        )

    @property
    def context(self) -> ClassifyContext:
        """What :func:`classify` needs about this host (``ports`` follows binds live)."""
        return self._ctx

    @property
    def max_payload(self) -> int:
        """The largest UDP payload :meth:`send_datagram` accepts: 65507, the IPv4 limit
        (larger payloads raise :class:`DatagramTooLarge`, as ``EMSGSIZE`` from Linux)."""
        return MAX_UDP_PAYLOAD

    @property
    def max_unfragmented(self) -> int:
        """The largest UDP payload that leaves in one frame: ``mtu - 20 - 8``. Larger
        ones are fragmented."""
        return self.mtu - _OVERHEAD

    # === Public API ===

    def start(self, now: float) -> None:
        """Announce the address (a gratuitous ARP, unless configured off); with IPv6,
        join its groups and start DAD (:meth:`Host6.start`)."""
        if self.config.gratuitous_arp:
            link = self._link
            self._sender.emit(build_gratuitous_arp(link.mac, link.ip, vlan_tci=link.vlan_tci))
            self.stats.tx_arp_requests += 1
        if self._host6 is not None:
            self._host6.start(now)

    @property
    def ipv6(self) -> Host6 | None:
        """The IPv6 side (addresses, groups, neighbours), ``None`` without IPv6."""
        return self._host6

    def bind_udp(self, port: int, *, wildcard: bool = False) -> None:
        """Deliver datagrams for ``port``; ``ValueError`` if bound already or not 1..65535.

        A port bound to our unicast address (the default) gets only datagrams sent to that
        address. One bound with ``wildcard`` (like a kernel socket bound to 0.0.0.0) also
        gets those sent to the subnet broadcast and to 255.255.255.255.
        """
        check_port(port, "UDP port to bind")
        if port in self._ports:
            raise ValueError(f"UDP port {port} is already bound on {self.address}")
        self._ports.add(port)
        if wildcard:
            self._wildcard.add(port)

    def unbind_udp(self, port: int, now: float | None = None) -> None:
        """Stop delivering ``port`` (nothing happens if it is not bound); its
        identification counter and multicast options are forgotten and it leaves its
        groups, as a closed socket does (``now`` times the leave reports: without it,
        the latest time the host was given)."""
        self._ports.discard(port)
        self._wildcard.discard(port)
        self._idents.forget(port)
        multicast = self._multicast
        for group in multicast.drop_port(port, multicast.now if now is None else now):
            self._unlisten_group(group)

    def is_bound(self, port: int) -> bool:
        """True if ``port`` is bound."""
        return port in self._ports

    def receive_frame(self, frame: BytesLike, now: float, csum: int = RxChecksum.UNKNOWN) -> None:
        """Process one received Ethernet frame. Never raises; drops are counted in ``stats``.

        ``csum`` is what the port knows of the frame's checksum (an ``RxChecksum`` value,
        ``FrameBatch.csum_flags``). Nothing keeps a reference to ``frame``: it may be a
        view of a ring buffer.
        """
        self.stats.rx_frames += 1
        try:
            if isinstance(frame, memoryview) and (frame.format != "B" or frame.ndim != 1):
                # The classifier indexes single unsigned bytes.
                frame = frame.cast("B") if frame.c_contiguous else frame.tobytes()
            if self._host6 is not None:
                self._host6.set_rx_csum(csum)
            self._dispatch(frame, classify(frame, self._ctx, csum), now)
        except Exception:
            # A bug, not bad input: keep the caller's loop alive, count it, say where.
            self.stats.drop(DropReason.INTERNAL_ERROR)
            _log.exception("aionetmap.stack: internal error on a received frame (dropped)")

    def send_datagram(
        self,
        payload: BytesLike,
        dst: tuple[str, int] | tuple[str, int, int, int],
        src_port: int,
        now: float,
        *,
        connected: bool = False,
        multicast_ttl: int | None = None,
    ) -> None:
        """Send a UDP datagram from ``src_port`` to ``dst`` = (IPv4 address, port).

        IPv6: ``dst`` may be an (IPv6 address, port) 2-tuple or an AF_INET6 4-tuple; the
        datagram goes through :meth:`Host6.send_udp` (source by RFC 6724 rules, next hop
        by NDP, fragments over the MTU; up to 65527 bytes; ``OSError(EADDRNOTAVAIL)``
        while no address is usable, ``OSError(EAFNOSUPPORT)`` for a host without IPv6).
        An IPv4-mapped address (``::ffff:192.0.2.1``) is sent over IPv4, as by an
        AF_INET6 socket with ``IPV6_V6ONLY`` off.

        The frame (or, over ``mtu - 28`` bytes of payload, the group of fragments) is
        queued for :meth:`take_frames`, or parked until the next hop answers ARP; a
        datagram that never leaves is reported as a
        :class:`~aionetmap.stack.events.SendFailed` event. ``connected`` says the sending
        endpoint is connected (its datagrams then number from the port's own counter).
        To a group (224.0.0.0/4) the datagram goes to the group's MAC address with the
        TTL ``multicast_ttl``, else the port's (:meth:`set_multicast_ttl`, 1 by default),
        and is looped to this host's own ports as :meth:`set_multicast_loop` says.
        Raises :class:`DatagramTooLarge` (``EMSGSIZE``) for a payload over 65507 bytes,
        ``ValueError`` for a bad address or port, ``OSError(ENETUNREACH)`` for an off-link
        destination without a gateway.
        """
        if not isinstance(payload, bytes | bytearray | memoryview):
            raise TypeError(f"payload must be bytes-like, not {type(payload).__name__}")
        ip, port = _check_dst(dst)
        check_port(port, "destination port")
        check_port(src_port, "source port")
        if ":" in ip:
            v4 = mapped_ipv4(ip)
            if v4 is None:
                self._need6().send_udp(payload, parse_destination6(ip), port, src_port, now)
                return
            ip = v4
        dst_ip = self.check_destination(ip)
        size = payload.nbytes if isinstance(payload, memoryview) else len(payload)
        if size > MAX_UDP_PAYLOAD:
            raise DatagramTooLarge("UDP payload", size, MAX_UDP_PAYLOAD, self.mtu)
        sender = self._sender
        hop = self._link.hop(dst_ip)
        ttl = None
        if dst_ip >> 28 == 0xE:
            ttl = self._group_ttl(src_port, multicast_ttl)
        segment = build_udp_segment(self._link.ip, dst_ip, src_port, port, payload)
        packets = sender.ip_packets(
            dst_ip, IpProtocol.UDP, segment, socket_port=src_port if connected else None, ttl=ttl
        )
        self.stats.tx_udp += 1
        sender.send_ip(hop, Parked(packets, (int_to_str(dst_ip), port), src_port), now)
        if ttl is not None:
            self._sent_to_group(dst_ip, port, src_port, payload)

    def send_echo_request(self, dst: str, ident: int, seq: int, payload: bytes, now: float) -> None:
        """Send an ICMP echo request (a ping); replies come as ``EchoReplyReceived``.

        Same errors as :meth:`send_datagram` (the payload limit is also 65507 bytes, and
        a larger one than ``mtu - 28`` is fragmented); ``ident`` and ``seq`` must be in
        0..65535.
        """
        if not (0 <= ident <= 0xFFFF and 0 <= seq <= 0xFFFF):
            raise ValueError(f"echo ident {ident} and seq {seq} must be in 0..65535")
        if ":" in dst:
            self._need6().send_echo(parse_destination6(dst), ident, seq, bytes(payload), now)
            return
        dst_ip = self.check_destination(dst)
        data = bytes(payload)
        if len(data) > MAX_UDP_PAYLOAD:
            raise DatagramTooLarge("ICMP echo payload", len(data), MAX_UDP_PAYLOAD, self.mtu)
        hop = self._link.hop(dst_ip)
        message = IcmpMessage(IcmpType.ECHO_REQUEST, 0, ident, seq, data)
        ttl = 1 if is_multicast(dst_ip) else None  # Linux's ping: IP_MULTICAST_TTL 1
        packets = self._sender.ip_packets(dst_ip, IpProtocol.ICMP, bytes(message), ttl=ttl)
        self.stats.tx_echo_requests += 1
        self._sender.send_ip(hop, Parked(packets, (int_to_str(dst_ip), 0), 0), now)

    def take_frames(self) -> list[TxItem]:
        """What to transmit, oldest first (the queue is emptied): single frames, and
        tuples holding all the fragments of one datagram. A tuple must leave in one
        transmit pass or not at all: a receiver cannot use part of a datagram."""
        return self._sender.take()

    @property
    def pending_groups(self) -> int:
        """How many entries the next :meth:`take_frames` returns as groups (tuples)."""
        return self._sender.pending_groups

    def frames_to_send(self) -> list[bytes]:
        """Complete Ethernet frames to transmit, oldest first (the queue is emptied);
        :meth:`take_frames` without the grouping."""
        grouped = self._sender.pending_groups
        items = self.take_frames()
        if not grouped:
            return items  # type: ignore[return-value]  # no tuples in it
        frames: list[bytes] = []
        for item in items:
            if isinstance(item, tuple):
                frames.extend(item)
            else:
                frames.append(item)
        return frames

    @property
    def reassembly(self) -> tuple[int, int]:
        """Datagrams in reassembly now, and the fragment payload bytes they hold (bounded
        by ``HostConfig.reassembly_max_datagrams`` and ``reassembly_max_bytes``)."""
        return len(self._reassembler), self._reassembler.held_bytes

    @property
    def has_events(self) -> bool:
        """True while :meth:`next_event` has something to return."""
        return bool(self._events)

    def next_event(self) -> Event | None:
        """The oldest pending event, or ``None``."""
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` should run next (absolute), or ``None``."""
        six = None if self._host6 is None else self._host6.next_deadline()
        deadlines = [
            d
            for d in (
                self._arp.next_deadline(),
                self._reassembler.next_deadline(),
                self._multicast.next_deadline(),
                six,
            )
            if d is not None
        ]
        return min(deadlines, default=None)

    def handle_timer(self, now: float) -> None:
        """Run what is due at ``now``: ARP retries and failures, fragment timeouts, IGMP
        reports (repeated state changes, answers to queries)."""
        self._sender.handle_timer(now)
        self._reassembler.expire(now)
        self._multicast.handle_timer(now)
        if self._host6 is not None:
            self._host6.handle_timer(now)

    def _need6(self) -> Host6:
        if self._host6 is None:
            raise OSError(errno.EAFNOSUPPORT, f"{self!r} has no IPv6 (Host(..., ipv6=[...]))")
        return self._host6

    def next_hop(self, dst: IPv4Address) -> IPv4Address:
        """The on-link address a packet to ``dst`` is sent to: ``dst`` itself on our subnet
        (and for 255.255.255.255), else the gateway; ``OSError(ENETUNREACH)`` without one."""
        return IPv4Address(self._link.hop(int(dst)))

    def cached_mac(self, ip: IPv4Address, now: float) -> bytes | None:
        """The resolved, unexpired MAC address of ``ip``, or ``None``."""
        return self._arp.lookup(int(ip), now)

    def reserve_idents(self, count: int, src_port: int | None = None) -> tuple[int, int]:
        """Identification for ``count`` unfragmented UDP datagrams built outside the host
        (the native fast path), by the rules of :meth:`send_datagram`: ``(first, step)``,
        datagram ``i`` getting ``first + i * step``. ``src_port`` is the sending port of a
        connected endpoint (its counter advances by ``count``), ``None`` for an
        unconnected one (``(0, 0)``: atomic datagrams)."""
        return self._idents.reserve(count, src_port)

    def check_destination(self, ip: str | IPv4Address) -> int:
        """``ip`` as an int if this host can send to it; ``ValueError`` for what it cannot
        (not an address, unspecified, loopback, or its own). Groups are accepted."""
        return self._link.check_destination(ip)


def _check_dst(dst: tuple[str, int] | tuple[str, int, int, int]) -> tuple[str, int]:
    """(address, port) of a 2-tuple, or of an AF_INET6 4-tuple (flowinfo and scope_id
    are not used: the host has one interface)."""
    if not isinstance(dst, tuple) or len(dst) not in (2, 4) or not isinstance(dst[0], str):
        raise ValueError(f"destination must be an (address, port) tuple, not {dst!r}")
    if len(dst) == 4 and ":" not in dst[0]:
        raise ValueError(f"a 4-tuple destination must hold an IPv6 address, not {dst!r}")
    return dst[0], dst[1]
