"""The UDP fast path of a NetInterface: C classify on receive, C build on send.

One native call decides a whole received batch (``FastClassifier``): valid datagrams for
bound ports go straight to their endpoints; what it decides is counted in its own
:class:`~aionetmap.stack.StackStats` (``UdpFastPath.stats``), under the same names and drop
reasons the Python stack uses, and the interface adds the two in its ``stats()``; only
what needs the Python host (ARP, ICMP, fragments, closed ports, IPv6 other than UDP to
our addresses) reaches ``Host.receive_frame``. IPv6 UDP to our addresses and UDP to IPv4
groups are delivered here too (:mod:`~aionetmap._aio.fastpath_rx`), group datagrams by
the host's membership rule. On send, datagrams to resolved neighbours are built by one
native call per pass (:mod:`~aionetmap._aio.fastsend`: ``Udp4Sender``, and
:class:`~aionetmap._aio.fastpath6.Udp6Sender` for IPv6), group datagrams included; the
rest go through ``Host.send_datagram`` (which resolves and parks). The builders make
single frames only: datagrams larger than the MTU never reach them (the scheduler hands
them to the host, which fragments). A queue mixing both families is built run by run
(:meth:`UdpFastPath.send_mixed`), in order.

The two paths agree frame for frame (property tests in tests/native/test_fast_*.py), so
this is an optimisation, not a second stack: ``NetInterface(fast_path=False)`` runs
everything through the Python host and must behave the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import cast

from aionetmap._aio.fastpath6 import Udp6Sender, family_runs
from aionetmap._aio.fastpath_rx import ExtraReceiver
from aionetmap._aio.fastsend import Udp4Sender
from aionetmap._native.fast_classifier import FastClassifier
from aionetmap._native.fast_common import KIND_DELIVER, KIND_DELIVER6, KIND_GROUP, KIND_SLOW
from aionetmap.ports.base import FrameBatch
from aionetmap.protocol import Address, DatagramEndpoint
from aionetmap.stack import DropReason, Host, StackStats
from aionetmap.stack.addresses import int_to_str

__all__ = ["UdpFastPath"]

NEIGHBOUR_RECHECK = 1.0
"""Seconds a resolved destination is used before asking the host again, so ARP expiry in
the host takes effect here within that time."""

_CACHE_LIMIT = 65536


class UdpFastPath:
    """Native classify/build for one host; the caller owns the port and the endpoints."""

    def __init__(self, host: Host, capacity: int) -> None:
        self.host = host
        ctx = host.context
        self._classifier = FastClassifier(capacity)
        self._classifier.set_context(
            ctx.mac,
            ctx.ip,
            ctx.broadcast,
            ctx.mtu,
            ctx.vlan,
            accept_partial_checksum=ctx.accept_partial_checksum,
        )
        self._multicast_version = -1  # the host's group MACs are copied before a batch
        self.stats = StackStats()
        """What the fast path decided and built itself (the host counts the rest): frames
        classified, datagrams delivered, drops by reason, datagrams built."""
        # Received source addresses as the (str, port) tuples protocols get, by ip<<16|port:
        # saves converting the address and building the tuple for every datagram.
        self._sources: dict[int, Address] = {}
        self.extra = ExtraReceiver(host, self._classifier, self._source)
        """IPv6 and IPv4 group deliveries (its ``rx_dropped_family`` counts IPv6 datagrams
        no endpoint of that family and address hears)."""
        self._four = Udp4Sender(host, capacity, self.stats, NEIGHBOUR_RECHECK)
        six = host.ipv6
        self._six = (
            None if six is None else Udp6Sender(host, six, capacity, self.stats, NEIGHBOUR_RECHECK)
        )
        self.used_host = False
        """Whether the last :meth:`send` handed anything to the host (only datagrams to
        destinations not yet in the table can: the others are built here)."""

    def bind(self, port: int, *, wildcard: bool = False) -> None:
        self._classifier.bind(port, wildcard=wildcard)

    def unbind(self, port: int) -> None:
        self._classifier.unbind(port)

    # === receive ===

    def receive(
        self,
        batch: FrameBatch,
        now: float,
        endpoints: dict[int, DatagramEndpoint],
        host_events: Callable[[], None] | None = None,
    ) -> bool:
        """Classify ``batch`` in C and act on every frame, in order; True if some went to
        the host (which may then have events, frames and a new timer to look at).

        ``host_events`` is called right after a frame the host turned into events (a
        datagram it reassembled), so those reach their endpoints in arrival order too, as
        a kernel socket delivers a reassembled datagram when its last fragment arrives."""
        cls = self._classifier
        host = self.host
        if host.multicast_version != self._multicast_version:
            cls.set_multicast_macs(host.multicast_macs)
            self._multicast_version = host.multicast_version
        extra = self.extra
        extra.refresh()
        count = cls.classify(batch)
        stats = self.stats
        stats.rx_frames += count - cls.slow  # receive_frame counts the slow ones
        stats.rx_udp_delivered += cls.delivered + cls.delivered6  # groups: group_verdict
        if cls.csum_offloaded or cls.csum_pseudo:
            stats.rx_udp_csum_offloaded += cls.csum_offloaded
            stats.rx_udp_csum_partial += cls.csum_pseudo
        if count and cls.delivered == count:
            if count == 1:  # one datagram in flight (a latency-bound peer): no list work
                self._deliver_one(batch, endpoints)
                return False
            # Under load nearly every batch is all datagrams for us: build the payloads and
            # addresses list-wise, and hand them over per endpoint.
            self._deliver_all(batch, count, endpoints)
            return False
        if count and cls.delivered6 == count:
            extra.deliver_all6(batch, count, endpoints)
            return False
        taken = cls.delivered or cls.delivered6 or cls.grouped
        blob = batch.data[: batch.used].tobytes() if taken else b""
        offsets, lengths = cls.payload_offsets, cls.payload_lengths
        keys, dports = cls.src_keys, cls.dst_ports
        sources = self._sources
        kinds, reasons = cls.kinds, cls.reasons
        for i in range(count):
            kind = kinds[i]
            if kind == KIND_DELIVER:
                key = keys[i]
                src = sources.get(key) or self._source(key)
                endpoint = endpoints.get(dports[i])
                if endpoint is not None:
                    off = offsets[i]
                    endpoint.deliver(blob[off : off + lengths[i]], src)
            elif kind == KIND_SLOW:  # with its checksum flag: C accepted it on that too
                host.receive_frame(batch.frame(i), now, batch.frame_csum(i))
                if host_events is not None and host.has_events:
                    host_events()
            elif kind == KIND_DELIVER6:
                extra.deliver6(i, blob, endpoints)
            elif kind == KIND_GROUP:
                extra.group(i, blob, endpoints, sources)
            else:
                stats.drop(DropReason(reasons[i]))
        return cls.slow > 0

    def _deliver_one(self, batch: FrameBatch, endpoints: dict[int, DatagramEndpoint]) -> None:
        """A batch of one datagram for us, classified by C (its offsets are C's, checked
        against the batch there)."""
        cls = self._classifier
        endpoint = endpoints.get(cls.dst_ports[0])
        if endpoint is None:
            return
        start = cls.payload_offsets[0]
        payload = batch.data[start : start + cls.payload_lengths[0]].tobytes()
        key = cls.src_keys[0]
        endpoint.deliver(payload, self._sources.get(key) or self._source(key))

    def _deliver_all(
        self, batch: FrameBatch, count: int, endpoints: dict[int, DatagramEndpoint]
    ) -> None:
        cls = self._classifier
        payloads = cls.payloads(batch)
        if payloads is None:  # frames not in arena order: slice one by one
            starts = cls.payload_offsets[:count].tolist()
            sizes = cls.payload_lengths[:count].tolist()
            blob = batch.data[: max(map(int.__add__, starts, sizes))].tobytes()
            pairs = zip(starts, sizes, strict=True)
            payloads = tuple(blob[start : start + size] for start, size in pairs)
        sources = self._batch_sources(count)
        ports = cls.dst_ports[:count]
        first = ports[0]
        if _all_same(ports):  # one endpoint takes the whole batch
            endpoint = endpoints.get(first)
            if endpoint is not None:
                endpoint.deliver_many(payloads, sources)
            return
        for payload, src, port in zip(payloads, sources, ports, strict=True):
            endpoint = endpoints.get(port)
            if endpoint is not None:
                endpoint.deliver(payload, src)

    def _batch_sources(self, count: int) -> list[Address]:
        """The source addresses of the first ``count`` frames classified: one lookup when
        they all come from one peer (the same tuple ``count`` times), else one each."""
        keys = self._classifier.src_keys[:count]
        if _all_same(keys):
            key = keys[0]
            return [self._sources.get(key) or self._source(key)] * count
        found = list(map(self._sources.get, keys.tolist()))
        if None not in found:
            return cast("list[Address]", found)
        return [src or self._source(key) for src, key in zip(found, keys.tolist(), strict=True)]

    def _source(self, key: int) -> Address:
        if len(self._sources) >= _CACHE_LIMIT:
            self._sources.clear()
        src = (int_to_str(key >> 16), key & 0xFFFF)
        self._sources[key] = src
        return src

    # === send ===

    def send(
        self,
        payloads: list[bytes],
        dsts: list[Address],
        src_port: int,
        now: float,
        failed: Callable[[OSError], None],
        connected: bool = False,
        sizes: list[int] | None = None,
    ) -> FrameBatch | None:
        """Turn queued datagrams (``payloads[i]`` to ``dsts[i]``, each fitting the MTU)
        into frames; ``connected``: sent by a connected endpoint (see ``Host``'s
        identification rules); ``sizes``: the payloads' byte lengths, if known.

        Datagrams to resolved neighbours come back built in a FrameBatch (owned by the
        builder, valid until the next call); the others go to the host, whose frames the
        caller collects with ``host.take_frames()``. ``failed`` hears of datagrams the
        host refused at once (no route, bad destination).
        """
        four = self._four
        batch = four.send(payloads, dsts, src_port, now, failed, connected, sizes)
        self.used_host = four.used_host
        return batch

    def send_mixed(
        self,
        payloads: list[bytes],
        dsts: list[Address],
        src_port: int,
        now: float,
        failed: Callable[[OSError], None],
        connected: bool = False,
    ) -> Iterator[FrameBatch | None]:
        """:meth:`send` for a queue with IPv6 destinations (each fitting the IPv6 MTU):
        one batch per run of one family, in the queue's order. The caller puts each batch
        into the ring before taking the next (a builder reuses its batch)."""
        used = False
        six = self._six
        for start, stop, ipv6 in family_runs(dsts):
            part, part_dsts = payloads[start:stop], dsts[start:stop]
            if not ipv6:
                yield self.send(part, part_dsts, src_port, now, failed, connected)
                used = used or self.used_host
            elif six is not None:
                yield six.send(part, part_dsts, src_port, now, failed)
                used = used or six.used_host
            else:  # no IPv6 here: the host refuses each (EAFNOSUPPORT)
                for payload, dst in zip(part, part_dsts, strict=True):
                    try:
                        self.host.send_datagram(payload, dst, src_port, now)
                    except OSError as exc:
                        failed(exc)
                used = True
                yield None
        self.used_host = used


def _all_same(items: memoryview) -> bool:
    """Whether every item of a (non-empty) memoryview equals the first: compared as bytes,
    in C, without making an int per item."""
    raw = items.tobytes()
    return raw == raw[: items.itemsize] * len(items)
