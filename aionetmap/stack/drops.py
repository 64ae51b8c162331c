"""Why a received frame was dropped (:class:`DropReason`) and the stack's counters.

The numeric values of :class:`DropReason` are a contract: the C fast path mirrors them and a
test pins every one. Never renumber or reuse a value; add new reasons with new numbers.

Reasons 1-99 (Ethernet, IPv4, UDP; 60-79 IPv6 and UDP over IPv6) are the ones a
classifier returns, so the C classifier can return them too (60-79 come from the Python
IPv6 side, :mod:`aionetmap.stack.receive6`, until the C fast path classifies IPv6; C
already defines them). The others come from the Python-only
paths (ARP, ICMP, fragments, replies the host generates).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import IntEnum

__all__ = ["DropReason", "StackStats"]


class DropReason(IntEnum):
    """The counted reason for dropping one received frame (stable values)."""

    # Ethernet (classify)
    ETH_TRUNCATED = 1
    """Shorter than the 14-byte header (18 with an 802.1Q tag)."""
    ETH_OVERSIZE = 2
    """Longer than 14 + 4 + MTU bytes."""
    ETH_OTHER_HOST = 3
    """Unicast to another MAC address."""
    ETH_MULTICAST = 4
    """To a multicast MAC address (the stack joins no groups)."""
    ETH_BAD_SOURCE = 5
    """The source MAC address is a group (multicast/broadcast) address."""
    ETH_UNSUPPORTED_TYPE = 6
    """EtherType other than IPv4 and ARP (after one 802.1Q tag), or an 802.3 length."""
    ETH_VLAN_TAGGED = 7
    """802.1Q-tagged with a VLAN id, to a host without ``vlan`` (Linux drops these too when
    no VLAN sub-interface has the id; priority tags, VLAN id 0, are accepted)."""
    ETH_VLAN_MISMATCH = 8
    """802.1Q-tagged with a VLAN id other than the host's ``vlan``."""
    ETH_VLAN_UNTAGGED = 9
    """Untagged or priority-tagged (VLAN id 0), to a host with a ``vlan``."""

    # IPv4 (classify)
    IP_TRUNCATED = 20
    """Fewer bytes than 20, than the header length, or than the total length."""
    IP_BAD_VERSION = 21
    """Version field is not 4."""
    IP_BAD_IHL = 22
    """Header length below 5 words."""
    IP_BAD_TOTAL_LENGTH = 23
    """Total length smaller than the header length."""
    IP_BAD_CHECKSUM = 24
    """Header checksum does not verify."""
    IP_BAD_SOURCE = 25
    """Martian source: 0/8, 127/8, multicast, broadcast, or this host's own address (0/8
    is taken to a group for IGMP or 224.0.0.0/24, as Linux does: snooping switches query
    from 0.0.0.0)."""
    IP_NOT_FOR_US = 26
    """Destination is neither this host, its subnet broadcast, 255.255.255.255 nor a group
    (224.0.0.0/4; whether the host joined it is decided later: ``MCAST_NOT_JOINED``)."""
    IP_L2_BROADCAST = 27
    """Unicast IPv4 destination in a link-layer broadcast frame (RFC 1122 3.3.6)."""
    IP_UNSUPPORTED_PROTOCOL = 28
    """Protocol other than ICMP, IGMP and UDP."""

    # UDP (classify)
    UDP_TRUNCATED = 40
    """IPv4 payload shorter than 8 bytes or than the UDP length field."""
    UDP_BAD_LENGTH = 41
    """UDP length field below 8."""
    UDP_BAD_CHECKSUM = 42
    """Non-zero UDP checksum that does not verify, on a frame the port did not flag as
    checked or partial, and that is not a partial checksum the host accepts
    (``HostConfig.accept_partial_checksum``)."""
    UDP_NO_LISTENER = 43
    """No bound port (answered with ICMP port unreachable unless broadcast or rate-limited).
    Broadcast to a port bound only on the unicast address counts here too: as on Linux,
    only wildcard-bound endpoints receive broadcast. So does multicast to a joined group for
    a port not bound to the wildcard address (never answered: no errors for multicast)."""

    # IPv6 and UDP over IPv6 (the host's IPv6 side checks them now; the C fast path
    # will return them when it classifies IPv6, hence below 100)
    IP6_TRUNCATED = 60
    """Fewer than 40 bytes, or fewer than the payload length says."""
    IP6_BAD_VERSION = 61
    """Version field is not 6."""
    IP6_BAD_SOURCE = 62
    """Source is multicast, loopback (::1), or one of this host's own addresses."""
    IP6_NOT_FOR_US = 63
    """Destination is none of our addresses nor a group the host listens to."""
    IP6_L2_MULTICAST = 64
    """Unicast IPv6 destination in a link-layer group frame."""
    IP6_BAD_EXTENSION = 65
    """An extension header or option that runs past its header or the packet."""
    IP6_UNKNOWN_HEADER = 66
    """An unrecognised next header, or hop-by-hop options not first (RFC 8200 4: a
    parameter problem, code 1, is sent)."""
    IP6_UNKNOWN_OPTION = 67
    """An unrecognised option whose type's top bits say discard (RFC 8200 4.2)."""
    IP6_ROUTING_HEADER = 68
    """A routing header with segments left (a host does not route; parameter problem 0)."""
    IP6_NO_NEXT_HEADER = 69
    """Next header 59: nothing follows."""
    IP6_BAD_PAYLOAD_LENGTH = 75
    """Payload length 0 (a jumbogram, RFC 2675, which the stack does not take)."""
    UDP6_TRUNCATED = 70
    """IPv6 payload shorter than 8 bytes or than the UDP length field."""
    UDP6_BAD_LENGTH = 71
    """UDP length field below 8."""
    UDP6_ZERO_CHECKSUM = 72
    """UDP checksum 0 over IPv6 (RFC 8200 8.1: the checksum is mandatory)."""
    UDP6_BAD_CHECKSUM = 73
    """UDP checksum that does not verify (IPv6 pseudo-header)."""
    UDP6_NO_LISTENER = 74
    """No bound port (answered with ICMPv6 port unreachable unless multicast or
    rate-limited)."""

    # ARP (Python only)
    ARP_TRUNCATED = 100
    """Fewer than 28 bytes."""
    ARP_UNSUPPORTED = 101
    """Hardware type not Ethernet or protocol type not IPv4."""
    ARP_BAD_LENGTHS = 102
    """Hardware address length not 6 or protocol address length not 4."""
    ARP_BAD_OPERATION = 103
    """Operation neither request (1) nor reply (2)."""
    ARP_BAD_SENDER = 104
    """Sender MAC is zero or a group address, or sender IP is multicast or 255.255.255.255."""
    ARP_NOT_FOR_US = 105
    """Not about this host's address and the sender is not in the cache."""
    ARP_UNSOLICITED = 106
    """A reply to this host for an address it never asked about."""
    ARP_ADDRESS_CONFLICT = 107
    """Another station claims this host's IPv4 address (an ``AddressConflict`` event)."""
    ARP_SENDER_UNSPECIFIED = 108
    """Sender IP 0.0.0.0 (an RFC 5227 probe) for an address that is not ours."""
    ARP_SENDER_LOOPBACK = 109
    """Sender IP in 127.0.0.0/8."""
    ARP_SENDER_BROADCAST = 110
    """Sender IP is the subnet's broadcast address."""
    ARP_LOOPED_BACK = 111
    """Sender IP and MAC are this host's own: one of its frames came back."""

    # ICMP (Python only)
    ICMP_TRUNCATED = 120
    """Fewer than 8 bytes."""
    ICMP_BAD_CHECKSUM = 121
    """ICMP checksum does not verify."""
    ICMP_UNSUPPORTED_TYPE = 122
    """A type the stack does not handle."""
    ICMP_BROADCAST = 123
    """ICMP to a broadcast address (broadcast pings are ignored)."""
    ICMP_BAD_QUOTE = 124
    """An error message whose quoted datagram is malformed, not UDP, or not from this host."""
    ICMP_ECHO_IGNORED = 125
    """An echo request while ``HostConfig.answer_echo`` is off."""

    # Fragments (Python only)
    IP_FRAGMENT = 140
    """A fragment, while reassembly is disabled."""
    IP_FRAGMENT_TIMEOUT = 141
    """A held fragment whose datagram did not complete in time (counted per fragment)."""
    IP_FRAGMENT_OVERLAP = 142
    """Fragments overlap or disagree on the end (the whole datagram is dropped)."""
    IP_FRAGMENT_DUPLICATE = 143
    """Exact duplicate of a fragment already held."""
    IP_FRAGMENT_TOO_BIG = 144
    """The datagram would exceed 65535 bytes (the whole datagram is dropped)."""
    IP_FRAGMENT_LIMIT = 145
    """More than ``reassembly_max_fragments`` fragments for one datagram (the whole
    datagram). Before 147-149 existed, this also counted their cases."""
    IP_FRAGMENT_BAD = 146
    """A non-final fragment whose length is zero or not a multiple of 8."""
    IP_FRAGMENT_TABLE_FULL = 147
    """A fragment that would start a datagram while ``reassembly_max_datagrams`` are
    already in reassembly (from all sources together)."""
    IP_FRAGMENT_MEMORY = 148
    """Fragments over ``reassembly_max_bytes``: the oldest datagrams evicted to make room
    (per fragment), or the new fragment if even that is not enough."""
    IP_FRAGMENT_SOURCE_LIMIT = 149
    """A fragment that would start one more datagram from a source that already has
    ``reassembly_max_per_source`` in reassembly."""

    # IPv4 multicast and IGMP (Python only)
    MCAST_NOT_JOINED = 200
    """To a group address this host has not joined (IGMP to 224.0.0.1 is always taken)."""
    MCAST_FILTERED = 201
    """UDP to a joined group, for a wildcard-bound port that has not joined it itself and
    has ``multicast_all`` off (Linux's ``IP_MULTICAST_ALL`` = 0)."""
    IGMP_TRUNCATED = 202
    """An IGMP message under 8 bytes."""
    IGMP_BAD_CHECKSUM = 203
    """The IGMP checksum does not verify."""
    IGMP_BAD_LENGTH = 204
    """A query of 9 to 11 bytes, or a v3 query whose source list runs past the message."""
    IGMP_BAD_GROUP = 205
    """A query whose group is neither 0 nor a multicast address, or a v1/v2 report or
    leave for a non-multicast group."""
    IGMP_UNSUPPORTED_TYPE = 206
    """An IGMP type hosts do not handle (DVMRP, PIM v1, mtrace...)."""
    IGMP_NOT_MULTICAST = 207
    """An IGMP message to a broadcast address (Linux takes IGMP only to its own unicast
    address or a group)."""
    IGMP_BAD_QUERY = 208
    """An IGMPv3 general query that lists sources (RFC 3376 4.1.8; Linux ignores it)."""

    # Host-level (Python only)
    REPLY_UNROUTABLE = 160
    """An echo request or closed-port datagram whose reply has no route (off-link, no gateway)."""
    REPLY_TOO_LARGE = 161
    """Unused since echo replies are fragmented like any datagram (the value stays
    reserved: a reassembled request's reply always fits the IPv4 limit)."""
    # IPv6 side (Python only)
    ICMP6_TRUNCATED = 170
    """ICMPv6 message shorter than 4 bytes (8 for the types that need it)."""
    ICMP6_BAD_CHECKSUM = 171
    """ICMPv6 checksum (with the IPv6 pseudo-header) does not verify."""
    ICMP6_UNSUPPORTED_TYPE = 172
    """An ICMPv6 type the stack does not handle (informational ones are dropped)."""
    ICMP6_BAD_QUOTE = 173
    """An ICMPv6 error whose quoted packet is not UDP from one of our addresses."""
    ICMP6_ECHO_IGNORED = 174
    """An echo request while ``HostConfig.answer_echo`` is off, or to a group address
    from an unspecified source."""
    NDP_INVALID = 175
    """An NDP message that fails RFC 4861's validity checks (hop limit not 255, code not
    0, too short, bad options, a multicast target, a source/option combination the RFC
    forbids)."""
    NDP_NOT_FOR_US = 176
    """A neighbour solicitation for an address that is not ours."""
    NDP_UNSOLICITED = 177
    """A neighbour advertisement for an address not in the neighbour cache."""
    NDP_DUPLICATE = 178
    """An NA or NS that shows another node holds one of our (tentative) addresses (a
    ``DuplicateAddress`` event)."""
    NDP_TENTATIVE = 179
    """A solicitation for one of our addresses still in DAD from a node doing normal
    resolution: not answered (RFC 4862 5.4.3)."""
    NDP_LOOPED_BACK = 180
    """One of our own NDP messages came back."""
    RA_IGNORED = 181
    """A router advertisement while ``HostConfig.accept_ra`` is off, or a router
    solicitation (hosts ignore them)."""
    MLD_INVALID = 182
    """An MLD message that fails RFC 3810's checks (hop limit not 1, not link-local
    source, too short)."""
    MLD_IGNORED = 183
    """Another node's MLD report, or a query about a group we are not in."""
    IP6_FRAGMENT = 185
    """An IPv6 fragment, while reassembly is disabled."""
    IP6_FRAGMENT_TIMEOUT = 186
    """A held IPv6 fragment whose datagram did not complete in 60 s (per fragment)."""
    IP6_FRAGMENT_OVERLAP = 187
    """Overlapping IPv6 fragments: the whole datagram is dropped (RFC 5722)."""
    IP6_FRAGMENT_DUPLICATE = 188
    """Exact duplicate of an IPv6 fragment already held."""
    IP6_FRAGMENT_TOO_BIG = 189
    """The reassembled payload would exceed 65535 bytes (parameter problem in Linux)."""
    IP6_FRAGMENT_LIMIT = 190
    """More than ``reassembly_max_fragments`` fragments for one datagram."""
    IP6_FRAGMENT_BAD = 191
    """A non-final IPv6 fragment whose length is zero or not a multiple of 8."""
    IP6_FRAGMENT_TABLE_FULL = 192
    """An IPv6 fragment that would start a datagram while the table is full."""
    IP6_FRAGMENT_MEMORY = 193
    """IPv6 fragments over ``reassembly_max_bytes`` (the oldest datagrams evicted)."""
    IP6_FRAGMENT_SOURCE_LIMIT = 194
    """An IPv6 fragment that would start one more datagram from a busy source."""
    REPLY6_UNROUTABLE = 195
    """An IPv6 reply (echo reply, ICMPv6 error) with no route or usable source."""
    INTERNAL_ERROR = 255
    """A bug in the stack: an exception was caught at the receive boundary."""


def _zero_drops() -> dict[DropReason, int]:
    return dict.fromkeys(DropReason, 0)


@dataclass(slots=True)
class StackStats:
    """Counters of one :class:`~aionetmap.stack.host.Host`.

    ``drops`` holds one counter per :class:`DropReason`, zero included. Other code that
    classifies frames on the host's behalf (the C fast path) adds its results with
    :meth:`drop` and by incrementing the plain counters.
    """

    rx_frames: int = 0
    """Frames passed to ``receive_frame``."""
    rx_udp_delivered: int = 0
    """UDP datagrams delivered to bound ports."""
    rx_udp_csum_offloaded: int = 0
    """Of those, delivered on the port's word that the kernel verified the UDP checksum or
    that a local sender left it to offload (``RxChecksum``), without verifying it here."""
    rx_udp_csum_partial: int = 0
    """Of those, delivered with a checksum that did not verify but held exactly the
    pseudo-header sum of a partial checksum (``HostConfig.accept_partial_checksum``)."""
    rx_arp: int = 0
    """ARP packets that passed parsing."""
    rx_icmp: int = 0
    """ICMP messages that passed parsing and checksum."""
    rx_fragments: int = 0
    """Fragments handed to reassembly (held, completing a datagram, or dropped there)."""
    rx_reassembled: int = 0
    """Datagrams completed from fragments."""
    tx_frames: int = 0
    """Frames queued for ``frames_to_send`` (all kinds)."""
    tx_udp: int = 0
    """UDP datagrams accepted by ``send_datagram`` (``send_failed`` counts those lost later)."""
    tx_fragmented: int = 0
    """Datagrams (UDP, ICMP) larger than the MTU, split into fragments."""
    tx_fragments: int = 0
    """Fragments queued for transmission (each one is also in ``tx_frames``)."""
    tx_arp_requests: int = 0
    """ARP requests sent, gratuitous announcements included."""
    tx_arp_replies: int = 0
    """ARP replies sent."""
    tx_echo_requests: int = 0
    """ICMP echo requests accepted by ``send_echo_request``."""
    tx_echo_replies: int = 0
    """ICMP echo replies sent."""
    tx_port_unreachable: int = 0
    """ICMP port unreachable messages sent."""
    icmp_rate_limited: int = 0
    """ICMP errors not sent because of the rate limit."""
    arp_failures: int = 0
    """Next hops that did not answer ARP in time."""
    send_failed: int = 0
    """Datagrams dropped after ``send_datagram`` accepted them (SendFailed events)."""
    replies_failed: int = 0
    """Replies the host generated itself and dropped for want of an ARP answer."""
    arp_conflicts: int = 0
    """ARP packets by which another station claims or probes for this host's address
    (each also reported as an ``AddressConflict`` event)."""
    rx_multicast: int = 0
    """UDP datagrams to a joined group delivered to a bound port (also in
    ``rx_udp_delivered``; their checksum counters are not kept)."""
    rx_igmp: int = 0
    """IGMP messages that passed parsing (queries included)."""
    rx_igmp_queries: int = 0
    """Of those, membership queries."""
    tx_multicast: int = 0
    """UDP datagrams sent to a group (also in ``tx_udp``)."""
    tx_multicast_looped: int = 0
    """Of those, copies delivered to this host's own ports (``multicast_loop``)."""
    tx_igmp_reports: int = 0
    """IGMP membership reports sent (v1, v2 and v3, retransmissions included)."""
    tx_igmp_leaves: int = 0
    """IGMPv2 leave messages sent (a v3 leave is a report, counted above)."""
    rx_icmp6: int = 0
    """ICMPv6 messages that passed parsing and checksum (NDP and MLD included)."""
    tx_neighbor_solicits: int = 0
    """Neighbour solicitations sent (resolution, probes and DAD)."""
    tx_neighbor_adverts: int = 0
    """Neighbour advertisements sent (answers and unsolicited ones)."""
    tx_mld_reports: int = 0
    """MLDv2 reports sent."""
    tx_icmp6_errors: int = 0
    """ICMPv6 errors sent (port unreachable, parameter problem)."""
    ndp_failures: int = 0
    """Neighbours that did not answer solicitations in time."""
    dad_conflicts: int = 0
    """Our addresses found duplicate by DAD (each a ``DuplicateAddress`` event)."""
    drops: dict[DropReason, int] = field(default_factory=_zero_drops)
    """Dropped received frames by reason."""

    def drop(self, reason: DropReason, count: int = 1) -> None:
        """Count ``count`` frames dropped for ``reason``."""
        self.drops[reason] += count

    @property
    def dropped(self) -> int:
        """All dropped frames, every reason together."""
        return sum(self.drops.values())

    def as_dict(self) -> dict[str, int]:
        """Every counter by name; drops as ``drop_<reason>`` (all reasons, zero included)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "drops"}
        for reason in DropReason:
            out[f"drop_{reason.name.lower()}"] = self.drops[reason]
        out["dropped"] = self.dropped
        return out
