"""The UDP fast path in C: classify a received batch and build a batch of UDP frames,
one C call per batch.

:class:`FastClassifier` gives, for every frame, exactly the verdict of
:func:`aionetmap.stack.classify.classify`; :class:`FastUdpBuilder` writes exactly the bytes of
:func:`aionetmap.stack.udp.build_udp_frame`. The Python stack stays the reference and handles
whatever the classifier marks ``KIND_SLOW`` (ARP, ICMP, fragments, closed ports).
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Sequence
from typing import Any, Final, Literal

from aionetmap._native._fast import ffi, lib
from aionetmap._native.batch import DEFAULT_BATCH, FrameBatch

__all__ = [
    "KIND_DELIVER",
    "KIND_DROP",
    "KIND_SLOW",
    "MAX_UDP_PAYLOAD",
    "DestinationTable",
    "FastClassifier",
    "FastUdpBuilder",
    "inet_checksum",
]

KIND_DELIVER: Final = lib.FAST_KIND_DELIVER
"""``kinds[i]``: a valid datagram for a bound port (``classify`` returned ``Deliver``)."""
KIND_DROP: Final = lib.FAST_KIND_DROP
"""``kinds[i]``: drop the frame; ``reasons[i]`` is the ``DropReason`` value."""
KIND_SLOW: Final = lib.FAST_KIND_SLOW
"""``kinds[i]``: the Python stack handles it; ``reasons[i]`` is the ``SlowKind`` value."""
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


def _view(cdata: Any, fmt: Literal["B", "H", "I", "Q"]) -> memoryview:
    return memoryview(ffi.buffer(cdata)).cast(fmt)


def _check_mac(mac: bytes, who: str) -> bytes:
    if not isinstance(mac, bytes | bytearray) or len(mac) != 6:
        raise ValueError(f"{who}: a MAC address must be 6 bytes, not {mac!r}")
    return bytes(mac)


def _check_u32(value: int, what: str, who: str) -> int:
    if not isinstance(value, int) or not 0 <= value <= _U32:
        raise ValueError(f"{who}: {what} must be a 32-bit integer, not {value!r}")
    return value


class FastClassifier:
    """Batch receive classifier: the C twin of :func:`~aionetmap.stack.classify.classify`.

    Call :meth:`set_context` once (and again if the address changes), keep the bound
    ports in step with :meth:`bind`/:meth:`unbind`, then :meth:`classify` each batch.
    Results for frame ``i`` sit in the memoryviews ``kinds``, ``reasons``,
    ``payload_offsets``, ``payload_lengths``, ``src_ips``, ``src_ports`` and
    ``dst_ports`` (valid until the next :meth:`classify`):

    * ``KIND_DELIVER``: the UDP payload is
      ``batch.data[payload_offsets[i] : payload_offsets[i] + payload_lengths[i]]``
      (absolute arena offsets); ``src_ips`` (host byte order), ``src_ports`` and
      ``dst_ports`` are set; ``reasons[i]`` is 0.
    * ``KIND_DROP``: ``reasons[i]`` is the ``DropReason`` value; the other fields are 0.
    * ``KIND_SLOW``: ``reasons[i]`` is the ``SlowKind`` value and ``payload_offsets[i]``
      the absolute offset of the ARP/IPv4 header (``Slow.l3_offset`` plus the frame's
      offset); the other fields are 0.
    """

    __slots__ = (
        "_arrays",
        "_bitmap",
        "_ctx",
        "_format",
        "_ready",
        "_rx",
        "capacity",
        "delivered",
        "dropped",
        "dst_ports",
        "kinds",
        "payload_lengths",
        "payload_offsets",
        "reasons",
        "slow",
        "src_ips",
        "src_keys",
        "src_ports",
    )

    def __init__(self, capacity: int = DEFAULT_BATCH) -> None:
        if not isinstance(capacity, int) or capacity <= 0:
            raise ValueError(f"FastClassifier: capacity must be a positive int, not {capacity!r}")
        self.capacity = capacity
        ctx: Any = ffi.new("struct fast_ctx *")
        self._ctx = ctx
        self._bitmap = memoryview(ffi.buffer(ctx.ports))
        self._ready = False
        rx: Any = ffi.new("struct fast_rx *")
        arrays = {
            "kinds": ffi.new("uint8_t[]", capacity),
            "reasons": ffi.new("uint16_t[]", capacity),
            "payload_offs": ffi.new("uint32_t[]", capacity),
            "payload_lens": ffi.new("uint32_t[]", capacity),
            "src_ips": ffi.new("uint32_t[]", capacity),
            "src_ports": ffi.new("uint16_t[]", capacity),
            "dst_ports": ffi.new("uint16_t[]", capacity),
            "src_keys": ffi.new("uint64_t[]", capacity),
        }
        for name, cdata in arrays.items():
            setattr(rx, name, cdata)
        rx.capacity = capacity
        self._rx = rx
        self._arrays = arrays  # the struct holds raw pointers: keep the owners alive
        self.kinds = _view(arrays["kinds"], "B")
        self.reasons = _view(arrays["reasons"], "H")
        self.payload_offsets = _view(arrays["payload_offs"], "I")
        self.payload_lengths = _view(arrays["payload_lens"], "I")
        self.src_ips = _view(arrays["src_ips"], "I")
        self.src_ports = _view(arrays["src_ports"], "H")
        self.dst_ports = _view(arrays["dst_ports"], "H")
        self.src_keys = _view(arrays["src_keys"], "Q")
        # Room for "<skip>x<size>s" per frame (two 10-digit numbers and two letters).
        self._format: Any = ffi.new("char[]", lib.ANM_FORMAT_PER_FRAME * capacity)
        self.delivered = 0
        """Frames marked ``KIND_DELIVER`` by the last :meth:`classify`."""
        self.dropped = 0
        """Frames marked ``KIND_DROP`` by the last :meth:`classify`."""
        self.slow = 0
        """Frames marked ``KIND_SLOW`` by the last :meth:`classify`."""

    def __repr__(self) -> str:
        return (
            f"<FastClassifier capacity={self.capacity} last: {self.delivered} delivered, "
            f"{self.dropped} dropped, {self.slow} slow>"
        )

    def set_context(self, mac: bytes, ip: int, broadcast: int, mtu: int) -> None:
        """What ``ClassifyContext`` holds besides the ports: our MAC, our address, the
        subnet broadcast (255.255.255.255 for /31 and /32) and the MTU (addresses as ints)."""
        who = "FastClassifier.set_context"
        mac = _check_mac(mac, who)
        _check_u32(ip, "the IPv4 address", who)
        _check_u32(broadcast, "the broadcast address", who)
        if not isinstance(mtu, int) or not 0 <= mtu <= 0xFFFF:
            raise ValueError(f"{who}: MTU must be in 0..65535, not {mtu!r}")
        ctx = self._ctx
        ctx.mac = list(mac)
        ctx.ip = ip
        ctx.broadcast = broadcast
        ctx.mtu = mtu
        self._ready = True

    def bind(self, port: int) -> None:
        """Deliver datagrams to ``port`` (0..65535); binding twice is harmless."""
        self._check_port(port)
        self._bitmap[port >> 3] |= 1 << (port & 7)

    def unbind(self, port: int) -> None:
        """Stop delivering ``port`` (nothing happens if it is not bound)."""
        self._check_port(port)
        self._bitmap[port >> 3] &= ~(1 << (port & 7)) & 0xFF

    def is_bound(self, port: int) -> bool:
        """True if ``port`` is bound."""
        self._check_port(port)
        return bool(self._bitmap[port >> 3] >> (port & 7) & 1)

    def classify(self, batch: FrameBatch) -> int:
        """Classify the ``batch.count`` frames of ``batch`` in one C call; returns the count.

        Raises ``ValueError`` if the batch holds more frames than ``capacity`` and
        ``RuntimeError`` if :meth:`set_context` was never called.
        """
        count = batch.count
        if count > self.capacity:
            raise ValueError(
                f"FastClassifier: batch of {count} frames exceeds the capacity {self.capacity}"
            )
        if not self._ready:
            raise RuntimeError("FastClassifier: set_context() must be called before classify()")
        rx = self._rx
        lib.fast_classify(
            self._ctx, rx, batch.arena, batch.arena_size, batch.offs, batch.lens, count
        )
        self.delivered = rx.delivered
        self.dropped = rx.dropped
        self.slow = rx.slow
        return count

    def payloads(self, batch: FrameBatch) -> tuple[bytes, ...] | None:
        """The UDP payloads of the frames the last :meth:`classify` of ``batch`` delivered,
        in order, as ``bytes``; ``None`` if they cannot be taken in one pass (payloads not
        ascending in the arena), in which case slice ``batch.data`` yourself.

        C writes a :mod:`struct` format that skips from payload to payload, so
        ``struct.unpack_from`` creates every payload object in one C call, reading the
        arena directly (a slice per payload costs several times more in Python).
        """
        room = lib.ANM_FORMAT_PER_FRAME * self.capacity
        size = lib.fast_payload_format(self._rx, batch.count, self._format, room)
        if size < 0:
            return None
        layout = ffi.buffer(self._format, size)[:]  # the format as bytes
        try:
            return struct.unpack_from(layout, batch.data)
        except struct.error:  # a frame past the arena's end (classify clamped it)
            return None

    @staticmethod
    def _check_port(port: int) -> None:
        if not isinstance(port, int) or not 0 <= port <= 0xFFFF:
            raise ValueError(f"FastClassifier: UDP port must be in 0..65535, not {port!r}")


class FastUdpBuilder:
    """Batch UDP sender: the C twin of :func:`~aionetmap.stack.udp.build_udp_frame`.

    Every frame carries identification ``ident``, which then advances by one (mod 65536)
    per datagram built, as a ``Host``'s counter does; set ``ident`` to continue another
    counter's sequence.
    """

    __slots__ = (
        "_arrays",
        "_ident",
        "_ips_view",
        "_lens_view",
        "_ports_view",
        "_src",
        "batch",
        "capacity",
    )

    def __init__(self, capacity: int = DEFAULT_BATCH, *, arena_size: int | None = None) -> None:
        if not isinstance(capacity, int) or capacity <= 0:
            raise ValueError(f"FastUdpBuilder: capacity must be a positive int, not {capacity!r}")
        self.capacity = capacity
        self.batch = FrameBatch(capacity, arena_size)
        """The frames of the last :meth:`build` (reused by the next one)."""
        self._src: Any = None
        self._ident = 0
        plens = ffi.new("uint32_t[]", capacity)
        ips = ffi.new("uint32_t[]", capacity)
        ports = ffi.new("uint32_t[]", capacity)
        self._arrays: tuple[Any, Any, Any] = (plens, ips, ports)
        self._lens_view = _view(plens, "I")
        self._ips_view = _view(ips, "I")
        self._ports_view = _view(ports, "I")

    def __repr__(self) -> str:
        return f"<FastUdpBuilder capacity={self.capacity} ident={self._ident}>"

    @property
    def ident(self) -> int:
        """The IPv4 identification of the next datagram."""
        return self._ident

    @ident.setter
    def ident(self, value: int) -> None:
        if not isinstance(value, int) or not 0 <= value <= 0xFFFF:
            raise ValueError(f"FastUdpBuilder: ident must be in 0..65535, not {value!r}")
        self._ident = value

    def set_source(self, mac: bytes, ip: int, ttl: int = 64) -> None:
        """Our MAC and IPv4 address (an int), and the TTL of every frame (0..255)."""
        who = "FastUdpBuilder.set_source"
        mac = _check_mac(mac, who)
        _check_u32(ip, "the IPv4 address", who)
        if not isinstance(ttl, int) or not 0 <= ttl <= 255:
            raise ValueError(f"{who}: TTL must be in 0..255, not {ttl!r}")
        src: Any = ffi.new("struct fast_src *")
        src.mac = list(mac)
        src.ip = ip
        src.ttl = ttl
        self._src = src

    def build(
        self,
        payloads: Sequence[bytes | bytearray | memoryview],
        dst_macs: bytes,
        dst_ips: Sequence[int],
        dst_ports: Sequence[int],
        src_port: int,
    ) -> FrameBatch:
        """Build one Ethernet/IPv4/UDP frame per payload, in one C call.

        ``dst_macs`` holds 6 bytes per datagram, back to back; ``dst_ips`` are ints.
        Builds ``min(len(payloads), capacity)`` frames, fewer if the arena fills:
        ``batch.count`` says how many, and the caller keeps the rest. Raises
        ``ValueError`` for mismatched lengths, a port or address out of range, a payload
        over 65507 bytes, or a first frame larger than the whole arena.
        """
        who = "FastUdpBuilder.build"
        if self._src is None:
            raise RuntimeError(f"{who}: set_source() must be called first")
        total = len(payloads)
        if len(dst_ips) != total or len(dst_ports) != total or len(dst_macs) != 6 * total:
            raise ValueError(
                f"{who}: {total} payloads need as many addresses, ports and 6-byte MACs; got "
                f"{len(dst_ips)} addresses, {len(dst_ports)} ports, {len(dst_macs)} MAC bytes"
            )
        if not 0 <= src_port <= 0xFFFF:
            raise ValueError(f"{who}: source port must be in 0..65535, not {src_port!r}")
        n = min(total, self.capacity)
        batch = self.batch
        batch.count = 0
        if n == 0:
            return batch
        if n < total:
            payloads, dst_ips, dst_ports = payloads[:n], dst_ips[:n], dst_ports[:n]
        blob, lens = _join_payloads(payloads, who)
        self._fill(lens, dst_ips, dst_ports, n, who)
        macs = dst_macs if isinstance(dst_macs, bytes) else bytes(dst_macs)
        lens_c, ips_c, ports_c = self._arrays
        built = lib.fast_udp_build(
            self._src,
            src_port,
            self._ident,
            blob,
            len(blob),
            lens_c,
            macs,
            len(macs),
            ips_c,
            ports_c,
            n,
            batch.arena,
            batch.arena_size,
            batch.offs,
            batch.lens,
        )
        if built < n:
            self._check_stop(built, lens[built], dst_ports[built], who)
        batch.count = built
        self._ident = (self._ident + built) & 0xFFFF
        return batch

    def build_to(
        self,
        payloads: Sequence[bytes],
        dst_index: Sequence[int],
        table: DestinationTable,
        src_port: int,
    ) -> FrameBatch:
        """As :meth:`build`, but datagram ``i`` goes to ``table`` entry ``dst_index[i]``:
        the sender's per-datagram work is one table lookup. Raises ``ValueError`` for an
        index outside the table or the payload errors of :meth:`build`."""
        who = "FastUdpBuilder.build_to"
        if self._src is None:
            raise RuntimeError(f"{who}: set_source() must be called first")
        if len(dst_index) != len(payloads):
            raise ValueError(f"{who}: {len(payloads)} payloads, {len(dst_index)} indexes")
        if not 0 <= src_port <= 0xFFFF:
            raise ValueError(f"{who}: source port must be in 0..65535, not {src_port!r}")
        n = min(len(payloads), self.capacity)
        batch = self.batch
        batch.count = 0
        if n == 0:
            return batch
        blob, lens = _join_payloads(payloads[:n], who)
        self._lens_view[:n] = array("I", lens)
        self._ips_view[:n] = array("I", dst_index[:n])  # reused as the index array
        built = lib.fast_udp_build_to(
            self._src, src_port, self._ident, blob, len(blob), self._arrays[0],
            table.entries, table.count, self._arrays[1], n,
            batch.arena, batch.arena_size, batch.offs, batch.lens,
        )  # fmt: skip
        if built < n:
            if not 0 <= dst_index[built] < table.count:
                raise ValueError(f"{who}: index {dst_index[built]} is not in the table")
            self._check_stop(built, lens[built], 0, who)
        batch.count = built
        self._ident = (self._ident + built) & 0xFFFF
        return batch

    def _fill(
        self, lens: list[int], dst_ips: Sequence[int], dst_ports: Sequence[int], n: int, who: str
    ) -> None:
        """Copy lengths, addresses and ports into the C arrays: one ``array`` pass each
        (C-level, range-checked), no per-item Python code."""
        try:
            ips = array("I", dst_ips)
        except OverflowError as exc:
            raise ValueError(f"{who}: destination addresses must be 32-bit ({exc})") from None
        try:
            ports = array("I", dst_ports)  # 65536 and up are caught by the C loop
        except OverflowError as exc:
            raise ValueError(f"{who}: destination ports must be in 0..65535 ({exc})") from None
        self._lens_view[:n] = array("I", lens)
        self._ips_view[:n] = ips
        self._ports_view[:n] = ports

    def _check_stop(self, built: int, length: int, port: int, who: str) -> None:
        """C stopped before datagram ``built``: raise if that datagram is invalid (nothing
        is kept then) or if not even the first frame fits; else the arena is full."""
        if length > MAX_UDP_PAYLOAD:
            raise ValueError(f"{who}: a {length}-byte payload exceeds {MAX_UDP_PAYLOAD} bytes")
        if port > 0xFFFF:
            raise ValueError(f"{who}: destination ports must be in 0..65535, not {port}")
        if built == 0:
            raise ValueError(
                f"{who}: a {length}-byte payload does not fit in the "
                f"{self.batch.arena_size}-byte arena"
            )


def _join_payloads(
    payloads: Sequence[bytes | bytearray | memoryview], who: str
) -> tuple[bytes, list[int]]:
    """All payloads in one ``bytes`` and their byte lengths."""
    try:
        blob = b"".join(payloads)
    except TypeError as exc:
        raise TypeError(f"{who}: payloads must be bytes-like ({exc})") from None
    lens = list(map(len, payloads))
    if sum(lens) != len(blob):  # a memoryview of wider items: len() counts items
        lens = [memoryview(p).nbytes for p in payloads]
    return blob, lens


class DestinationTable:
    """Numbered destinations (MAC, IPv4 address, UDP port) for :meth:`FastUdpBuilder.build_to`.

    ``index`` maps whatever key the caller uses (an ``(ip, port)`` tuple) to an entry;
    :meth:`add` appends one, :meth:`clear` forgets them all (the caller does, so that
    expired neighbours are looked up again).
    """

    __slots__ = ("capacity", "count", "entries", "index")

    def __init__(self, capacity: int = 4096) -> None:
        if not isinstance(capacity, int) or capacity <= 0:
            raise ValueError(f"DestinationTable: capacity must be a positive int, not {capacity!r}")
        self.capacity = capacity
        self.entries: Any = ffi.new("struct fast_dst[]", capacity)
        self.index: dict[Any, int] = {}
        self.count = 0

    def __repr__(self) -> str:
        return f"<DestinationTable {self.count}/{self.capacity}>"

    def add(self, key: Any, mac: bytes, ip: int, port: int) -> int | None:
        """Number a destination; ``None`` when the table is full."""
        who = "DestinationTable.add"
        mac = _check_mac(mac, who)
        _check_u32(ip, "the IPv4 address", who)
        if not isinstance(port, int) or not 0 <= port <= 0xFFFF:
            raise ValueError(f"{who}: UDP port must be in 0..65535, not {port!r}")
        if self.count == self.capacity:
            return None
        slot = self.count
        entry = self.entries[slot]
        entry.mac = list(mac)
        entry.ip = ip
        entry.port = port
        self.index[key] = slot
        self.count = slot + 1
        return slot

    def clear(self) -> None:
        self.index.clear()
        self.count = 0
