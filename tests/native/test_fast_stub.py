"""The typed stub _fast.pyi declares exactly what the compiled _fast module exports."""

from __future__ import annotations

import ast
from pathlib import Path

import aionetmap._native
from aionetmap._native._fast import lib

STUB = Path(aionetmap._native.__file__).resolve().parent / "_fast.pyi"


def _stub_lib_names() -> set[str]:
    tree = ast.parse(STUB.read_text())
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "_Lib"]
    names = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
    names |= {
        n.target.id
        for n in cls.body
        if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
    }
    return names


def test_stub_names_match_the_compiled_lib() -> None:
    assert _stub_lib_names() == set(dir(lib))


def test_stub_functions_take_the_c_arity() -> None:
    tree = ast.parse(STUB.read_text())
    arity = {
        n.name: len(n.args.posonlyargs) + len(n.args.args) - 1  # minus self
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef)
    }
    assert arity == {
        "fast_inet_checksum": 3,
        "fast_classify": 8,
        "fast_udp_build_to": 15,
        "fast_payload_format": 4,
    }
