"""Receive half of the UDP fast path: classify a whole batch in one C call."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from typing import Any

from aionetmap._native._fast import ffi, lib
from aionetmap._native.batch import DEFAULT_BATCH, FrameBatch
from aionetmap._native.fast_common import cdata_view, check_mac, check_u32


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
      ``dst_ports`` are set; ``reasons[i]`` says how the UDP checksum was accepted (a
      ``UdpChecksum`` value, ``Deliver.checksum``).
    * ``KIND_DROP``: ``reasons[i]`` is the ``DropReason`` value; the other fields are 0.
    * ``KIND_SLOW``: ``reasons[i]`` is the ``SlowKind`` value and ``payload_offsets[i]``
      the absolute offset of the ARP/IPv4 header (``Slow.l3_offset`` plus the frame's
      offset); the other fields are 0.
    * ``KIND_GROUP``: as ``KIND_DELIVER`` for a datagram to an IPv4 group, which
      ``groups[i]`` holds (``DeliverGroup``): the host's memberships decide.
    * ``KIND_DELIVER6`` (only after :meth:`set_ipv6`): as ``KIND_DELIVER`` for IPv6 UDP
      (``Deliver6``), but ``src_ips`` is 0 (and ``src_keys`` the port): ``source6(i)`` is
      the 18-byte
      key (source address, source port) and ``dst6[i] - 1`` the index of the destination
      in the table :meth:`set_ipv6` was given. ``dst6[i]`` is 0 for every other frame.
    """

    __slots__ = (
        "_arrays",
        "_bitmap",
        "_ctx",
        "_ctx6",
        "_format",
        "_ready",
        "_rx",
        "_wildcard",
        "capacity",
        "csum_offloaded",
        "csum_pseudo",
        "delivered",
        "delivered6",
        "dropped",
        "dst6",
        "dst_ports",
        "grouped",
        "groups",
        "kinds",
        "payload_lengths",
        "payload_offsets",
        "reasons",
        "slow",
        "src6",
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
        self._wildcard = memoryview(ffi.buffer(ctx.wildcard))
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
            "groups": ffi.new("uint32_t[]", capacity),
            "dst6": ffi.new("uint8_t[]", capacity),
            "src6": ffi.new("uint8_t[]", capacity * lib.FAST_SRC6_KEY_LEN),
        }
        for name, cdata in arrays.items():
            setattr(rx, name, cdata)
        rx.capacity = capacity
        self._rx = rx
        self._arrays = arrays  # the struct holds raw pointers: keep the owners alive
        self.kinds = cdata_view(arrays["kinds"], "B")
        self.reasons = cdata_view(arrays["reasons"], "H")
        self.payload_offsets = cdata_view(arrays["payload_offs"], "I")
        self.payload_lengths = cdata_view(arrays["payload_lens"], "I")
        self.src_ips = cdata_view(arrays["src_ips"], "I")
        self.src_ports = cdata_view(arrays["src_ports"], "H")
        self.dst_ports = cdata_view(arrays["dst_ports"], "H")
        self.src_keys = cdata_view(arrays["src_keys"], "Q")
        self.groups = cdata_view(arrays["groups"], "I")
        self.dst6 = cdata_view(arrays["dst6"], "B")
        self.src6 = cdata_view(arrays["src6"], "B")
        """``FAST_SRC6_KEY_LEN`` (18) bytes per frame: see :meth:`source6`."""
        self._ctx6: Any = None  # owns the struct ctx.ip6 points at (set_ipv6)
        # Room for "<skip>x<size>s" per frame (two 10-digit numbers and two letters).
        self._format: Any = ffi.new("char[]", lib.ANM_FORMAT_PER_FRAME * capacity)
        self.delivered = 0
        """Frames marked ``KIND_DELIVER`` by the last :meth:`classify`."""
        self.dropped = 0
        """Frames marked ``KIND_DROP`` by the last :meth:`classify`."""
        self.slow = 0
        """Frames marked ``KIND_SLOW`` by the last :meth:`classify`."""
        self.csum_offloaded = 0
        """Delivered frames of the last :meth:`classify` whose checksum the port vouched for."""
        self.csum_pseudo = 0
        """Delivered frames of the last :meth:`classify` accepted as partial checksums."""
        self.delivered6 = 0
        """Frames marked ``KIND_DELIVER6`` by the last :meth:`classify`."""
        self.grouped = 0
        """Frames marked ``KIND_GROUP`` by the last :meth:`classify`."""

    def __repr__(self) -> str:
        return (
            f"<FastClassifier capacity={self.capacity} last: {self.delivered} delivered, "
            f"{self.dropped} dropped, {self.slow} slow>"
        )

    def set_context(
        self,
        mac: bytes,
        ip: int,
        broadcast: int,
        mtu: int,
        vlan: int = 0,
        *,
        accept_partial_checksum: bool = False,
    ) -> None:
        """What ``ClassifyContext`` holds besides the ports: our MAC, our address, the
        subnet broadcast (255.255.255.255 for /31 and /32), the MTU (addresses as ints),
        the VLAN id (1..4094; 0 for an untagged host) and whether a checksum field equal
        to the pseudo-header sum is accepted."""
        who = "FastClassifier.set_context"
        mac = check_mac(mac, who)
        check_u32(ip, "the IPv4 address", who)
        check_u32(broadcast, "the broadcast address", who)
        if not isinstance(mtu, int) or not 0 <= mtu <= 0xFFFF:
            raise ValueError(f"{who}: MTU must be in 0..65535, not {mtu!r}")
        if not isinstance(vlan, int) or not 0 <= vlan <= 4094:
            raise ValueError(f"{who}: VLAN id must be in 0..4094, not {vlan!r}")
        ctx = self._ctx
        ctx.mac = list(mac)
        ctx.ip = ip
        ctx.broadcast = broadcast
        ctx.mtu = mtu
        ctx.vlan = vlan
        ctx.accept_partial = bool(accept_partial_checksum)
        self._ready = True

    def bind(self, port: int, *, wildcard: bool = False) -> None:
        """Deliver datagrams to ``port`` (0..65535); binding twice is harmless. A port bound
        with ``wildcard`` (to 0.0.0.0) also receives broadcast datagrams."""
        self._check_port(port)
        bit = 1 << (port & 7)
        self._bitmap[port >> 3] |= bit
        if wildcard:
            self._wildcard[port >> 3] |= bit
        else:
            self._wildcard[port >> 3] &= ~bit & 0xFF

    def unbind(self, port: int) -> None:
        """Stop delivering ``port`` (nothing happens if it is not bound)."""
        self._check_port(port)
        keep = ~(1 << (port & 7)) & 0xFF
        self._bitmap[port >> 3] &= keep
        self._wildcard[port >> 3] &= keep

    def is_bound(self, port: int) -> bool:
        """True if ``port`` is bound."""
        self._check_port(port)
        return bool(self._bitmap[port >> 3] >> (port & 7) & 1)

    def set_multicast_macs(self, macs: Iterable[bytes]) -> None:
        """The group MAC addresses the host listens on besides broadcast (check 3), at
        most ``FAST_MAX_MCAST_MACS``; ``ValueError`` for more, or for one that is not a
        group address."""
        who = "FastClassifier.set_multicast_macs"
        table = [check_mac(mac, who) for mac in macs]
        if len(table) > lib.FAST_MAX_MCAST_MACS:
            raise ValueError(
                f"{who}: {len(table)} group addresses, at most {lib.FAST_MAX_MCAST_MACS}"
            )
        for mac in table:
            if not mac[0] & 1:
                raise ValueError(f"{who}: {mac.hex(':')} is not a group address")
        ctx = self._ctx
        for i, mac in enumerate(table):
            ctx.mcast[i] = list(mac)
        ctx.n_mcast = len(table)

    def set_ipv6(self, addresses: Sequence[bytes] | None) -> None:
        """The host's preferred IPv6 addresses (16 bytes each, at most
        ``FAST_MAX_IP6_ADDRS``), in the order ``dst6`` indexes; ``None`` (the default): the
        host has no IPv6 side and every IPv6 frame is ``KIND_SLOW``. ``ValueError`` for a
        bad table."""
        if addresses is None:
            self._ctx.ip6 = ffi.NULL
            self._ctx6 = None
            return
        table = list(addresses)
        who = "FastClassifier.set_ipv6"
        if len(table) > lib.FAST_MAX_IP6_ADDRS:
            raise ValueError(f"{who}: {len(table)} addresses, at most {lib.FAST_MAX_IP6_ADDRS}")
        for addr in table:
            if not isinstance(addr, bytes) or len(addr) != 16:
                raise ValueError(f"{who}: an IPv6 address is 16 bytes, not {addr!r}")
        ctx6: Any = ffi.new("struct fast_ctx6 *")
        for i, addr in enumerate(table):
            ctx6.addrs[i] = list(addr)
        ctx6.n_addrs = len(table)
        self._ctx.ip6 = ctx6  # swapped whole: the old table stays valid until replaced
        self._ctx6 = ctx6

    def source6(self, i: int) -> bytes:
        """Frame ``i``'s IPv6 source address and UDP source port (18 bytes, network order)
        after a ``KIND_DELIVER6`` verdict: one hashable key per peer."""
        size = lib.FAST_SRC6_KEY_LEN
        return self.src6[i * size : (i + 1) * size].tobytes()

    def classify(self, batch: FrameBatch) -> int:
        """Classify the ``batch.count`` frames of ``batch`` in one C call; returns the count.

        The port's checksum flags (``batch.csum``) are used when ``batch.csum_known``.
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
        csum = batch.csum if batch.csum_known else ffi.NULL
        lib.fast_classify(
            self._ctx, rx, batch.arena, batch.arena_size, batch.offs, batch.lens, csum, count
        )
        self.delivered = rx.delivered
        self.csum_offloaded = rx.csum_offloaded
        self.csum_pseudo = rx.csum_pseudo
        self.delivered6 = rx.delivered6
        self.grouped = rx.grouped
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
