"""The cdef of each cffi module is taken from its C headers (``_buildutil.header_cdef``):
each declaration is written once, in C, and what the builder hands cffi is checked here."""

from __future__ import annotations

import cffi
import pytest

from aionetmap._native import build_fast, build_packet, build_ring
from aionetmap._native._buildutil import cdef_from_text, header_cdef

HEADER = """
#ifndef X_H
#define X_H
#include <stdint.h>
/* cffi: begin */
#define X_SIZE 16 /* sizes an array, so it keeps its value */
#define X_FLAG 0x10u
#define X_ERROR (-1)
enum { X_A = 1, X_B = 2 }; // both values stay
struct x_state {
    uint8_t bytes[X_SIZE]; /* comment */
    struct opaque *peer;
};
int x_call(struct x_state *s, uint32_t n);
/* cffi: end */
static inline int x_private(void) { return 0; }
/* cffi: begin */
#define X_LATE SOMETHING_ELSE
/* cffi: end */
#endif
"""


def test_only_the_marked_regions_are_taken_and_defines_made_cffi_friendly() -> None:
    cdef = cdef_from_text(HEADER)
    assert "#define X_SIZE 16\n" in cdef
    assert "#define X_FLAG 0x10u\n" in cdef
    assert "#define X_ERROR ...\n" in cdef
    assert "#define X_LATE ...\n" in cdef
    assert "x_private" not in cdef
    assert "#include" not in cdef
    assert "/*" not in cdef
    assert "//" not in cdef


def test_the_result_is_a_cdef_cffi_accepts() -> None:
    ffi = cffi.FFI()
    ffi.cdef(cdef_from_text(HEADER.replace("#define X_LATE SOMETHING_ELSE", "")))
    assert ffi.sizeof("struct x_state") == 16 + ffi.sizeof("void *")
    lib = ffi.dlopen(None)  # constants only; no function is looked up
    names = ("X_A", "X_B", "X_SIZE", "X_FLAG")
    assert [getattr(lib, name) for name in names] == [1, 2, 16, 16]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("#define X 1\nint f(void);\n", "no /\\* cffi: begin"),
        ("/* cffi: begin */\n#ifdef X\nint f(void);\n#endif\n/* cffi: end */", "only #define"),
        ("/* cffi: begin */\n#include <x.h>\n/* cffi: end */", "only #define"),
    ],
)
def test_what_cffi_cannot_read_is_refused(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        cdef_from_text(text, "x.h")


@pytest.mark.parametrize("header", ["fast.h", "ring.h", "pipe.h", "batchfmt.h", "packet.h"])
def test_each_module_header_has_a_region(header: str) -> None:
    assert header_cdef(header).strip()


def test_the_builders_hand_cffi_the_headers_declarations() -> None:
    """No hand-written copy: each builder's cdef is its headers' regions plus what they
    borrow from elsewhere (a few constants of the netmap ABI header or the system's)."""
    assert header_cdef("fast.h") + build_fast.BATCHFMT_BORROWED == build_fast.CDEF
    assert header_cdef("packet.h") + build_packet.ETHTOOL_BORROWED == build_packet.CDEF
    ring_headers = "".join(map(header_cdef, ("ring.h", "pipe.h", "batchfmt.h")))
    assert build_ring.NETMAP_BORROWED + ring_headers == build_ring.CDEF
    borrowed = [
        build_fast.BATCHFMT_BORROWED,
        build_packet.ETHTOOL_BORROWED,
        build_ring.NETMAP_BORROWED,
    ]
    for text in borrowed:
        lines = [line for line in text.splitlines() if line.strip()]
        assert lines
        assert all(line.startswith("#define ") and line.endswith(" ...") for line in lines)
