"""Test helper: put right the checksums of a hand-mutated Ethernet/IPv4/UDP frame."""

from __future__ import annotations

import struct

from aionetmap.stack.checksum import inet_checksum, inet_sum, pseudo_header_sum, udp_checksum

__all__ = ["fix_checksums", "partial_checksum"]


def fix_checksums(frame: bytearray, fix_ip: bool = True, fix_udp: bool = True) -> None:
    """Recompute the IPv4 and UDP checksums where the lengths allow (after mutations)."""
    off = 18 if frame[12:14] == b"\x81\x00" else 14
    if len(frame) < off + 20:
        return
    hlen = (frame[off] & 0xF) * 4
    if fix_ip and 20 <= hlen <= len(frame) - off:
        frame[off + 10 : off + 12] = b"\0\0"
        frame[off + 10 : off + 12] = inet_checksum(frame[off : off + hlen]).to_bytes(2, "big")
    total = int.from_bytes(frame[off + 2 : off + 4], "big")
    start = off + hlen
    if fix_udp and hlen >= 20 and start + 8 <= off + total <= len(frame):
        length = int.from_bytes(frame[start + 4 : start + 6], "big")
        if 8 <= length <= total - hlen:
            src, dst = struct.unpack_from("!II", frame, off + 12)
            frame[start + 6 : start + 8] = b"\0\0"
            csum = udp_checksum(src, dst, frame[start : start + length])
            frame[start + 6 : start + 8] = csum.to_bytes(2, "big")


def partial_checksum(frame: bytearray) -> None:
    """Write into the UDP checksum field what a Linux sender with TX checksum offload
    writes (CHECKSUM_PARTIAL): the folded pseudo-header sum, not complemented, no data."""
    off = 18 if frame[12:14] == b"\x81\x00" else 14
    if len(frame) < off + 20:
        return
    hlen = (frame[off] & 0xF) * 4
    start = off + hlen
    if hlen >= 20 and start + 8 <= len(frame):
        length = int.from_bytes(frame[start + 4 : start + 6], "big")
        src, dst = struct.unpack_from("!II", frame, off + 12)
        field = inet_sum(b"", pseudo_header_sum(src, dst, 17, length))
        frame[start + 6 : start + 8] = field.to_bytes(2, "big")
