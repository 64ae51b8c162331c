"""The classifier's IPv6 checks: what the C fast path decides about an IPv6 frame itself
(:func:`~aionetmap.stack.classify.classify` calls them when its context has
``ipv6_addresses``; a drop reason here is its ``Drop``, None its ``Slow(IPV6)``).

Only the common case is decided: UDP straight after the fixed header (no extension
headers), to one of the host's preferred unicast addresses. The checks follow
:class:`~aionetmap.stack.receive6.Receiver6` (and :func:`~aionetmap.stack.ipv6.parse_ipv6`)
in their order, so a verdict here is what the host's IPv6 side does with the frame; C
(``fast_rx6.c``) returns the same verdict for every frame::

    1. < 40 bytes after the Ethernet header                  -> IP6_TRUNCATED
    2. version != 6                                          -> IP6_BAD_VERSION
    3. payload length 0 (a jumbogram)                        -> IP6_BAD_PAYLOAD_LENGTH
    4. 40 + payload length > bytes available                 -> IP6_TRUNCATED
       (bytes past it are Ethernet padding and ignored)
    5. next header not UDP (extension headers, ICMPv6, ...)  -> Slow(IPV6)
    6. source multicast, ::1 or one of ours                  -> IP6_BAD_SOURCE
    7. destination multicast                                 -> Slow(IPV6)
    8. destination not one of ours                           -> IP6_NOT_FOR_US
    9. link-layer group frame (a unicast packet in it)       -> IP6_L2_MULTICAST
   10. payload < 8 bytes                                     -> UDP6_TRUNCATED
   11. UDP length < 8                                        -> UDP6_BAD_LENGTH
   12. UDP length > payload                                  -> UDP6_TRUNCATED
   13. checksum field 0 (RFC 8200 8.1)                       -> UDP6_ZERO_CHECKSUM
   14. checksum as IPv4's check 22 (the port's flags, the partial-checksum rule) with
       the IPv6 pseudo-header                                -> UDP6_BAD_CHECKSUM
   15. port not bound                                        -> Slow(IPV6) (the host
       answers port unreachable)
   16. otherwise                                             -> Deliver6

Every drop above is one the host's IPv6 side counts with nothing else done; whatever it
might answer, reassemble or learn from stays ``Slow(IPV6)``. "Ours" is
``ClassifyContext.ipv6_addresses``, the preferred addresses (tentative ones are not for
us, RFC 4862 5.4). Ports are the host's one port space (``ClassifyContext.ports``), as in
``Receiver6``: which endpoint family hears the datagram is the interface's business.
"""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from aionetmap.stack.addresses import BytesLike
from aionetmap.stack.checksum import RxChecksum, UdpChecksum, inet_checksum, inet_sum
from aionetmap.stack.drops import DropReason
from aionetmap.stack.ipv6 import pseudo_header_sum6

__all__ = ["Deliver6", "classify_ipv6"]

R = DropReason
_UDP = 17
_LOOPBACK = bytes(15) + b"\x01"
_TRUSTED = (RxChecksum.PARTIAL, RxChecksum.VALID)


@dataclass(frozen=True, slots=True)
class Deliver6:
    """A valid IPv6 UDP datagram for a bound port; offsets index the classified buffer."""

    payload_offset: int
    """Where the UDP payload starts."""
    payload_length: int
    """UDP payload length (UDP length field - 8)."""
    src: bytes
    """Source IPv6 address (16 bytes)."""
    src_port: int
    dst_port: int
    dst: bytes
    """Destination: one of the host's preferred addresses."""
    checksum: int = UdpChecksum.VERIFIED
    """How the UDP checksum was accepted (a ``UdpChecksum`` value)."""
    l3_offset: int = 14
    """Offset of the IPv6 header (14, or 18 behind an 802.1Q tag)."""


def classify_ipv6(
    frame: BytesLike,
    offset: int,
    ours: Collection[bytes],
    ports: AbstractSet[int],
    accept_partial: bool,
    csum: int,
) -> Deliver6 | DropReason | None:
    """Checks 1-16 on the IPv6 packet at ``frame[offset:]`` (after the Ethernet checks) for
    a host whose preferred addresses are ``ours`` and bound ports ``ports``: a delivery, a
    drop reason, or None for ``Slow(IPV6)``. ``csum`` is the port's ``RxChecksum`` flag;
    ``accept_partial`` the partial-checksum rule (``ClassifyContext``)."""
    avail = len(frame) - offset
    if avail < 40:
        return R.IP6_TRUNCATED
    if frame[offset] >> 4 != 6:
        return R.IP6_BAD_VERSION
    plen = frame[offset + 4] << 8 | frame[offset + 5]
    if plen == 0:
        return R.IP6_BAD_PAYLOAD_LENGTH
    if plen > avail - 40:
        return R.IP6_TRUNCATED
    if frame[offset + 6] != _UDP:
        return None
    src = bytes(frame[offset + 8 : offset + 24])
    dst = bytes(frame[offset + 24 : offset + 40])
    if src[0] == 0xFF or src == _LOOPBACK or src in ours:
        return R.IP6_BAD_SOURCE
    if dst[0] == 0xFF:
        return None
    if dst not in ours:
        return R.IP6_NOT_FOR_US
    if frame[0] & 1:
        return R.IP6_L2_MULTICAST
    return _classify_udp6(frame, offset, plen, src, dst, ports, accept_partial, csum)


def _classify_udp6(
    frame: BytesLike, offset: int, plen: int, src: bytes, dst: bytes, ports: AbstractSet[int],
    accept_partial: bool, csum: int,
) -> Deliver6 | DropReason | None:  # fmt: skip
    """Checks 10-16 on the UDP segment after the fixed header."""
    start = offset + 40
    if plen < 8:
        return R.UDP6_TRUNCATED
    length = frame[start + 4] << 8 | frame[start + 5]
    if length < 8:
        return R.UDP6_BAD_LENGTH
    if length > plen:
        return R.UDP6_TRUNCATED
    field = frame[start + 6] << 8 | frame[start + 7]
    if not field:
        return R.UDP6_ZERO_CHECKSUM
    if csum in _TRUSTED:
        how = UdpChecksum.OFFLOADED
    else:
        pseudo = pseudo_header_sum6(src, dst, _UDP, length)
        if not inet_checksum(frame[start : start + length], pseudo):
            how = UdpChecksum.VERIFIED
        elif accept_partial and field == inet_sum(b"", pseudo):
            how = UdpChecksum.PSEUDO
        else:
            return R.UDP6_BAD_CHECKSUM
    port = frame[start + 2] << 8 | frame[start + 3]
    if port not in ports:
        return None
    sport = frame[start] << 8 | frame[start + 1]
    return Deliver6(start + 8, length - 8, src, sport, port, dst, how, offset)
