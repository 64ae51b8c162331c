"""FrameTransport: raw Ethernet frames on one port, no IP stack."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Iterable
from typing import Any

from aionetmap._aio import constants
from aionetmap._aio.driver import PortDriver
from aionetmap._aio.log import logger
from aionetmap._aio.transport_base import PortTransportBase
from aionetmap.ports.base import FrameBatch, Port
from aionetmap.protocol import FrameProtocol
from aionetmap.stack.ethernet import ETH_HEADER_LEN

__all__ = ["ETHERNET_HEADER_SIZE", "FrameTransport"]

ETHERNET_HEADER_SIZE = ETH_HEADER_LEN
"""The shortest frame :meth:`FrameTransport.sendto` accepts."""

Frame = bytes | bytearray | memoryview


class FrameTransport(PortTransportBase, asyncio.DatagramTransport):
    """A datagram-style transport whose datagrams are whole Ethernet frames.

    Received frames reach ``protocol.frames_received(list_of_bytes)`` once per batch when
    the protocol implements that method (see :class:`aionetmap.FrameProtocol`); a
    FrameProtocol that only implements ``frame_received`` gets one call per frame, and a
    plain :class:`asyncio.DatagramProtocol` one ``datagram_received(frame, None)`` per
    frame. Per-frame delivery stops at once when the protocol closes, aborts or pauses
    reading; a whole-batch call gets the whole batch. Frames are copies and stay valid.

    ``pause_reading()`` stops draining the port: the transport is its port's only reader,
    so frames wait in the RX ring, where a software-pipe (or netmap pipe/VALE) peer is
    held back once it is full and a NIC or AF_PACKET socket drops and counts as it does
    for any slow reader. Frames of a batch already taken when the protocol paused are
    held (up to the read-buffer limit, see :meth:`set_read_buffer_limit`; beyond it
    dropped and counted as ``rx_dropped_paused``). ``resume_reading()`` delivers the held
    frames first, then drains the ring again, in order.

    ``send()`` never blocks: frames queue in the transport, and everything queued during
    one loop iteration goes into the TX ring with one native call and one flush.
    ``close()`` waits until the port's peer has taken every queued frame (a NIC's TX ring
    included) for as long as frames keep leaving; only a stall of ``CLOSE_STALL_TIMEOUT``
    seconds drops the rest, counted as ``tx_dropped_close`` and logged as a warning.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        port: Port,
        protocol: Any,
        *,
        owns_port: bool = True,
        waiter: asyncio.Future[None] | None = None,
    ) -> None:
        info = port.info
        extra = {
            "port_info": info,
            "portspec": info.name,
            "mac": info.mac,
            "sockname": None,
            "peername": None,
        }
        # The driver first: it fails on a closed port, and a transport that failed before
        # the base __init__ has no loop, so it does not warn that it was left open.
        self._driver = PortDriver(loop, port, self)
        super().__init__(loop, protocol, extra)
        self._port = port
        self._owns_port = owns_port
        self._max_frame = info.max_frame
        self._buffer: list[bytes] = []
        self._head = 0  # first unsent frame in _buffer
        self._drain_pending = False
        self._counters = {
            "rx_frames": 0,
            "tx_frames": 0,
            "rx_dropped_paused": 0,
            "tx_dropped_close": 0,
        }
        self._schedule_connection_made(waiter)

    def __repr__(self) -> str:
        state = "closed" if self._conn_lost else ("closing" if self._closing else "open")
        return (
            f"<FrameTransport {self._port.info.name} {state} "
            f"bufsize={self._buffer_size} reading={self.is_reading()}>"
        )

    # === Public API ===

    def send(self, frame: Frame) -> None:
        """Queue one Ethernet frame (header included) for transmission."""
        if not isinstance(frame, (bytes, bytearray, memoryview)):
            raise TypeError(
                f"data argument must be a bytes-like object, not {type(frame).__name__!r}"
            )
        data = bytes(frame)
        if len(data) < ETHERNET_HEADER_SIZE:
            raise ValueError(
                f"a frame needs at least a {ETHERNET_HEADER_SIZE}-byte Ethernet header, "
                f"got {len(data)} bytes"
            )
        if not self._check_open():
            return
        if len(data) > self._max_frame:
            self._report(
                OSError(
                    errno.EMSGSIZE,
                    f"frame of {len(data)} bytes exceeds the {self._max_frame}-byte maximum "
                    f"of port {self._port.info.name}",
                )
            )
            return
        self._buffer.append(data)
        self._buffer_size += len(data)
        self._after_queue()

    def send_many(self, frames: Iterable[Frame]) -> None:
        """Queue several frames; same rules as :meth:`send` for each."""
        for frame in frames:
            self.send(frame)

    def sendto(self, data: Frame, addr: Any = None) -> None:
        """:class:`asyncio.DatagramTransport` spelling of :meth:`send`; ``addr`` must be None
        (a frame carries its own destination MAC)."""
        if addr is not None:
            raise ValueError(f"Invalid address: must be None for a frame transport, got {addr!r}")
        self.send(data)

    def stats(self) -> dict[str, int]:
        """This transport's counters merged with its port's; ``rx_held`` is how many
        received frames are held for a paused protocol now."""
        merged = dict(self._port.stats())
        merged.update(self._counters)
        merged["rx_held"] = len(self._held)
        return merged

    # === Internals ===

    def _set_connected(self) -> None:
        super()._set_connected()
        if not self._closing:  # reading starts only now, after connection_made
            self._driver.start()

    def _after_queue(self) -> None:
        self._driver.request_flush()
        if self._buffer_size > self._high_water:
            # Push to the ring now rather than pause a protocol whose ring still has room.
            self._driver.flush_now()
        self._maybe_pause_protocol()

    def _reading_paused(self) -> None:
        self._driver.pause_reading()

    def _reading_resumed(self) -> None:
        # With frames held, the reader comes back only once the replay has delivered
        # them, so nothing taken from the ring can overtake them, whatever order the loop
        # runs I/O and soon-callbacks in.
        if not self._held:
            self._driver.resume_reading()

    # === PortOwner: called by the driver (see aionetmap.protocol.PortOwner) ===

    def batch_received(self, batch: FrameBatch) -> None:
        """Frames read from the port: deliver them, or hold them while paused."""
        count = batch.count
        if self._closing:
            return
        self._counters["rx_frames"] += count
        if not self._connected or not self._reading:
            self._hold_all(batch.frames())
            return
        self._deliver(batch.frames())

    def _hold_all(self, frames: list[bytes]) -> None:
        for frame in frames:
            if not self._hold(frame, None):
                self._counters["rx_dropped_paused"] += 1

    def _replay_held(self) -> None:
        frames = [self._take_held()[0] for _ in range(len(self._held))]
        self._deliver(frames)  # a pause in the middle holds the rest again, in order
        if self._reading and not self._closing and not self._held:
            self._driver.resume_reading()

    def _deliver(self, frames: list[bytes]) -> None:
        protocol = self._protocol
        if _wants_batches(protocol):
            try:
                protocol.frames_received(frames)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._protocol_callback_failed(exc, "protocol.frames_received()")
            return
        per_frame = isinstance(protocol, FrameProtocol)  # else a plain DatagramProtocol
        for i, frame in enumerate(frames):
            if self._protocol is not protocol or not self._reading or self._closing:
                self._stopped_at(frames[i:])
                return
            try:
                if per_frame:
                    protocol.frame_received(frame)
                else:
                    protocol.datagram_received(frame, None)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:  # one bad frame must not cost the others
                self._protocol_callback_failed(exc, "frame delivery to the protocol")

    def _stopped_at(self, rest: list[bytes]) -> None:
        """A callback changed things in the middle of a batch: what is left goes nowhere
        after close(), is held for later after pause_reading(), and goes to the new
        protocol after set_protocol()."""
        if self._closing:
            return
        if not self._reading:
            self._hold_all(rest)
            return
        self._deliver(rest)

    def fill_tx(self) -> bool:
        """Move queued frames into the ring; True if some are left (the ring is full)."""
        buffer = self._buffer
        while self._head < len(buffer):
            chunk = buffer[self._head : self._head + self._driver.batch.capacity]
            sent = self._port.send(chunk)
            self._head += sent
            self._counters["tx_frames"] += sent
            self._buffer_size -= sum(map(len, chunk if sent == len(chunk) else chunk[:sent]))
            if sent < len(chunk):
                if self._head * 2 >= len(buffer):
                    # A sender that never lets the queue empty would otherwise keep every
                    # frame it ever sent; cutting once half is sent keeps this O(1) a frame.
                    del buffer[: self._head]
                    self._head = 0
                if not self._conn_lost:  # at the low-water mark, as asyncio does
                    self._maybe_resume_protocol()
                return True
        buffer.clear()
        self._head = 0
        self._buffer_drained()
        return False

    def tx_backlog(self) -> int:
        """Frames queued and not yet in the ring."""
        return len(self._buffer) - self._head

    def port_failed(self, exc: BaseException, message: str) -> None:
        """The port failed: close with the error."""
        self._fatal_error(exc, message)

    def link_down(self, exc: OSError) -> None:
        """The link went down: the protocol hears it through ``error_received``."""
        self._report(exc)

    # === Internals, continued ===

    def _close_when_flushed(self) -> None:
        # Wait for the port too: frames still queued in its TX ring die with it.
        if self._drain_pending:
            return
        self._drain_pending = True
        self._driver.drain(constants.CLOSE_STALL_TIMEOUT)  # then tx_drained

    def tx_drained(self, left: int) -> None:
        """Closing: the queued frames have left (or stalled, ``left`` of them)."""
        if self._conn_lost:
            return
        if left:
            self._counters["tx_dropped_close"] += left
            logger.warning(
                "%s: close dropped %d queued frames: the port took none for %.1f s",
                self._port.info.name,
                left,
                constants.CLOSE_STALL_TIMEOUT,
            )
        self._schedule_connection_lost(None)

    def _drop_buffer(self) -> None:
        self._buffer.clear()
        self._head = 0

    def _detach(self) -> None:
        self._driver.close()
        if self._owns_port:
            self._port.close()


def _wants_batches(protocol: Any) -> bool:
    """Whether the protocol takes a batch per call: it implements ``frames_received``
    itself (FrameProtocol's default only loops over ``frame_received``)."""
    method = getattr(type(protocol), "frames_received", None)
    return method is not None and method is not FrameProtocol.frames_received
