"""The fds a software pipe end is built from, and how they travel.

Every pipe is one memory fd, laid out by :func:`format_region`, plus one notification fd
per end. A named pipe ``NAME`` keeps them in ``/dev/shm``: the memory file
``aionetmap-pipe.NAME`` (whose ``flock`` also serialises opening and closing) and one FIFO
per end (``.a``, ``.b``). An anonymous pair (memfd and eventfds) hands an end to another
process as a :class:`PipeHandle`. Also here: the pid check that tells a dead end owner from
a live one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import json
import mmap
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from aionetmap._native._ring import ffi, lib
from aionetmap._native.rings import ERRLEN, c_message

__all__ = [
    "ERRLEN",
    "SHM_DIR",
    "End",
    "PipeHandle",
    "close_fds",
    "end_number",
    "format_region",
    "lock_file",
    "open_fifo",
    "pid_alive",
    "pipe_spec",
    "same_file",
    "shm_path",
    "unlink_files",
]

End = Literal["a", "b"]

SHM_DIR = "/dev/shm"
"""Where named pipes live: ``aionetmap-pipe.NAME`` plus one FIFO per end (``.a``, ``.b``)."""

_PREFIX = "aionetmap-pipe."


def end_number(end: str) -> int:
    """0 for end ``"a"``, 1 for ``"b"``; ``ValueError`` for anything else."""
    if end not in ("a", "b"):
        raise ValueError(f"pipe end must be 'a' or 'b', got {end!r}")
    return 0 if end == "a" else 1


def pipe_spec(name: str, end: str) -> str:
    """``pipe:NAME{ID`` for ``NAME.ID`` (split at the last dot), ``pipe:NAME{`` without one."""
    base, dot, ident = name.rpartition(".")
    brace = "{" if end == "a" else "}"
    return f"pipe:{base}{brace}{ident}" if dot else f"pipe:{name}{brace}"


def format_region(fd: int, spec: str, slots: int, buf_size: int) -> int:
    """Size the file/memfd and lay a fresh pipe out in it; returns the size."""
    size = lib.anm_pipe_region_size(slots, buf_size)
    if size == 0:
        raise ValueError(
            f"{spec}: slots={slots} buf_size={buf_size} out of range (slots "
            f"{lib.ANM_PIPE_MIN_SLOTS}..{lib.ANM_PIPE_MAX_SLOTS}, buf_size a multiple of 64 "
            f"in {lib.ANM_PIPE_MIN_BUF}..{lib.ANM_PIPE_MAX_BUF})"
        )
    os.ftruncate(fd, size)
    err = ffi.new("char[]", ERRLEN)
    with mmap.mmap(fd, size) as mm:
        base = ffi.from_buffer("uint8_t[]", mm, require_writable=True)
        try:
            rc = lib.anm_pipe_format(base, size, slots, buf_size, err, ERRLEN)
        finally:
            ffi.release(base)
    if rc < 0:
        raise ValueError(f"{spec}: {c_message(err)}")
    return int(size)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (pids <= 0 name process groups: never a live owner)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def close_fds(fds: Sequence[int]) -> None:
    """Close every fd, ignoring the ones already closed."""
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


@dataclass(frozen=True, slots=True)
class PipeHandle:
    """One end of an anonymous pipe on its way to another process (see :meth:`PipePort.detach`).

    After ``os.fork()`` the child calls ``PipePort.attach(handle)`` and the parent calls
    ``handle.close()``. For a spawned program pass ``pass_fds=handle.fds()`` (the numbers
    stay the same) and ``handle.encode()`` on its command line; it calls
    ``PipePort.attach(PipeHandle.decode(text))``. Attaching takes ownership of the fds.
    """

    spec: str
    end: End
    mem_fd: int
    own_fd: int
    peer_fd: int

    def fds(self) -> tuple[int, int, int]:
        return (self.mem_fd, self.own_fd, self.peer_fd)

    def encode(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def decode(cls, text: str) -> PipeHandle:
        fields = json.loads(text)
        end_number(fields["end"])
        if not all(isinstance(fields[k], int) for k in ("mem_fd", "own_fd", "peer_fd")):
            raise ValueError(f"not a pipe handle: {text!r}")
        return cls(**fields)

    def close(self) -> None:
        """Close this process's copies of the fds (after handing them over)."""
        close_fds(self.fds())


# ---- named-pipe files -------------------------------------------------------------------


def shm_path(name: str) -> str:
    """The memory file of the named pipe ``name``; its FIFOs add ``.a`` and ``.b``."""
    return os.path.join(SHM_DIR, _PREFIX + name)


def lock_file(path: str, spec: str) -> int:
    """Open (creating) and exclusively lock the pipe's memory file; retry if it was removed
    between our open and our lock (its last user closed it meanwhile)."""
    flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
    while True:
        fd = os.open(path, flags, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            st = os.fstat(fd)
            if st.st_uid != os.geteuid():
                raise PermissionError(errno.EPERM, f"{spec}: {path} belongs to another user")
            if same_file(path, fd):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def same_file(path: str, fd: int) -> bool:
    """Whether ``path`` still names the file open on ``fd`` (not removed, not replaced)."""
    try:
        a, b = os.stat(path, follow_symlinks=False), os.fstat(fd)
    except FileNotFoundError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def open_fifo(path: str, spec: str) -> int:
    """A FIFO opened O_RDWR never blocks and stays usable whoever else has it open."""
    with contextlib.suppress(FileExistsError):
        os.mkfifo(path, 0o600)
    fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW)
    if not stat.S_ISFIFO(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, f"{spec}: {path} exists and is not a FIFO")
    return fd


def unlink_files(path: str) -> None:
    """Remove a named pipe's memory file and FIFOs; missing ones are fine."""
    for p in (path, f"{path}.a", f"{path}.b"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(p)
