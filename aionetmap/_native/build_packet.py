"""cffi builder for ``aionetmap._native._packet``: AF_PACKET ring I/O and namespace helpers."""

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

__all__ = ["CDEF", "ETHTOOL_BORROWED", "PACKET_SOURCES", "ffibuilder"]

# Namespaces and ethtool, opening, the RX ring reader, TX (see packet_int.h).
PACKET_SOURCES = ("packet_sys.c", "packet_open.c", "packet_rx.c", "packet_tx.c")

# The ethtool commands pkt_ethtool_get/set take come from <linux/ethtool.h>.
ETHTOOL_BORROWED = """
#define ETHTOOL_GTXCSUM ...
#define ETHTOOL_STXCSUM ...
#define ETHTOOL_GRXCSUM ...
#define ETHTOOL_SRXCSUM ...
#define ETHTOOL_GSG ...
#define ETHTOOL_SSG ...
#define ETHTOOL_GGRO ...
#define ETHTOOL_SGRO ...
"""
CDEF = header_cdef("packet.h") + ETHTOOL_BORROWED

ffibuilder = make_ffibuilder(
    "_packet",
    CDEF,
    list(PACKET_SOURCES),
    '#include "packet.h"\n#include <linux/ethtool.h>',
)

if __name__ == "__main__":
    compile_in_place(ffibuilder)
