"""Sphinx configuration of the aionetmap documentation (``make docs``)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aionetmap  # noqa: E402  (after the path is set)

project = "aionetmap"
author = "aionetmap developers"
copyright = "aionetmap developers"
release = aionetmap.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
# Modules are documented for their docstring; classes with ``:members:`` where wanted.
autodoc_default_options = {"show-inheritance": True}
# Docstrings use ``text`` for code and single backticks only for roles.
default_role = "literal"

html_theme = "furo"
html_title = f"aionetmap {release}"
html_static_path: list[str] = []
