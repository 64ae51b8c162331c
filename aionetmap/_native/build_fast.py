"""cffi builder for ``aionetmap._native._fast``: the UDP fast path (batch classify and build)."""

from __future__ import annotations

try:  # setup.py and scripts: setup.py puts this directory on sys.path, and importing
    # the package instead would load its compiled modules, stale while being rebuilt
    from _buildutil import compile_in_place, header_cdef, make_ffibuilder  # type: ignore[import-not-found]
except ImportError:  # imported as part of the package (the tests do)
    from aionetmap._native._buildutil import (
        compile_in_place,
        header_cdef,
        make_ffibuilder,
    )

__all__ = ["BATCHFMT_BORROWED", "CDEF", "ffibuilder"]

# batchfmt.c belongs to _ring: fast.c needs only the inline field writer of batchfmt.h,
# and Python only its buffer size.
BATCHFMT_BORROWED = """
#define ANM_FORMAT_PER_FRAME ...
"""
CDEF = header_cdef("fast.h") + BATCHFMT_BORROWED

ffibuilder = make_ffibuilder(
    "_fast",
    CDEF,
    ["fast.c", "fast_rx6.c", "fast_tx6.c"],
    '#include "fast.h"\n#include "batchfmt.h"',
)

if __name__ == "__main__":
    compile_in_place(ffibuilder)
