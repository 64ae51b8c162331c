"""NetmapPort: the kernel backend. Opens /dev/netmap, registers a port, maps its rings.

The sequence is netmap-abi.md §3: open ``/dev/netmap``, ``NIOCCTRL`` with an
``nmreq_header`` + ``nmreq_register`` built from the parsed portspec, ``mmap`` of
``nr_memsize`` at offset 0, then the rings bound to this fd are found through the
``netmap_if`` at ``nr_offset`` by :class:`~aionetmap._native.rings.RingSet`, the same C ring
code the software pipe runs.

Ports of one memory allocator share one mapping of its region per process (see
:mod:`aionetmap.ports._netmap_sys`), so :meth:`NetmapPort.forward_to` can swap buffers
between them instead of copying.

All syscalls go through a small injectable object (:class:`NetmapSyscalls`), so the whole
open/register/error path can run against a fake kernel where ``/dev/netmap`` is absent.
"""

from __future__ import annotations

import dataclasses
import mmap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aionetmap._native._netmap import ffi, lib
from aionetmap._native.batch import FrameBatch
from aionetmap._native.rings import RingSet
from aionetmap.ports._netmap_sys import (
    KERNEL,
    KernelSyscalls,
    NetmapSyscalls,
    SharedRegion,
    acquire_region,
)
from aionetmap.ports._ring_port import RingPort, ring_port_info
from aionetmap.ports.base import Port, PortClosedError, PortInfo, TxWakeup
from aionetmap.ports.errors import Operation, netmap_error
from aionetmap.ports.forward import destination_rings
from aionetmap.portspec import PortSpec, parse_portspec

__all__ = ["DEVICE", "KernelSyscalls", "NetmapPort", "NetmapSyscalls"]

DEVICE = "/dev/netmap"

# Ring and slot hints a caller may override on top of the portspec's @conf, with the
# largest value the nmreq_register field holds (0 lets the kernel choose).
_HINTS = {
    "tx_rings": 0xFFFF,
    "rx_rings": 0xFFFF,
    "host_tx_rings": 0xFFFF,
    "host_rx_rings": 0xFFFF,
    "tx_slots": 0xFFFFFFFF,
    "rx_slots": 0xFFFFFFFF,
}


def _header(reqtype: int, name: str) -> Any:
    hdr: Any = ffi.new("struct nmreq_header *")  # zeroed: nr_reserved and nr_options stay 0
    hdr.nr_version = lib.NETMAP_API
    hdr.nr_reqtype = reqtype
    hdr.nr_name = name.encode()  # the parser bounds it to 63 bytes, so the NUL fits
    return hdr


def _sysfs(ifname: str, attr: str) -> str | None:
    try:
        return Path("/sys/class/net", ifname, attr).read_text().strip()
    except (OSError, ValueError):
        return None


def _with_hints(spec: str | PortSpec, hints: Mapping[str, int]) -> PortSpec:
    """``spec`` parsed, checked to be a netmap port, with ``hints`` over its ``@conf``."""
    if isinstance(spec, str):
        spec = parse_portspec(spec)
    if spec.subsystem not in ("netmap", "vale"):
        raise ValueError(f"{spec.text}: NetmapPort opens netmap: and vale ports only")
    unknown = set(hints) - set(_HINTS)
    if unknown:
        raise TypeError(f"unknown NetmapPort.open() arguments: {', '.join(sorted(unknown))}")
    for key, value in hints.items():
        if not isinstance(value, int) or not 0 <= value <= _HINTS[key]:
            raise ValueError(f"{spec.text}: {key}={value!r} is not in 0..{_HINTS[key]}")
    overrides: dict[str, Any] = dict(hints)
    return dataclasses.replace(spec, **overrides)


def _link_info(spec: PortSpec) -> tuple[int | None, bytes | None]:
    """MTU and MAC of an OS interface; VALE ports and pipes have none to read."""
    if spec.subsystem != "netmap" or spec.is_pipe:
        return None, None
    mtu, mac = _sysfs(spec.nr_name, "mtu"), _sysfs(spec.nr_name, "address")
    try:
        return (int(mtu) if mtu else None), (bytes.fromhex(mac.replace(":", "")) if mac else None)
    except ValueError:
        return None, None


class NetmapPort(RingPort):
    """A registered netmap port (NIC rings, host rings, VALE port or netmap pipe end).

    Open with :meth:`open`; close with :meth:`close` or a ``with`` block. Implements
    :class:`~aionetmap.ports.base.Port`.
    """

    __slots__ = (
        "__weakref__",
        "_closed",
        "_fd",
        "_info",
        "_region",
        "_rings",
        "_stats",
        "_sys",
        "spec",
    )

    def __init__(
        self,
        spec: PortSpec,
        fd: int,
        region: SharedRegion,
        rings: RingSet,
        info: PortInfo,
        syscalls: NetmapSyscalls,
    ) -> None:
        """Wrap an already registered fd; use :meth:`open` instead."""
        self.spec = spec
        self._fd = fd
        self._region = region
        self._rings = rings
        self._info = info
        self._sys = syscalls
        self._closed = False
        self._stats = {"txsync_calls": 0, "rxsync_calls": 0}

    @classmethod
    def open(
        cls,
        spec: str | PortSpec,
        *,
        syscalls: NetmapSyscalls | None = None,
        tx_poll: bool | None = None,
        **hints: int,
    ) -> NetmapPort:
        """Open and register ``spec`` (``netmap:eth0-1``, ``vale0:p``, ``netmap:x{1`` ...).

        ``hints`` override the portspec's ``@conf`` ring/slot hints (``tx_slots=1024``...).
        ``tx_poll=True`` lets the kernel txsync inside every poll/epoll wake-up as well;
        ``False`` sets ``NR_NO_TX_POLL`` (:meth:`flush` syncs explicitly). The default is
        ``False``, except for netmap pipes: a pipe's txsync holds back what the peer has no
        room for, and only the kernel's own txsync in the wake-up that the peer's read
        posts moves it on (``tx_pending`` stays 0, so nothing else would).
        Kernel errors raise ``OSError`` subclasses that name the port and the cause.
        """
        spec = _with_hints(spec, hints)
        if tx_poll is None:
            tx_poll = spec.is_pipe
        sys_ = syscalls if syscalls is not None else KERNEL
        fd: int = cls._call(sys_.open, spec, "open", DEVICE)
        region, rings = cls._map(sys_, fd, spec, tx_poll)
        mtu, mac = _link_info(spec)
        info = ring_port_info(
            rings, spec.text, "netmap", mem_id=region.mem_id, mtu=mtu, mac=mac, ifname=spec.nr_name
        )
        # An OS interface's rings may hold a local kernel's partial checksums, unflagged
        # (see classify.py); VALE ports and netmap pipes only carry what netmap clients wrote.
        if spec.subsystem == "netmap" and not spec.is_pipe:
            info = dataclasses.replace(info, unflagged_partial_checksums=True)
        return cls(spec, fd, region, rings, info, sys_)

    @classmethod
    def _map(
        cls, sys_: NetmapSyscalls, fd: int, spec: PortSpec, tx_poll: bool
    ) -> tuple[SharedRegion, RingSet]:
        """Register ``fd`` and find its rings in the (shared) mapping of its memory region.
        On failure ``fd`` is closed, unless the region's mapping still goes through it."""
        region: SharedRegion | None = None
        try:
            body = cls._register(sys_, fd, spec, tx_poll)
            size, nifp = int(body.nr_memsize), int(body.nr_offset)
            if size <= 0 or nifp >= size:
                raise ValueError(f"{spec.text}: kernel returned region size {size}, offset {nifp}")

            def map_region(fd: int, size: int) -> mmap.mmap:
                mapped: mmap.mmap = cls._call(sys_.mmap, spec, "mmap", fd, size)
                return mapped

            mem_id = int(body.nr_mem_id)
            region = acquire_region(sys_, fd, mem_id, size, spec.text, map_region)
            # VALE ports and pipes carry NS_MOREFRAG chains; a NIC may be in emulated mode,
            # whose TX sends every slot as its own frame, so there a frame stays in one slot.
            frags = spec.subsystem == "vale" or spec.is_pipe
            rings = RingSet(region.map, nifp, name=spec.text, allow_fragments=frags)
        except BaseException:
            keep = False
            try:
                keep = region is not None and not region.release(fd, spec.text)
            finally:
                if not keep:
                    sys_.close(fd)
            raise
        return region, rings

    @staticmethod
    def _call(func: Any, spec: PortSpec, op: Operation, *args: Any) -> Any:
        """Run a syscall; turn its ``OSError`` into one that names the port and the cause."""
        try:
            return func(*args)
        except OSError as exc:
            if not exc.errno:
                raise
            raise netmap_error(exc.errno, spec.text, op) from exc

    @classmethod
    def _register(cls, sys_: NetmapSyscalls, fd: int, spec: PortSpec, tx_poll: bool) -> Any:
        """NIOCCTRL REGISTER; returns the body the kernel wrote its answer into."""
        mem_id = spec.nr_mem_id
        if spec.share is not None:
            mem_id = cls._shared_mem_id(sys_, fd, spec)
        hdr = _header(lib.NETMAP_REQ_REGISTER, spec.nr_name)
        body: Any = ffi.new("struct nmreq_register *")
        body.nr_mode = spec.nr_mode
        body.nr_ringid = spec.nr_ringid
        body.nr_mem_id = mem_id
        # We txsync ourselves after queueing (flush), because under epoll the kernel's own
        # txsync runs only when an event is posted for the fd. NR_NO_TX_POLL stops the
        # redundant txsync in every wake-up of the reader, so frames queued but not yet
        # flushed leave when we say so; a poll that asks for POLLOUT (our writer, waiting
        # for TX room) still txsyncs, so the "writable" wake-up keeps working.
        body.nr_flags = spec.nr_flags | (0 if tx_poll else lib.NR_NO_TX_POLL)
        body.nr_tx_rings, body.nr_rx_rings = spec.tx_rings, spec.rx_rings
        body.nr_host_tx_rings, body.nr_host_rx_rings = spec.host_tx_rings, spec.host_rx_rings
        body.nr_tx_slots, body.nr_rx_slots = spec.tx_slots, spec.rx_slots
        # hdr and body stay referenced here for the whole call: the kernel reads the body
        # through the address stored in hdr.nr_body.
        cls._call(sys_.ioctl, spec, "register", fd, lib.NIOCCTRL, hdr, body)
        return body

    @classmethod
    def _shared_mem_id(cls, sys_: NetmapSyscalls, fd: int, spec: PortSpec) -> int:
        """``@share=PORT``: the memory id of PORT (PORT_INFO_GET needs no registered fd)."""
        assert spec.share is not None
        hdr = _header(lib.NETMAP_REQ_PORT_INFO_GET, spec.share)
        body: Any = ffi.new("struct nmreq_port_info_get *")
        cls._call(sys_.ioctl, spec, "port_info", fd, lib.NIOCCTRL, hdr, body)
        mem_id = int(body.nr_mem_id)
        if spec.nr_mem_id and mem_id != spec.nr_mem_id:
            raise ValueError(
                f"{spec.text}: @share={spec.share} uses memory id {mem_id}, "
                f"but the spec asks for @{spec.nr_mem_id}"
            )
        return mem_id

    # ---- Port protocol ------------------------------------------------------------------

    @property
    def tx_wakeup(self) -> TxWakeup:
        return "writable"

    def fileno(self) -> int:
        self._check()
        return self._fd

    def recv(self, batch: FrameBatch, max_frames: int | None = None) -> int:
        """Copy up to ``max_frames`` received frames into ``batch``; see ``Port.recv``."""
        self._check()
        n = self._rings.recv(batch, max_frames)
        if n == 0 and max_frames != 0:
            # Under a level-triggered loop the next epoll_wait's re-poll does the rxsync, so
            # this is only reached when the ring looks empty: one NIOCRXSYNC then hands the
            # consumed slots back and fetches what arrived since the last poll. That keeps
            # recv() useful outside a loop, at one syscall per empty read, never per frame.
            self._sync(lib.NIOCRXSYNC, "rxsync")
            n = self._rings.recv(batch, max_frames)
        return n

    def send(self, frames: Sequence[bytes | bytearray | memoryview]) -> int:
        self._check()
        return self._rings.send(frames)

    def send_batch(self, batch: FrameBatch, start: int = 0) -> int:
        self._check()
        return self._rings.send_batch(batch, start)

    def tx_space(self) -> int:
        self._check()
        return self._rings.tx_space()

    def poll_error(self) -> OSError | None:
        """Always ``None``: errors here surface from the sync calls themselves."""
        self._check()
        return None

    def tx_pending(self) -> int:
        """Always 0: a TXSYNC hands every queued slot to the kernel, which transmits on its
        own (a NIC), or, for pipes and VALE ports, moves the rest at the next sync."""
        self._check()
        return 0

    def tx_in_flight(self) -> int:
        """TX slots the kernel has not reclaimed yet (``head`` != ``next(tail)``): a NIC
        may still be sending them. Each :meth:`flush` (a TXSYNC, which reclaims what is
        done) brings this down; a graceful close repeats it until 0, as netmap's own
        examples do before they leave netmap mode (which resets a native driver's rings
        and loses whatever they still hold)."""
        self._check()
        return self._rings.tx_in_flight()

    def flush(self) -> None:
        """NIOCTXSYNC: hand queued frames to the port and reclaim sent slots.

        Skipped when no TX ring holds anything queued or in flight.
        """
        self._check()
        if self._rings.tx_pending():
            self._sync(lib.NIOCTXSYNC, "txsync")

    def forward_to(self, dst: Port, max_frames: int) -> int:
        """Move up to ``max_frames`` received frames into ``dst``'s TX rings, without a
        Python object per frame; returns how many were moved.

        ``dst`` must be a ring port (:class:`NetmapPort` or a software pipe end). When it
        maps the same memory (the same ``mem_id``: two NICs on the global allocator, a NIC
        and its pipes, or this port itself) each frame's buffer is swapped with a free TX
        buffer, zero-copy; otherwise each frame is copied once. Frames ``dst`` has no room
        for stay in our RX ring; frames it can never carry (too long for it) are dropped and
        counted in ``stats()["fwd_dropped"]``. ``dst`` is not flushed: call its
        :meth:`flush` once per burst. As with :meth:`recv`, one NIOCRXSYNC fetches new
        frames when none is visible.
        """
        self._check()
        out = destination_rings(self._info.name, dst)
        if max_frames <= 0:
            return 0
        rings = self._rings
        n = rings.forward_to(out, max_frames)
        if n == 0 and rings.rx_pending() == 0:
            self._sync(lib.NIOCRXSYNC, "rxsync")
            n = rings.forward_to(out, max_frames)
        return n

    def _ring_set(self) -> RingSet:
        """The rings, for :func:`aionetmap.ports.forward` and other ports' ``forward_to``."""
        self._check()
        return self._rings

    def stats(self) -> Mapping[str, int]:
        if self._closed:
            return dict(self._stats)
        return {**self._rings.stats(), **self._stats}

    def close(self) -> None:
        """Release this port's share of the region's mapping and close the fd (netmap
        leaves netmap mode only when neither is left). The mapping itself is unmapped when
        the last port of this process using the same memory closes; if it went through
        this port's fd, it is moved to another port's fd first."""
        if self._closed:
            return
        self._stats = {**self._rings.stats(), **self._stats}
        self._closed = True
        keep = False
        try:
            self._rings.release()  # drops its view of the mapping, so munmap can succeed
        finally:
            try:
                keep = not self._region.release(self._fd, self._info.name)
            finally:
                if not keep:
                    self._sys.close(self._fd)

    # ---- helpers and dunders ---------------------------------------------------------------

    def _check(self) -> None:
        if self._closed:
            raise PortClosedError(f"{self._info.name}: port is closed")

    def _sync(self, request: int, op: Operation) -> None:
        self._stats[f"{op}_calls"] += 1
        self._call(self._sys.ioctl, self.spec, op, self._fd, request)

    def __repr__(self) -> str:
        i = self._info
        state = "closed" if self._closed else f"fd={self._fd}"
        return (
            f"<NetmapPort {i.name} {state} rings={i.tx_rings}tx/{i.rx_rings}rx "
            f"slots={i.tx_slots}/{i.rx_slots} mem_id={i.mem_id}>"
        )
