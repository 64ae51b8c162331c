"""Exceptions raised by the stack's parsers and by ``Host`` send calls.

Parsers raise only :class:`ParseError` subclasses. Each one carries the :class:`DropReason`
the receive path counts for it, so a parser failure and the frame's counted drop reason are
the same thing by construction:

- :class:`IntegrityError`: the bytes do not hold together (too short, a length field that
  disagrees with the buffer, a bad checksum).
- :class:`SanityError`: the bytes hold together but a value is not acceptable (version,
  a multicast sender, an unknown operation).
"""

from __future__ import annotations

import errno

from aionetmap.stack.drops import DropReason

__all__ = ["DatagramTooLarge", "IntegrityError", "ParseError", "SanityError"]


class ParseError(ValueError):
    """A header could not be parsed; ``reason`` is the drop reason it is counted under."""

    def __init__(self, reason: DropReason, message: str) -> None:
        super().__init__(f"{message} [{reason.name}]")
        self.reason = reason
        """The drop reason the receive path counts this failure under."""


class IntegrityError(ParseError):
    """Lengths or checksums are inconsistent with the buffer."""


class SanityError(ParseError):
    """A field holds a value the stack does not accept."""


class DatagramTooLarge(OSError):
    """A payload does not fit in one IP datagram (errno ``EMSGSIZE``, as from Linux).

    Over IPv4 the limit is 65507 bytes for a UDP payload (65535 minus a 20-byte IPv4
    header and the 8-byte UDP header) and the same for an ICMP echo payload (its header is
    8 bytes too). Over IPv6 (``ipv6=True``) it is 65527: the 16-bit payload length counts
    no IP header (65535 minus the 8-byte UDP or ICMPv6 echo header; jumbograms are not
    supported). Anything up to it that does not fit the MTU is sent as fragments. A port
    whose TX ring cannot hold all the fragments of the largest datagram at once has a
    lower limit (``NetInterface.max_payload``, ``max_payload6``).
    """

    def __init__(self, what: str, size: int, limit: int, mtu: int, *, ipv6: bool = False) -> None:
        most = (
            "65527 = 65535 - 8 header, over IPv6" if ipv6 else "65507 = 65535 - 20 IPv4 - 8 header"
        )
        super().__init__(
            errno.EMSGSIZE,
            f"{what} of {size} bytes exceeds the limit of {limit} bytes (at most {most}; "
            f"below it, datagrams over the MTU of {mtu} are fragmented)",
        )
        self.size = size
        """Bytes the caller tried to send."""
        self.limit = limit
        """The largest payload that fits."""
