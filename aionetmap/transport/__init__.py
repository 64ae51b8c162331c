"""The transports users touch.

* :class:`UdpTransport` (:mod:`.udp`): UDP datagrams on one port of a
  :class:`~aionetmap.NetInterface`, with the multicast socket options of :mod:`.multicast`;
  :class:`UdpTransport6` (:mod:`.udp6`) is its IPv6 (and dual-stack) form.
* :class:`FrameTransport` (:mod:`.frames`): raw Ethernet frames on one port, no IP stack.

Their shared lifecycle and flow control live in :mod:`aionetmap._aio.transport_base`; what
they call below them (the driver, the TX scheduler) and what calls them (the interface) is
written down in :mod:`aionetmap.protocol`.
"""

from aionetmap.transport.frames import ETHERNET_HEADER_SIZE, FrameTransport
from aionetmap.transport.udp import UdpTransport
from aionetmap.transport.udp6 import UdpTransport6

__all__ = ["ETHERNET_HEADER_SIZE", "FrameTransport", "UdpTransport", "UdpTransport6"]
