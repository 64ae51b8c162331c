"""Protocols: the callbacks each side of a layer boundary receives, with their call order.

In the spirit of asyncio's ``protocols.py``, every call that goes *up* the layers goes
through one of these classes; everything else calls down only.

* :class:`FrameProtocol`: what a raw Ethernet (L2) endpoint's user code receives. UDP
  endpoints need no protocol class of ours: a plain :class:`asyncio.DatagramProtocol`
  works unchanged, exactly as with ``loop.create_datagram_endpoint``.
* :class:`BatchDatagramProtocol`: a :class:`asyncio.DatagramProtocol` that may take its
  received datagrams a batch per call (``datagrams_received``), beyond asyncio.
* :class:`PortOwner`: what a :class:`~aionetmap._aio.driver.PortDriver` calls on the object
  that owns it (a :class:`~aionetmap.NetInterface`, a :class:`~aionetmap.FrameTransport`).
* :class:`DatagramEndpoint`: what an interface and its TX scheduler call on a UDP endpoint
  (a :class:`~aionetmap.UdpTransport`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from aionetmap.ports.base import FrameBatch

__all__ = [
    "Address",
    "BatchDatagramProtocol",
    "DatagramEndpoint",
    "FrameProtocol",
    "PortOwner",
]

Address = tuple[str, int]
"""An IPv4 UDP address as protocols see it: ``(dotted quad, port)``."""


class FrameProtocol(asyncio.BaseProtocol):
    """Interface for raw-frame protocols, in the shape of :class:`asyncio.DatagramProtocol`.

    Call order: ``connection_made`` -> (``frames_received`` | ``error_received``)* ->
    ``connection_lost``. ``pause_writing``/``resume_writing`` follow the transport's write
    buffer limits as for any asyncio transport.
    """

    def frame_received(self, frame: bytes) -> None:
        """Called with each received Ethernet frame (a copy: it stays valid)."""

    def frames_received(self, frames: Sequence[bytes]) -> None:
        """Called once per batch of received frames.

        The default calls :meth:`frame_received` for each; override it to handle a whole
        batch in one call, which saves a Python call per frame.
        """
        for frame in frames:
            self.frame_received(frame)

    def error_received(self, exc: OSError) -> None:
        """Called when a frame could not be sent (for example, larger than the port allows)."""


class BatchDatagramProtocol(asyncio.DatagramProtocol):
    """A UDP protocol that takes received datagrams a batch per call.

    Call order as for :class:`asyncio.DatagramProtocol`: ``connection_made`` ->
    (``datagrams_received`` | ``datagram_received`` | ``error_received``)* ->
    ``connection_lost``. A :class:`~aionetmap.UdpTransport` calls
    :meth:`datagrams_received` once for everything one read of the port brought for this
    endpoint, when the protocol's class overrides it (the transport checks the class, as
    :class:`FrameProtocol` ``frames_received`` is checked); otherwise it calls
    ``datagram_received`` per datagram, as asyncio does. Any object whose class defines
    ``datagrams_received`` gets batches too: subclassing is for readers and type checkers.

    Pair it with :meth:`aionetmap.UdpTransport.sendto_many` to answer a batch in one call.
    """

    def datagrams_received(self, data: Sequence[bytes], addrs: Sequence[Address]) -> None:
        """Called with a batch of received datagrams: ``data[i]`` came from ``addrs[i]``
        (an ``(ip, port)`` tuple), in arrival order; never empty.

        Both sequences (a list or a tuple) and everything in them are the protocol's to
        keep: the transport never reuses them. A whole batch is delivered even if the
        protocol pauses reading, closes the transport or swaps protocols during the call;
        later datagrams follow the new state (held while paused, dropped once closing,
        to the new protocol). The default calls ``datagram_received`` for each.
        """
        for payload, addr in zip(data, addrs, strict=True):
            self.datagram_received(payload, addr)


class PortOwner(Protocol):
    """What a ``PortDriver`` calls on its owner; the driver owns no data of its own.

    Call order: after ``driver.start()``, any number of ``batch_received`` (one per
    readable callback), and TX passes: ``fill_tx`` one or more times (each followed by a
    port flush) whenever the owner asked for a flush or the ring got room, with
    ``tx_backlog`` asked in between while draining, and ``tx_drained`` once a drain ends.
    ``link_down`` may come at any time, any number of times (the driver carries on);
    ``port_failed`` comes at most once and last: the driver has stopped itself before it.
    After ``driver.close()`` only ``tx_drained(0)`` still comes, for a drain asked of a
    closed driver. Callbacks may call the driver again (``request_flush``, ``flush_now``,
    ``close``).
    """

    def batch_received(self, batch: FrameBatch) -> None:
        """Frames read from the port; ``batch`` is valid only during the call."""

    def fill_tx(self) -> bool:
        """Move as much backlog as fits into the port; True when some is left because the
        TX ring is full."""
        ...

    def tx_backlog(self) -> int:
        """Frames (or datagrams) the owner still holds for the port."""
        ...

    def port_failed(self, exc: BaseException, message: str) -> None:
        """The port failed (a read or write error other than a link going down)."""

    def link_down(self, exc: OSError) -> None:
        """The port's link went down (``ENETDOWN``); traffic resumes when it is back."""

    def tx_drained(self, left: int) -> None:
        """Once per ``driver.drain(stall)`` not cancelled: everything the owner and the
        port held has been taken by the other side (``left == 0``), or nothing moved for a
        stall period and ``left`` frames are still waiting."""


class DatagramEndpoint(Protocol):
    """What an interface calls on one bound UDP endpoint (the transport's owner side).

    Call order: the interface registers the endpoint once it is bound; then, in any
    order, ``deliver``/``deliver_many`` (received datagrams, in arrival order),
    ``send_failed`` (a datagram of its was dropped on the way), ``datagrams_sent`` (the
    TX scheduler moved its oldest queued datagrams into the ring: sent or failed),
    ``link_down``. Last, at most once: ``interface_failed`` (the port failed) or
    ``abort`` (the interface closed). The endpoint leaves with ``interface.detach()``.
    """

    local_port: int

    def deliver(self, payload: bytes, src: Address) -> None:
        """One received datagram."""

    def deliver_many(self, payloads: Sequence[bytes], sources: Sequence[Address]) -> None:
        """Received datagrams, ``payloads[i]`` from ``sources[i]`` (the hot path)."""

    def send_failed(self, exc: OSError) -> None:
        """A datagram of this endpoint was dropped (no ARP answer, an ICMP error...)."""

    def is_connected_to(self, addr: Address) -> bool:
        """Whether the endpoint is connected to ``addr`` (only those hear ICMP errors)."""
        ...

    def datagrams_sent(self, payloads: list[bytes]) -> None:
        """The scheduler took these, the oldest queued datagrams, off the endpoint's queue
        (into the ring, or failed): flow control may resume."""

    def link_down(self, exc: OSError) -> None:
        """The port's link went down; the endpoint stays open."""

    def interface_failed(self, exc: BaseException, message: str) -> None:
        """The interface's port failed: the endpoint closes with ``exc``."""

    def abort(self) -> None:
        """The interface closed: close at once."""
