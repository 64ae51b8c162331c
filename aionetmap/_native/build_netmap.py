"""cffi builder for ``aionetmap._native._netmap``: the netmap ABI and the kernel port's syscalls."""

from __future__ import annotations

try:  # setup.py and scripts: setup.py puts this directory on sys.path, and importing
    # the package instead would load its compiled modules, stale while being rebuilt
    from _buildutil import HERE, compile_in_place, make_ffibuilder  # type: ignore[import-not-found]
except ImportError:  # imported as part of the package (the tests do)
    from aionetmap._native._buildutil import (
        HERE,
        compile_in_place,
        make_ffibuilder,
    )

__all__ = ["CDEF", "ffibuilder"]

# Hand-written on purpose (see _buildutil): every size and value left to the compiler.
CDEF = (HERE / "netmap.cdef").read_text()

ffibuilder = make_ffibuilder("_netmap", CDEF, ["netmapsys.c"], '#include "netmapsys.h"')

if __name__ == "__main__":
    compile_in_place(ffibuilder)
