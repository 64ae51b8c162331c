"""The code examples of the documentation pages (docs/*.md), as the tests run them.

Every fenced ``python`` block on a page is an example. The comment line right above a
block (MyST's ``%`` comments are not rendered) says how it runs:

- no comment: a complete program, run as a script; it must exit with status 0;
- ``% example: as-is``: the same, without replacing interface names: for code that only
  parses portspecs and opens nothing (on a machine without netmap an open would fail);
- ``% example: serve IP:PORT``: a UDP server that runs until interrupted; the test sends it
  datagrams from the other end of its pipe and expects each back unchanged;
- ``% example: pytest``: a test module, run with pytest, which must pass;
- ``% example: skip REASON``: shown only (a reason is required, and such blocks are few).

Network interfaces in the code are replaced by the ends of one software pipe: ``eth0``
(``netmap:eth0``, ``packet:eth0``) by end a, ``eth1`` by end b, as if a cable joined the
two NICs; so every example runs without a NIC, netmap or root. A ``serve`` example gets
its datagrams through end b.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DOCS", "Example", "examples", "on_pipes", "shell_lines"]

DOCS = Path(__file__).resolve().parents[2] / "docs"

_FENCE = re.compile(r"^(`{3,})\s*(\S*)\s*$")
_MARK = re.compile(r"^%\s*example:\s*([\w-]+)\s*(.*?)\s*$")
_NIC = re.compile(r"\b(?:netmap|packet):eth([01])(?![-\w^*{}/@])")
MODES = ("run", "as-is", "serve", "pytest", "skip")


@dataclass(frozen=True)
class Example:
    """One ``python`` block of a page."""

    page: str
    line: int  # of the first line of code, 1-based
    code: str
    mode: str
    arg: str  # serve: IP:PORT; skip: the reason

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def _blocks(path: Path) -> list[tuple[int, str, str, str]]:
    """(first code line, language, code, the marker line above the fence or '')."""
    lines = path.read_text().splitlines()
    found = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, lang = match.groups()
        prev = next((ln for ln in reversed(lines[:i]) if ln.strip()), "")
        end = i + 1
        while end < len(lines) and lines[end].strip() != fence:
            end += 1
        found.append((i + 2, lang, "\n".join(lines[i + 1 : end]) + "\n", prev))
        i = end + 1
    return found


def examples() -> list[Example]:
    """Every python example of every page, in page order."""
    result = []
    for path in sorted(DOCS.glob("*.md")):
        for line, lang, code, prev in _blocks(path):
            if lang != "python":
                continue
            mark = _MARK.match(prev)
            mode, arg = mark.groups() if mark else ("run", "")
            if mode not in MODES:
                raise ValueError(f"{path.name}:{line}: unknown example mode {mode!r}")
            result.append(Example(path.name, line, code, mode, arg))
    return result


def shell_lines(page: str) -> list[str]:
    """The command lines of the ``sh`` blocks of ``page``, comments stripped."""
    commands = []
    for _, lang, code, _ in _blocks(DOCS / page):
        if lang in ("sh", "console", "shell"):
            for raw in code.splitlines():
                text = raw.split("  #", 1)[0].strip()
                if text and not text.startswith("#"):
                    commands.append(text)
    return commands


def on_pipes(code: str, name: str) -> str:
    """``code`` with ``eth0`` and ``eth1`` replaced by the ends of the pipe ``NAME``."""
    return _NIC.sub(lambda m: f"pipe:{name}{'{}'[int(m.group(1))]}0", code)
