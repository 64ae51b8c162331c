"""The Port interface every backend implements, and the description of an open port.

A Port is synchronous and non-blocking. Transports drive it from the event loop's
readiness callbacks and never see which backend is underneath.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from aionetmap._native.batch import FrameBatch

__all__ = ["FrameBatch", "Port", "PortClosedError", "PortInfo", "TxWakeup"]

TxWakeup = Literal["writable", "readable"]
"""How a port tells the loop that TX room came back after the TX ring filled up:
``"writable"``: watch the fd with ``loop.add_writer`` (netmap, AF_PACKET);
``"readable"``: the port's own fd turns readable (the software pipe's peer signals it)."""


class PortClosedError(OSError):
    """An operation was attempted on a port that is already closed."""


@dataclass(frozen=True, slots=True)
class PortInfo:
    """What an open port looks like. Fields a backend cannot know are ``None``."""

    name: str
    """The portspec it was opened with: ``netmap:eth0-1``, ``pipe:demo{0``, ``packet:veth0``."""
    backend: Literal["netmap", "pipe", "packet"]
    rx_rings: int
    """RX rings bound to this port (not the adapter's total)."""
    tx_rings: int
    rx_slots: int
    tx_slots: int
    buf_size: int
    """Bytes per ring buffer (one slot)."""
    max_frame: int
    """Largest frame ``send`` accepts (a frame may span slots where the port supports it)."""
    mem_id: int | None = None
    """netmap memory allocator id: zero-copy buffer swaps need equal ids."""
    mtu: int | None = None
    mac: bytes | None = None
    """Hardware address of the interface, when the backend knows it."""
    ifname: str | None = None
    """Kernel-side name (``eth0``, ``vale0:p``, ``veth0``)."""
    unflagged_partial_checksums: bool = False
    """Frames a local kernel sent may arrive with a partial UDP checksum (left to TX
    offload) and no flag saying so: netmap on an OS interface (emulated adapter on veth,
    host rings). A host on such a port accepts a checksum field equal to the pseudo-header
    sum unless its config says otherwise (``HostConfig.accept_partial_checksum``)."""


@runtime_checkable
class Port(Protocol):
    """A source and sink of Ethernet frames with ring semantics.

    Receive and transmit work in batches: ``recv`` fills a :class:`FrameBatch` with one
    native call, ``send``/``send_batch`` queue frames into the TX ring(s) and ``flush``
    hands them to the other side (netmap's TXSYNC). Nothing here blocks.
    """

    @property
    def info(self) -> PortInfo: ...

    @property
    def closed(self) -> bool: ...

    @property
    def tx_wakeup(self) -> TxWakeup: ...

    def fileno(self) -> int:
        """The fd to register with ``loop.add_reader`` (and ``add_writer`` when TX is full
        and ``tx_wakeup == "writable"``)."""
        ...

    def recv(self, batch: FrameBatch, max_frames: int | None = None) -> int:
        """Move up to ``max_frames`` received frames (default: the batch capacity) into
        ``batch`` (replacing its contents), release their slots, and return how many.
        Returns 0 when nothing is waiting."""
        ...

    def send(self, frames: Sequence[bytes | bytearray | memoryview]) -> int:
        """Queue frames into TX slots in order; return how many were queued (the caller
        keeps the rest for later). Frames over ``info.max_frame`` raise ``ValueError``
        before anything is queued. Call ``flush`` to transmit."""
        ...

    def send_batch(self, batch: FrameBatch, start: int = 0) -> int:
        """Queue ``batch`` frames ``start..count-1``; return how many were queued."""
        ...

    def tx_space(self) -> int:
        """Free TX slots right now (a frame may need more than one)."""
        ...

    def tx_pending(self) -> int:
        """Frames the port holds that still need another ``flush()`` from us to leave
        (the software pipe's peer had no room; the kernel refused a packet socket's batch).
        The driver keeps waiting for the TX wake-up while this is non-zero, and a graceful
        close flushes until it is 0. Frames a NIC is transmitting on its own do not count
        here (see :meth:`tx_in_flight`)."""
        ...

    def tx_in_flight(self) -> int:
        """Frames (TX slots, for ring ports) queued or handed over that the other side has
        not taken yet: a NIC still transmitting, a pipe peer still to read. Nothing but
        more ``flush()`` calls is needed for them to leave, so the driver does not wait for
        a wake-up on their account; a graceful close waits until this is 0 too, since
        closing the port would lose them (leaving netmap mode resets a NIC's rings)."""
        ...

    def flush(self) -> None:
        """Hand queued TX frames to the other side and reclaim completed slots."""
        ...

    def poll_error(self) -> OSError | None:
        """Take a pending error off the port's fd, if any.

        ``ENETDOWN``: the link is down; the port stays usable and receives again once the
        link is back. Any other errno: the port is dead (its interface is gone). Ports whose
        fd never reports errors return ``None``.
        """
        ...

    def stats(self) -> Mapping[str, int]:
        """Counters: ``rx_frames``, ``tx_frames``, and ``*_dropped_<reason>`` entries."""
        ...

    def close(self) -> None:
        """Release the rings and the fd. Idempotent."""
        ...
