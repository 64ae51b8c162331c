"""Shared plumbing for the ``build_*.py`` cffi builders (build time only, never imported).

Each builder owns one out-of-line API-mode module: a ``<name>.cdef`` file with the
declarations cffi may see, and real C sources/headers next to it. Keeping one module per
concern lets each native part be rebuilt and tested alone.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cffi

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

# Warnings we want to see while developing; no -Werror so an unknown compiler does not
# refuse to build a user's install.
CFLAGS = ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fno-strict-aliasing"]


def make_ffibuilder(module: str, cdef: str, sources: list[str], prelude: str) -> cffi.FFI:
    """Return an FFI that compiles ``aionetmap._native.<module>`` from files in this folder.

    ``cdef`` names the declarations file, ``sources`` the C files compiled with it, and
    ``prelude`` the C text placed before cffi's generated code (usually ``#include``s).
    """
    builder = cffi.FFI()
    builder.cdef((HERE / cdef).read_text())
    builder.set_source(
        f"aionetmap._native.{module}",
        prelude,
        # Relative to ROOT (both builds run there): with absolute paths distutils mirrors
        # them under the build dir and drops objects in ROOT/work/main/... .
        sources=[str((HERE / name).relative_to(ROOT)) for name in sources],
        include_dirs=[str(HERE)],
        extra_compile_args=CFLAGS,
        depends=[str(p) for p in sorted(HERE.glob("*.h"))],
    )
    return builder


def compile_in_place(builder: cffi.FFI) -> None:
    """Build the module into the source tree (``python aionetmap/_native/build_x.py``)."""
    out = builder.compile(tmpdir=str(ROOT), verbose="-v" in sys.argv)
    print(out)
