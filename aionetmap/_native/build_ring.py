"""cffi builder for ``aionetmap._native._ring``: netmap ring walking and the software pipe."""

from __future__ import annotations

try:  # run as a script (python aionetmap/_native/build_ring.py) or via setup.py
    from _buildutil import compile_in_place, make_ffibuilder
except ImportError:  # pragma: no cover - imported as a package module
    from aionetmap._native._buildutil import compile_in_place, make_ffibuilder

__all__ = ["ffibuilder"]

ffibuilder = make_ffibuilder(
    "_ring", "ring.cdef", ["ring.c", "pipe.c"], '#include "ring.h"\n#include "pipe.h"'
)

if __name__ == "__main__":
    compile_in_place(ffibuilder)
