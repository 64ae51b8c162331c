"""The kernel port's system layer: its syscalls, and one mapping per memory region.

Every syscall of :class:`~aionetmap.ports.netmap.NetmapPort` goes through a small injectable
object (:class:`NetmapSyscalls`), so the whole port can run against a fake kernel where
``/dev/netmap`` is absent; :class:`KernelSyscalls` is the real one.

netmap gives every port of one allocator (``nr_mem_id``) the same region: buffer ``i`` is the
same memory for all of them, which is what lets a buffer move from one port's RX ring to
another's TX ring by index (zero-copy forwarding, netmap-abi.md §3.5 and §6). The ring code
recognises a shared pool by its address, so the ports must also share one *mapping*: like
libnetmap, a process maps each memory id once and counts the ports that use the mapping.

Linux adds one rule: a mapping holds a reference to the file it was made through, and netmap
releases a port (and hands a NIC back to the host stack) only once its fd is closed *and* no
mapping through it is left. A shared mapping goes through one of its ports' fds. When that
port closes while others still use the region, the mapping is first moved onto another user's
fd (``MAP_FIXED`` over the same addresses: the same pages, nothing moves for the ring code),
so closing a port always releases it. (libnetmap keeps the first port's mapping, which keeps
that port bound until the last port of the region closes.)
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import threading
import warnings
from collections.abc import Callable
from typing import Any, Protocol

import cffi

from aionetmap._native._netmap import ffi, lib

__all__ = ["KERNEL", "KernelSyscalls", "NetmapSyscalls", "SharedRegion", "acquire_region"]


class NetmapSyscalls(Protocol):
    """The syscalls a netmap port makes. Each raises ``OSError`` (with ``errno``)."""

    def open(self, path: str) -> int:
        """Open the netmap device read-write, close-on-exec; return the fd."""
        ...

    def ioctl(self, fd: int, request: int, hdr: Any = None, body: Any = None) -> None:
        """``NIOCCTRL`` (``hdr``: ``struct nmreq_header *``, ``body``: its request body,
        written back by the kernel) or ``NIOCTXSYNC``/``NIOCRXSYNC`` (no argument)."""
        ...

    def remap(self, fd: int, region: mmap.mmap) -> None:
        """Map the same region again over ``region``'s addresses, through another registered
        fd of the same memory (``MAP_FIXED``), so the fd it went through can be released."""
        ...

    def mmap(self, fd: int, size: int) -> mmap.mmap:
        """Map ``size`` bytes of the registered fd's region, shared, read-write, offset 0.
        The mapping must not keep a duplicate of ``fd`` open."""
        ...

    def close(self, fd: int) -> None: ...


# mmap(2) itself, for MAP_FIXED, which Python's mmap module cannot ask for.
_c = cffi.FFI()
_c.cdef("void *mmap(void *addr, size_t length, int prot, int flags, int fd, long offset);")
_libc: Any = _c.dlopen(None)
_MAP_FIXED = 0x10  # the same on Linux (x86, arm, riscv, powerpc, ...) and FreeBSD


class KernelSyscalls:
    """The real syscalls, on the real ``/dev/netmap``."""

    def open(self, path: str) -> int:
        return os.open(path, os.O_RDWR | os.O_CLOEXEC)

    def ioctl(self, fd: int, request: int, hdr: Any = None, body: Any = None) -> None:
        if request == lib.NIOCCTRL:
            err = lib.anm_ctrl(fd, hdr, ffi.NULL if body is None else body)
        elif request == lib.NIOCTXSYNC:
            err = lib.anm_txsync(fd)
        elif request == lib.NIOCRXSYNC:
            err = lib.anm_rxsync(fd)
        else:
            raise ValueError(f"not a netmap ioctl: {request:#x}")
        if err:
            raise OSError(err, os.strerror(err))

    def remap(self, fd: int, region: mmap.mmap) -> None:
        prot = mmap.PROT_READ | mmap.PROT_WRITE
        with _c.from_buffer(region) as view:
            addr = _c.cast("void *", view)
            got = _libc.mmap(addr, len(region), prot, mmap.MAP_SHARED | _MAP_FIXED, fd, 0)
            err = _c.errno
        if got != addr:  # MAP_FAILED
            raise OSError(err, os.strerror(err))

    def mmap(self, fd: int, size: int) -> mmap.mmap:
        # mmap.mmap(fd) would keep a duplicate of fd for as long as the mapping lives, which
        # would keep the port registered after it closes. So reserve the addresses with an
        # anonymous mapping (which holds no fd) and map the region over it.
        region = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE)
        try:
            self.remap(fd, region)
        except BaseException:
            region.close()
            raise
        return region

    def close(self, fd: int) -> None:
        os.close(fd)


# The default syscall layer: one object, so that every port opened with it can share the
# mapping of a memory region with the others (regions are looked up per syscall layer).
KERNEL = KernelSyscalls()


_lock = threading.Lock()
# (pid, syscall layer, memory id) -> region. The pid keeps a forked child from reusing its
# parent's mapping; the syscall layer keeps a fake kernel's regions apart from the real one's.
_regions: dict[tuple[int, int, int], SharedRegion] = {}


class SharedRegion:
    """The process's mapping of one netmap memory region, and the ports (fds) using it."""

    __slots__ = ("_key", "_retired", "_sys", "_users", "_via", "map", "mem_id", "size")

    def __init__(
        self,
        key: tuple[int, int, int] | None,
        sys_: NetmapSyscalls,
        mem_id: int,
        region: mmap.mmap,
        via: int,
    ) -> None:
        self._key = key
        self._sys = sys_
        self.mem_id = mem_id
        self.map = region
        self.size = len(region)
        self._users: list[int] = []
        self._via = via  # the fd the mapping currently goes through
        self._retired: list[int] = []  # closed ports' fds the mapping could not leave

    def release(self, fd: int, name: str) -> bool:
        """Drop ``fd``'s use of the region; its ring views must be released already.

        Unmaps the region when ``fd`` was its last user. Returns ``True`` when the caller
        may close ``fd`` now, ``False`` when the mapping still depends on it (it is then
        closed together with the mapping, after a warning).
        """
        with _lock:
            self._users.remove(fd)
            if not self._users:
                if self._key is not None and _regions.get(self._key) is self:
                    del _regions[self._key]
                try:
                    self.map.close()  # BufferError if a ring view is still exported
                finally:
                    retired, self._retired = self._retired, []
                    for old in retired:
                        self._sys.close(old)
                return True
            if fd != self._via:
                return True
            return self._move_mapping(fd, name)

    def _move_mapping(self, fd: int, name: str) -> bool:
        """Map the region again through another user's fd, so ``fd`` can be released."""
        failure: OSError | None = None
        for other in self._users:
            try:
                self._sys.remap(other, self.map)
            except OSError as exc:
                failure = exc
                continue
            self._via = other
            return True
        # Linux checks the limits that can fail (map count, address space) before it touches
        # the old mapping, and netmap's own mmap cannot refuse a registered fd of the same
        # region and size, so the mapping should still be there. Map it through fd again
        # anyway: that is harmless if it is, and fills the hole if it is not.
        with contextlib.suppress(OSError):
            self._sys.remap(fd, self.map)
        self._retired.append(fd)
        code = failure.errno if failure is not None and failure.errno else errno.EIO
        warnings.warn(
            f"{name}: could not move the mapping of netmap memory {self.mem_id} to another "
            f"port ({os.strerror(code)}); this port stays registered until the last port "
            "using that memory closes",
            RuntimeWarning,
            stacklevel=4,
        )
        return False


def acquire_region(
    sys_: NetmapSyscalls,
    fd: int,
    mem_id: int,
    size: int,
    name: str,
    map_region: Callable[[int, int], mmap.mmap],
) -> SharedRegion:
    """The region of memory ``mem_id`` for the newly registered ``fd``: the mapping this
    process already has for that id, or a new one made with ``map_region(fd, size)``.

    A different size for an id that is already mapped is refused (``ValueError``). netmap
    sizes an allocator when its first port is registered and cannot resize it while any port
    uses it, and our mapping keeps one registered; so two sizes for one id mean the kernel's
    answers cannot be trusted. Mapping it a second time would silently lose zero-copy, and
    remapping at the new size would move the memory every open ring points into.
    """
    key = (os.getpid(), id(sys_), mem_id) if mem_id else None  # id 0: unknown, never shared
    with _lock:
        region = _regions.get(key) if key is not None else None
        if region is not None:
            if region.size != size:
                raise ValueError(
                    f"{name}: the kernel reports netmap memory {mem_id} as {size} bytes, but "
                    f"this process maps it as {region.size} bytes for its other ports; "
                    "refusing to map it twice"
                )
        else:
            region = SharedRegion(key, sys_, mem_id, map_region(fd, size), fd)
            if key is not None:
                _regions[key] = region
        region._users.append(fd)
        return region
