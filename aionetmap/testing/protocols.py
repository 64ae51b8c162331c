"""Ready-made protocols for tests and examples: an echo server and a recorder."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

__all__ = ["EchoProtocol", "RecordingProtocol"]

Address = tuple[str, int]


class EchoProtocol(asyncio.DatagramProtocol):
    """Sends every datagram back to where it came from (a plain asyncio protocol)."""

    def __init__(self) -> None:
        self.transport: Any = None
        self.echoed = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # No isinstance check: uvloop's UDP transport is not an asyncio.DatagramTransport.
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.transport.sendto(data, addr)
        self.echoed += 1


class RecordingProtocol(asyncio.DatagramProtocol):
    """Records every callback, in order, for assertions about the transport contract.

    ``events`` holds ``(name, args)`` tuples; ``datagrams`` and ``frames`` the payloads;
    ``lost`` is a future resolved with the ``connection_lost`` argument. Works as a UDP
    protocol and as a frame protocol (it has ``frames_received``).
    """

    def __init__(self) -> None:
        self.events: list[tuple[str, tuple[Any, ...]]] = []
        self.datagrams: list[tuple[bytes, Address]] = []
        self.frames: list[bytes] = []
        self.errors: list[OSError] = []
        self.transport: asyncio.BaseTransport | None = None
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()
        self._received = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.events.append(("connection_made", (transport,)))

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.events.append(("datagram_received", (data, addr)))
        self.datagrams.append((data, addr))
        self._received.set()

    def frames_received(self, frames: Sequence[bytes]) -> None:
        self.events.append(("frames_received", (len(frames),)))
        self.frames.extend(frames)
        self._received.set()

    def error_received(self, exc: Exception) -> None:
        self.events.append(("error_received", (exc,)))
        assert isinstance(exc, OSError)
        self.errors.append(exc)
        self._received.set()

    def pause_writing(self) -> None:
        self.events.append(("pause_writing", ()))

    def resume_writing(self) -> None:
        self.events.append(("resume_writing", ()))

    def connection_lost(self, exc: Exception | None) -> None:
        self.events.append(("connection_lost", (exc,)))
        if not self.lost.done():
            self.lost.set_result(exc)

    def names(self) -> list[str]:
        """The callback names in the order they happened."""
        return [name for name, _ in self.events]

    async def wait_for(self, predicate: Any, timeout: float = 5.0) -> None:
        """Wait until ``predicate(self)`` is true (checked after each delivery)."""
        async with asyncio.timeout(timeout):
            while not predicate(self):
                self._received.clear()
                await self._received.wait()
