"""Sans-I/O user-space stack: Ethernet, ARP, IPv4, ICMP, IGMP, IPv6 (NDP, MLD, ICMPv6) and
UDP, bytes in and bytes out.

Imports neither asyncio nor cffi nor anything of aionetmap outside this package (a test
checks), so it runs and tests without a loop or native code. Time is always passed in.
"""

from __future__ import annotations

from aionetmap.stack.arp import (
    ArpOperation,
    ArpPacket,
    build_arp_reply,
    build_arp_request,
    build_gratuitous_arp,
)
from aionetmap.stack.checksum import inet_checksum, pseudo_header_sum, udp_checksum
from aionetmap.stack.classify import (
    ClassifyContext,
    Deliver,
    Drop,
    RxChecksum,
    Slow,
    SlowKind,
    UdpChecksum,
    Verdict,
    classify,
)
from aionetmap.stack.config import HostConfig
from aionetmap.stack.drops import DropReason, StackStats
from aionetmap.stack.errors import DatagramTooLarge, IntegrityError, ParseError, SanityError
from aionetmap.stack.ethernet import EthernetHeader, EtherType, build_ethernet_frame
from aionetmap.stack.events import (
    AddressConflict,
    AddressReady,
    ArpResolved,
    Datagram6Received,
    DatagramReceived,
    DuplicateAddress,
    EchoReplyReceived,
    Event,
    IcmpErrorReceived,
    NeighborResolved,
    SendFailed,
)
from aionetmap.stack.host import Host
from aionetmap.stack.host6 import MAX_UDP6_PAYLOAD, Host6
from aionetmap.stack.icmp import (
    IcmpMessage,
    IcmpType,
    build_echo_reply,
    build_echo_request,
    build_port_unreachable,
)
from aionetmap.stack.ipv4 import IpProtocol, IPv4Header, build_ipv4_packet
from aionetmap.stack.multicast import MulticastOptions
from aionetmap.stack.udp import UdpHeader, build_udp_frame, build_udp_segment

__all__ = [
    "MAX_UDP6_PAYLOAD",
    "AddressConflict",
    "AddressReady",
    "ArpOperation",
    "ArpPacket",
    "ArpResolved",
    "ClassifyContext",
    "Datagram6Received",
    "DatagramReceived",
    "DatagramTooLarge",
    "Deliver",
    "Drop",
    "DropReason",
    "DuplicateAddress",
    "EchoReplyReceived",
    "EtherType",
    "EthernetHeader",
    "Event",
    "Host",
    "Host6",
    "HostConfig",
    "IPv4Header",
    "IcmpErrorReceived",
    "IcmpMessage",
    "IcmpType",
    "IntegrityError",
    "IpProtocol",
    "MulticastOptions",
    "NeighborResolved",
    "ParseError",
    "RxChecksum",
    "SanityError",
    "SendFailed",
    "Slow",
    "SlowKind",
    "StackStats",
    "UdpChecksum",
    "UdpHeader",
    "Verdict",
    "build_arp_reply",
    "build_arp_request",
    "build_echo_reply",
    "build_echo_request",
    "build_ethernet_frame",
    "build_gratuitous_arp",
    "build_ipv4_packet",
    "build_port_unreachable",
    "build_udp_frame",
    "build_udp_segment",
    "classify",
    "inet_checksum",
    "pseudo_header_sum",
    "udp_checksum",
]
