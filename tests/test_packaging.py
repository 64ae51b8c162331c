"""Packaging facts the wheel smoke test (scripts/wheel-smoke.sh, run by `make test`) relies on."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

import aionetmap

ROOT = Path(__file__).resolve().parents[1]


def test_the_version_has_one_source() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    dynamic = project["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "aionetmap.__version__"}
    assert importlib.metadata.version("aionetmap") == aionetmap.__version__


def test_every_subpackage_is_packaged() -> None:
    # Found, not listed: a new subpackage cannot be left out of the wheel.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["tool"]["setuptools"]["packages"]["find"]["include"] == [
        "aionetmap",
        "aionetmap.*",
    ]


def test_make_test_runs_the_wheel_smoke_test() -> None:
    makefile = (ROOT / "Makefile").read_text()
    test_line = next(line for line in makefile.splitlines() if line.startswith("test:"))
    assert "wheel-smoke" in test_line.split()
    assert (ROOT / "scripts" / "wheel-smoke.sh").stat().st_mode & 0o111
