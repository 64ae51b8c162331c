"""FrameProtocol: the callbacks a raw Ethernet (L2) endpoint receives.

UDP endpoints need no protocol class of ours: a plain :class:`asyncio.DatagramProtocol`
works unchanged, exactly as with ``loop.create_datagram_endpoint``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

__all__ = ["FrameProtocol"]


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
