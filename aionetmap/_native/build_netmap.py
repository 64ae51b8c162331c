"""cffi builder for ``aionetmap._native._netmap``: the netmap ABI and the kernel port's syscalls."""

from __future__ import annotations

try:  # setup.py runs from the project root, where the package is importable
    from aionetmap._native._buildutil import HERE, compile_in_place, make_ffibuilder
except ImportError:  # run as a script: python aionetmap/_native/build_netmap.py
    from _buildutil import (  # type: ignore[import-not-found,no-redef]
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
