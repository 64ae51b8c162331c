"""The software pipe backend: two netmap-layout endpoints in one shared-memory region.

Ports ``pipe:NAME{ID`` (end "a") and ``pipe:NAME}ID`` (end "b"). Frames sent on one end are
received on the other, moved zero-copy by a user-space "kernel" (``_native/pipe_sync.c``)
that behaves like netmap pipes, through the same C ring code the kernel port uses. No root,
no module.

Readiness: :meth:`PipePort.fileno` is readable while frames wait, and also once when TX
room comes back after the TX ring filled up (``tx_wakeup == "readable"``) and once when the
peer closes. It is level-triggered: :meth:`PipePort.recv` clears it and re-arms it if
anything is still waiting.

The fds and files a pipe is made of, and :class:`PipeHandle`, are in
:mod:`aionetmap.ports._pipe_fds`.
"""

from __future__ import annotations

import errno
import fcntl
import itertools
import mmap
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from aionetmap._native._ring import ffi, lib
from aionetmap._native.batch import FrameBatch
from aionetmap._native.rings import RingSet, c_message
from aionetmap.ports._pipe_fds import (
    ERRLEN,
    End,
    PipeHandle,
    close_fds,
    end_number,
    format_region,
    lock_file,
    open_fifo,
    pid_alive,
    pipe_spec,
    same_file,
    shm_path,
    unlink_files,
)
from aionetmap.ports._pipe_fds import SHM_DIR as SHM_DIR  # re-exported: public here
from aionetmap.ports._ring_port import RingPort, ring_port_info
from aionetmap.ports.base import Port, PortClosedError, PortInfo, TxWakeup
from aionetmap.ports.forward import destination_rings

__all__ = ["PipeHandle", "PipePort", "pipe_pair"]

DEFAULT_SLOTS = 1024
DEFAULT_BUF_SIZE = 2048

_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,200}")
_COUNTER_FIELDS = tuple(name for name, _ in ffi.typeof("struct anm_pipe_counters").fields)
_anon_ids = itertools.count()


class PipePort(RingPort):
    """One end of a software pipe; implements :class:`aionetmap.ports.base.Port`.

    Open a named end with :meth:`open` (any process, by name), or an anonymous pair with
    :func:`pipe_pair`. ``send``/``send_batch`` queue frames; ``flush`` hands them to the peer
    (netmap's txsync); ``recv`` takes delivered frames (rxsync) and does the readiness
    bookkeeping of :meth:`fileno`. Frames sent after the peer closed are dropped and counted
    (``tx_dropped_peer_closed``) rather than waiting forever.

    A port belongs to the process that opened it. To use an anonymous end in another
    process, :meth:`detach` it and :meth:`attach` the handle there; a forked child must not
    use (or close) the parent's ports, and should leave with ``os._exit``.
    """

    backend: Literal["pipe"] = "pipe"

    _spec: str
    _end: End
    _endno: int
    _path: str | None  # the named pipe's memory file, None for anonymous pairs
    _fds: list[int]  # memory (and lock) fd, own notification fd, peer's notification fd
    _own_fd: int
    _mm: mmap.mmap | None
    _base: Any  # our cffi view of _mm
    _p: Any  # struct anm_pipe *
    _rings: RingSet | None
    _info: PortInfo
    _closed: bool

    def __init__(self) -> None:
        raise TypeError("use PipePort.open(), PipePort.attach() or pipe_pair()")

    @classmethod
    def _create(cls, spec: str, end: End, fds: tuple[int, int, int], path: str | None) -> PipePort:
        """Map and validate one end over duplicates of ``fds`` (memory, own, peer); the
        caller keeps (and closes) the originals."""
        self = cls.__new__(cls)
        self._closed = True  # until set up: __del__ stays quiet
        self._spec, self._end, self._endno, self._path = spec, end, end_number(end), path
        self._fds, self._base, self._rings, self._mm = [], None, None, None
        try:
            for fd in fds:
                self._fds.append(os.dup(fd))  # non-inheritable copies
            fds = (self._fds[0], self._fds[1], self._fds[2])
            size = os.fstat(fds[0]).st_size
            self._mm = mm = mmap.mmap(fds[0], size)
            self._base = ffi.from_buffer("uint8_t[]", mm, require_writable=True)
            self._p = ffi.new("struct anm_pipe *")
            err = ffi.new("char[]", ERRLEN)
            rc = lib.anm_pipe_attach(
                self._p, self._base, size, self._endno, fds[1], fds[2], err, ERRLEN
            )
            if rc < 0:
                raise ValueError(f"{spec}: {c_message(err)}")
            self._rings = r = RingSet(mm, self._p.nifp_off, name=spec)
        except BaseException:
            self._teardown()
            raise
        self._info = ring_port_info(r, spec, "pipe", ifname=spec.removeprefix("pipe:"))
        self._own_fd = fds[1]
        self._closed = False
        return self

    def _claim(self, state: int) -> None:
        if not lib.anm_pipe_claim(self._p, state, os.getpid()):
            raise OSError(errno.EBUSY, f"{self._spec}: end {self._end} was taken concurrently")

    @classmethod
    def open(
        cls, name: str, end: End, *, slots: int | None = None, buf_size: int | None = None
    ) -> PipePort:
        """Open end ``end`` of the named pipe ``name`` (``[A-Za-z0-9_.-]``), creating it in
        ``/dev/shm`` if this is the first opener. ``slots``/``buf_size`` only apply when the
        pipe is created (as with netmap); ``info`` reports the actual values. An end can be
        open once at a time (``EBUSY``), unless its owner died; it can be reopened after
        closing. The files are removed when the last end closes."""
        endno = end_number(end)
        if not _NAME_RE.fullmatch(name):
            raise ValueError(f"pipe name {name!r}: use 1-200 characters of [A-Za-z0-9_.-]")
        spec = pipe_spec(name, end)
        path = shm_path(name)
        lock = lock_file(path, spec)
        fds = [lock]
        created, port = False, None
        try:  # all under the lock; the port's duplicate of `lock` shares it
            if os.fstat(lock).st_size == 0:
                created = True
                format_region(lock, spec, slots or DEFAULT_SLOTS, buf_size or DEFAULT_BUF_SIZE)
            fds.append(open_fifo(f"{path}.{end}", spec))
            fds.append(open_fifo(f"{path}.{'ba'[endno]}", spec))
            port = cls._create(spec, end, (fds[0], fds[1], fds[2]), path)
            state = lib.anm_pipe_state(port._p, endno)
            owner = lib.anm_pipe_owner(port._p, endno)
            if state in (lib.ANM_END_OPEN, lib.ANM_END_DETACHED) and pid_alive(owner):
                raise OSError(errno.EBUSY, f"{spec}: end {end} is already open (pid {owner})")
            port._claim(state)
        except BaseException:
            if port is not None:
                port._teardown()
            if created:
                unlink_files(path)
            raise
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            close_fds(fds)
        return port

    @classmethod
    def attach(cls, handle: PipeHandle) -> PipePort:
        """Take over an end handed out by :meth:`detach` (in a forked or spawned process).
        The handle's fds are closed: this port works on its own copies."""
        try:
            port = cls._create(handle.spec, handle.end, handle.fds(), None)
            if not lib.anm_pipe_claim(port._p, lib.ANM_END_DETACHED, os.getpid()):
                port._teardown()
                raise OSError(
                    errno.EBUSY,
                    f"{handle.spec}: end {handle.end} is not waiting to be attached "
                    "(already attached, or never detached)",
                )
        finally:
            handle.close()
        return port

    def detach(self) -> PipeHandle:
        """Hand this end of an anonymous pair to another process, without closing it for
        the peer: frames keep queueing until the other process :meth:`attach`-es. Queued
        frames are flushed first. This port is unusable afterwards."""
        p, _ = self._check()
        if self._path is not None:
            raise ValueError(
                f"{self._spec}: named pipes are opened by name; detach() is for pipe_pair()"
            )
        self.flush()
        lib.anm_pipe_set_state(p, lib.ANM_END_DETACHED)
        fds = (self._fds[0], self._fds[1], self._fds[2])
        self._fds = []  # they belong to the handle now
        for fd in fds:
            os.set_inheritable(fd, True)
        self._teardown()
        return PipeHandle(self._spec, self._end, *fds)

    # ---- Port protocol ------------------------------------------------------------------

    @property
    def tx_wakeup(self) -> TxWakeup:
        return "readable"

    def fileno(self) -> int:
        self._check()
        return self._own_fd

    def _check(self) -> tuple[Any, RingSet]:
        if self._closed or self._rings is None:
            raise PortClosedError(errno.EBADF, f"{self._spec}: port is closed")
        return self._p, self._rings

    def _damaged(self) -> OSError:
        return OSError(errno.EIO, f"{self._spec}: pipe control area is damaged")

    def recv(self, batch: FrameBatch, max_frames: int | None = None) -> int:
        """Take up to ``max_frames`` delivered frames into ``batch``; clears the fd's
        readiness and re-arms it if frames remain. Also pushes frames that were held back
        because the peer was full."""
        p, r = self._check()
        limit = batch.capacity if max_frames is None else max(0, min(max_frames, batch.capacity))
        n = lib.anm_pipe_recv(
            p, r.native, batch.arena, batch.arena_size, batch.offs, batch.lens, limit
        )
        if n < 0:
            batch.count = 0
            raise self._damaged()
        batch.count = n
        batch.csum_known = False  # frames from a peer process: nothing is known
        return n

    def forward_to(self, dst: Port, max_frames: int) -> int:
        """Move up to ``max_frames`` delivered frames into ``dst``'s TX rings; returns how
        many. ``dst`` must be a ring port (a pipe end or a netmap port). Into this end's own
        TX ring (a reflector) buffers are swapped, zero-copy; into any other port, each frame
        is copied once (every end maps its pipe's memory separately, as it would in its own
        process). Frames ``dst`` has no room for stay here, and the fd stays readable for
        them; frames it can never carry are dropped and counted in
        ``stats()["fwd_dropped"]``. ``dst`` is not flushed. Readiness and syncs work exactly
        as in :meth:`recv`."""
        p, r = self._check()
        out = destination_rings(self._spec, dst)
        n = lib.anm_pipe_forward(p, r.native, out.native, max(0, max_frames))
        if n < 0:
            raise self._damaged()
        return n

    def _ring_set(self) -> RingSet:
        """The rings, for :func:`aionetmap.ports.forward` and other ports' ``forward_to``."""
        return self._check()[1]

    def send(self, frames: Sequence[bytes | bytearray | memoryview]) -> int:
        return self._check()[1].send(frames)

    def send_batch(self, batch: FrameBatch, start: int = 0) -> int:
        return self._check()[1].send_batch(batch, start)

    def tx_space(self) -> int:
        p, r = self._check()
        space = r.tx_space()
        if space == 0 and lib.anm_pipe_txsync(p, r.native) >= 0:
            space = r.tx_space()  # full of frames the peer may have room for by now
        return space

    def poll_error(self) -> OSError | None:
        """Always ``None``: errors here surface from the sync calls themselves."""
        self._check()
        return None

    def tx_pending(self) -> int:
        """True while frames the peer had no room for are still queued in our TX ring."""
        return int(self._check()[1].tx_pending())

    def tx_in_flight(self) -> int:
        """TX slots the peer has not taken yet (queued, or waiting for its room)."""
        return self._check()[1].tx_in_flight()

    def flush(self) -> None:
        """Hand queued frames to the peer (zero-copy) and signal it; frames that do not fit
        stay queued and the peer's next ``recv`` makes our fd readable."""
        p, r = self._check()
        if lib.anm_pipe_txsync(p, r.native) < 0:
            raise self._damaged()

    @property
    def peer_closed(self) -> bool:
        """True while the other end is closed (it may be reopened)."""
        p, _ = self._check()
        return bool(lib.anm_pipe_state(p, 1 - self._endno) == lib.ANM_END_CLOSED)

    @property
    def ring_resets(self) -> int:
        """Times a ring was reinitialised because head/cur were out of order."""
        counters: Any = lib.anm_pipe_counters(self._check()[0], self._endno)
        return int(counters.ring_resets)

    def stats(self) -> Mapping[str, int]:
        p, r = self._check()
        counters = lib.anm_pipe_counters(p, self._endno)
        out = r.stats()
        out.update({k: int(getattr(counters, k)) for k in _COUNTER_FIELDS})
        return out

    def close(self) -> None:
        """Flush, mark this end closed (waking the peer) and unmap. Idempotent. A named
        pipe's files are removed when the other end is not open either."""
        if self._closed:
            return
        self._closed = True
        try:
            p, r = self._p, self._rings
            assert r is not None
            lib.anm_pipe_txsync(p, r.native)  # best effort: deliver what was queued
            if self._path is not None:
                fcntl.flock(self._fds[0], fcntl.LOCK_EX)  # released when the fd closes
            lib.anm_pipe_set_state(p, lib.ANM_END_CLOSED)
            if self._path is not None and self._peer_gone() and same_file(self._path, self._fds[0]):
                unlink_files(self._path)
        finally:
            self._teardown()

    def _peer_gone(self) -> bool:
        peer = 1 - self._endno
        state = lib.anm_pipe_state(self._p, peer)
        if state in (lib.ANM_END_FREE, lib.ANM_END_CLOSED):
            return True
        return state == lib.ANM_END_OPEN and not pid_alive(lib.anm_pipe_owner(self._p, peer))

    def _teardown(self) -> None:
        self._closed = True
        if self._rings is not None:
            self._rings.release()
            self._rings = None
        if self._base is not None:
            ffi.release(self._base)
            self._base = None
        if self._mm is not None:
            self._mm.close()
            self._mm = None
        fds, self._fds = self._fds, []
        close_fds(fds)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"fd={self._own_fd}"
        return f"<PipePort {self._spec} {state}>"


def pipe_pair(
    *, slots: int = DEFAULT_SLOTS, buf_size: int = DEFAULT_BUF_SIZE
) -> tuple[PipePort, PipePort]:
    """An anonymous pipe (``pipe:anon-N{0`` / ``pipe:anon-N}0``) in a memfd, with an eventfd per
    end. To use an end in another process, :meth:`PipePort.detach` it."""
    ident = next(_anon_ids)
    name = f"anon-{ident}.0"
    mem = os.memfd_create(f"aionetmap-pipe-anon-{ident}", os.MFD_CLOEXEC)
    efds = [mem]
    ports: list[PipePort] = []
    try:
        efds += [os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC) for _ in range(2)]
        format_region(mem, pipe_spec(name, "a"), slots, buf_size)
        ends: tuple[End, End] = ("a", "b")
        for endno, end in enumerate(ends):
            fds = (mem, efds[1 + endno], efds[2 - endno])
            ports.append(PipePort._create(pipe_spec(name, end), end, fds, None))
            ports[-1]._claim(lib.ANM_END_FREE)
    except BaseException:
        for port in ports:
            port._teardown()
        raise
    finally:
        close_fds(efds)
    return ports[0], ports[1]
