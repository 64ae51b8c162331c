"""The package's layers, read from the import statements of every module (ast, so imports
under ``TYPE_CHECKING`` and inside functions count too).

Calls go one way: native -> ports -> stack -> protocols -> glue -> transports -> public API
-> CLI. A module may import its own layer and the layers below it, never one above; upward
calls go through the contracts in ``aionetmap.protocol``. See the README's "Layout".
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "aionetmap"

LAYERS: list[tuple[str, ...]] = [
    ("aionetmap._native",),
    ("aionetmap.portspec",),
    ("aionetmap.ports",),
    ("aionetmap.stack",),
    ("aionetmap.protocol",),
    ("aionetmap._aio",),
    ("aionetmap.transport",),
    ("aionetmap.interface",),
    ("aionetmap.endpoints", "aionetmap.sockets", "aionetmap.loop_routing"),
    ("aionetmap",),  # the package's __init__ only: the public names
    ("aionetmap.cli", "aionetmap.__main__"),
]
"""Bottom first. ``aionetmap.testing`` (test helpers: veth pairs, namespaces, the pytest
plugin) stands beside them: see TESTING_MAY_IMPORT."""

TESTING = "aionetmap.testing"
TESTING_MAY_IMPORT = ("aionetmap.portspec", "aionetmap.ports", "aionetmap.stack", TESTING)
"""The test helpers reach the kernel through the ports, not through ``_native``."""

FFI_USERS = ("aionetmap._native", "aionetmap.ports")
"""The only packages that touch cffi's ``lib``/``ffi`` (the compiled ``_native._*``)."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {
    _module_name(path): path
    for path in sorted(PACKAGE.rglob("*.py"))
    if not path.name.startswith("build_")  # cffi build scripts, run by setup.py only
}


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _layer(name: str) -> int | None:
    """Index in LAYERS of the longest prefix that holds ``name``."""
    best: tuple[int, int] | None = None
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            held = name == prefix if prefix == "aionetmap" else _within(name, prefix)
            if held and (best is None or len(prefix) > best[0]):
                best = (len(prefix), index)
    return None if best is None else best[1]


def _imports(path: Path) -> Iterator[str]:
    """Every aionetmap module ``path`` imports (a submodule when it names one)."""
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield sub if sub in MODULES or sub.startswith("aionetmap._native._") else base


def _graph() -> dict[str, set[str]]:
    return {
        name: {dep for dep in _imports(path) if _within(dep, "aionetmap") and dep != name}
        for name, path in MODULES.items()
    }


GRAPH = _graph()


def test_every_module_has_a_layer() -> None:
    assert len(MODULES) > 60
    assert [name for name in MODULES if _layer(name) is None and not _within(name, TESTING)] == []


@pytest.mark.parametrize("name", sorted(n for n in GRAPH if not _within(n, TESTING)))
def test_imports_go_down_only(name: str) -> None:
    own = _layer(name)
    assert own is not None
    upward = [dep for dep in sorted(GRAPH[name]) if (_layer(dep) or 0) > own]
    assert upward == [], f"{name} (layer {LAYERS[own][0]}) imports layers above it"


def test_the_library_never_imports_the_cli_or_the_test_helpers() -> None:
    library = [n for n in GRAPH if not _within(n, "aionetmap.cli") and not _within(n, TESTING)]
    library.remove("aionetmap.__main__")
    bad = {
        name: sorted(
            dep for dep in GRAPH[name] if _within(dep, "aionetmap.cli") or _within(dep, TESTING)
        )
        for name in library
    }
    assert {name: deps for name, deps in bad.items() if deps} == {}


def test_the_test_helpers_reach_the_kernel_through_the_ports() -> None:
    bad = {
        name: sorted(d for d in deps if not any(_within(d, p) for p in TESTING_MAY_IMPORT))
        for name, deps in GRAPH.items()
        if _within(name, TESTING)
    }
    assert {name: deps for name, deps in bad.items() if deps} == {}


def test_only_native_and_ports_touch_cffi() -> None:
    users = {
        name
        for name, path in MODULES.items()
        for dep in _imports(path)
        if dep.startswith("aionetmap._native._") or dep.split(".")[0] in ("cffi", "_cffi_backend")
    }
    outside = sorted(u for u in users if not any(_within(u, p) for p in FFI_USERS))
    assert outside == []


def test_no_import_cycles() -> None:
    # Depth-first search over the whole graph, TYPE_CHECKING imports included.
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []
    cycles: list[list[str]] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for dep in sorted(GRAPH.get(name, ())):
            if state.get(dep) == 1:
                cycles.append([*path[path.index(dep) :], dep])
            elif dep not in state:
                visit(dep)
        path.pop()
        state[name] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name)
    assert cycles == []


def test_the_layer_table_names_real_modules() -> None:
    for prefixes in LAYERS:
        for prefix in prefixes:
            assert any(_within(name, prefix) for name in MODULES), prefix
