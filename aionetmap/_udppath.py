"""The UDP fast path of a NetInterface: C classify on receive, C build on send.

One native call decides a whole received batch (``FastClassifier``): valid datagrams for
bound ports go straight to their endpoints; drops are counted in the host's stats under
the same reasons the Python stack uses; only what needs the Python host (ARP, ICMP,
fragments, closed ports) reaches ``Host.receive_frame``. On send, datagrams to resolved
neighbours are built by one native call (``FastUdpBuilder``), sharing the host's IPv4
identification counter; the rest go through ``Host.send_datagram`` (which ARPs and parks).

The two paths agree frame for frame (property tests in tests/native/test_fast_*.py), so
this is an optimisation, not a second stack: ``NetInterface(fast_path=False)`` runs
everything through the Python host and must behave the same.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from aionetmap._native.udpfast import KIND_DELIVER, KIND_SLOW, FastClassifier, FastUdpBuilder
from aionetmap.ports.base import FrameBatch
from aionetmap.stack import DropReason, Host

if TYPE_CHECKING:
    from aionetmap.udp_transport import UdpTransport

__all__ = ["UdpFastPath"]

Address = tuple[str, int]

NEIGHBOUR_RECHECK = 1.0
"""Seconds a resolved neighbour is used before asking the host again, so ARP expiry in
the host takes effect here within that time."""

_CACHE_LIMIT = 65536


class UdpFastPath:
    """Native classify/build for one host; the caller owns the port and the endpoints."""

    def __init__(self, host: Host, capacity: int) -> None:
        self.host = host
        ctx = host.context
        self._classifier = FastClassifier(capacity)
        self._classifier.set_context(ctx.mac, ctx.ip, ctx.broadcast, ctx.mtu)
        self._builder = FastUdpBuilder(capacity)
        self._builder.set_source(host.mac, int(host.address), host.config.default_ttl)
        # Received source addresses as the (str, port) tuples protocols get, by ip<<16|port:
        # saves converting the address and building the tuple for every datagram.
        self._sources: dict[int, Address] = {}
        # Resolved destinations: ip text -> (MAC, ip as int, recheck time).
        self._neighbours: dict[str, tuple[bytes, int, float]] = {}

    def bind(self, port: int) -> None:
        self._classifier.bind(port)

    def unbind(self, port: int) -> None:
        self._classifier.unbind(port)

    # === receive ===

    def receive(self, batch: FrameBatch, now: float, endpoints: dict[int, UdpTransport]) -> None:
        """Classify ``batch`` in C and act on every frame, in order."""
        cls = self._classifier
        count = cls.classify(batch)
        host = self.host
        stats = host.stats
        stats.rx_frames += count - cls.slow  # receive_frame counts the slow ones itself
        stats.rx_udp_delivered += cls.delivered
        blob = batch.data[: batch.used].tobytes() if cls.delivered else b""
        offsets, lengths = cls.payload_offsets, cls.payload_lengths
        ips, sports, dports = cls.src_ips, cls.src_ports, cls.dst_ports
        sources = self._sources
        if cls.delivered == count:
            # Under load nearly every batch is all datagrams for us: no per-frame kind test.
            for off, size, ip, sport, dport in zip(
                offsets[:count],
                lengths[:count],
                ips[:count],
                sports[:count],
                dports[:count],
                strict=True,
            ):
                key = ip << 16 | sport
                src = sources.get(key) or self._source(key)
                endpoint = endpoints.get(dport)
                if endpoint is not None:
                    endpoint.deliver(blob[off : off + size], src)
            return
        kinds, reasons = cls.kinds, cls.reasons
        for i in range(count):
            kind = kinds[i]
            if kind == KIND_DELIVER:
                key = ips[i] << 16 | sports[i]
                src = sources.get(key) or self._source(key)
                endpoint = endpoints.get(dports[i])
                if endpoint is not None:
                    off = offsets[i]
                    endpoint.deliver(blob[off : off + lengths[i]], src)
            elif kind == KIND_SLOW:
                host.receive_frame(batch.frame(i), now)
            else:
                stats.drop(DropReason(reasons[i]))

    def _source(self, key: int) -> Address:
        if len(self._sources) >= _CACHE_LIMIT:
            self._sources.clear()
        src = (str(ipaddress.IPv4Address(key >> 16)), key & 0xFFFF)
        self._sources[key] = src
        return src

    # === send ===

    def send(
        self,
        chunk: Sequence[tuple[bytes, Address]],
        src_port: int,
        now: float,
        failed: Callable[[OSError], None],
    ) -> FrameBatch | None:
        """Turn queued datagrams into frames.

        Datagrams to resolved neighbours come back built in a FrameBatch (owned by the
        builder, valid until the next call); the others go to the host, whose frames the
        caller collects with ``host.frames_to_send()``. ``failed`` hears of datagrams the
        host refused at once (no route, bad destination).
        """
        payloads: list[bytes] = []
        macs: list[bytes] = []
        ips: list[int] = []
        ports: list[int] = []
        neighbours = self._neighbours
        host = self.host
        for payload, dst in chunk:
            entry = neighbours.get(dst[0])
            if entry is None or entry[2] <= now:
                entry = self._resolve(dst[0], now)
            if entry is None:
                try:
                    host.send_datagram(payload, dst, src_port, now)
                except OSError as exc:
                    failed(exc)
                continue
            payloads.append(payload)
            macs.append(entry[0])
            ips.append(entry[1])
            ports.append(dst[1])
        if not payloads:
            return None
        builder = self._builder
        builder.ident = host.reserve_idents(len(payloads))
        batch = builder.build(payloads, b"".join(macs), ips, ports, src_port)
        host.stats.tx_udp += batch.count
        return batch

    def _resolve(self, ip_text: str, now: float) -> tuple[bytes, int, float] | None:
        """The neighbour a datagram to ``ip_text`` goes to, if the host has resolved it."""
        host = self.host
        ip = ipaddress.IPv4Address(ip_text)
        try:
            hop = host.next_hop(ip)
        except OSError:
            return None  # the host path reports it
        mac = host.cached_mac(hop, now)
        if mac is None:
            self._neighbours.pop(ip_text, None)
            return None
        if len(self._neighbours) >= _CACHE_LIMIT:
            self._neighbours.clear()
        entry = (mac, int(ip), now + NEIGHBOUR_RECHECK)
        self._neighbours[ip_text] = entry
        return entry
