"""cffi builder for ``aionetmap._native._packet``: AF_PACKET ring I/O and namespace helpers."""

from __future__ import annotations

try:  # setup.py runs from the project root, where the package is importable
    from aionetmap._native._buildutil import compile_in_place, make_ffibuilder
except ImportError:  # run as a script: python aionetmap/_native/build_packet.py
    from _buildutil import compile_in_place, make_ffibuilder  # type: ignore[import-not-found,no-redef]

__all__ = ["ffibuilder"]

ffibuilder = make_ffibuilder(
    "_packet",
    "packet.cdef",
    ["packet.c"],
    '#include "packet.h"\n#include <linux/ethtool.h>',
)

if __name__ == "__main__":
    compile_in_place(ffibuilder)
