"""The documentation builds with Sphinx, warnings as errors (``make docs`` builds HTML).

The dummy builder reads every page and docstring and resolves every reference, as the
HTML build does, without writing pages: the same warnings in about half the time.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.pages import DOCS

for _module in ("sphinx", "myst_parser", "furo"):
    pytest.importorskip(_module, reason="the docs extra is not installed (pip install .[docs])")


def _build(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "sphinx", "-b", "dummy", "-W", "--keep-going", "-q"]
    argv += ["-d", str(tmp_path / "doctrees"), *extra, str(DOCS), str(tmp_path / "out")]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)


def test_docs_build_without_warnings(tmp_path: Path) -> None:
    proc = _build(tmp_path)
    assert proc.returncode == 0, proc.stderr


def test_every_page_is_in_the_table_of_contents() -> None:
    index = (DOCS / "index.md").read_text()
    pages = {path.stem for path in DOCS.glob("*.md")} - {"index"}
    assert {page for page in pages if f"\n{page}\n" not in index} == set()


def test_readme_links_every_page() -> None:
    readme = (DOCS.parent / "README.md").read_text()
    pages = {path.name for path in DOCS.glob("*.md")} - {"index.md"}
    assert {page for page in pages if f"(docs/{page})" not in readme} == set()
