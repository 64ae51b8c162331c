"""Build the benchmark's C programs with the system compiler into ``bench/out/bin``.

The programs compile in the project's own native sources (``aionetmap/_native/pipe_*.c``,
``ring_*.c``, ``packet_*.c``) rather than re-implementing the ring layout or the AF_PACKET
port. A build is reused while the sources, the flags and the compiler stay the same.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from aionetmap._native.build_packet import PACKET_SOURCES
from aionetmap._native.build_ring import PIPE_SOURCES, RING_SOURCES

__all__ = ["BENCH", "OUT", "PROGRAMS", "ROOT", "BuildError", "build", "build_all"]

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
NATIVE = ROOT / "aionetmap" / "_native"
CSRC = BENCH / "c"

CFLAGS = ("-std=gnu11", "-O2", "-g", "-Wall", "-Wextra")

# The native files as split in aionetmap/_native (build_ring.py, build_packet.py list them too).
# The same lists the cffi modules are built from, so a new C file reaches the programs too.
_PACKET = PACKET_SOURCES
_PIPE = (*PIPE_SOURCES, *RING_SOURCES)

PROGRAMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # name: (sources in bench/c, sources in aionetmap/_native)
    "udpgen": (("udpgen.c", "benchlib.c", "pktopen.c"), _PACKET),
    "pipepeer": (("pipepeer.c", "pipe_named.c", "benchlib.c"), _PIPE),
    "pktreflect": (("pktreflect.c", "benchlib.c", "pktopen.c"), _PACKET),
}


class BuildError(RuntimeError):
    """A benchmark program did not compile."""


def _compiler() -> str:
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc) is None:
        raise BuildError(f"C compiler {cc!r} not found: install gcc (or set CC)")
    return cc


def _fingerprint(cc: str, sources: list[Path]) -> str:
    digest = hashlib.sha256()
    version = subprocess.run([cc, "--version"], capture_output=True, text=True, check=False)
    digest.update(version.stdout.encode())
    digest.update(" ".join(CFLAGS).encode())
    headers = sorted(CSRC.glob("*.h")) + sorted(NATIVE.glob("*.h"))
    for path in [*sources, *headers]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


_built: dict[str, Path] = {}
"""Programs this process has already checked: every trial asks for its programs, and the
check costs a compiler run and a hash of every source."""


def build(name: str) -> Path:
    """Return the path of program ``name``, compiling it first if it is missing or stale."""
    if name not in PROGRAMS:
        raise KeyError(f"no benchmark program {name!r} (have: {', '.join(PROGRAMS)})")
    if name not in _built:
        _built[name] = _build(name)
    return _built[name]


def _build(name: str) -> Path:
    own, native = PROGRAMS[name]
    sources = [CSRC / s for s in own] + [NATIVE / s for s in native]
    cc = _compiler()
    target = OUT / "bin" / name
    stamp = target.with_suffix(".sha256")
    fingerprint = _fingerprint(cc, sources)
    if target.exists() and stamp.exists() and stamp.read_text() == fingerprint:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build beside the target and rename: another run (a second test session, say) may be
    # building or executing the same program at this moment.
    tmp = target.with_name(f".{name}.{os.getpid()}.tmp")
    cmd = [cc, *CFLAGS, f"-I{CSRC}", f"-I{NATIVE}", "-o", str(tmp), *map(str, sources)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise BuildError(f"building {name} failed:\n{' '.join(cmd)}\n{proc.stderr}")
        if proc.stderr.strip():  # warnings: show them, -Wall -Wextra must stay clean
            print(f"warnings building {name}:\n{proc.stderr}")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    stamp_tmp = stamp.with_name(f".{stamp.name}.{os.getpid()}.tmp")
    stamp_tmp.write_text(fingerprint)
    os.replace(stamp_tmp, stamp)
    return target


def build_all() -> dict[str, Path]:
    """Build every program; returns name -> path."""
    return {name: build(name) for name in PROGRAMS}
