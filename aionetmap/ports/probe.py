"""Read-only probes of the system a port would run on, for ``aionetmap doctor``.

Each answers one question without opening a port: does the netmap module accept our API
version, which driver runs an interface, is TX checksum offload on, how much memory does a
software pipe need. They are the only part of the doctor that touches the compiled
modules; everything else reads files (see :mod:`aionetmap.cli.doctor`).
"""

from __future__ import annotations

import errno
import socket
from typing import Any

from aionetmap.ports._netmap_sys import KERNEL, NetmapSyscalls

__all__ = [
    "LinkProbe",
    "ethtool_driver",
    "ethtool_tx_csum",
    "netmap_api",
    "netmap_api_check",
    "pipe_region_size",
    "pipe_ring_limits",
]


def netmap_api() -> int:
    """The netmap API version aionetmap speaks (``nr_version`` of every request)."""
    from aionetmap._native._netmap import lib

    return int(lib.NETMAP_API)


def netmap_api_check(device: str, syscalls: NetmapSyscalls = KERNEL) -> int:
    """Ask the netmap module behind ``device`` whether it speaks our API version.

    Sends a ``PORT_INFO_GET`` with an empty port name (which only reports the default
    memory allocator: it needs no port and changes nothing) at ``nr_version`` =
    :func:`netmap_api`. The kernel answers ``EINVAL`` when the version is outside the
    range it supports. Returns 0 when it was accepted, else the errno (of the open or of
    the request).
    """
    from aionetmap._native._netmap import ffi, lib

    try:
        fd = syscalls.open(device)
    except OSError as exc:
        return exc.errno or errno.EIO
    try:
        hdr: Any = ffi.new("struct nmreq_header *")
        hdr.nr_version = lib.NETMAP_API
        hdr.nr_reqtype = lib.NETMAP_REQ_PORT_INFO_GET
        body: Any = ffi.new("struct nmreq_port_info_get *")
        syscalls.ioctl(fd, lib.NIOCCTRL, hdr, body)
    except OSError as exc:
        return exc.errno or errno.EIO
    finally:
        syscalls.close(fd)
    return 0


def _socket(netns: str | None) -> socket.socket:
    from aionetmap.ports.packet import netns_socket

    return netns_socket(netns, socket.AF_INET, socket.SOCK_DGRAM, what="ethtool socket")


def ethtool_driver(ifname: str, netns: str | None = None) -> str | None:
    """The driver behind ``ifname`` as ``ethtool -i`` names it (``veth``, ``ixgbe``), or
    ``None`` when the interface does not answer (no such interface, no ethtool support)."""
    from aionetmap._native._packet import ffi, lib

    out: Any = ffi.new("char[]", 64)
    with _socket(netns) as sock:
        rc = lib.pkt_ethtool_driver(sock.fileno(), ifname.encode(), out, 64)
    if rc < 0:
        return None
    raw = ffi.string(out)
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    return text or None


def ethtool_tx_csum(ifname: str, netns: str | None = None) -> bool | None:
    """Whether TX checksum offload is on for ``ifname`` (``ethtool -k``: tx-checksumming),
    or ``None`` when it cannot be read."""
    from aionetmap._native._packet import ffi, lib

    value: Any = ffi.new("uint32_t *")
    with _socket(netns) as sock:
        rc = lib.pkt_ethtool_get(sock.fileno(), ifname.encode(), lib.ETHTOOL_GTXCSUM, value)
    return None if rc < 0 else bool(value[0])


class LinkProbe:
    """The ethtool probes, on sockets of one network namespace (``None``: the current one);
    the doctor takes any object with these two methods, so tests can substitute one."""

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns

    def driver(self, ifname: str) -> str | None:
        return ethtool_driver(ifname, self.netns)

    def tx_csum(self, ifname: str, netns: str | None = None) -> bool | None:
        """TX checksum offload of ``ifname`` in ``netns`` (``None``: this probe's own)."""
        return ethtool_tx_csum(ifname, netns or self.netns)


def pipe_region_size(slots: int, buf_size: int) -> int:
    """Bytes of ``/dev/shm`` a software pipe with these ring sizes takes (0: out of range)."""
    from aionetmap._native._ring import lib

    return int(lib.anm_pipe_region_size(slots, buf_size))


def pipe_ring_limits() -> tuple[int, int, int, int]:
    """The software pipe's ring limits: slots min and max, buffer size min and max."""
    from aionetmap._native._ring import lib

    return (
        lib.ANM_PIPE_MIN_SLOTS,
        lib.ANM_PIPE_MAX_SLOTS,
        lib.ANM_PIPE_MIN_BUF,
        lib.ANM_PIPE_MAX_BUF,
    )
