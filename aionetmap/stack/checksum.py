"""The Internet checksum (RFC 1071) and the IPv4 pseudo-header sum for UDP (RFC 768); what
a port knows about a received checksum (``RxChecksum``) and how a UDP checksum was
accepted (``UdpChecksum``), shared by the IPv4 and IPv6 classifiers.

The ones' complement sum of 16-bit words equals the big-endian integer of the data reduced
modulo 0xFFFF (because 2**16 is 1 modulo 0xFFFF), apart from the representation of zero:
ones' complement addition of data that is not all zeros never yields 0, it yields 0xFFFF.
Letting ``int.from_bytes`` do the summing in C keeps this fast without a word loop.
"""

from __future__ import annotations

from enum import IntEnum

from aionetmap.stack.addresses import BytesLike

__all__ = [
    "RxChecksum",
    "UdpChecksum",
    "inet_checksum",
    "inet_sum",
    "pseudo_header_sum",
    "udp_checksum",
]

_MOD = 0xFFFF


def inet_sum(data: BytesLike, initial: int = 0) -> int:
    """The folded 16-bit ones' complement sum of ``data`` plus ``initial``.

    An odd trailing byte is padded with a zero byte, as RFC 1071 requires.
    """
    total = int.from_bytes(data, "big")
    size = data.nbytes if isinstance(data, memoryview) else len(data)
    if size & 1:
        total <<= 8
    total += initial
    folded = total % _MOD
    if folded == 0 and total != 0:
        return _MOD
    return folded


def inet_checksum(data: BytesLike, initial: int = 0) -> int:
    """The Internet checksum of ``data`` (with ``initial`` added to the sum).

    Over a header that already holds its checksum, the result is 0 exactly when that
    checksum is correct.
    """
    return ~inet_sum(data, initial) & 0xFFFF


def pseudo_header_sum(src: int, dst: int, protocol: int, length: int) -> int:
    """The (unfolded) sum of the IPv4 pseudo header: addresses, protocol and L4 length."""
    return (src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF) + protocol + length


def udp_checksum(src: int, dst: int, segment: BytesLike) -> int:
    """The checksum to put in a UDP header (``segment`` holding a zero checksum field).

    A computed value of 0 is sent as 0xFFFF, because 0 on the wire means "not computed".
    """
    length = segment.nbytes if isinstance(segment, memoryview) else len(segment)
    value = inet_checksum(segment, pseudo_header_sum(src, dst, 17, length))
    return value or 0xFFFF


class RxChecksum(IntEnum):
    """What the port knows about a received frame's checksum (stable values, mirrored in C:
    ``FrameBatch.csum_flags`` holds one per frame)."""

    UNKNOWN = 0
    """Nothing: verify in software (pipes, netmap, AF_PACKET without a flag)."""
    PARTIAL = 1
    """Sent by a local kernel that left the checksum to offload (``TP_STATUS_CSUMNOTREADY``):
    the field is not a checksum yet, and the bytes never crossed a wire."""
    VALID = 2
    """The kernel or the NIC verified the checksum (``TP_STATUS_CSUM_VALID``)."""


class UdpChecksum(IntEnum):
    """How a delivered datagram's UDP checksum was accepted (stable values, mirrored in C)."""

    VERIFIED = 0
    """Verified here, or the field is 0 (the sender computed none)."""
    OFFLOADED = 1
    """Trusted on the port's ``RxChecksum`` flag, not verified here."""
    PSEUDO = 2
    """Did not verify, but holds exactly the pseudo-header sum of a partial checksum
    (``ClassifyContext.accept_partial_checksum``)."""
