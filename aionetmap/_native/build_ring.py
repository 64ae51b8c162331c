"""cffi builder for ``aionetmap._native._ring``: netmap ring walking and the software pipe."""

from __future__ import annotations

try:  # setup.py runs from the project root, where the package is importable
    from aionetmap._native._buildutil import compile_in_place, make_ffibuilder
except ImportError:  # run as a script: python aionetmap/_native/build_ring.py
    from _buildutil import compile_in_place, make_ffibuilder  # type: ignore[import-not-found,no-redef]

__all__ = ["PIPE_SOURCES", "RING_SOURCES", "ffibuilder"]

# The ring walker and the pipe kernel, one file per concern (see ring_int.h, pipe_int.h).
RING_SOURCES = ("ring_init.c", "ring_rx.c", "ring_tx.c", "ring_fwd.c")
PIPE_SOURCES = ("pipe_layout.c", "pipe_sync.c", "pipe_notify.c")

ffibuilder = make_ffibuilder(
    "_ring",
    "ring.cdef",
    [*RING_SOURCES, *PIPE_SOURCES, "batchfmt.c"],
    '#include "ring.h"\n#include "pipe.h"\n#include "batchfmt.h"',
)

if __name__ == "__main__":
    compile_in_place(ffibuilder)
