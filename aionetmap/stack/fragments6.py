"""IPv6 fragment reassembly (RFC 8200 4.5) on the IPv4 reassembler's bounds.

:class:`Reassembler6` is a :class:`~aionetmap.stack.fragments.Reassembler` keyed by
(source, destination, identification), counting its drops under the ``IP6_FRAGMENT_*``
reasons. Every bound of the IPv4 one holds (count, bytes, per source, fragments per
datagram, 65535 bytes); the timeout is 60 s (RFC 8200 4.5); overlapping fragments drop
the whole datagram (RFC 5722), exact duplicates drop alone. Atomic fragments (offset 0,
M clear, RFC 6946) never get here: :func:`~aionetmap.stack.ipv6.parse_ipv6` skips them.

The reassembled packet is the first fragment's unfragmentable headers with the fragment
header removed, then the fragmentable part; it is parsed again like any packet.
"""

from __future__ import annotations

from collections.abc import Callable

from aionetmap.stack.addresses import BytesLike
from aionetmap.stack.drops import DropReason
from aionetmap.stack.fragments import Reassembler
from aionetmap.stack.ipv6 import Ipv6Packet, build_ipv6_packet

__all__ = ["Reassembler6"]

R = DropReason
_V6 = {
    R.IP_FRAGMENT_TIMEOUT: R.IP6_FRAGMENT_TIMEOUT,
    R.IP_FRAGMENT_OVERLAP: R.IP6_FRAGMENT_OVERLAP,
    R.IP_FRAGMENT_DUPLICATE: R.IP6_FRAGMENT_DUPLICATE,
    R.IP_FRAGMENT_TOO_BIG: R.IP6_FRAGMENT_TOO_BIG,
    R.IP_FRAGMENT_LIMIT: R.IP6_FRAGMENT_LIMIT,
    R.IP_FRAGMENT_BAD: R.IP6_FRAGMENT_BAD,
    R.IP_FRAGMENT_TABLE_FULL: R.IP6_FRAGMENT_TABLE_FULL,
    R.IP_FRAGMENT_MEMORY: R.IP6_FRAGMENT_MEMORY,
    R.IP_FRAGMENT_SOURCE_LIMIT: R.IP6_FRAGMENT_SOURCE_LIMIT,
}


class Reassembler6(Reassembler):
    """Holds IPv6 fragments until their packet is complete."""

    def __init__(
        self, on_drop: Callable[[DropReason, int], None], *, timeout: float = 60.0, **limits: int
    ) -> None:
        def drop6(reason: DropReason, count: int) -> None:
            on_drop(_V6.get(reason, reason), count)

        super().__init__(drop6, timeout=timeout, **limits)

    def add6(self, packet: Ipv6Packet, buf: BytesLike, now: float) -> bytes | None:
        """Take the fragment ``packet`` (parsed from ``buf``); the whole IPv6 packet when
        this one completes it, else ``None``."""
        info = packet.fragment
        assert info is not None
        key = (int.from_bytes(packet.src, "big"), int.from_bytes(packet.dst, "big"), info.ident)
        data = bytes(buf[packet.payload_offset : packet.end])
        # The payload-length limit counts the unfragmentable extension headers too.
        extra = len(info.unfragmentable)
        return self.add_piece(key, info.offset, data, info.more, packet, extra, now)

    def _rebuild(self, first: object, end: int, body: bytes) -> bytes:
        assert isinstance(first, Ipv6Packet)
        assert first.fragment is not None
        info = first.fragment
        unfrag = bytearray(info.unfragmentable)
        next_header = info.next_header
        if unfrag:
            # The last unfragmentable header named the fragment header: now it names
            # what followed it; the fixed header keeps naming the first extension.
            pos = 0
            while pos + (unfrag[pos + 1] + 1) * 8 < len(unfrag):
                pos += (unfrag[pos + 1] + 1) * 8
            unfrag[pos] = next_header
            next_header = info.first_header
        return build_ipv6_packet(
            first.src, first.dst, next_header, bytes(unfrag) + body, first.hop_limit
        )
