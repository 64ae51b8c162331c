"""Lifecycle and flow control shared by the frame and UDP transports.

The rules are asyncio's (``_SelectorTransport`` and ``_FlowControlMixin``), written out
here rather than inherited, because those classes are private to asyncio:

* ``connection_made`` runs via ``call_soon``; delivery starts only after it.
* ``close()`` stops delivery, lets the write buffer drain, then ``connection_lost(None)``.
* ``abort()`` drops the buffer and calls ``connection_lost(None)`` soon.
* A broken invariant goes to the loop's exception handler and force-closes with the
  exception; an ``OSError`` does the same quietly (it reaches ``connection_lost``).
* ``pause_writing`` once the buffer passes the high-water mark, ``resume_writing`` as soon as
  a send brings it down to the low-water mark (whether or not it is empty by then).
* ``pause_reading()`` loses nothing within limits, as a kernel socket keeps data in its
  receive buffer: what arrives while paused is held (up to the read-buffer limit, in
  bytes: each item's length plus ``READ_ITEM_OVERHEAD``) and delivered in order after
  ``resume_reading()``, from a later callback, as asyncio delivers after re-adding its
  reader. Only what does not fit is dropped, and counted (``rx_dropped_paused``).
"""

from __future__ import annotations

import asyncio
import collections
import warnings
from typing import Any

from aionetmap._aio.constants import (
    DEFAULT_HIGH_WATER,
    DEFAULT_READ_BUFFER,
    LOG_THRESHOLD_FOR_CONNLOST_WRITES,
    READ_ITEM_OVERHEAD,
)
from aionetmap._aio.log import logger

__all__ = ["PortTransportBase"]


class PortTransportBase:
    """State and callbacks common to every aionetmap transport.

    Subclasses provide ``_close_when_flushed()``, ``_drop_buffer()``, ``_detach()`` (stop
    receiving and release what the transport holds on its port or interface) and
    ``_replay_held()`` (deliver what was held while paused); they may hook
    ``_reading_paused()``/``_reading_resumed()``.
    """

    _loop: asyncio.AbstractEventLoop | None
    _protocol: Any

    def __init__(
        self, loop: asyncio.AbstractEventLoop, protocol: Any, extra: dict[str, Any]
    ) -> None:
        self._loop = loop
        self._protocol = protocol
        self._extra = extra
        self._closing = False
        self._conn_lost = 0
        self._connected = False  # connection_made has run: datagrams may be delivered
        self._reading = True
        self._protocol_paused = False
        self._high_water = DEFAULT_HIGH_WATER
        self._low_water = DEFAULT_HIGH_WATER // 4
        self._buffer_size = 0
        self._read_limit = DEFAULT_READ_BUFFER
        # Received while paused: (data, address) in arrival order, and their cost in bytes.
        self._held: collections.deque[tuple[bytes, Any]] = collections.deque()
        self._held_bytes = 0
        self._replay_scheduled = False

    # === Public API (asyncio.BaseTransport / WriteTransport parts) ===

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """Every transport answers ``sockname``, ``peername`` (``None`` where there is no
        such address), ``mac`` (bytes), ``port_info`` (:class:`~aionetmap.PortInfo`) and
        ``portspec``; a UDP transport adds ``interface`` (``ipaddress.IPv4Interface``) and
        ``netinterface`` (its :class:`~aionetmap.NetInterface`). There is never a
        ``socket``: asking for it returns ``default``. The answers stay after close."""
        return self._extra.get(name, default)

    def is_closing(self) -> bool:
        return self._closing

    def get_protocol(self) -> Any:
        return self._protocol

    def set_protocol(self, protocol: Any) -> None:
        self._protocol = protocol
        self._state_changed()

    def is_reading(self) -> bool:
        return not self._closing and self._reading

    def pause_reading(self) -> None:
        """Stop delivering received data until :meth:`resume_reading`. What arrives
        meanwhile is kept up to the read-buffer limit (see :meth:`set_read_buffer_limit`);
        beyond it, it is dropped and counted (``rx_dropped_paused``)."""
        if self._closing or not self._reading:
            return
        self._reading = False
        self._state_changed()
        self._reading_paused()

    def resume_reading(self) -> None:
        """Deliver again: first, from a later loop callback, what was held while paused."""
        if self._closing or self._reading:
            return
        self._reading = True
        self._state_changed()
        self._reading_resumed()
        if self._held and not self._replay_scheduled and self._loop is not None:
            self._replay_scheduled = True
            self._loop.call_soon(self._replay)

    def get_read_buffer_size(self) -> int:
        """Bytes held for a paused protocol (each item's length plus a fixed overhead)."""
        return self._held_bytes

    def get_read_buffer_limit(self) -> int:
        """Most bytes held for a paused protocol (default: Linux's ``rmem_default``)."""
        return self._read_limit

    def set_read_buffer_limit(self, limit: int) -> None:
        """Set how many bytes a paused protocol may have held for it, as ``SO_RCVBUF``
        does for a kernel socket. What is held already stays."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ValueError(f"the read buffer limit must be an int >= 0, not {limit!r}")
        self._read_limit = limit

    def get_write_buffer_size(self) -> int:
        return self._buffer_size

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return (self._low_water, self._high_water)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if high is None:
            high = DEFAULT_HIGH_WATER if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high_water = high
        self._low_water = low
        self._maybe_pause_protocol()

    def close(self) -> None:
        """Stop receiving; send what is buffered, then call ``connection_lost(None)``."""
        if self._closing:
            return
        self._closing = True
        self._drop_held()
        self._state_changed()
        self._close_when_flushed()

    def abort(self) -> None:
        """Close at once, dropping whatever is still buffered."""
        self._force_close(None)

    # === Internals ===

    def _close_when_flushed(self) -> None:
        """Arrange ``connection_lost(None)`` for when the buffer has gone out (called on
        close and again whenever the buffer drains while closing)."""
        raise NotImplementedError

    def _drop_buffer(self) -> None:
        raise NotImplementedError

    def _replay_held(self) -> None:
        """Deliver held items while reading is on (called from a loop callback)."""
        raise NotImplementedError

    def _reading_paused(self) -> None:
        """Hook: ``pause_reading`` took effect."""

    def _reading_resumed(self) -> None:
        """Hook: ``resume_reading`` took effect (before held items are replayed)."""

    def _hold(self, data: bytes, addr: Any, *, force: bool = False) -> bool:
        """Keep one received item for later; False (not kept) when over the limit.
        ``force`` keeps it regardless: order must be kept behind items already held that
        are about to be replayed."""
        cost = len(data) + READ_ITEM_OVERHEAD
        if not force and self._held_bytes + cost > self._read_limit:
            return False
        self._held.append((data, addr))
        self._held_bytes += cost
        return True

    def _take_held(self) -> tuple[bytes, Any]:
        data, addr = self._held.popleft()
        self._held_bytes -= len(data) + READ_ITEM_OVERHEAD
        return data, addr

    def _drop_held(self) -> None:
        """Closing: what a paused protocol never read goes, as a socket's receive queue
        goes with the socket."""
        self._held.clear()
        self._held_bytes = 0

    def _replay(self) -> None:
        self._replay_scheduled = False
        if self._reading and not self._closing and self._protocol is not None:
            self._replay_held()

    def _detach(self) -> None:
        raise NotImplementedError

    def _schedule_connection_made(self, waiter: asyncio.Future[None] | None) -> None:
        """asyncio's order: ``connection_made`` soon, then delivery may start, then whoever
        awaits the endpoint wakes up."""
        assert self._loop is not None
        self._loop.call_soon(self._protocol.connection_made, self)
        self._loop.call_soon(self._set_connected)
        if waiter is not None:
            self._loop.call_soon(_set_result_unless_cancelled, waiter)

    def _report(self, exc: OSError) -> None:
        """Tell the protocol of a per-datagram (or per-frame) failure: ``error_received``."""
        if self._protocol is None:
            return
        try:
            self._protocol.error_received(exc)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as err:
            self._protocol_callback_failed(err, "protocol.error_received()")

    def _set_connected(self) -> None:
        # Runs via call_soon right after connection_made: only now may data be delivered.
        if not self._closing:
            self._connected = True
            self._state_changed()

    def _state_changed(self) -> None:
        """Hook: the open/reading/protocol state changed (subclasses cache derived flags)."""

    def _buffer_drained(self) -> None:
        """The owner calls this when the last buffered item left for the ring."""
        if self._conn_lost:
            # Aborted (or failed): its buffer was dropped, not drained. asyncio never
            # resumes a protocol on the way to connection_lost, and neither do we.
            return
        self._maybe_resume_protocol()
        if self._closing:
            self._close_when_flushed()

    def _schedule_connection_lost(self, exc: BaseException | None) -> None:
        assert self._loop is not None
        self._conn_lost += 1
        self._state_changed()
        self._loop.call_soon(self._call_connection_lost, exc)

    def _fatal_error(self, exc: BaseException, message: str) -> None:
        if not isinstance(exc, OSError) and self._loop is not None:
            self._loop.call_exception_handler(
                {
                    "message": message,
                    "exception": exc,
                    "transport": self,
                    "protocol": self._protocol,
                }
            )
        else:
            logger.debug("%r: %s", self, message, exc_info=exc)
        self._force_close(exc)

    def _force_close(self, exc: BaseException | None) -> None:
        if self._conn_lost:
            return
        self._drop_buffer()
        self._drop_held()
        self._buffer_size = 0
        self._closing = True
        self._state_changed()
        self._schedule_connection_lost(exc)

    def _call_connection_lost(self, exc: BaseException | None) -> None:
        try:
            if self._protocol is not None:
                self._protocol.connection_lost(exc)
        finally:
            self._detach()
            self._connected = False
            self._protocol = None
            self._loop = None
            self._state_changed()

    def _protocol_callback_failed(self, exc: BaseException, what: str) -> None:
        # A protocol callback raised: report it like the loop reports a failing callback,
        # and carry on with the rest of the batch (the other datagrams are not at fault).
        if self._loop is not None:
            self._loop.call_exception_handler(
                {
                    "message": f"Exception in {what}",
                    "exception": exc,
                    "transport": self,
                    "protocol": self._protocol,
                }
            )

    def _maybe_pause_protocol(self) -> None:
        if self._buffer_size <= self._high_water or self._protocol_paused:
            return
        self._protocol_paused = True
        try:
            self._protocol.pause_writing()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._protocol_callback_failed(exc, "protocol.pause_writing()")

    def _maybe_resume_protocol(self) -> None:
        if not self._protocol_paused or self._buffer_size > self._low_water:
            return
        self._protocol_paused = False
        try:
            self._protocol.resume_writing()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._protocol_callback_failed(exc, "protocol.resume_writing()")

    def _check_open(self) -> bool:
        """Writes after the connection is lost are dropped; past a threshold they log."""
        if not self._conn_lost:
            return True
        if self._conn_lost >= LOG_THRESHOLD_FOR_CONNLOST_WRITES:
            logger.warning("%r: write after the transport was closed", self)
        self._conn_lost += 1
        return False

    def __del__(self, _warn: Any = warnings.warn) -> None:
        # getattr: a transport whose __init__ failed early never held anything to leak.
        if getattr(self, "_loop", None) is not None and not self._conn_lost:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)


def _set_result_unless_cancelled(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled():
        fut.set_result(None)
