"""Each compiled cffi module against what declares it: the typed stub (``_<name>.pyi``)
names exactly what the module exports, with the C arity and the kind of result, and every
C file of the package is compiled into exactly one module."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import aionetmap._native
from aionetmap._native import build_fast, build_netmap, build_packet, build_ring

NATIVE = Path(aionetmap._native.__file__).resolve().parent
MODULES = ["_fast", "_netmap", "_packet", "_ring"]
BUILDERS = [build_fast, build_netmap, build_packet, build_ring]

# How a stub spells the result of each kind of C result type.
RESULT = {"void": "None", "primitive": "int", "pointer": "_CData"}


def stub_lib(module: str) -> ast.ClassDef:
    tree = ast.parse((NATIVE / f"{module}.pyi").read_text())
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "_Lib"]
    return cls


def stub_functions(module: str) -> dict[str, ast.FunctionDef]:
    return {n.name: n for n in stub_lib(module).body if isinstance(n, ast.FunctionDef)}


def stub_constants(module: str) -> dict[str, str]:
    return {
        n.target.id: ast.unparse(n.annotation)
        for n in stub_lib(module).body
        if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
    }


def compiled(module: str) -> ModuleType:
    return importlib.import_module(f"aionetmap._native.{module}")


def c_function_type(mod: ModuleType, name: str) -> Any:
    return mod.ffi.typeof(mod.ffi.addressof(mod.lib, name))


@pytest.mark.parametrize("module", MODULES)
def test_stub_names_match_the_compiled_lib(module: str) -> None:
    lib = compiled(module).lib
    declared = set(stub_functions(module)) | set(stub_constants(module))
    assert declared == set(dir(lib))


@pytest.mark.parametrize("module", MODULES)
def test_stub_constants_are_the_ints_the_lib_has(module: str) -> None:
    lib = compiled(module).lib
    for name, annotation in stub_constants(module).items():
        assert annotation == "int", name
        assert isinstance(getattr(lib, name), int), name


@pytest.mark.parametrize("module", MODULES)
def test_stub_functions_take_the_c_arity_and_give_its_result(module: str) -> None:
    mod = compiled(module)
    for name, fn in stub_functions(module).items():
        ctype = c_function_type(mod, name)
        assert ctype.kind == "function", name
        params = fn.args.posonlyargs + fn.args.args
        assert [a.arg for a in params[:1]] == ["self"], name
        assert not fn.args.args[1:], f"{name}: positional only"
        assert not fn.args.kwonlyargs, f"{name}: positional only"
        assert len(params) - 1 == len(ctype.args), name
        assert fn.returns is not None, name
        assert ast.unparse(fn.returns) == RESULT[ctype.result.kind], name


def test_the_fast_module_exports_one_build_function_per_family() -> None:
    """One UDP build loop per family: the per-datagram-MAC builder is gone, build_to (IPv4)
    and udp6_build_to (IPv6) are the only ones."""
    funcs = set(stub_functions("_fast"))
    assert {f for f in funcs if "build" in f} == {"fast_udp_build_to", "fast_udp6_build_to"}
    assert len(c_function_type(compiled("_fast"), "fast_udp_build_to").args) == 15
    assert len(c_function_type(compiled("_fast"), "fast_udp6_build_to").args) == 14


def test_every_c_file_is_compiled_into_exactly_one_module() -> None:
    seen: dict[str, list[str]] = {}
    for builder in BUILDERS:
        module, _, _, kwds = builder.ffibuilder._assigned_source
        for source in kwds["sources"]:
            seen.setdefault(Path(source).name, []).append(module)
    assert {name: len(mods) for name, mods in seen.items()} == {
        p.name: 1 for p in NATIVE.glob("*.c") if not p.name.startswith("_")
    }
