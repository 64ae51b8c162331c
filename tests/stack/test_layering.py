"""The stack stands alone: no asyncio, no cffi, nothing of aionetmap outside aionetmap.stack."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "aionetmap" / "stack"
FORBIDDEN = ("asyncio", "uvloop", "cffi", "_cffi_backend", "socket", "selectors")

# Run in a clean, isolated interpreter. The parent package is replaced by an empty stub so
# that only the stack's own imports are measured, whatever aionetmap/__init__.py grows into.
_PROBE = """
import importlib, json, pkgutil, sys, types
sys.path.insert(0, {root!r})
stub = types.ModuleType("aionetmap")
stub.__path__ = [{pkg!r}]
sys.modules["aionetmap"] = stub
before = set(sys.modules)
import aionetmap.stack
for info in pkgutil.iter_modules(aionetmap.stack.__path__, "aionetmap.stack."):
    importlib.import_module(info.name)
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_importing_the_stack_pulls_in_no_io_or_native_code() -> None:
    code = _PROBE.format(root=str(ROOT), pkg=str(ROOT / "aionetmap"))
    out = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = json.loads(out.stdout)
    assert any(name == "aionetmap.stack.host" for name in loaded)
    assert not [m for m in loaded if m.split(".")[0] in FORBIDDEN]
    outside = [
        m for m in loaded if m.startswith("aionetmap.") and not m.startswith("aionetmap.stack")
    ]
    assert outside == []


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: use absolute imports"
            names.append(node.module or "")
    return names


def test_every_import_statement_stays_inside_the_stack_or_the_stdlib() -> None:
    # Catches imports inside functions too, which the runtime probe would not execute.
    files = sorted(STACK.glob("*.py"))
    assert len(files) > 10
    for path in files:
        for name in _imports(path):
            top = name.split(".")[0]
            assert top not in FORBIDDEN, f"{path.name} imports {name}"
            if top == "aionetmap":
                assert name.startswith("aionetmap.stack"), f"{path.name} imports {name}"
            else:
                assert top in sys.stdlib_module_names or top == "__future__", (
                    f"{path.name} imports third-party {name}"
                )
