"""The UDP fast path in C, and what its two halves share: constants, the C checksum,
argument checks.

The fast path classifies a received batch and builds a batch of UDP frames, one C call
per batch. :class:`~aionetmap._native.fast_classifier.FastClassifier` gives, for every
frame, exactly the verdict of :func:`aionetmap.stack.classify.classify`;
:class:`~aionetmap._native.fast_builder.FastUdpBuilder` writes exactly the bytes of
:func:`aionetmap.stack.udp.build_udp_frame`. The Python stack stays the reference and
handles whatever the classifier marks ``KIND_SLOW`` (ARP, ICMP, IGMP, fragments, closed
ports, IPv6 other than UDP to our unicast addresses); group datagrams (``KIND_GROUP``) go
through the host's membership table.
Import each from its own module: there is no gathering façade.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from aionetmap._native._fast import ffi, lib

KIND_DELIVER: Final = lib.FAST_KIND_DELIVER
"""``kinds[i]``: a valid datagram for a bound port (``classify`` returned ``Deliver``)."""
KIND_DROP: Final = lib.FAST_KIND_DROP
"""``kinds[i]``: drop the frame; ``reasons[i]`` is the ``DropReason`` value."""
KIND_SLOW: Final = lib.FAST_KIND_SLOW
"""``kinds[i]``: the Python stack handles it; ``reasons[i]`` is the ``SlowKind`` value."""
KIND_DELIVER6: Final = lib.FAST_KIND_DELIVER6
"""``kinds[i]``: a valid IPv6 datagram for a bound port (``classify`` returned
``Deliver6``)."""
KIND_GROUP: Final = lib.FAST_KIND_GROUP
"""``kinds[i]``: a valid IPv4 datagram to a group (``classify`` returned ``DeliverGroup``);
the host's memberships decide whether it is delivered."""
MAX_IP6_ADDRS: Final = lib.FAST_MAX_IP6_ADDRS
"""The most preferred IPv6 addresses the C classifier's table holds (``set_ipv6``)."""
MAX_UDP_PAYLOAD: Final = lib.FAST_MAX_UDP_PAYLOAD
"""The largest payload an IPv4 UDP datagram can carry (65535 - 20 - 8)."""

_U32: Final = 0xFFFFFFFF


def inet_checksum(data: bytes | bytearray | memoryview, initial: int = 0) -> int:
    """The C Internet checksum of ``data`` (equal to ``stack.checksum.inet_checksum``).

    ``initial`` (0 .. 2**64-1) is added to the sum, e.g. a pseudo-header sum. One
    ``ffi.from_buffer`` per call: meant for tests and occasional use, not per packet.
    """
    with ffi.from_buffer("uint8_t[]", data) as buf:
        return lib.fast_inet_checksum(buf, len(buf), initial)


def cdata_view(cdata: Any, fmt: Literal["B", "H", "I", "Q"]) -> memoryview:
    return memoryview(ffi.buffer(cdata)).cast(fmt)


def check_mac(mac: bytes, who: str) -> bytes:
    if not isinstance(mac, bytes | bytearray) or len(mac) != 6:
        raise ValueError(f"{who}: a MAC address must be 6 bytes, not {mac!r}")
    return bytes(mac)


def check_u32(value: int, what: str, who: str) -> int:
    if not isinstance(value, int) or not 0 <= value <= _U32:
        raise ValueError(f"{who}: {what} must be a 32-bit integer, not {value!r}")
    return value
