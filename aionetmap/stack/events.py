"""Events the host reports through ``Host.next_event()``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

__all__ = [
    "AddressConflict",
    "AddressReady",
    "ArpResolved",
    "Datagram6Received",
    "DatagramReceived",
    "DuplicateAddress",
    "EchoReplyReceived",
    "Event",
    "IcmpErrorReceived",
    "NeighborResolved",
    "SendFailed",
]


@dataclass(frozen=True, slots=True)
class DatagramReceived:
    """A UDP datagram arrived for a bound port."""

    src: tuple[str, int]
    """Sender's (IPv4 address, port)."""
    dst_port: int
    """The bound port it was sent to."""
    payload: bytes
    """The UDP payload (a copy: it stays valid)."""


@dataclass(frozen=True, slots=True)
class SendFailed:
    """A datagram accepted by ``send_datagram`` (or ``send_echo_request``) was dropped later.

    One event per datagram: ``EHOSTUNREACH`` when the next hop did not answer ARP,
    ``ENOBUFS`` when too many datagrams were already waiting for it. For echo requests
    ``dst`` is ``(ip, 0)`` and ``src_port`` is 0.
    """

    dst: tuple[str, int]
    """Where the datagram was going: (IPv4 address, port)."""
    src_port: int
    """The port it was sent from."""
    error: OSError
    """Why, as the ``OSError`` a socket would report (message names the address)."""


@dataclass(frozen=True, slots=True)
class EchoReplyReceived:
    """An ICMP echo reply arrived (for ``send_echo_request`` or anyone else's request)."""

    src: str
    """The replying IPv4 address."""
    ident: int
    """Echo identifier."""
    seq: int
    """Echo sequence number."""
    payload: bytes
    """Echo data."""


@dataclass(frozen=True, slots=True)
class IcmpErrorReceived:
    """An ICMP error about a UDP datagram this host sent (e.g. port unreachable)."""

    src: str
    """The IPv4 address that sent the ICMP error (the peer or a router)."""
    kind: str
    """What went wrong: ``"port_unreachable"``, ``"host_unreachable"``, ``"time_exceeded"``..."""
    dst: tuple[str, int]
    """Destination (IPv4 address, port) of the datagram the error is about."""
    src_port: int
    """Our source port of that datagram."""
    error: OSError
    """The error a socket would report (``ConnectionRefusedError`` for port unreachable)."""


@dataclass(frozen=True, slots=True)
class ArpResolved:
    """A next hop this host was resolving answered ARP."""

    ip: str
    """The IPv4 address."""
    mac: bytes
    """Its MAC address (6 bytes)."""


@dataclass(frozen=True, slots=True)
class AddressConflict:
    """Another station uses, or probes for, this host's IPv4 address (RFC 5227).

    An ARP packet whose sender IP is ours but whose sender MAC is not: the host drops it
    (``ARP_ADDRESS_CONFLICT``) and neither learns nor answers it. An RFC 5227 probe for our
    address (sender IP 0.0.0.0): the host answers it, as Linux does, which is what tells
    the prober that the address is taken. Either way the host keeps its address.
    """

    ip: str
    """The contested address (this host's)."""
    mac: bytes
    """The other station's MAC address (6 bytes)."""
    probe: bool
    """True for an RFC 5227 probe, False for a claim (a packet sent from our address)."""


@dataclass(frozen=True, slots=True)
class Datagram6Received:
    """A UDP datagram arrived over IPv6 for a bound port (the port space is shared with
    IPv4, as for a dual-stack socket)."""

    src: tuple[str, int, int, int]
    """The 4-tuple asyncio gives for an AF_INET6 socket: (address, port, flowinfo 0,
    scope_id: ``HostConfig.ipv6_scope_id`` for a link-local source, else 0)."""
    dst_port: int
    """The bound port it was sent to."""
    payload: bytes
    """The UDP payload (a copy)."""
    dst: str
    """The address it was sent to: ours, or a group the host joined."""


@dataclass(frozen=True, slots=True)
class DuplicateAddress:
    """DAD (RFC 4862 5.4) found one of our IPv6 addresses in use by another node: the
    address is not used (``Host.ipv6_state`` says ``"duplicate"``; binding or sending
    from it raises ``OSError(EADDRNOTAVAIL)``)."""

    ip: str
    """The address (text)."""
    mac: bytes | None
    """The other node's MAC address, when its message carried one."""


@dataclass(frozen=True, slots=True)
class AddressReady:
    """An IPv6 address passed DAD and is now usable (preferred)."""

    ip: str
    """The address (text)."""


@dataclass(frozen=True, slots=True)
class NeighborResolved:
    """An IPv6 neighbour this host was resolving answered (the ARP twin is ArpResolved)."""

    ip: str
    """The neighbour's IPv6 address (text)."""
    mac: bytes
    """Its MAC address (6 bytes)."""


Event: TypeAlias = (
    DatagramReceived
    | SendFailed
    | EchoReplyReceived
    | IcmpErrorReceived
    | ArpResolved
    | AddressConflict
    | Datagram6Received
    | DuplicateAddress
    | AddressReady
    | NeighborResolved
)
"""Any event ``Host.next_event()`` returns."""
