"""cffi builder for ``aionetmap._native._ring``: netmap ring walking and the software pipe."""

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

__all__ = ["CDEF", "NETMAP_BORROWED", "PIPE_SOURCES", "RING_SOURCES", "ffibuilder"]

# The ring walker and the pipe kernel, one file per concern (see ring_int.h, pipe_int.h).
RING_SOURCES = ("ring_init.c", "ring_rx.c", "ring_tx.c", "ring_fwd.c")
PIPE_SOURCES = ("pipe_layout.c", "pipe_sync.c", "pipe_notify.c")

# The slot flags and the chain limit come from the netmap ABI header (module _netmap's).
NETMAP_BORROWED = """
#define NETMAP_MAX_FRAGS ...
#define NS_BUF_CHANGED ...
#define NS_MOREFRAG ...
"""
CDEF = NETMAP_BORROWED + "".join(map(header_cdef, ("ring.h", "pipe.h", "batchfmt.h")))

ffibuilder = make_ffibuilder(
    "_ring",
    CDEF,
    [*RING_SOURCES, *PIPE_SOURCES, "batchfmt.c"],
    '#include "ring.h"\n#include "pipe.h"\n#include "batchfmt.h"',
)

if __name__ == "__main__":
    compile_in_place(ffibuilder)
