"""The malformed-frame table for the integration tests: frames the kernel's side of the veth
pair injects through a raw socket, each with the counters it must move on our stack.

Built with scapy (an independent encoder), then damaged byte by byte where scapy would
"fix" the damage. Two kinds of frame cannot be injected over veth and are left to the
stack's unit tests: runts under 14 bytes (AF_PACKET pads a raw frame to the Ethernet
header, and a VLAN frame too short for its tag is freed by the receiving kernel before any
packet socket sees it), and frames over 14 + 4 + MTU bytes (the receiving veth drops those;
``test_kernel_udp`` covers ``ETH_OVERSIZE`` with a stack MTU below the link's).

The rows live by protocol in ``malformed_link`` (Ethernet, ARP), ``malformed_ipv4`` (IPv4,
fragments) and ``malformed_udp_icmp``; what they are made of in ``malformed_builders``.
"""

from __future__ import annotations

from tests.integration.malformed_builders import WATCHED, Case, Ctx
from tests.integration.malformed_ipv4 import FRAGMENTS, IPV4
from tests.integration.malformed_link import ARP_CASES, ETHERNET
from tests.integration.malformed_udp_icmp import ICMP_CASES, UDP_CASES

__all__ = ["CASES", "WATCHED", "Case", "Ctx"]

CASES: list[Case] = [*ETHERNET, *IPV4, *FRAGMENTS, *UDP_CASES, *ARP_CASES, *ICMP_CASES]
