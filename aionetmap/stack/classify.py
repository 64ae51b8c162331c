"""The receive decision for one frame: deliver (UDP fast path), drop (with a reason), or
hand to the Python stack ("slow"). ``Host.receive_frame`` uses it, and the C fast path
must return exactly the same verdict for every frame.

Order of checks (the first failing check decides the reason; C must keep this order)::

    Ethernet   1. frame < 14 bytes                          -> ETH_TRUNCATED
               2. frame > 14 + 4 + mtu bytes                -> ETH_OVERSIZE
               3. dst MAC: ours -> go on; ff:ff:ff:ff:ff:ff or a group address in
                  ctx.multicast_macs -> go on (an L2 group frame, "L2 broadcast" below);
                  other group address -> ETH_MULTICAST; other unicast -> ETH_OTHER_HOST
               4. src MAC is a group address                -> ETH_BAD_SOURCE
               5. EtherType 0x8100: frame < 18 -> ETH_TRUNCATED; VLAN id (low 12 bits
                  of the TCI) 0 counts as untagged (a priority tag). Then: host without
                  a VLAN and a VLAN id -> ETH_VLAN_TAGGED; host with a VLAN and another
                  id -> ETH_VLAN_MISMATCH, untagged -> ETH_VLAN_UNTAGGED. One tag only.
               6. EtherType ARP -> Slow(ARP); IPv6 (0x86DD) -> Slow(IPV6) (the Python
                  IPv6 side, ``stack/host6.py``, checks the rest), or, with
                  ``ctx.ipv6_addresses`` set, the IPv6 checks of
                  :func:`~aionetmap.stack.classify6.classify_ipv6` (UDP to our unicast
                  addresses -> Deliver6); not IPv4          -> ETH_UNSUPPORTED_TYPE
    IPv4       7. < 20 bytes after the Ethernet header      -> IP_TRUNCATED
               8. version != 4                              -> IP_BAD_VERSION
               9. IHL < 5                                   -> IP_BAD_IHL
              10. IHL*4 > bytes available                   -> IP_TRUNCATED
              11. total length < IHL*4                      -> IP_BAD_TOTAL_LENGTH
              12. total length > bytes available            -> IP_TRUNCATED
                  (bytes past the total length are Ethernet padding and ignored)
              13. header checksum                           -> IP_BAD_CHECKSUM
              14. source is 0/8, 127/8, 224/4, 255.255.255.255, our subnet broadcast
                  or our own address                        -> IP_BAD_SOURCE
                  (except a 0/8 source to a group address when the protocol is IGMP
                  or the group is in 224.0.0.0/24: switches that query for IGMP
                  snooping send from 0.0.0.0, and Linux takes these)
              15. destination is neither our address, our subnet broadcast,
                  255.255.255.255 nor a group address (224.0.0.0/4) -> IP_NOT_FOR_US
              16. L2 group frame carrying a unicast destination -> IP_L2_BROADCAST
              17. MF set or fragment offset != 0            -> Slow(FRAGMENT)
              18. protocol ICMP -> Slow(ICMP); IGMP -> Slow(IGMP); not UDP
                                                            -> IP_UNSUPPORTED_PROTOCOL
                  (options, the reserved flag and TTL are not looked at)
    UDP       19. IPv4 payload < 8 bytes                    -> UDP_TRUNCATED
              20. UDP length < 8                            -> UDP_BAD_LENGTH
              21. UDP length > IPv4 payload                 -> UDP_TRUNCATED
                  (IPv4 payload past the UDP length is ignored)
              22. non-zero checksum, accepted when (a) the port flags the frame
                  (``RxChecksum.PARTIAL`` or ``VALID``: not verified again), (b) it
                  verifies, or (c) ``ctx.accept_partial_checksum`` is on and the field
                  equals the folded pseudo-header sum (see below); else
                                                            -> UDP_BAD_CHECKSUM
              23. group destination                         -> DeliverGroup
                  (the host's memberships decide: see below)
              24. unicast destination and port bound, or broadcast destination and
                  port bound to the wildcard                -> Deliver
              25. IPv4 destination is a broadcast           -> UDP_NO_LISTENER
              26. otherwise                                 -> Slow(UDP_UNREACHABLE)

Partial checksums: a Linux sender that leaves the UDP checksum to the NIC (TX offload,
on by default on veth) writes only the folded sum of the pseudo-header into the field,
not complemented and without the data. Such a frame reaches another local reader before
any NIC completes it. AF_PACKET says so per frame (``TP_STATUS_CSUMNOTREADY``, or
``TP_STATUS_CSUM_VALID`` for one the kernel verified); the port passes that on as an
``RxChecksum`` flag and the classifier trusts it, as Linux itself does for such packets.
netmap's emulated adapter passes no flag, so there rule (c), on only when
``ctx.accept_partial_checksum`` is, accepts a field that equals the pseudo-header sum
exactly. It cannot tell a partial checksum from a datagram whose data was damaged after
a sender wrote one, nor check the payload of either; any other field value, and damage to
the addresses, the protocol or the UDP length (all in the pseudo-header), still fail.
A datagram that carries a complete checksum passes (b) and is never weakened by (c).
How each delivered datagram passed is ``Deliver.checksum`` (a ``UdpChecksum``).

Subnet broadcast: for prefixes /31 and /32 there is none, and ``ctx.broadcast`` is
255.255.255.255. Frames to other MACs are never looked at further: a group frame passes
check 3 only for a group MAC the host listens on (``Host.join_group`` listens on the
group's mapped MAC). UDP to any group address (after checks 15-22) is a ``DeliverGroup``
with the group: whoever delivers it asks the host's memberships
(``Host.group_verdict``, Linux's ``ip_mc_sf_allow``), which deliver only groups the host
joined (``MCAST_NOT_JOINED``); the classifier does not know the groups, so the C mirror
needs no group table. IGMP goes to the Python stack. As on Linux, broadcast UDP reaches
only ports bound to the wildcard address (``wildcard_ports``, a subset of ``ports``); an
endpoint bound to the unicast address never sees it. A host with ``vlan`` (1..4094) takes
only frames tagged with that id, and tags all it sends; a host without takes untagged and
priority-tagged frames, as Linux without a VLAN sub-interface does.
Frames carrying the host's own source MAC are not singled out: a port must not loop the
host's transmitted frames back to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from enum import IntEnum

from aionetmap.stack.addresses import BROADCAST_MAC, LIMITED_BROADCAST, BytesLike
from aionetmap.stack.checksum import (
    RxChecksum,
    UdpChecksum,
    inet_checksum,
    inet_sum,
    pseudo_header_sum,
)
from aionetmap.stack.classify6 import Deliver6, classify_ipv6
from aionetmap.stack.drops import DropReason

__all__ = [
    "ClassifyContext",
    "Deliver",
    "Deliver6",
    "DeliverGroup",
    "Drop",
    "RxChecksum",
    "Slow",
    "SlowKind",
    "UdpChecksum",
    "Verdict",
    "classify",
    "classify_ipv4",
]

_ETH_IPV4, _ETH_ARP, _ETH_VLAN, _ETH_IPV6 = 0x0800, 0x0806, 0x8100, 0x86DD
_PROTO_ICMP, _PROTO_IGMP, _PROTO_UDP = 1, 2, 17
_LOCAL_GROUPS = 0xE00000  # 224.0.0.0/24 shifted right by 8


class SlowKind(IntEnum):
    """What the Python stack has to do with a frame (stable values, mirrored in C)."""

    ARP = 1
    ICMP = 2
    FRAGMENT = 3
    UDP_UNREACHABLE = 4
    """UDP to an unbound port on our unicast address: answer with port unreachable."""
    MULTICAST_UDP = 5
    """No longer returned (kept for its number): group UDP is a ``DeliverGroup``."""
    IGMP = 6
    """An IGMP message (to a group, or to our unicast address)."""
    IPV6 = 7
    """An IPv6 packet (EtherType 0x86DD) the classifier does not decide: parsed and handled
    by the host's IPv6 side."""


@dataclass(frozen=True, slots=True)
class ClassifyContext:
    """What the classifier needs to know about the host. ``ports`` is read live."""

    mac: bytes
    """Our MAC address."""
    ip: int
    """Our IPv4 address."""
    broadcast: int
    """Our subnet broadcast address (255.255.255.255 for /31 and /32)."""
    ports: AbstractSet[int]
    """Bound UDP ports (all of them, wildcard ones included)."""
    mtu: int = 1500
    """Largest IPv4 packet; frames over 14 + 4 + mtu bytes are dropped."""
    vlan: int = 0
    """The host's 802.1Q VLAN id (1..4094), or 0 for an untagged host."""
    wildcard_ports: AbstractSet[int] = frozenset()
    """Ports bound to the wildcard address (0.0.0.0), which also receive broadcast."""
    accept_partial_checksum: bool = False
    """Accept a UDP checksum field equal to the pseudo-header sum (check 22 (c)): for ports
    that may carry a local kernel's partial checksums without saying so."""
    multicast_macs: AbstractSet[bytes] = frozenset()
    """Group MAC addresses the host listens on besides broadcast (check 3), read live: a
    frame to one goes on like a broadcast one."""
    ipv6_addresses: Sequence[bytes] | None = None
    """The host's preferred IPv6 addresses (16 bytes each), read live, in the order the C
    twin's ``dst6`` indexes them: IPv6 frames get the checks of
    :func:`~aionetmap.stack.classify6.classify_ipv6`. ``None``: every IPv6 frame is
    ``Slow(IPV6)`` (the host's own context: its IPv6 side checks them itself)."""


@dataclass(frozen=True, slots=True)
class Deliver:
    """A valid UDP datagram for a bound port; offsets index the classified buffer."""

    payload_offset: int
    """Where the UDP payload starts."""
    payload_length: int
    """UDP payload length (UDP length field - 8)."""
    src_ip: int
    """Source IPv4 address."""
    src_port: int
    """Source UDP port."""
    dst_port: int
    """Destination UDP port (a bound one)."""
    checksum: int = UdpChecksum.VERIFIED
    """How the UDP checksum was accepted (a ``UdpChecksum`` value)."""


@dataclass(frozen=True, slots=True)
class DeliverGroup:
    """A valid UDP datagram to an IPv4 group (check 23): delivered only if the host's
    memberships accept it (``Host.group_verdict``); fields as :class:`Deliver`."""

    payload_offset: int
    payload_length: int
    src_ip: int
    src_port: int
    dst_port: int
    group: int
    """The destination group address."""
    checksum: int = UdpChecksum.VERIFIED


@dataclass(frozen=True, slots=True)
class Drop:
    """Drop the frame and count it under ``reason``."""

    reason: DropReason
    """Why."""


@dataclass(frozen=True, slots=True)
class Slow:
    """The Python stack handles this frame (headers up to ``l3_offset`` are valid)."""

    kind: SlowKind
    """What to do with it."""
    l3_offset: int
    """Offset of the ARP or IPv4 header (14, or 18 behind an 802.1Q tag)."""


Verdict = Deliver | DeliverGroup | Deliver6 | Drop | Slow

# Every Drop and Slow verdict is a shared constant, so only Deliver allocates.
_DROP = {reason: Drop(reason) for reason in DropReason}
_SLOW = {(kind, off): Slow(kind, off) for kind in SlowKind for off in (0, 14, 18)}


def classify(frame: BytesLike, ctx: ClassifyContext, csum: int = RxChecksum.UNKNOWN) -> Verdict:
    """Classify one Ethernet frame (a bytes-like of single bytes). Never raises.

    ``csum`` is the port's ``RxChecksum`` flag for the frame (other values mean UNKNOWN).
    """
    size = len(frame)
    if size < 14:
        return _DROP[DropReason.ETH_TRUNCATED]
    if size > ctx.mtu + 18:
        return _DROP[DropReason.ETH_OVERSIZE]
    l2_broadcast = False
    dst = frame[0:6]
    if dst != ctx.mac:
        if dst == BROADCAST_MAC or (frame[0] & 1 and bytes(dst) in ctx.multicast_macs):
            l2_broadcast = True  # a group address: never for unicast IPv4 (check 16)
        elif frame[0] & 1:
            return _DROP[DropReason.ETH_MULTICAST]
        else:
            return _DROP[DropReason.ETH_OTHER_HOST]
    if frame[6] & 1:
        return _DROP[DropReason.ETH_BAD_SOURCE]
    ethertype = frame[12] << 8 | frame[13]
    offset = 14
    vid = 0
    if ethertype == _ETH_VLAN:
        if size < 18:
            return _DROP[DropReason.ETH_TRUNCATED]
        vid = (frame[14] << 8 | frame[15]) & 0xFFF
        ethertype = frame[16] << 8 | frame[17]
        offset = 18
    if vid != ctx.vlan:
        if not ctx.vlan:
            return _DROP[DropReason.ETH_VLAN_TAGGED]
        return _DROP[DropReason.ETH_VLAN_MISMATCH if vid else DropReason.ETH_VLAN_UNTAGGED]
    if ethertype == _ETH_ARP:
        return _SLOW[SlowKind.ARP, offset]
    if ethertype == _ETH_IPV6:
        ours = ctx.ipv6_addresses
        if ours is None:
            return _SLOW[SlowKind.IPV6, offset]
        partial = ctx.accept_partial_checksum
        found = classify_ipv6(frame, offset, ours, ctx.ports, partial, csum)
        if found is None:
            return _SLOW[SlowKind.IPV6, offset]
        return found if isinstance(found, Deliver6) else _DROP[found]
    if ethertype != _ETH_IPV4:
        return _DROP[DropReason.ETH_UNSUPPORTED_TYPE]
    return classify_ipv4(frame, offset, ctx, l2_broadcast, csum)


def classify_ipv4(
    buf: BytesLike,
    offset: int,
    ctx: ClassifyContext,
    l2_broadcast: bool = False,
    csum: int = RxChecksum.UNKNOWN,
) -> Verdict:
    """Checks 7-26 on the IPv4 packet at ``buf[offset:]``.

    The host also runs reassembled datagrams through here (``offset`` 0).
    """
    avail = len(buf) - offset
    if avail < 20:
        return _DROP[DropReason.IP_TRUNCATED]
    vihl = buf[offset]
    if vihl >> 4 != 4:
        return _DROP[DropReason.IP_BAD_VERSION]
    hlen = (vihl & 0xF) * 4
    if hlen < 20:
        return _DROP[DropReason.IP_BAD_IHL]
    if hlen > avail:
        return _DROP[DropReason.IP_TRUNCATED]
    total = buf[offset + 2] << 8 | buf[offset + 3]
    if total < hlen:
        return _DROP[DropReason.IP_BAD_TOTAL_LENGTH]
    if total > avail:
        return _DROP[DropReason.IP_TRUNCATED]
    if inet_checksum(buf[offset : offset + hlen]) != 0:
        return _DROP[DropReason.IP_BAD_CHECKSUM]
    src = int.from_bytes(buf[offset + 12 : offset + 16], "big")
    dst = int.from_bytes(buf[offset + 16 : offset + 20], "big")
    protocol = buf[offset + 9]
    multicast = dst >> 28 == 0xE
    first = src >> 24
    if (
        (first == 0 and not (multicast and (protocol == _PROTO_IGMP or dst >> 8 == _LOCAL_GROUPS)))
        or first == 127
        or first >> 4 == 0xE
        or src == LIMITED_BROADCAST
        or src == ctx.broadcast
        or src == ctx.ip
    ):
        return _DROP[DropReason.IP_BAD_SOURCE]
    ip_broadcast = dst != ctx.ip  # broadcast or multicast from here on
    if ip_broadcast and dst != ctx.broadcast and dst != LIMITED_BROADCAST and not multicast:
        return _DROP[DropReason.IP_NOT_FOR_US]
    if l2_broadcast and not ip_broadcast:
        return _DROP[DropReason.IP_L2_BROADCAST]
    if (buf[offset + 6] << 8 | buf[offset + 7]) & 0x3FFF:
        return _SLOW[SlowKind.FRAGMENT, offset]
    if protocol == _PROTO_UDP:
        return _classify_udp(buf, offset, hlen, total, src, dst, ctx, ip_broadcast, multicast, csum)
    if protocol == _PROTO_ICMP:
        return _SLOW[SlowKind.ICMP, offset]
    if protocol == _PROTO_IGMP:
        return _SLOW[SlowKind.IGMP, offset]
    return _DROP[DropReason.IP_UNSUPPORTED_PROTOCOL]


def _classify_udp(
    buf: BytesLike,
    offset: int,
    hlen: int,
    total: int,
    src: int,
    dst: int,
    ctx: ClassifyContext,
    ip_broadcast: bool,
    multicast: bool,
    csum: int,
) -> Verdict:
    """Checks 19-26 on the UDP segment at ``buf[offset + hlen : offset + total]``."""
    start = offset + hlen
    if total - hlen < 8:
        return _DROP[DropReason.UDP_TRUNCATED]
    length = buf[start + 4] << 8 | buf[start + 5]
    if length < 8:
        return _DROP[DropReason.UDP_BAD_LENGTH]
    if length > total - hlen:
        return _DROP[DropReason.UDP_TRUNCATED]
    how = _VERIFIED
    if buf[start + 6] or buf[start + 7]:
        accepted = _udp_checksum(buf, start, length, src, dst, ctx, csum)
        if accepted is None:
            return _DROP[DropReason.UDP_BAD_CHECKSUM]
        how = accepted
    dst_port = buf[start + 2] << 8 | buf[start + 3]
    if multicast:
        src_port = buf[start] << 8 | buf[start + 1]
        return DeliverGroup(start + 8, length - 8, src, src_port, dst_port, dst, how)
    if dst_port in (ctx.wildcard_ports if ip_broadcast else ctx.ports):
        src_port = buf[start] << 8 | buf[start + 1]
        return Deliver(start + 8, length - 8, src, src_port, dst_port, how)
    if ip_broadcast:
        return _DROP[DropReason.UDP_NO_LISTENER]
    return _SLOW[SlowKind.UDP_UNREACHABLE, offset]


_VERIFIED, _OFFLOADED, _PSEUDO = UdpChecksum.VERIFIED, UdpChecksum.OFFLOADED, UdpChecksum.PSEUDO
_TRUSTED_FLAGS = (RxChecksum.PARTIAL, RxChecksum.VALID)


def _udp_checksum(
    buf: BytesLike, start: int, length: int, src: int, dst: int, ctx: ClassifyContext, csum: int
) -> UdpChecksum | None:
    """Check 22 on a segment whose checksum field is not 0: how it is accepted, or None."""
    if csum in _TRUSTED_FLAGS:
        return _OFFLOADED  # the kernel vouched for it; Linux does not verify it again
    pseudo = pseudo_header_sum(src, dst, _PROTO_UDP, length)
    if not inet_checksum(buf[start : start + length], pseudo):
        return _VERIFIED
    # A partial checksum is the folded pseudo-header sum, not complemented.
    if ctx.accept_partial_checksum and buf[start + 6] << 8 | buf[start + 7] == inet_sum(
        b"", pseudo
    ):
        return _PSEUDO
    return None
