"""UDP over IPv6 (RFC 768, RFC 8200 8.1): the segment, with its checksum mandatory.

The checksum covers the IPv6 pseudo-header; a computed 0 is sent as 0xFFFF, and a
received 0 is refused (``UDP6_ZERO_CHECKSUM``, in :mod:`.receive6`).
"""

from __future__ import annotations

import struct

from aionetmap.stack.checksum import inet_checksum
from aionetmap.stack.ipv6 import NextHeader, pseudo_header_sum6

__all__ = ["build_udp6_segment", "udp6_checksum"]


def udp6_checksum(src: bytes, dst: bytes, segment: bytes) -> int:
    """The checksum to put in the header of ``segment`` (holding a zero field)."""
    pseudo = pseudo_header_sum6(src, dst, NextHeader.UDP, len(segment))
    return inet_checksum(segment, pseudo) or 0xFFFF


def build_udp6_segment(
    src: bytes, dst: bytes, src_port: int, dst_port: int, payload: bytes
) -> bytes:
    """A UDP header and ``payload``, checksummed for ``src`` -> ``dst``."""
    segment = bytearray(struct.pack("!HHHH", src_port, dst_port, 8 + len(payload), 0) + payload)
    struct.pack_into("!H", segment, 6, udp6_checksum(src, dst, bytes(segment)))
    return bytes(segment)
