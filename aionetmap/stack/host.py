"""``Host``: one IPv4 address on one Ethernet link, sans I/O (the aioquic/h11 shape).

Feed it frames with :meth:`Host.receive_frame` and the clock with :meth:`Host.handle_timer`;
take frames to transmit from :meth:`Host.take_frames` and events from
:meth:`Host.next_event`; ask :meth:`Host.get_timer` when to call ``handle_timer`` next.
Time is always passed in (``now``, monotonic seconds). The receive decision is
:func:`~aionetmap.stack.classify.classify`; this module does what that leaves to Python.

Sending follows Linux. A UDP datagram (or ICMP echo) up to 65507 bytes of payload is
accepted; one that does not fit the MTU leaves as IPv4 fragments (see
:func:`~aionetmap.stack.ipv4.build_ipv4_fragments`), which :meth:`Host.take_frames` hands
out as one atomic group. IPv4 identification follows the kernel's ``ip_select_ident``:

- a datagram from a connected endpoint (``connected=True``) takes the next value of that
  local port's own counter, fragmented or not;
- an unconnected datagram that fits the MTU is sent with DF set and identification 0
  (an atomic datagram, RFC 6864: nothing can ever reassemble it);
- anything else (fragmented datagrams, and the host's own ICMP replies, which like
  Linux's are sent without DF) takes the next value of a per-destination counter, kept
  in 2048 buckets hashed by (destination, protocol) as the kernel does.

Counters start from ``HostConfig.ip_ident_seed`` (per port: spread by the port number)
and advance by one; unlike Linux there is no randomness, so runs are reproducible.
"""

from __future__ import annotations

import errno
import functools
import logging
from collections import deque
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import NamedTuple

from aionetmap.stack.addresses import (
    BROADCAST_MAC,
    LIMITED_BROADCAST,
    BytesLike,
    int_to_str,
    is_unicast_mac,
    parse_mac,
)
from aionetmap.stack.arp import build_arp_request, build_gratuitous_arp
from aionetmap.stack.arp_cache import ArpCache, Enqueued
from aionetmap.stack.classify import ClassifyContext, RxChecksum, classify
from aionetmap.stack.config import HostConfig
from aionetmap.stack.drops import DropReason, StackStats
from aionetmap.stack.errors import DatagramTooLarge
from aionetmap.stack.events import ArpResolved, Event, SendFailed
from aionetmap.stack.fragments import Reassembler
from aionetmap.stack.icmp import IcmpMessage, IcmpType
from aionetmap.stack.ipv4 import (
    IPV4_HEADER_LEN,
    MAX_IPV4_PAYLOAD,
    IpProtocol,
    build_ipv4_fragments,
    build_ipv4_packet,
)
from aionetmap.stack.ratelimit import TokenBucket
from aionetmap.stack.receive import ReceiveMixin
from aionetmap.stack.udp import UDP_HEADER_LEN, build_udp_segment

__all__ = ["MAX_UDP_PAYLOAD", "Host", "TxItem"]

_log = logging.getLogger("aionetmap.stack")
_OVERHEAD = 20 + 8  # IPv4 header without options + UDP (or ICMP echo) header
MAX_UDP_PAYLOAD = MAX_IPV4_PAYLOAD - UDP_HEADER_LEN
"""65507: the largest UDP (or ICMP echo) payload, as for a Linux socket (else EMSGSIZE)."""
_IDENT_BUCKETS = 2048  # per-destination identification counters (Linux: IP_IDENTS_SZ)
_PORT_SPREAD = 40503  # odd 16-bit multiplier (Knuth's golden ratio) spreading port seeds

TxItem = bytes | tuple[bytes, ...]
"""What :meth:`Host.take_frames` returns per entry: one frame, or the frames of one
fragmented datagram, to be transmitted all together or not at all."""


class _Parked(NamedTuple):
    """An IPv4 packet (or the fragments of one datagram) waiting for its next hop's MAC."""

    packets: tuple[bytes, ...]
    dst: tuple[str, int] | None
    """Reported in SendFailed; ``None`` for replies the host generated itself."""
    src_port: int


class Host(ReceiveMixin):
    """An IPv4 host with ARP, ICMP echo and UDP on one Ethernet interface.

    ``interface`` is the address with its prefix (``"10.0.0.2/24"``); ``gateway``, if given,
    must be on that subnet and is the next hop for every other destination. ``vlan``
    (1..4094) puts the host on that 802.1Q VLAN: it accepts only frames tagged with that
    id and tags every frame it sends (priority 0); without it the host is untagged and
    drops frames tagged with a VLAN id (``ETH_VLAN_TAGGED``), as Linux does. ``mtu`` is
    the IPv4 MTU either way: a tag adds 4 bytes to the frame.
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
    ) -> None:
        self.mac: bytes = parse_mac(mac)
        if not is_unicast_mac(self.mac):
            raise ValueError(f"host MAC {self.mac.hex(':')} is not a unicast address")
        iface = IPv4Interface(interface)
        self.address: IPv4Address = iface.ip
        self.network: IPv4Network = iface.network
        _check_own_address(self.address, self.network)
        self.gateway: IPv4Address | None = None if gateway is None else IPv4Address(gateway)
        if self.gateway is not None:
            _check_gateway(self.gateway, self.address, self.network)
        if not 68 <= mtu <= 0xFFFF:
            raise ValueError(f"MTU must be in 68..65535, not {mtu}")
        self.mtu: int = mtu
        if vlan is not None and (
            not isinstance(vlan, int) or isinstance(vlan, bool) or not 1 <= vlan <= 4094
        ):
            raise ValueError(f"VLAN id must be in 1..4094, not {vlan!r}")
        self.vlan: int | None = vlan
        self.config: HostConfig = config or HostConfig()
        self.stats: StackStats = StackStats()
        self._ip = int(self.address)
        self._net = int(self.network.network_address)
        self._mask = int(self.network.netmask)
        self._broadcast = (
            int(self.network.broadcast_address)
            if self.network.prefixlen < 31
            else LIMITED_BROADCAST
        )
        self._ports: set[int] = set()
        self._wildcard: set[int] = set()
        self._ctx = ClassifyContext(
            self.mac,
            self._ip,
            self._broadcast,
            self._ports,
            mtu,
            vlan or 0,
            self._wildcard,
            accept_partial_checksum=bool(self.config.accept_partial_checksum),
        )
        # What follows the destination MAC in every frame: our MAC, the tag, the EtherType.
        self._vlan_tci: int | None = vlan
        tag = b"" if vlan is None else b"\x81\x00" + vlan.to_bytes(2, "big")
        self._eth_suffix = self.mac + tag + b"\x08\x00"
        self._tx: list[TxItem] = []
        self._tx_groups = 0  # entries of _tx that are groups (frames_to_send flattens them)
        self._events: deque[Event] = deque()
        seed = self.config.ip_ident_seed
        self._dst_idents = [seed] * _IDENT_BUCKETS
        self._port_idents: dict[int, int] = {}
        self._parked_bytes = 0  # packet bytes waiting for ARP (HostConfig.arp_queue_bytes)
        cfg = self.config
        self._arp: ArpCache[_Parked] = ArpCache(
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
        self._icmp_bucket = TokenBucket(cfg.icmp_error_rate, cfg.icmp_error_burst)

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
        """Announce the address (a gratuitous ARP, unless configured off)."""
        if self.config.gratuitous_arp:
            self._emit(build_gratuitous_arp(self.mac, self._ip, vlan_tci=self._vlan_tci))
            self.stats.tx_arp_requests += 1

    def bind_udp(self, port: int, *, wildcard: bool = False) -> None:
        """Deliver datagrams for ``port``; ``ValueError`` if bound already or not 1..65535.

        A port bound to our unicast address (the default) gets only datagrams sent to that
        address. One bound with ``wildcard`` (like a kernel socket bound to 0.0.0.0) also
        gets those sent to the subnet broadcast and to 255.255.255.255.
        """
        _check_port(port, "UDP port to bind")
        if port in self._ports:
            raise ValueError(f"UDP port {port} is already bound on {self.address}")
        self._ports.add(port)
        if wildcard:
            self._wildcard.add(port)

    def unbind_udp(self, port: int) -> None:
        """Stop delivering ``port`` (nothing happens if it is not bound); its
        identification counter is forgotten, as a closed socket's is."""
        self._ports.discard(port)
        self._wildcard.discard(port)
        self._port_idents.pop(port, None)

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
            self._dispatch(frame, classify(frame, self._ctx, csum), now)
        except Exception:
            # A bug, not bad input: keep the caller's loop alive, count it, say where.
            self.stats.drop(DropReason.INTERNAL_ERROR)
            _log.exception("aionetmap.stack: internal error on a received frame (dropped)")

    def send_datagram(
        self,
        payload: BytesLike,
        dst: tuple[str, int],
        src_port: int,
        now: float,
        *,
        connected: bool = False,
    ) -> None:
        """Send a UDP datagram from ``src_port`` to ``dst`` = (IPv4 address, port).

        The frame (or, over ``mtu - 28`` bytes of payload, the group of fragments) is
        queued for :meth:`take_frames`, or parked until the next hop answers ARP; a
        datagram that never leaves is reported as a
        :class:`~aionetmap.stack.events.SendFailed` event. ``connected`` says the sending
        endpoint is connected (its datagrams then number from the port's own counter).
        Raises :class:`DatagramTooLarge` (``EMSGSIZE``) for a payload over 65507 bytes,
        ``ValueError`` for a bad address or port, ``OSError(ENETUNREACH)`` for an off-link
        destination without a gateway.
        """
        if not isinstance(payload, bytes | bytearray | memoryview):
            raise TypeError(f"payload must be bytes-like, not {type(payload).__name__}")
        ip, port = _check_dst(dst)
        _check_port(port, "destination port")
        _check_port(src_port, "source port")
        dst_ip = self.check_destination(ip)
        size = payload.nbytes if isinstance(payload, memoryview) else len(payload)
        if size > MAX_UDP_PAYLOAD:
            raise DatagramTooLarge("UDP payload", size, MAX_UDP_PAYLOAD, self.mtu)
        hop = self._hop(dst_ip)
        segment = build_udp_segment(self._ip, dst_ip, src_port, port, payload)
        packets = self._ip_packets(
            dst_ip, IpProtocol.UDP, segment, socket_port=src_port if connected else None
        )
        self.stats.tx_udp += 1
        self._send_ip(hop, _Parked(packets, (int_to_str(dst_ip), port), src_port), now)

    def send_echo_request(self, dst: str, ident: int, seq: int, payload: bytes, now: float) -> None:
        """Send an ICMP echo request (a ping); replies come as ``EchoReplyReceived``.

        Same errors as :meth:`send_datagram` (the payload limit is also 65507 bytes, and
        a larger one than ``mtu - 28`` is fragmented); ``ident`` and ``seq`` must be in
        0..65535.
        """
        if not (0 <= ident <= 0xFFFF and 0 <= seq <= 0xFFFF):
            raise ValueError(f"echo ident {ident} and seq {seq} must be in 0..65535")
        dst_ip = self.check_destination(dst)
        data = bytes(payload)
        if len(data) > MAX_UDP_PAYLOAD:
            raise DatagramTooLarge("ICMP echo payload", len(data), MAX_UDP_PAYLOAD, self.mtu)
        hop = self._hop(dst_ip)
        message = IcmpMessage(IcmpType.ECHO_REQUEST, 0, ident, seq, data)
        packets = self._ip_packets(dst_ip, IpProtocol.ICMP, bytes(message))
        self.stats.tx_echo_requests += 1
        self._send_ip(hop, _Parked(packets, (int_to_str(dst_ip), 0), 0), now)

    def take_frames(self) -> list[TxItem]:
        """What to transmit, oldest first (the queue is emptied): single frames, and
        tuples holding all the fragments of one datagram. A tuple must leave in one
        transmit pass or not at all: a receiver cannot use part of a datagram."""
        items, self._tx = self._tx, []
        self._tx_groups = 0
        return items

    @property
    def pending_groups(self) -> int:
        """How many entries the next :meth:`take_frames` returns as groups (tuples)."""
        return self._tx_groups

    def frames_to_send(self) -> list[bytes]:
        """Complete Ethernet frames to transmit, oldest first (the queue is emptied);
        :meth:`take_frames` without the grouping."""
        grouped = self._tx_groups
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
        deadlines = [
            d
            for d in (self._arp.next_deadline(), self._reassembler.next_deadline())
            if d is not None
        ]
        return min(deadlines, default=None)

    def handle_timer(self, now: float) -> None:
        """Run what is due at ``now``: ARP retries and failures, fragment timeouts."""
        requests, failed = self._arp.handle_timer(now)
        for ip in requests:
            self._emit(build_arp_request(self.mac, self._ip, ip, vlan_tci=self._vlan_tci))
            self.stats.tx_arp_requests += 1
        for ip, parked in failed:
            self.stats.arp_failures += 1
            for item in parked:
                self._parked_bytes -= _size(item)
                self._fail(
                    item,
                    errno.EHOSTUNREACH,
                    f"no ARP reply from {int_to_str(ip)} after {self._arp.retries} requests",
                )
        self._reassembler.expire(now)

    def next_hop(self, dst: IPv4Address) -> IPv4Address:
        """The on-link address a packet to ``dst`` is sent to: ``dst`` itself on our subnet
        (and for 255.255.255.255), else the gateway; ``OSError(ENETUNREACH)`` without one."""
        return IPv4Address(self._hop(int(dst)))

    def cached_mac(self, ip: IPv4Address, now: float) -> bytes | None:
        """The resolved, unexpired MAC address of ``ip``, or ``None``."""
        return self._arp.lookup(int(ip), now)

    def reserve_idents(self, count: int, src_port: int | None = None) -> tuple[int, int]:
        """Identification for ``count`` unfragmented UDP datagrams built outside the host
        (the native fast path), by the rules of :meth:`send_datagram`: ``(first, step)``,
        datagram ``i`` getting ``first + i * step``. ``src_port`` is the sending port of a
        connected endpoint (its counter advances by ``count``), ``None`` for an
        unconnected one (``(0, 0)``: atomic datagrams)."""
        if src_port is None:
            return 0, 0
        first = self._port_ident(src_port)
        self._port_idents[src_port] = (first + count) & 0xFFFF
        return first, 1

    # === Sending internals ===

    def check_destination(self, ip: str | IPv4Address) -> int:
        """``ip`` as an int if this host can send to it; ``ValueError`` for what it cannot
        (not an address, unspecified, multicast, loopback, or its own)."""
        value = _parse_destination(ip)
        if value == self._ip:
            raise ValueError(f"cannot send to {ip}: it is this host's own address (no loopback)")
        return value

    def _hop(self, dst_ip: int) -> int:
        """:meth:`next_hop` in integers (the subnet's broadcast is on the subnet)."""
        if dst_ip & self._mask == self._net or dst_ip == LIMITED_BROADCAST:
            return dst_ip
        if self.gateway is None:
            raise OSError(
                errno.ENETUNREACH,
                f"{int_to_str(dst_ip)} is not on {self.network} and {self.address} "
                "has no default gateway",
            )
        return int(self.gateway)

    def _ip_packets(
        self,
        dst_ip: int,
        protocol: int,
        payload: bytes,
        *,
        socket_port: int | None = None,
        dont_fragment: bool = True,
    ) -> tuple[bytes, ...]:
        """``payload`` as one IPv4 packet, or as fragments when it does not fit the MTU.

        ``socket_port``: sent by a connected endpoint on that port. ``dont_fragment``:
        set DF when the packet fits (UDP does, like Linux's default ``IP_PMTUDISC_WANT``;
        the host's ICMP replies do not, like Linux's ICMP socket).
        """
        fits = IPV4_HEADER_LEN + len(payload) <= self.mtu
        if socket_port is not None:
            ident = self._port_ident(socket_port)
            self._port_idents[socket_port] = (ident + 1) & 0xFFFF
        elif fits and dont_fragment:
            ident = 0
        else:
            ident = self._dst_ident(dst_ip, protocol)
        ttl = self.config.default_ttl
        if fits:
            packet = build_ipv4_packet(
                self._ip, dst_ip, protocol, payload, ttl=ttl, ident=ident,
                dont_fragment=dont_fragment,
            )  # fmt: skip
            return (packet,)
        fragments = build_ipv4_fragments(
            self._ip, dst_ip, protocol, payload, mtu=self.mtu, ttl=ttl, ident=ident
        )
        self.stats.tx_fragmented += 1
        return tuple(fragments)

    def _port_ident(self, port: int) -> int:
        """The next identification of a connected endpoint's datagrams."""
        ident = self._port_idents.get(port)
        if ident is None:
            ident = (self.config.ip_ident_seed + port * _PORT_SPREAD) & 0xFFFF
        return ident

    def _dst_ident(self, dst_ip: int, protocol: int) -> int:
        """Take the next value of the per-destination counter ``dst_ip`` hashes to."""
        bucket = hash((dst_ip, protocol)) % _IDENT_BUCKETS
        ident = self._dst_idents[bucket]
        self._dst_idents[bucket] = (ident + 1) & 0xFFFF
        return ident

    def _send_ip(self, hop: int, item: _Parked, now: float) -> None:
        """Frame ``item.packets`` for ``hop`` now, or park them until ARP answers."""
        if hop == self._broadcast or hop == LIMITED_BROADCAST:
            self._emit_ip(BROADCAST_MAC, item.packets)
            return
        mac = self._arp.lookup(hop, now)
        if mac is not None:
            self._emit_ip(mac, item.packets)
            return
        size = _size(item)
        if self._parked_bytes + size > self.config.arp_queue_bytes:
            limit = self.config.arp_queue_bytes
            self._fail(item, errno.ENOBUFS, f"{limit} bytes already wait for ARP answers")
            return
        outcome = self._arp.enqueue(hop, item, now)
        if outcome in (Enqueued.REQUEST, Enqueued.WAITING):
            self._parked_bytes += size
        if outcome is Enqueued.REQUEST:
            self._emit(build_arp_request(self.mac, self._ip, hop, vlan_tci=self._vlan_tci))
            self.stats.tx_arp_requests += 1
        elif outcome is Enqueued.QUEUE_FULL:
            limit = self._arp.queue_limit
            self._fail(
                item, errno.ENOBUFS, f"{limit} datagrams already wait for ARP of {int_to_str(hop)}"
            )
        elif outcome is Enqueued.TABLE_FULL:
            limit = self._arp.max_pending
            self._fail(item, errno.ENOBUFS, f"{limit} addresses are already being resolved")

    def _reply(self, dst_ip: int, protocol: int, payload: bytes, now: float) -> bool:
        """Send a packet the host generated itself (echo reply, ICMP error) to ``dst_ip``;
        False if there is no route to it."""
        try:
            hop = self._hop(dst_ip)
        except OSError:
            return False
        packets = self._ip_packets(dst_ip, protocol, payload, dont_fragment=False)
        self._send_ip(hop, _Parked(packets, None, 0), now)
        return True

    def _learn(self, ip: int, mac: bytes, now: float) -> None:
        """Record a neighbour and send whatever was waiting for it."""
        was_pending = self._arp.is_pending(ip)
        for item in self._arp.learn(ip, mac, now):
            self._parked_bytes -= _size(item)
            self._emit_ip(mac, item.packets)
        if was_pending:
            self._events.append(ArpResolved(int_to_str(ip), mac))

    def _fail(self, item: _Parked, code: int, why: str) -> None:
        if item.dst is None:
            self.stats.replies_failed += 1
            return
        self.stats.send_failed += 1
        error = OSError(code, f"datagram to {item.dst[0]}:{item.dst[1]} dropped: {why}")
        self._events.append(SendFailed(item.dst, item.src_port, error))

    def _emit(self, frame: bytes) -> None:
        self._tx.append(frame)
        self.stats.tx_frames += 1

    def _emit_ip(self, mac: bytes, packets: tuple[bytes, ...]) -> None:
        """Queue IPv4 packets to ``mac``: one frame, or the fragments as one group."""
        header = mac + self._eth_suffix
        if len(packets) == 1:
            self._tx.append(header + packets[0])
            self.stats.tx_frames += 1
            return
        self._tx.append(tuple(header + packet for packet in packets))
        self._tx_groups += 1
        self.stats.tx_frames += len(packets)
        self.stats.tx_fragments += len(packets)


def _size(item: _Parked) -> int:
    """Bytes of the packets ``item`` holds."""
    return sum(map(len, item.packets))


@functools.lru_cache(maxsize=1024)
def _parse_destination(ip: str | IPv4Address) -> int:
    """The address as an int, refusing what the stack cannot send to. Cached because a
    sender usually talks to the same few peers and ``IPv4Address`` parsing is slow."""
    try:
        addr = IPv4Address(ip)
    except ValueError:
        raise ValueError(f"not an IPv4 address: {ip!r}") from None
    if addr.is_unspecified or addr.is_multicast or addr.is_loopback:
        raise ValueError(f"cannot send to {addr}: unspecified, multicast or loopback address")
    return int(addr)


def _check_port(port: int, what: str) -> None:
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 0xFFFF:
        raise ValueError(f"{what} must be an integer in 1..65535, not {port!r}")


def _check_dst(dst: tuple[str, int]) -> tuple[str, int]:
    if not isinstance(dst, tuple) or len(dst) != 2:
        raise ValueError(f"destination must be an (IPv4 address, port) tuple, not {dst!r}")
    return dst


def _check_own_address(address: IPv4Address, network: IPv4Network) -> None:
    if address.is_unspecified or address.is_multicast or address.is_loopback:
        raise ValueError(f"{address} cannot be a host address")
    if int(address) == LIMITED_BROADCAST:
        raise ValueError(f"{address} cannot be a host address")
    if network.prefixlen < 31 and address in (network.network_address, network.broadcast_address):
        raise ValueError(f"{address} is the network or broadcast address of {network}")


def _check_gateway(gateway: IPv4Address, address: IPv4Address, network: IPv4Network) -> None:
    reserved = network.prefixlen < 31 and gateway in (
        network.network_address,
        network.broadcast_address,
    )
    if gateway not in network or gateway == address or reserved:
        raise ValueError(
            f"gateway {gateway} is not a usable address on {network} besides {address}"
        )
