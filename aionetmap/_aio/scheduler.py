"""TxScheduler: the one TX queue of a NetInterface, drained into its port by the driver.

Two kinds of senders push into it, and it never polls anybody:

* the host: frames it built (ARP and ICMP answers, datagrams released by ARP, fragments),
  taken with :meth:`TxScheduler.take_host_frames` after every host call. They go first.
* UDP endpoints: each gets an :class:`EndpointQueue` from :meth:`TxScheduler.queue_for`,
  appends datagrams to it (``sendto`` does, a list append each) and calls
  :meth:`TxScheduler.want` when the queue was empty. Queues with datagrams are served
  round robin; the endpoint hears through its
  :class:`~aionetmap.protocol.DatagramEndpoint` contract which datagrams the ring took
  (``datagrams_sent``) and which failed (``send_failed``).

A datagram larger than the MTU leaves as fragments, built by the host (the C fast
path builds single frames only). Its fragments are one group: they go into the TX ring in
one pass or not at all, so a full ring never leaves a peer half a datagram. An endpoint's
datagrams are taken from its queue only when the ring has room for all their frames, so
its flow control (``pause_writing``) sees every fragment of a queued datagram.
"""

from __future__ import annotations

from collections.abc import Callable

from aionetmap._aio.fastpath import UdpFastPath
from aionetmap._aio.txqueue import TxQueue, slots_per_frame, tx_capacity
from aionetmap.ports.base import FrameBatch, Port
from aionetmap.protocol import Address, DatagramEndpoint
from aionetmap.stack import MAX_UDP6_PAYLOAD, Host
from aionetmap.stack.ipv4 import fragment_payload_size
from aionetmap.stack.ipv6 import IPV6_HEADER_LEN
from aionetmap.stack.udp import UDP_HEADER_LEN

__all__ = ["EndpointQueue", "TxScheduler"]

_FRAGMENT_HEADER_LEN = 8  # the IPv6 fragment extension header


class EndpointQueue:
    """One endpoint's datagrams waiting for the ring: payloads and their destinations side
    by side (no pair tuple per datagram; the builder wants them apart anyway). The
    endpoint appends; the scheduler removes from the front."""

    __slots__ = (
        "connected",
        "dsts",
        "endpoint",
        "ipv4_only",
        "oversize",
        "payloads",
        "sizes",
        "unfragmented",
    )

    def __init__(
        self, endpoint: DatagramEndpoint, connected: bool, ipv4_only: bool, unfragmented: int
    ) -> None:
        self.endpoint = endpoint
        self.connected = connected
        """Sent by a connected endpoint (the host's IPv4 identification rules differ)."""
        self.ipv4_only = ipv4_only
        """Sent by an IPv4 endpoint: every destination is an IPv4 pair (none is looked at)."""
        self.payloads: list[bytes] = []
        self.dsts: list[Address] = []
        self.unfragmented = unfragmented
        """The largest payload that surely leaves in one frame: the host's
        ``max_unfragmented``, or for an IPv6 endpoint the lower IPv6 one (its datagrams
        may go either way)."""
        self.sizes: list[int] = []
        """Byte lengths of the first ``len(sizes)`` queued payloads, as ``sendto_many``
        measured them (a prefix: ``sendto`` adds none, so it may cover fewer than are
        queued, never more): the builder takes them instead of measuring again."""
        self.oversize = 0
        """How many queued payloads are larger than ``unfragmented``: the endpoint counts
        each it appends, the scheduler those it takes, so a TX pass learns whether it
        holds a datagram to fragment without looking at every length."""

    def clear(self) -> None:
        self.payloads.clear()
        self.dsts.clear()
        self.sizes.clear()
        self.oversize = 0


class TxScheduler:
    """Host frames first, then endpoint queues round robin, into one port.

    ``request_flush()`` asks the driver for a TX pass this loop iteration;
    ``host_used()`` says the host was handed datagrams and may have events to look at
    (both are the owning interface's, the same layer).
    """

    def __init__(
        self,
        port: Port,
        host: Host,
        fast: UdpFastPath | None,
        batch_capacity: int,
        *,
        request_flush: Callable[[], None],
        host_used: Callable[[], None],
    ) -> None:
        info = port.info
        self._port = port
        self._host = host
        self._fast = fast
        self._batch_capacity = batch_capacity
        self._request_flush = request_flush
        self._host_used = host_used
        self._frame_slots = slots_per_frame(info.backend, info.buf_size, host.mtu)
        self._tx_capacity = tx_capacity(info.tx_slots, info.tx_rings)
        self._fragment_size = fragment_payload_size(host.mtu)
        # IPv6 (RFC 8200 4.5): a 40-byte header and an 8-byte fragment header per fragment.
        self._unfragmented6 = host.mtu - IPV6_HEADER_LEN - UDP_HEADER_LEN
        self._fragment_size6 = (host.mtu - IPV6_HEADER_LEN - _FRAGMENT_HEADER_LEN) & ~7
        self._unfragmented_any = min(host.max_unfragmented, self._unfragmented6)
        self._control = TxQueue(port, self._frame_slots, self._tx_capacity)
        self._ready: dict[EndpointQueue, None] = {}  # insertion-ordered set: round robin
        self.max_payload = self._largest_payload(host.max_payload)
        """Largest UDP payload one datagram may carry: 65507 (the IPv4 limit), or less on
        a port whose TX ring cannot hold that many fragments at once."""
        self.max_payload6 = self._largest_payload(MAX_UDP6_PAYLOAD, ipv6=True)
        """The same over IPv6: 65527 (65535 - 8; no jumbograms), or less."""
        self.closed = False
        """Set by the owner when it closes (a callback during a pass may close it)."""

    # === Pushed in ===

    def queue_for(
        self, endpoint: DatagramEndpoint, *, connected: bool, ipv4_only: bool = True
    ) -> EndpointQueue:
        """A new, empty queue for ``endpoint`` (``ipv4_only=False``: an IPv6 endpoint,
        whose IPv6 destinations the host sends)."""
        whole = self._host.max_unfragmented if ipv4_only else self._unfragmented_any
        return EndpointQueue(endpoint, connected, ipv4_only, whole)

    def want(self, queue: EndpointQueue) -> None:
        """``queue`` has datagrams (it was empty): serve it in the next pass."""
        self._ready[queue] = None
        self._request_flush()

    def forget(self, queue: EndpointQueue) -> None:
        """The endpoint left: its queue is no longer served."""
        self._ready.pop(queue, None)

    def take_host_frames(self) -> bool:
        """Queue what the host wants sent; True if there was any."""
        return self._control.take_from(self._host)

    # === Drained by the driver ===

    def backlog(self) -> int:
        """Frames and datagrams waiting for the ring."""
        return len(self._control) + sum(len(queue.payloads) for queue in self._ready)

    def stats(self) -> dict[str, int]:
        """``control_queue`` (host entries waiting, a fragmented datagram once) and
        ``tx_groups_dropped`` (host groups too large for the whole ring)."""
        return {
            "control_queue": len(self._control),
            "tx_groups_dropped": self._control.groups_dropped,
        }

    def fill(self, now: float) -> bool:
        """Move host frames, then queued datagrams, into the ring; True if the ring filled."""
        if self._control.waiting and self._control.send():
            return True
        ready = self._ready
        for queue in list(ready):
            full = self._send_datagrams(queue, now)
            if self.closed:  # a protocol callback closed the interface
                return False
            # Protocol callbacks during the pass (error_received, resume_writing) may
            # have queued more: only a queue with nothing left leaves the round.
            if not queue.payloads:
                ready.pop(queue, None)
            elif full:  # round robin: the next pass serves the others first
                ready.pop(queue, None)
                ready[queue] = None
            if full:
                return True
        if ready:  # queued from a callback after its turn in this pass
            self._request_flush()
        return False

    def _send_datagrams(self, queue: EndpointQueue, now: float) -> bool:
        """Turn one queue's datagrams into frames in the ring; True when the ring filled
        first."""
        host = self._host
        endpoint = queue.endpoint
        payloads, dsts = queue.payloads, queue.dsts
        take = min(self._port.tx_space(), self._batch_capacity, len(payloads))
        oversize = 0
        if queue.oversize:  # some queued datagram needs fragments: is one in this pass?
            limit = queue.unfragmented
            oversize = sum(1 for size in map(len, payloads[:take]) if size > limit)
        fragmented = oversize > 0
        if fragmented:
            take = self._fitting(payloads, dsts, take)
            oversize = sum(1 for size in map(len, payloads[:take]) if size > limit)
        left_behind = take < len(payloads)
        chunk, chunk_dsts = payloads[:take], dsts[:take]
        built: FrameBatch | None = None
        src_port, connected = endpoint.local_port, queue.connected
        # send_failed may run from here on: the protocol may send, close, or close us.
        ipv6 = not queue.ipv4_only and any(len(dst) == 4 for dst in chunk_dsts)
        full = False
        if ipv6 and self._fast is not None and not fragmented:
            # (an IPv6 endpoint's queue counts as oversize what needs IPv6 fragments)
            full = self._send_mixed(chunk, chunk_dsts, src_port, now, queue)
        if self._fast is not None and not fragmented and not ipv6:
            sizes = queue.sizes  # the chunk's lengths, if sendto_many measured them all
            chunk_sizes = sizes[:take] if len(sizes) >= take else None
            built = self._fast.send(
                chunk, chunk_dsts, src_port, now, endpoint.send_failed, connected, chunk_sizes
            )
        elif self._fast is None or fragmented:  # the host fragments (the whole chunk, in order)
            for payload, dst in zip(chunk, chunk_dsts, strict=True):
                try:
                    host.send_datagram(payload, dst, src_port, now, connected=connected)
                except OSError as exc:
                    endpoint.send_failed(exc)
        if not self.closed:
            # Datagrams the fast path built itself leave the host untouched: no frames of
            # its to collect, no events (ARP queue overflow, resolution requests).
            host_called = self._fast is None or fragmented or self._fast.used_host
            full = self._queue_built(built, host_called) or full
            if host_called:  # its events are handled outside the pass
                self._host_used()
        # Only now that this chunk's frames are in the ring may the protocol hear that its
        # buffer drained (resume_writing, or connection_lost after close()). Until then
        # they stay queued: an endpoint closing still reports failures of queued ones.
        del payloads[:take]
        del dsts[:take]
        del queue.sizes[:take]  # a shorter prefix is gone with them (it stays a prefix)
        # (a close during the pass cleared the queue, and its count with it)
        queue.oversize = max(queue.oversize - oversize, 0) if payloads else 0
        endpoint.datagrams_sent(chunk)
        return full or left_behind

    def _send_mixed(
        self,
        chunk: list[bytes],
        dsts: list[Address],
        src_port: int,
        now: float,
        queue: EndpointQueue,
    ) -> bool:
        """A chunk with IPv6 destinations, built by the fast path run by run (one family
        each), every run's frames queued before the next run is built, so the chunk
        leaves in its order; True if the ring filled."""
        assert self._fast is not None
        full = False
        endpoint = queue.endpoint
        runs = self._fast.send_mixed(
            chunk, dsts, src_port, now, endpoint.send_failed, queue.connected
        )
        for built in runs:
            if self.closed:  # a send_failed callback closed the interface
                break
            if self._control and built is not None and built.count:
                # Earlier frames wait in the control queue: these go behind them.
                self._control.extend(built.frame_bytes(i) for i in range(built.count))
                full = True
                continue
            full = self._queue_built(built, host_called=True) or full  # a run may call it
        return full

    def _fitting(self, payloads: list[bytes], dsts: list[Address], take: int) -> int:
        """How many of the first ``take`` datagrams the ring has room for now, counting
        every fragment. A datagram is left in its queue (and its endpoint's flow control)
        until all of its frames fit; ``sendto`` refused any that could never fit."""
        space = self._port.tx_space()
        for i in range(take):
            space -= self._datagram_slots(len(payloads[i]), len(dsts[i]) == 4)
            if space < 0:
                return i
        return take

    # --- Slot counting per family (IPv6: a 4-tuple destination) ---

    def _sizes(self, ipv6: bool) -> tuple[int, int]:
        """The largest unfragmented payload and the payload bytes per fragment."""
        if ipv6:
            return self._unfragmented6, self._fragment_size6
        return self._host.max_unfragmented, self._fragment_size

    def _datagram_slots(self, size: int, ipv6: bool = False) -> int:
        """TX slots a UDP datagram with ``size`` bytes of payload takes."""
        whole, step = self._sizes(ipv6)
        if size <= whole:
            return 1  # as the unfragmented path has always counted (one frame)
        fragments = -(-(size + UDP_HEADER_LEN) // step)
        return fragments * self._frame_slots

    def _largest_payload(self, limit: int, ipv6: bool = False) -> int:
        """``limit``, or the largest payload whose fragments fit the whole TX ring."""
        if self._datagram_slots(limit, ipv6) <= self._tx_capacity:
            return limit
        whole, step = self._sizes(ipv6)
        fragments = self._tx_capacity // self._frame_slots
        return max(whole, fragments * step - UDP_HEADER_LEN)

    def _queue_built(self, built: FrameBatch | None, host_called: bool) -> bool:
        """Put the fast path's frames, then the host's (if it was called), into the ring;
        True if it filled."""
        full = False
        control = self._control
        if built is not None and built.count:
            sent = self._port.send_batch(built)
            if sent < built.count:  # frames spanning slots: keep the rest, in order
                control.extend(built.frame_bytes(i) for i in range(sent, built.count))
                full = True
        if host_called:
            control.take_from(self._host)
        waiting = control.waiting  # the list itself: no method call per pass
        if waiting and not full:
            full = control.send()
        return full or bool(waiting)
