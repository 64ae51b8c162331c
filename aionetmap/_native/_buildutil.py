"""Shared plumbing for the ``build_*.py`` cffi builders (build time only, never imported).

Each builder owns one out-of-line API-mode module, compiled from real C sources and
headers in this folder. What cffi sees of a module (its cdef) is taken from the module's
own headers, between ``/* cffi: begin */`` and ``/* cffi: end */`` markers
(:func:`header_cdef`), so each declaration is written once, in C; only what a header
borrows from elsewhere (a system header, another module's header) is listed by the
builder. ``netmap.cdef`` is the one hand-written file: the ABI module mirrors the netmap
headers with every size and value left to the compiler ("..."), for the ABI test.
Keeping one module per concern lets each native part be rebuilt and tested alone.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import cffi

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

# Warnings we want to see while developing; no -Werror so an unknown compiler does not
# refuse to build a user's install.
CFLAGS = ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fno-strict-aliasing"]

_REGION = re.compile(r"/\* cffi: begin \*/(.*?)/\* cffi: end \*/", re.DOTALL)
_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.DOTALL)
_DEFINE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+(\w+)[ \t]*(.*?)[ \t]*$", re.MULTILINE)
_NOT_DEFINE = re.compile(r"^[ \t]*#(?![ \t]*define\b)")
_INT_LITERAL = re.compile(r"(0[xX][0-9a-fA-F]+|\d+)[uUlL]*")


def header_cdef(header: str) -> str:
    """The declarations between the cffi markers of ``header``, as cffi accepts them.

    Comments go; a ``#define`` keeps its value when it is a plain integer literal (so it
    can size an array) and becomes ``...`` (the compiler's value) otherwise. Any other
    preprocessor line between the markers is an error: cffi would not understand it.
    """
    return cdef_from_text((HERE / header).read_text(), header)


def cdef_from_text(text: str, header: str = "<text>") -> str:
    """:func:`header_cdef` of a header's text (``header`` names it in errors)."""
    regions = _REGION.findall(text)
    if not regions:
        raise ValueError(f"{header}: no /* cffi: begin */ ... /* cffi: end */ region")
    body = _COMMENT.sub("", "\n".join(regions))

    def define(match: re.Match[str]) -> str:
        name, value = match.groups()
        return f"#define {name} {value if _INT_LITERAL.fullmatch(value) else '...'}"

    stray = [line for line in body.splitlines() if _NOT_DEFINE.match(line)]
    if stray:
        raise ValueError(f"{header}: only #define may stand between the cffi markers: {stray}")
    return _DEFINE.sub(define, body)


def make_ffibuilder(module: str, cdef: str, sources: list[str], prelude: str) -> cffi.FFI:
    """Return an FFI that compiles ``aionetmap._native.<module>`` from files in this folder.

    ``cdef`` is the declarations text cffi sees (usually :func:`header_cdef` of the
    module's headers), ``sources`` the C files compiled with it, and ``prelude`` the C
    text placed before cffi's generated code (usually ``#include``s).
    """
    builder = cffi.FFI()
    builder.cdef(cdef)
    builder.set_source(
        f"aionetmap._native.{module}",
        prelude,
        # Relative to ROOT (both builds run there): with absolute paths distutils mirrors
        # them under the build dir and drops objects in ROOT/work/main/... .
        sources=[str((HERE / name).relative_to(ROOT)) for name in sources],
        include_dirs=[str(HERE)],
        extra_compile_args=CFLAGS,
        depends=[str(p) for p in sorted(HERE.glob("*.h"))],
    )
    return builder


def compile_in_place(builder: cffi.FFI) -> None:
    """Build the module into the source tree (``python aionetmap/_native/build_x.py``)."""
    out = builder.compile(tmpdir=str(ROOT), verbose="-v" in sys.argv)
    print(out)
