"""The doctor's machine-wide checks: the netmap module, its API version and device
permissions, ``CAP_NET_RAW`` for AF_PACKET, and ``/dev/shm`` for software pipes."""

from __future__ import annotations

import errno
import os
import stat

from aionetmap.cli.doctor_env import Check, Env
from aionetmap.portspec import PortSpec

__all__ = ["api_version", "cap_net_raw", "device_permissions", "netmap_checks", "shm_space"]

_NO_NETMAP_FIX = (
    "load it with `modprobe netmap` (build it from github.com/luigirizzo/netmap: "
    "./configure --no-drivers && make && make install), or use packet:IFNAME (AF_PACKET) "
    "or pipe:NAME{ID instead"
)
CAP_NET_RAW = 13
"""Bit of CAP_NET_RAW in the capability sets (linux/capability.h)."""


def netmap_module(env: Env, *, required: bool) -> Check:
    """Is the netmap module loaded and its device there?"""
    loaded = (env.sys / "module" / "netmap").is_dir()
    device = env.device.exists()
    if device:
        how = "loaded" if loaded else "present (built into the kernel)"
        return Check("netmap module", "ok", f"netmap is {how}; {env.device} exists")
    if loaded:
        return Check(
            "netmap module",
            "problem" if required else "warning",
            f"the netmap module is loaded but {env.device} is missing",
            "check `dmesg | grep netmap`; udev should create the device (or: mknod it "
            "with the major/minor in /sys/class/misc/netmap/dev)",
        )
    return Check(
        "netmap module",
        "problem" if required else "warning",
        f"the netmap kernel module is not loaded ({env.device} does not exist)"
        + ("" if required else "; netmap: and vale ports cannot open"),
        _NO_NETMAP_FIX,
    )


def api_version(env: Env) -> Check:
    """Does the module accept our API version? (It answers EINVAL when not.)"""
    from aionetmap.ports._netmap_sys import KERNEL
    from aionetmap.ports.probe import netmap_api, netmap_api_check

    ours = netmap_api()
    err = netmap_api_check(str(env.device), env.netmap_syscalls or KERNEL)
    if err == 0:
        return Check("netmap API", "ok", f"the module accepts API version {ours}")
    if err == errno.EINVAL:
        return Check(
            "netmap API",
            "problem",
            f"the module rejects API version {ours} (EINVAL): it was built from netmap "
            "sources of another API",
            f"install a netmap whose NETMAP_MIN_API..NETMAP_MAX_API range includes {ours} "
            "(current github.com/luigirizzo/netmap), then `rmmod netmap && modprobe netmap`",
        )
    if err in (errno.EACCES, errno.EPERM):
        return Check(
            "netmap API",
            "warning",
            f"could not ask the module ({os.strerror(err)}); see the permissions check",
            "run as root to check the API version",
        )
    return Check(
        "netmap API",
        "problem",
        f"asking the module for its API failed: {os.strerror(err)}",
        "check `dmesg | grep netmap` and reload the module",
    )


def device_permissions(env: Env) -> Check:
    """Can this process open ``/dev/netmap`` read-write?"""
    try:
        st = env.device.stat()
    except OSError as exc:
        return Check("/dev/netmap access", "problem", f"{env.device}: {exc.strerror}")
    mode = stat.filemode(st.st_mode)
    if not stat.S_ISCHR(st.st_mode):
        return Check(
            "/dev/netmap access",
            "problem",
            f"{env.device} is not a character device ({mode})",
            "remove it and reload netmap (`rmmod netmap && modprobe netmap`)",
        )
    if env.access(env.device, os.R_OK | os.W_OK):
        return Check("/dev/netmap access", "ok", f"read-write for this process ({mode})")
    return Check(
        "/dev/netmap access",
        "problem",
        f"this process (uid {os.geteuid()}) cannot open {env.device} read-write ({mode}, "
        f"owner uid {st.st_uid}, group {st.st_gid})",
        'run as root, or add a udev rule: KERNEL=="netmap", GROUP="netmap", MODE="0660" '
        "and add the user to that group",
    )


def netmap_checks(env: Env, *, required: bool) -> list[Check]:
    """Module, API version and permissions; the last two only when the device is there."""
    first = netmap_module(env, required=required)
    if not env.device.exists():
        return [first]
    return [first, device_permissions(env), api_version(env)]


def _effective_caps(env: Env) -> int | None:
    try:
        text = (env.proc / "self" / "status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("CapEff:"):
            try:
                return int(line.split(":", 1)[1].strip(), 16)
            except ValueError:
                return None
    return None


def cap_net_raw(env: Env, *, required: bool) -> Check:
    """AF_PACKET sockets need ``CAP_NET_RAW`` in the effective set."""
    caps = _effective_caps(env)
    if caps is None:
        return Check("CAP_NET_RAW", "warning", f"could not read CapEff from {env.proc}/self/status")
    if caps >> CAP_NET_RAW & 1:
        return Check("CAP_NET_RAW", "ok", "this process may open AF_PACKET sockets")
    return Check(
        "CAP_NET_RAW",
        "problem" if required else "warning",
        "this process lacks CAP_NET_RAW: packet: ports cannot open (EPERM)",
        "run as root, or grant it: `setcap cap_net_raw,cap_net_admin+ep $(readlink -f "
        "$(which python3))` (or run under systemd with AmbientCapabilities=CAP_NET_RAW)",
    )


def _pipe_size(spec: PortSpec | None) -> tuple[int, str]:
    from aionetmap.ports.pipe import DEFAULT_BUF_SIZE, DEFAULT_SLOTS
    from aionetmap.ports.probe import pipe_region_size

    slots = (spec.conf.get("slots") if spec else None) or DEFAULT_SLOTS
    buf_size = (spec.conf.get("buf_size") if spec else None) or DEFAULT_BUF_SIZE
    return pipe_region_size(slots, buf_size), f"slots={slots}, buf-size={buf_size}"


def _pipe_file(env: Env, spec: PortSpec | None) -> str | None:
    if spec is None or spec.pipe_parent is None:
        return None
    return f"aionetmap-pipe.{spec.pipe_parent}.{spec.pipe_id}"


def pipe_limits() -> str:
    """The fix for out-of-range pipe rings: the ranges the pipe accepts."""
    from aionetmap.ports.probe import pipe_ring_limits

    min_slots, max_slots, min_buf, max_buf = pipe_ring_limits()
    return (
        f"use @conf:slots={min_slots}..{max_slots} and buf-size a multiple of 64 "
        f"in {min_buf}..{max_buf}"
    )


def shm_space(env: Env, spec: PortSpec | None) -> Check:
    """Room and permissions in ``/dev/shm`` for the pipe's region (``None``: a default one)."""
    name = "/dev/shm"
    size, geometry = _pipe_size(spec)
    if size == 0:
        return Check(
            name, "problem", f"the pipe's ring sizes are out of range ({geometry})", pipe_limits()
        )
    if not env.shm.is_dir():
        return Check(
            name,
            "problem",
            f"{env.shm} is not a directory: named pipes live there",
            f"mount a tmpfs: `mount -t tmpfs -o mode=1777 tmpfs {env.shm}`",
        )
    # An existing pipe (its other end is open, or a crashed run left it) must be ours to
    # open; either way the last user removes the files, so the directory must be writable.
    existing = _pipe_file(env, spec)
    path = env.shm / existing if existing else None
    if path is not None and path.exists() and not env.access(path, os.R_OK | os.W_OK):
        return Check(
            name,
            "problem",
            f"{path} exists but is not ours to open",
            f"open the pipe as the user who created it, or remove the stale files: `rm {path}*`",
        )
    if not env.access(env.shm, os.W_OK | os.X_OK):
        return Check(
            name,
            "problem",
            f"this process cannot create files in {env.shm}",
            f"`chmod 1777 {env.shm}` (the usual mode), or run as its owner",
        )
    if path is not None and path.exists():
        return Check(name, "ok", f"{path} exists and is read-write for us")
    vfs = os.statvfs(env.shm)
    free = vfs.f_bavail * vfs.f_frsize
    need = f"a pipe ({geometry}) needs {size:,} bytes, {env.shm} has {free:,} free"
    if free < size:
        return Check(
            name,
            "problem",
            need,
            f"free space in {env.shm}, enlarge it (`mount -o remount,size=1G "
            f"{env.shm}`), or use smaller rings (@conf:slots=N)",
        )
    return Check(name, "ok", need)
