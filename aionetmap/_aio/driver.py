"""PortDriver: one Port's file descriptor inside one event loop.

The readiness rules come from how netmap behaves under epoll (netmap-abi.md §4.3):

* The port is registered with the kernel before its fd is handed to ``add_reader``
  (an unregistered netmap fd is never woken again once added to epoll).
* Each readable callback drains at most one batch with one native call, so timers and other
  fds keep running; level-triggered epoll calls us again while frames remain.
* TX is flushed explicitly after filling the ring: epoll does not flush netmap TX rings.
* The writer is watched only while TX is full (otherwise the callback would spin, since a
  netmap fd is almost always writable). Ports whose TX-room signal arrives as read readiness
  (the software pipe) are re-tried from the reader instead.
* Everything sent during one loop iteration leaves in one fill and one flush. What a
  received batch makes its owner send (replies) leaves at the end of the same readable
  callback, with no soon-callback scheduled: on asyncio a soon-callback costs another
  loop iteration and another ``epoll_wait``, per wake-up (window-1 latency).
* A paused reader (``pause_reading``) is taken off the loop, so frames wait in the RX ring
  and a software-pipe peer is held back instead of losing them; while it is off, a port
  whose TX-room signal is read readiness has its TX retried on a short timer instead.
* A graceful close (``drain``) waits for the owner's backlog, the frames the port holds,
  and the frames it has handed over but the other side has not taken (a NIC still sending):
  for as long as they keep leaving. Only a stall (nothing left for a whole check period)
  ends it early, and the owner hears how many frames were left behind.
* A link that goes down makes the fd report an error: asyncio then calls the reader in a
  loop, and uvloop (libuv) silently stops watching the fd. So an empty read asks the port
  for its error, and a slow watchdog does too; a link that is down is reported and the
  reader re-registered (traffic resumes when the link is back), a link that is gone fails
  the port.
"""

from __future__ import annotations

import asyncio
import errno

from aionetmap._aio.constants import (
    DRAIN_POLL_INTERVAL,
    LINK_WATCH_INTERVAL,
    MAX_TX_ROUNDS,
    PAUSED_TX_POLL_INTERVAL,
    RX_BATCH,
)
from aionetmap.ports.base import FrameBatch, Port
from aionetmap.protocol import PortOwner

__all__ = ["PortDriver"]


class PortDriver:
    """Reads batches from a port and pushes its owner's backlog into it.

    Everything it reads, and every TX pass, goes through its ``owner``, a
    :class:`~aionetmap.protocol.PortOwner` (the contract and its call order are there).
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        port: Port,
        owner: PortOwner,
        *,
        batch_size: int = RX_BATCH,
    ) -> None:
        info = port.info
        self._loop = loop
        self._port = port
        self._fd = port.fileno()
        # Room for a full batch of single-slot frames plus one maximal multi-slot frame.
        self.batch = FrameBatch(batch_size, batch_size * info.buf_size + info.max_frame)
        # The owner's callbacks, bound once: the read and TX paths call them per pass.
        self._on_batch = owner.batch_received
        self._fill_tx = owner.fill_tx
        self._backlog = owner.tx_backlog
        self._on_error = owner.port_failed
        self._on_link_down = owner.link_down
        self._on_drained = owner.tx_drained
        self._watchdog: asyncio.TimerHandle | None = None
        self._tx_via_writer = port.tx_wakeup == "writable"
        self._started = False
        self._reading = False  # the reader is registered with the loop
        self._rx_paused = False
        self._tx_poll: asyncio.TimerHandle | None = None
        self._writer_armed = False
        self._flush_scheduled = False
        self._in_rx = False  # inside the owner's batch_received: the reader flushes after it
        self._in_tx = False  # inside _run_tx: owner callbacks must not start another pass
        self.tx_waiting = False
        """True while backlog (or, for read-woken ports, frames queued in the port) waits
        for TX room."""
        self._draining = False
        self._drain_stall = 0.0
        self._drain_left = 0  # frames left at the last look
        self._drain_moved = False  # some left since the last stall check
        self._drain_poll = DRAIN_POLL_INTERVAL
        self._drain_timer: asyncio.TimerHandle | None = None
        self._stall_timer: asyncio.TimerHandle | None = None
        self.closed = False

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("reading" if self._reading else "idle")
        return f"<PortDriver {self._port.info.name} fd={self._fd} {state}>"

    def start(self) -> None:
        """Start watching the fd for received frames (unless reading is paused)."""
        if self._started or self.closed:
            return
        self._started = True
        if not self._rx_paused:
            self._add_reader()
        self._watchdog = self._loop.call_later(LINK_WATCH_INTERVAL, self._watch)

    def pause_reading(self) -> None:
        """Leave received frames in the port until :meth:`resume_reading`."""
        if self._rx_paused or self.closed:
            return
        self._rx_paused = True
        if self._reading:
            self._loop.remove_reader(self._fd)
            self._reading = False
        self._set_tx_waiting(self.tx_waiting)  # the TX wake-up may have gone with the reader

    def resume_reading(self) -> None:
        if not self._rx_paused or self.closed:
            return
        self._rx_paused = False
        self._cancel_tx_poll()
        if self._started:
            self._add_reader()

    def _add_reader(self) -> None:
        self._loop.add_reader(self._fd, self._read_ready)
        self._reading = True

    def request_flush(self) -> None:
        """Schedule one TX pass for this loop iteration (idempotent within it)."""
        if not self._flush_scheduled and not self.closed:
            self._flush_scheduled = True
            if not self._in_rx:  # else _read_ready runs the pass when the batch is done
                self._loop.call_soon(self._scheduled_flush)

    def flush_now(self) -> None:
        """Run a TX pass at once (used when a write buffer passes its high-water mark).

        From inside a pass (a protocol writing from ``resume_writing`` or
        ``error_received``) it only schedules the next one: a nested pass would refill
        the ring under the outer one, which still holds what it has built."""
        if self._in_tx:
            self.request_flush()
        elif not self.closed:
            self._run_tx()

    def drain(self, stall: float) -> None:
        """Call the owner's ``tx_drained(0)`` once the owner's backlog and every frame queued in or
        handed to the port has been taken by the other side, however long that takes.

        Progress is checked every ``stall`` seconds: if not one frame left since the last
        check (a peer that stopped reading, a link that stopped sending), the drain gives
        up and calls ``tx_drained(left)`` with the number of frames still waiting. So a
        close ends after one to two ``stall`` periods without progress, never at a fixed
        time after it began.
        """
        self.cancel_drain()
        self._draining = True
        self._drain_stall = stall
        self._drain_left = self._left()
        self._drain_moved = False
        self._drain_poll = DRAIN_POLL_INTERVAL
        self._stall_timer = self._loop.call_later(stall, self._stall_check)
        self._check_drained()

    def cancel_drain(self) -> None:
        self._draining = False
        self._cancel_drain_timers()

    def _cancel_drain_timers(self) -> None:
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None

    def close(self) -> None:
        """Stop watching the fd. The port itself belongs to the caller."""
        if self.closed:
            return
        self.closed = True
        self._cancel_tx_poll()
        self._cancel_drain_timers()
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._reading:
            self._loop.remove_reader(self._fd)
            self._reading = False
        if self._writer_armed:
            self._loop.remove_writer(self._fd)
            self._writer_armed = False

    # === loop callbacks ===

    def _read_ready(self) -> None:
        try:
            count = self._port.recv(self.batch)
            # Readable with nothing to read: a spurious wake-up, or the fd reports an error.
            error = None if count else self._port.poll_error()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fail(exc, f"Fatal read error on port {self._port.info.name}")
            return
        if error is not None:
            self._link_error(error)
            return
        if count:
            self._in_rx = True
            try:
                self._on_batch(self.batch)
            except BaseException:
                self._in_rx = False
                if self._flush_scheduled:  # asked for during the batch: keep the promise
                    self._flush_scheduled = False
                    self.request_flush()
                raise
            self._in_rx = False
        if self.closed:
            return
        # Replies produced by this batch leave now, not one loop iteration later; and a
        # read-woken port may have just got the room its queued frames were waiting for.
        if self._flush_scheduled or (self.tx_waiting and not self._tx_via_writer):
            self._run_tx()

    def _write_ready(self) -> None:
        self._run_tx()

    def _scheduled_flush(self) -> None:
        if self._flush_scheduled and not self.closed:
            self._run_tx()

    def _run_tx(self) -> None:
        self._flush_scheduled = False
        port = self._port
        more = False
        self._in_tx = True
        try:
            for _ in range(MAX_TX_ROUNDS):
                more = self._fill_tx()
                if self.closed:  # a callback during the fill closed us (and maybe the port)
                    return
                port.flush()
                if not more or port.tx_space() == 0:
                    break
            if not more:
                # Frames the port still holds (the pipe's peer had no room, the kernel
                # refused a packet socket's batch) need another flush once the TX wake-up
                # says there is room.
                more = bool(port.tx_pending())
        except (SystemExit, KeyboardInterrupt):
            raise
        except OSError as exc:
            if exc.errno == errno.ENETDOWN:  # the port dropped (and counted) what it held
                self._link_error(exc)
            else:
                self._fail(exc, f"Fatal write error on port {self._port.info.name}")
            return
        except BaseException as exc:
            self._fail(exc, f"Fatal write error on port {self._port.info.name}")
            return
        finally:
            self._in_tx = False
        if self.closed:
            return
        if more or self.tx_waiting:  # else no wake-up is armed and none is needed
            self._set_tx_waiting(more)
        if self._draining:
            self._check_drained()

    def _left(self) -> int:
        """Frames not yet taken by the other side: the owner's, and the port's."""
        port = self._port
        if port.closed:  # closed under us by whoever owns it: what it held is gone
            return self._backlog()
        return self._backlog() + max(port.tx_pending(), port.tx_in_flight())

    def _check_drained(self) -> None:
        if not self._draining:
            return
        if self.closed:  # the port failed (reported already) or the owner closed us
            self._finish_drain(0)
            return
        left = self._left()
        if self._port.closed:  # nothing can leave any more: give up now, not at a stall
            self._finish_drain(left)
            return
        if left < self._drain_left:
            self._drain_moved = True
            self._drain_poll = DRAIN_POLL_INTERVAL
        self._drain_left = left
        if not left:
            self._finish_drain(0)
            return
        self.request_flush()
        # The armed wake-ups cover a full ring; frames a port finishes on its own (in
        # flight on a NIC) signal nothing, so while closing we also poll, backing off
        # while nothing moves.
        if self._drain_timer is None:
            self._drain_timer = self._loop.call_later(self._drain_poll, self._drain_tick)

    def _finish_drain(self, left: int) -> None:
        was_draining = self._draining
        self.cancel_drain()
        if was_draining:
            self._on_drained(left)

    def _drain_tick(self) -> None:
        self._drain_timer = None
        if not self.closed:
            self._drain_poll = min(self._drain_poll * 2, self._drain_stall / 8)
            self._run_tx()

    def _stall_check(self) -> None:
        self._stall_timer = None
        if not self._draining:
            return
        if not self.closed:
            self._run_tx()  # the freshest count (this may finish the drain)
        if not self._draining:
            return
        if self._drain_moved and not self.closed:
            self._drain_moved = False
            self._stall_timer = self._loop.call_later(self._drain_stall, self._stall_check)
            return
        self._finish_drain(0 if self.closed else self._drain_left)

    def _set_tx_waiting(self, waiting: bool) -> None:
        self.tx_waiting = waiting
        if not self._tx_via_writer:
            # Room comes back as read readiness: with the reader off, look on a timer.
            if waiting and self._rx_paused and not self.closed:
                if self._tx_poll is None:
                    self._tx_poll = self._loop.call_later(
                        PAUSED_TX_POLL_INTERVAL, self._tx_poll_tick
                    )
            else:
                self._cancel_tx_poll()
            return
        if waiting and not self._writer_armed:
            self._loop.add_writer(self._fd, self._write_ready)
            self._writer_armed = True
        elif not waiting and self._writer_armed:
            self._loop.remove_writer(self._fd)
            self._writer_armed = False

    def _tx_poll_tick(self) -> None:
        self._tx_poll = None
        if not self.closed:
            self._run_tx()

    def _cancel_tx_poll(self) -> None:
        if self._tx_poll is not None:
            self._tx_poll.cancel()
            self._tx_poll = None

    def _watch(self) -> None:
        self._watchdog = None
        if self.closed:
            return
        try:
            error = self._port.poll_error()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fail(exc, f"Fatal error on port {self._port.info.name}")
            return
        if error is not None:
            self._link_error(error)
        if not self.closed:
            self._watchdog = self._loop.call_later(LINK_WATCH_INTERVAL, self._watch)

    def _link_error(self, exc: OSError) -> None:
        if exc.errno != errno.ENETDOWN:
            self._fail(exc, f"Port {self._port.info.name} failed")
            return
        if self._reading:
            # libuv stops watching an fd that reported an error: register it afresh.
            self._loop.remove_reader(self._fd)
            self._loop.add_reader(self._fd, self._read_ready)
        self._on_link_down(exc)

    def _fail(self, exc: BaseException, message: str) -> None:
        self.close()
        self._on_error(exc, message)
