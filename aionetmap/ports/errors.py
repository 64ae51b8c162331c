"""One converter from a netmap errno to a Python exception that names the port and the cause.

The causes come from netmap-abi.md §5.3: the same errno means different things depending on
the operation (ENXIO at REGISTER is a missing interface, at TXSYNC an unregistered fd), so
the table is keyed by (operation, errno). The exception class is the builtin ``OSError``
subclass for that errno where one exists (``FileNotFoundError``, ``PermissionError``,
``BlockingIOError``, ...), which ``OSError(errno, ...)`` itself selects.
"""

from __future__ import annotations

import errno as _errno
import os
from typing import Literal

__all__ = ["Operation", "netmap_error"]

Operation = Literal["open", "register", "port_info", "mmap", "txsync", "rxsync"]
"""What was being done when the errno came back."""

_WHAT: dict[Operation, str] = {
    "open": "cannot open /dev/netmap",
    "register": "cannot register the port (NIOCCTRL REGISTER)",
    "port_info": "cannot look up the port (NIOCCTRL PORT_INFO_GET)",
    "mmap": "cannot map the netmap memory region",
    "txsync": "NIOCTXSYNC failed",
    "rxsync": "NIOCRXSYNC failed",
}

_NOT_LOADED = (
    "the netmap kernel module is not loaded (modprobe netmap) or not installed; "
    "without it, use the AF_PACKET backend ('packet:IFNAME') or the software pipe "
    "('pipe:NAME{0')"
)
_PERMISSION = "permission denied: netmap needs root, or a udev rule that opens /dev/netmap to you"
_SYNC_NXIO = "the file descriptor is not registered to a port"
_SYNC_BUSY = "the port is in CSB mode (synced by a kernel loop)"
_SYNC_IO = "a ring is stopped (interface being reset, or its driver being removed)"
# An fd that is not /dev/netmap (or a kernel without NIOCCTRL) says "not a tty".
_NOT_NETMAP = "not a netmap device, or the kernel's netmap lacks the API 14 NIOCCTRL"

# Causes by (operation, errno). Anything missing falls back to os.strerror.
_CAUSES: dict[tuple[Operation, int], str] = {
    ("open", _errno.ENOENT): _NOT_LOADED,
    ("open", _errno.ENODEV): _NOT_LOADED,
    ("open", _errno.ENXIO): _NOT_LOADED,
    ("open", _errno.EACCES): _PERMISSION,
    ("open", _errno.EPERM): _PERMISSION,
    ("register", _errno.ENXIO): (
        "interface not found (no such network interface, or the monitored port does not exist)"
    ),
    ("register", _errno.EINVAL): (
        "invalid request; likely causes: a ring id out of range (-N, ^N); a host-ring mode "
        "(^, *, ^N) on a port without host rings (VALE port, pipe); a pipe mode other than "
        "all rings or -N; an @N memory id that names no allocator; 'valeX:IF' naming an "
        "existing interface; the interface MTU larger than the netmap buffer size; a monitor "
        "(/t /r /z) of a port that is not in netmap mode; an unsupported API version"
    ),
    ("register", _errno.EBUSY): (
        "already registered or rings exclusively owned by another process (/x), or the "
        "interface is attached to a VALE switch"
    ),
    ("register", _errno.EIO): (
        "the port uses virtio-net (vnet) headers, which aionetmap does not accept "
        "(NR_ACCEPT_VNET_HDR is not set)"
    ),
    ("register", _errno.EOPNOTSUPP): (
        "operation not supported: netmap is set to native mode only (admode=1) and the "
        "driver has no native support, or the kernel did not accept a request option"
    ),
    ("register", _errno.ENOMEM): (
        "out of memory: for VALE, an invalid switch name or the switch/port table is full "
        "(254 ports per switch, max_bridges switches); otherwise netmap's memory pools are "
        "exhausted"
    ),
    ("register", _errno.EMSGSIZE): "request body and options exceed 4096 bytes",
    ("register", _errno.EFAULT): "bad request pointer (a bug in aionetmap)",
    ("register", _errno.EACCES): _PERMISSION,
    ("register", _errno.EPERM): _PERMISSION,
    ("register", _errno.ENOTTY): _NOT_NETMAP,
    ("port_info", _errno.ENXIO): "interface not found",
    ("port_info", _errno.EINVAL): "invalid port name or request",
    ("port_info", _errno.ENOTTY): _NOT_NETMAP,
    ("mmap", _errno.EINVAL): "the fd is not registered, or the size exceeds nr_memsize",
    ("mmap", _errno.ENOMEM): "not enough address space to map the region",
    ("txsync", _errno.ENXIO): _SYNC_NXIO,
    ("rxsync", _errno.ENXIO): _SYNC_NXIO,
    ("txsync", _errno.EBUSY): _SYNC_BUSY,
    ("rxsync", _errno.EBUSY): _SYNC_BUSY,
    ("txsync", _errno.EIO): _SYNC_IO,
    ("rxsync", _errno.EIO): _SYNC_IO,
}


def netmap_error(err: int, port: str, operation: Operation) -> OSError:
    """Return (not raise) the exception for ``err`` from ``operation`` on ``port``.

    ``err`` is a positive errno. The result is an ``OSError`` whose class is the builtin
    subclass for that errno, whose ``errno`` is ``err``, and whose message reads
    ``"<port>: <what failed>: <cause> (<ERRNO NAME>)"``.
    """
    if err <= 0:
        raise ValueError(f"errno must be positive, got {err}")
    name = _errno.errorcode.get(err, f"errno {err}")
    cause = _CAUSES.get((operation, err)) or os.strerror(err)
    return OSError(err, f"{port}: {_WHAT[operation]}: {cause} ({name})")
