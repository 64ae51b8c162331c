"""The asyncio transports, in one place: raw frames and UDP datagrams."""

from __future__ import annotations

from aionetmap.frame_transport import FrameTransport
from aionetmap.udp_transport import UdpTransport

__all__ = ["FrameTransport", "UdpTransport"]
