"""What the malformed-frame tables are made of: the link's addresses (:class:`Ctx`), a row
(:class:`Case`), the counters rows speak about, and the small frame builders every table
uses. Frames are built with scapy (an independent encoder), then damaged byte by byte.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw

from aionetmap.stack.addresses import format_mac
from aionetmap.testing.netns import VethLink

__all__ = [
    "BROADCAST_MAC",
    "IP_OFF",
    "SERVER_PORT",
    "WATCHED",
    "Build",
    "Case",
    "Ctx",
    "bad_checksum",
    "damaged",
    "drop",
    "echoed",
    "good",
    "marker",
    "patched",
]

WATCHED = (
    "rx_udp_delivered",
    "rx_arp",
    "rx_icmp",
    "rx_fragments",
    "rx_reassembled",
    "tx_arp_replies",
    "tx_echo_replies",
    "tx_port_unreachable",
    "icmp_rate_limited",
    "replies_failed",
    "arp_conflicts",
)
"""Besides every ``drop_*`` counter, the counters a case must move exactly as it says
(zero unless it names them)."""

BROADCAST_MAC = "ff:ff:ff:ff:ff:ff"
SERVER_PORT = 7
IP_OFF = 14
"""Where the IPv4 header starts in an untagged frame."""


@dataclass(frozen=True)
class Ctx:
    """Addresses of one link, and the kernel UDP client whose port injected datagrams use
    (so that anything our echo server sends back lands on that client)."""

    our_mac: str
    peer_mac: str
    our_ip: str
    peer_ip: str
    client_port: int

    @classmethod
    def of(cls, link: VethLink, client_port: int) -> Ctx:
        return cls(format_mac(link.our_mac), format_mac(link.peer_mac), link.our_ip, link.peer_ip,
                   client_port)  # fmt: skip

    def on_net(self, host: int) -> str:
        """Another address on the link's /24."""
        return f"{self.our_ip.rsplit('.', 1)[0]}.{host}"

    @property
    def subnet_broadcast(self) -> str:
        return self.on_net(255)

    def eth(self, l3: Packet | bytes, *, dst: str | None = None, src: str | None = None,
            type: int | None = None) -> bytes:  # fmt: skip
        """An Ethernet frame from the kernel's MAC to ours (unless told otherwise)."""
        head = Ether(dst=dst or self.our_mac, src=src or self.peer_mac)
        if type is not None:
            head.type = type
        return bytes(head / (Raw(l3) if isinstance(l3, bytes) else l3))

    def ip(self, **fields: Any) -> IP:
        """An IPv4 header from the kernel's address to ours."""
        return IP(**{"src": self.peer_ip, "dst": self.our_ip, **fields})

    def udp(self, payload: bytes, *, dport: int = SERVER_PORT, **fields: Any) -> Packet:
        return UDP(sport=self.client_port, dport=dport, **fields) / Raw(payload)


def marker(name: str, round_: int) -> bytes:
    """The payload of a case's datagram: unique, so a stray echo is recognised."""
    return f"INJECTED {name} round {round_}".encode()


def patched(frame: bytes, offset: int, data: bytes) -> bytes:
    return frame[:offset] + data + frame[offset + len(data) :]


def bad_checksum(frame: bytes, offset: int) -> bytes:
    """``frame`` with the 16-bit checksum at ``offset`` replaced by one that cannot verify
    (not even as its ones'-complement twin 0x0000/0xffff)."""
    (correct,) = struct.unpack_from("!H", frame, offset)
    return patched(frame, offset, struct.pack("!H", correct ^ 0x0101))


Build = Callable[[Ctx, str, int], list[bytes]]


@dataclass(frozen=True)
class Case:
    """One row: how to build the frames of one round, and what each round must count."""

    name: str
    build: Build
    expect: Mapping[str, int]
    """Counter deltas per round: ``drop_<reason>`` and any of :data:`WATCHED`."""
    echo: Callable[[Ctx, str, int], bytes] | None = None
    """The payload our echo server must send back to the client, for frames that are
    valid however odd (``None``: nothing may come back)."""


def good(ctx: Ctx, name: str, r: int, **ip_fields: Any) -> bytes:
    """A valid frame: round ``r`` of case ``name``'s datagram to the echo port."""
    return ctx.eth(ctx.ip(**ip_fields) / ctx.udp(marker(name, r)))


def damaged(offset: int, data: bytes) -> Build:
    """:func:`good`, with ``data`` written over it ``offset`` bytes into the IPv4 header."""
    return lambda c, n, r: [patched(good(c, n, r), IP_OFF + offset, data)]


def echoed(ctx: Ctx, name: str, r: int) -> bytes:
    """The echo a valid case's datagram must get back: its own payload."""
    return marker(name, r)


def drop(reason: str, **more: int) -> dict[str, int]:
    """Counters for one frame dropped as ``reason`` (plus any ``more``)."""
    return {f"drop_{reason}": 1, **more}
