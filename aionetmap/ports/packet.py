"""AF_PACKET port (``packet:IFNAME``): any Linux interface, no netmap needed.

RX is a ``TPACKET_V2`` mmap ring drained by one C call per ``recv`` (see the comment at the
top of ``_native/packet_open.c`` for why V2 and not V3); TX stages frames in C and ``flush``
hands them to the kernel with one ``sendmmsg`` per up to 1024 frames.
"""

from __future__ import annotations

import errno
import itertools
import os
import socket
import warnings
from array import array
from collections.abc import Mapping, Sequence
from typing import Any, Final

from aionetmap._native._packet import ffi, lib
from aionetmap.ports.base import FrameBatch, PortClosedError, PortInfo, TxWakeup
from aionetmap.ports.closing import ClosingContext

__all__ = [
    "InterfaceNotFoundError",
    "NetnsNotFoundError",
    "PacketPort",
    "netns_path",
    "netns_socket",
    "set_checksum_offload",
]

DEFAULT_RX_FRAMES: Final = 4096
"""RX ring frames: 8 MiB at the usual 2 KiB frame, about 40 ms of a saturated veth."""
DEFAULT_TX_SLOTS: Final = 1024
"""TX staging slots: one ``sendmmsg`` call's worth."""

_ETH_HLEN = 14
_VLAN_HLEN = 4
_TPID_8021Q = b"\x81\x00"
_ARPHRD_ETHER = 1
_ARPHRD_LOOPBACK = 772  # lo carries (zeroed) Ethernet headers too
_STATS_FIELDS = (
    "rx_frames",
    "rx_bytes",
    "tx_frames",
    "tx_bytes",
    "rx_dropped_outgoing",
    "rx_dropped_truncated",
    "rx_dropped_malformed",
    "rx_dropped_oversize",
    "rx_csum_not_ready",
    "rx_csum_valid",
    "tx_dropped_nobufs",
    "tx_dropped_error",
)


class InterfaceNotFoundError(OSError):
    """The interface does not exist in the network namespace the port was opened in."""


class NetnsNotFoundError(FileNotFoundError):
    """The named network namespace does not exist."""


def netns_path(netns: str) -> str:
    """The file for a network namespace: a name as ``ip netns`` uses it, or a path as is."""
    if netns.startswith("/"):
        return netns
    if not netns or "/" in netns or netns in (".", "..") or "\0" in netns:
        raise ValueError(f"bad network namespace name {netns!r}")
    return f"/run/netns/{netns}"


def _where(netns: str | None) -> str:
    return f"network namespace {netns!r}" if netns else "the current network namespace"


def _socket_error(what: str, netns: str | None, stage: int, err: int) -> OSError:
    """Turn a failure of ``pkt_netns_socket`` into an exception that names its cause."""
    msg = os.strerror(err)
    if stage == lib.PKT_STAGE_OPEN_NS and err == errno.ENOENT:
        return NetnsNotFoundError(err, f"{what}: {_where(netns)} does not exist")
    if stage == lib.PKT_STAGE_RESTORE:
        # Practically impossible (we held an fd to our own namespace), but the thread would
        # now create sockets in the wrong namespace: never let that pass silently.
        raise RuntimeError(f"{what}: could not switch this thread back to its namespace: {msg}")
    if err in (errno.EPERM, errno.EACCES):
        need = (
            "CAP_SYS_ADMIN to enter a network namespace"
            if stage in (lib.PKT_STAGE_SETNS, lib.PKT_STAGE_OPEN_NS)
            else "CAP_NET_RAW to open a raw socket"
        )
        return PermissionError(err, f"{what}: {msg}: needs {need} (run as root)")
    steps = {
        lib.PKT_STAGE_SELF_NS: "opening /proc/thread-self/ns/net",
        lib.PKT_STAGE_OPEN_NS: f"opening {_where(netns)}",
        lib.PKT_STAGE_SETNS: f"entering {_where(netns)}",
        lib.PKT_STAGE_SOCKET: "creating the socket",
    }
    return OSError(err, f"{what}: {steps.get(stage, 'socket')} failed: {msg}")


def netns_socket(
    netns: str | None, family: int, type: int, proto: int = 0, *, what: str = "socket"
) -> socket.socket:
    """Create a socket inside network namespace ``netns`` (``None``: the current one).

    A socket stays in the namespace it was created in. Only the calling thread is switched
    there, inside one C call that always switches it back before returning.
    """
    path = netns_path(netns).encode() if netns else ffi.NULL
    stage: Any = ffi.new("int *")
    fd = lib.pkt_netns_socket(path, family, type, proto, stage)
    if fd < 0:
        raise _socket_error(what, netns, stage[0], -fd)
    return socket.socket(fileno=fd)


def set_checksum_offload(sock: socket.socket, ifname: str, enabled: bool) -> None:
    """Turn TX and RX checksum offload of ``ifname`` on or off (``ethtool -K tx/rx``).

    ``sock`` is any socket of the namespace the interface lives in: the ethtool ioctl acts
    on the namespace of the socket it is issued on. Raises ``OSError`` naming the step.
    """
    name = ifname.encode()
    for cmd, what in ((lib.ETHTOOL_STXCSUM, "TX"), (lib.ETHTOOL_SRXCSUM, "RX")):
        rc = lib.pkt_ethtool_set(sock.fileno(), name, cmd, int(enabled))
        if rc < 0:
            state = "on" if enabled else "off"
            raise OSError(-rc, f"turning {what} checksum offload of {ifname} {state} failed")


def _open_error(name: str, ifname: str, netns: str | None, stage: int, err: int) -> OSError:
    msg = os.strerror(err)
    if err in (errno.ENODEV, errno.ENXIO):
        return InterfaceNotFoundError(
            err, f"{name}: no interface named {ifname!r} in {_where(netns)}"
        )
    if err == errno.ENETDOWN:
        return OSError(err, f"{name}: interface {ifname!r} is down")
    if err in (errno.EPERM, errno.EACCES):
        return PermissionError(err, f"{name}: {msg}: needs CAP_NET_RAW (run as root)")
    steps = {
        lib.PKT_STAGE_VERSION: "selecting TPACKET_V2",
        lib.PKT_STAGE_RX_RING: "allocating the RX ring",
        lib.PKT_STAGE_MMAP: "mapping the RX ring",
        lib.PKT_STAGE_OPTIONS: "setting socket options",
        lib.PKT_STAGE_BIND: f"binding to {ifname!r}",
        lib.PKT_STAGE_ALLOC: "allocating the TX staging area",
    }
    return OSError(err, f"{name}: {steps.get(stage, 'opening')} failed: {msg}")


class PacketPort(ClosingContext):
    """A :class:`~aionetmap.ports.base.Port` over an AF_PACKET socket bound to one interface.

    Open with :meth:`open`; use as a context manager or call :meth:`close`. Only frames
    arriving on the interface are received: outgoing ones, ours and those of the host's own
    stack on that interface, are not (``PACKET_IGNORE_OUTGOING``).
    """

    __slots__ = ("__weakref__", "_handle", "_info", "_netns", "_stats")

    def __init__(self, handle: Any, info: PortInfo, netns: str | None) -> None:
        """Internal: use :meth:`open`."""
        self._handle: Any = handle
        self._info = info
        self._netns = netns
        self._stats: Any = lib.pkt_port_stats(handle)

    @classmethod
    def open(
        cls,
        ifname: str,
        *,
        netns: str | None = None,
        rx_frames: int | None = None,
        tx_slots: int | None = None,
        frame_size: int | None = None,
        qdisc_bypass: bool = False,
        sndbuf: int | None = None,
    ) -> PacketPort:
        """Open interface ``ifname`` (``"veth0"`` or ``"packet:veth0"``).

        ``netns`` creates the socket inside that named network namespace (or namespace
        file path). ``rx_frames`` sizes the RX ring (rounded up to whole ring blocks),
        ``tx_slots`` the TX staging area; ``frame_size`` overrides the ring frame size
        derived from the MTU. ``qdisc_bypass`` sets ``PACKET_QDISC_BYPASS``: frames go
        straight to the driver, skipping the qdisc (no shaping, no qdisc queue to absorb
        bursts: a full device queue drops them) and the taps (tcpdump on this host will not
        see them); on veth, which has no qdisc, it changes nothing measurable. ``sndbuf``
        raises the socket send buffer (frames in flight before ``tx_space`` stalls).
        """
        ifname = ifname.removeprefix("packet:")
        name = f"packet:{ifname}"
        if not 0 < len(ifname.encode()) < 16 or "/" in ifname or "\0" in ifname:
            raise ValueError(f"{name}: bad interface name (1 to 15 bytes, no '/')")
        for arg, value in (("rx_frames", rx_frames), ("tx_slots", tx_slots)):
            if value is not None and not 0 < value <= 1 << 20:
                raise ValueError(f"{name}: {arg} must be in 1..{1 << 20}, got {value}")
        sock = netns_socket(netns, socket.AF_PACKET, socket.SOCK_RAW, 0, what=name)
        fd = sock.detach()
        try:
            return cls._setup(fd, name, ifname, netns, rx_frames, tx_slots, frame_size,
                              qdisc_bypass, sndbuf)  # fmt: skip
        except BaseException:
            os.close(fd)
            raise

    @classmethod
    def _setup(
        cls,
        fd: int,
        name: str,
        ifname: str,
        netns: str | None,
        rx_frames: int | None,
        tx_slots: int | None,
        frame_size: int | None,
        qdisc_bypass: bool,
        sndbuf: int | None,
    ) -> PacketPort:
        ifi: Any = ffi.new("pkt_ifinfo *")
        rc = lib.pkt_ifinfo_get(fd, ifname.encode(), ifi)
        if rc < 0:
            raise _open_error(name, ifname, netns, lib.PKT_STAGE_NONE, -rc)
        if ifi.hatype not in (_ARPHRD_ETHER, _ARPHRD_LOOPBACK):
            raise OSError(errno.EPROTONOSUPPORT, f"{name}: not an Ethernet interface")
        cfg: Any = ffi.new("pkt_config *")
        cfg.rx_frames = rx_frames or DEFAULT_RX_FRAMES
        cfg.frame_size = frame_size or 0
        cfg.tx_slots = tx_slots or DEFAULT_TX_SLOTS
        # Room for an 802.1Q tag over the MTU, which Linux allows tagged frames (and only
        # them: pkt_tx_queue and send() refuse an untagged frame that long).
        cfg.tx_max = ifi.mtu + _ETH_HLEN + _VLAN_HLEN
        cfg.qdisc_bypass = int(qdisc_bypass)
        cfg.sndbuf = sndbuf or 0
        err: Any = ffi.new("int *")
        stage: Any = ffi.new("int *")
        handle = lib.pkt_port_new(fd, ifi, cfg, err, stage)
        if handle == ffi.NULL:
            raise _open_error(name, ifname, netns, stage[0], -err[0])
        info = PortInfo(
            name=name,
            backend="packet",
            rx_rings=1,
            tx_rings=1,
            rx_slots=lib.pkt_rx_ring_frames(handle),
            tx_slots=cfg.tx_slots,
            buf_size=lib.pkt_rx_frame_size(handle),
            max_frame=cfg.tx_max,
            mtu=ifi.mtu,
            mac=bytes(ifi.mac),
            ifname=ifname,
        )
        return cls(handle, info, netns)

    # --- Port protocol -------------------------------------------------------------------

    @property
    def info(self) -> PortInfo:
        return self._info

    @property
    def closed(self) -> bool:
        return self._handle is None

    @property
    def tx_wakeup(self) -> TxWakeup:
        # A full send buffer clears EPOLLOUT on the socket and sets it again once it drains.
        return "writable"

    @property
    def netns(self) -> str | None:
        """The network namespace the socket lives in (``None``: the opener's)."""
        return self._netns

    def fileno(self) -> int:
        return lib.pkt_port_fd(self._live())

    # The per-wake-up methods (recv, send_batch, tx_space, tx_pending, flush) test the
    # handle inline: a call to _live() each is a tenth of a single-datagram wake-up's calls.

    def recv(self, batch: FrameBatch, max_frames: int | None = None) -> int:
        handle = self._handle
        if handle is None:
            raise self._closed()
        limit = batch.capacity if max_frames is None else min(max_frames, batch.capacity)
        n = lib.pkt_rx_burst(
            handle, batch.arena, batch.arena_size, batch.offs, batch.lens, batch.csum, max(limit, 0)
        )
        batch.count = n
        batch.csum_known = True  # pkt_rx_burst wrote an RxChecksum flag per frame
        return n

    def rx_ready(self) -> bool:
        """True if a frame is waiting in the RX ring (no system call)."""
        return bool(lib.pkt_rx_ready(self._live()))

    def send(self, frames: Sequence[bytes | bytearray | memoryview]) -> int:
        handle = self._live()
        sizes = [f.nbytes if isinstance(f, memoryview) else len(f) for f in frames]
        untagged_max = self._info.max_frame - _VLAN_HLEN
        for i, size in enumerate(sizes):  # all of them, before queuing anything
            if not _ETH_HLEN <= size <= self._info.max_frame:
                raise self._size_error(i, size)
            if size > untagged_max and not _vlan_tagged(frames[i]):
                raise self._size_error(i, size)
        count = min(len(sizes), lib.pkt_tx_space(handle))
        if count == 0:
            return 0
        chunk = frames[:count]
        try:
            blob = b"".join(chunk)  # the one copy in Python; C copies it into the TX slots
        except TypeError:  # a non-contiguous memoryview
            blob = b"".join(map(bytes, chunk))
        lens = array("I", sizes[:count])
        offs = array("I", itertools.accumulate(sizes[: count - 1], initial=0))
        n = lib.pkt_tx_queue(
            handle,
            blob,
            len(blob),
            ffi.from_buffer("uint32_t[]", offs),
            ffi.from_buffer("uint32_t[]", lens),
            count,
        )
        if n < 0:  # cannot happen after the checks above; never ignore it anyway
            raise OSError(-n, f"{self._info.name}: queueing failed: {os.strerror(-n)}")
        return n

    def send_batch(self, batch: FrameBatch, start: int = 0) -> int:
        handle = self._handle
        if handle is None:
            raise self._closed()
        if not 0 <= start <= batch.count:
            raise IndexError(f"start {start} out of range for {batch.count} frames")
        count = batch.count - start
        if count == 0:
            return 0
        n = lib.pkt_tx_queue(
            handle, batch.arena, batch.arena_size, batch.offs + start, batch.lens + start, count
        )
        if n < 0:
            for i in range(start, batch.count):
                size = batch.lengths[i]
                untagged = not _vlan_tagged(batch.frame(i))
                if not _ETH_HLEN <= size <= self._info.max_frame - _VLAN_HLEN * untagged:
                    raise self._size_error(i, size)
            raise ValueError(f"{self._info.name}: batch offsets point outside its arena")
        return n

    def tx_space(self) -> int:
        handle = self._handle
        if handle is None:
            raise self._closed()
        return lib.pkt_tx_space(handle)

    def tx_pending(self) -> int:
        """Frames queued but not yet handed to the kernel."""
        handle = self._handle
        if handle is None:
            raise self._closed()
        return lib.pkt_tx_pending(handle)

    def tx_in_flight(self) -> int:
        """Always 0: a frame the kernel took is the kernel's to send (closing the socket
        does not take it back), and one it did not take counts in :meth:`tx_pending`."""
        self._live()
        return 0

    def flush(self) -> None:
        """Send every staged frame the kernel takes now; the rest wait for writability.

        A hard error (the interface went down or away) drops the staged frames, counts
        them in ``tx_dropped_error`` and raises ``OSError``.
        """
        handle = self._handle
        if handle is None:
            raise self._closed()
        rc = lib.pkt_tx_flush(handle)
        if rc < 0:
            err = -rc
            raise OSError(err, f"{self._info.name}: sending failed: {os.strerror(err)}")

    def poll_error(self) -> OSError | None:
        """The link failure the socket reports, if any (reading it clears it).

        The kernel sets ``ENETDOWN`` on a packet socket when its interface goes down or is
        removed; asking the socket for the interface tells the two apart.
        """
        fd = self.fileno()
        view = socket.socket(fileno=fd)  # borrowed, never closed: detached below
        try:
            err = view.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        finally:
            view.detach()
        if not err:
            return None
        name, ifname = self._info.name, self._info.ifname
        if lib.pkt_ifinfo_get(fd, (ifname or "").encode(), ffi.new("pkt_ifinfo *")) < 0:
            where = _where(self._netns)
            return OSError(errno.ENODEV, f"{name}: interface {ifname} is gone from {where}")
        return OSError(err, f"{name}: {os.strerror(err)} (the link went down)")

    def stats(self) -> Mapping[str, int]:
        handle = self._live()
        lib.pkt_kernel_stats(handle)  # best effort: only fails if the socket is gone
        st = self._stats
        out = {field: int(getattr(st, field)) for field in _STATS_FIELDS}
        out["rx_dropped_kernel"] = int(st.rx_kernel_drops)
        out["tx_pending"] = lib.pkt_tx_pending(handle)
        return out

    def close(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            self._stats = None
            lib.pkt_port_free(handle)

    # --- conveniences --------------------------------------------------------------------

    def __del__(self) -> None:
        if getattr(self, "_handle", None) is not None:
            warnings.warn(f"unclosed {self!r}", ResourceWarning, source=self, stacklevel=1)
            self.close()

    def __repr__(self) -> str:
        state = "closed" if self._handle is None else f"fd={lib.pkt_port_fd(self._handle)}"
        where = f" netns={self._netns}" if self._netns else ""
        return f"<PacketPort {self._info.name}{where} {state}>"

    def _live(self) -> Any:
        handle = self._handle
        if handle is None:
            raise self._closed()
        return handle

    def _closed(self) -> PortClosedError:
        return PortClosedError(errno.EBADF, f"{self._info.name}: port is closed")

    def _size_error(self, index: int, size: int) -> ValueError:
        return ValueError(
            f"{self._info.name}: frame {index} is {size} bytes; "
            f"frames must be {_ETH_HLEN}..{self._info.max_frame - _VLAN_HLEN} bytes, "
            f"{self._info.max_frame} with an 802.1Q tag"
        )


def _vlan_tagged(frame: bytes | bytearray | memoryview) -> bool:
    """Whether an Ethernet frame (at least 14 bytes) carries an 802.1Q tag."""
    view = memoryview(frame)
    if view.format != "B" or view.ndim != 1:
        view = memoryview(view.tobytes())
    return view[12:14] == _TPID_8021Q
