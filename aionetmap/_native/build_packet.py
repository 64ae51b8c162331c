"""cffi builder for ``aionetmap._native._packet``: AF_PACKET ring I/O and namespace helpers."""

from __future__ import annotations

try:  # setup.py runs from the project root, where the package is importable
    from aionetmap._native._buildutil import compile_in_place, make_ffibuilder
except ImportError:  # run as a script: python aionetmap/_native/build_packet.py
    from _buildutil import compile_in_place, make_ffibuilder  # type: ignore[import-not-found,no-redef]

__all__ = ["PACKET_SOURCES", "ffibuilder"]

# Namespaces and ethtool, opening, the RX ring reader, TX (see packet_int.h).
PACKET_SOURCES = ("packet_sys.c", "packet_open.c", "packet_rx.c", "packet_tx.c")

ffibuilder = make_ffibuilder(
    "_packet",
    "packet.cdef",
    list(PACKET_SOURCES),
    '#include "packet.h"\n#include <linux/ethtool.h>',
)

if __name__ == "__main__":
    compile_in_place(ffibuilder)
