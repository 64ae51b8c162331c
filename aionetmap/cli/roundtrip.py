"""A UDP client protocol that measures round trips to an echo server.

It is a plain :class:`asyncio.DatagramProtocol`, so the demo runs the same client on a
kernel socket (``loop.create_datagram_endpoint(sock=...)``) and on an aionetmap port.
"""

from __future__ import annotations

import asyncio
import struct
import time
from typing import cast

__all__ = ["BurstResult", "RoundTripClient"]

Address = tuple[str, int]

_SEQ = struct.Struct("!I")


class BurstResult:
    """How a burst went: datagrams sent and echoed, and the seconds it took."""

    __slots__ = ("echoed", "elapsed", "sent")

    def __init__(self, sent: int, echoed: int, elapsed: float) -> None:
        self.sent, self.echoed, self.elapsed = sent, echoed, elapsed

    @property
    def rate(self) -> float:
        """Round trips per second."""
        return self.echoed / self.elapsed if self.elapsed > 0 else 0.0


class RoundTripClient(asyncio.DatagramProtocol):
    """Sends datagrams that start with a 4-byte sequence number and matches the echoes."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.received = 0
        self.mismatched = 0
        self._expected: dict[int, bytes] = {}
        self._waiters: dict[int, asyncio.Future[float]] = {}
        self._progress = asyncio.Event()
        self._next_seq = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's UDP transport is not an asyncio.DatagramTransport subclass: no isinstance.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        if len(data) < _SEQ.size:
            self.mismatched += 1
            return
        (seq,) = _SEQ.unpack_from(data)
        if self._expected.pop(seq, None) != data:
            self.mismatched += 1  # not ours, a duplicate, or damaged on the way
            return
        self.received += 1
        waiter = self._waiters.pop(seq, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(time.perf_counter())
        self._progress.set()

    def _send(self, text: bytes, addr: Address) -> int:
        assert self.transport is not None
        seq = self._next_seq
        self._next_seq = (seq + 1) & 0xFFFFFFFF
        data = _SEQ.pack(seq) + text
        self._expected[seq] = data
        self.transport.sendto(data, addr)
        return seq

    async def round_trip(self, text: bytes, addr: Address, timeout: float = 2.0) -> float:
        """Send one datagram and return the seconds until its echo came back.

        Raises ``TimeoutError`` when it does not come back in time.
        """
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[float] = loop.create_future()
        start = time.perf_counter()
        seq = self._send(text, addr)
        self._waiters[seq] = waiter
        try:
            async with asyncio.timeout(timeout):
                done = await waiter
        finally:
            self._waiters.pop(seq, None)
            self._expected.pop(seq, None)
        return done - start

    async def burst(
        self, count: int, addr: Address, *, window: int = 256, timeout: float = 5.0
    ) -> BurstResult:
        """Send ``count`` datagrams keeping at most ``window`` unanswered; stop after
        ``timeout`` seconds whatever came back."""
        start, sent, base = time.perf_counter(), 0, self.received
        try:
            async with asyncio.timeout(timeout):
                while self.received - base < count:
                    while sent < count and sent - (self.received - base) < window:
                        self._send(b"burst", addr)
                        sent += 1
                    self._progress.clear()
                    await self._progress.wait()
        except TimeoutError:
            pass
        echoed = self.received - base
        self._expected.clear()  # late echoes of this burst count as mismatched
        return BurstResult(sent, echoed, time.perf_counter() - start)
