"""aionetmap: netmap packet I/O under asyncio and uvloop.

The port's file descriptor sits in the event loop's reader/writer watchers, ring events drive
asyncio transports, and a small user-space stack (ARP, IPv4, ICMP echo, UDP) lets a plain
:class:`asyncio.DatagramProtocol` serve on a netmap port.
"""

from __future__ import annotations

from aionetmap.endpoints import create_datagram_endpoint, create_frame_endpoint, open_interface
from aionetmap.interface import NetInterface
from aionetmap.loop_routing import route_datagram_endpoints
from aionetmap.ports import FrameBatch, Port, PortClosedError, PortInfo, open_port
from aionetmap.protocol import BatchDatagramProtocol, FrameProtocol
from aionetmap.sockets import UdpSocket, open_udp
from aionetmap.transport import FrameTransport, UdpTransport, UdpTransport6

__version__ = "0.1.0"

__all__ = [
    "BatchDatagramProtocol",
    "FrameBatch",
    "FrameProtocol",
    "FrameTransport",
    "NetInterface",
    "Port",
    "PortClosedError",
    "PortInfo",
    "UdpSocket",
    "UdpTransport",
    "UdpTransport6",
    "__version__",
    "create_datagram_endpoint",
    "create_frame_endpoint",
    "open_interface",
    "open_port",
    "open_udp",
    "route_datagram_endpoints",
]
