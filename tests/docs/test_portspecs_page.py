"""Every portspec and suffix the portspecs page shows is one the parser accepts."""

from __future__ import annotations

import re

import pytest

from aionetmap.ports import parse_portspec
from aionetmap.portspec import PortSpecError
from tests.docs.pages import DOCS

_CELL = re.compile(r"`([^`]+)`")
_PLACEHOLDERS = {"NAME": "lab", "ID": "0", "PORTSPEC": "netmap:eth1", ",...": ""}


def _first_cells() -> list[list[str]]:
    """The code spans of each table row's first cell."""
    rows = []
    for line in (DOCS / "portspecs.md").read_text().splitlines():
        if line.startswith("| `"):
            rows.append(_CELL.findall(line.split("|")[1]))
    return rows


def _concrete(shown: str) -> str:
    for placeholder, value in _PLACEHOLDERS.items():
        shown = shown.replace(placeholder, value)
    return re.sub(r"=N\b", "=2", shown).replace("@N", "@2")


def _specs() -> list[str]:
    specs = []
    for cell in _first_cells():
        for shown in cell:
            text = _concrete(shown)
            specs.append(text if ":" in text.split("@")[0] else f"netmap:eth0{text}")
    return specs


def test_the_page_shows_names_and_suffixes() -> None:
    assert len(_specs()) >= 18


@pytest.mark.parametrize("spec", _specs())
def test_shown_spec_parses(spec: str) -> None:
    parsed = parse_portspec(spec)
    assert parsed.text == spec


@pytest.mark.parametrize("key", ["rings", "tx-rings", "rx-rings", "host-rings", "host-tx-rings",
                                 "host-rx-rings", "slots", "tx-slots", "rx-slots"])  # fmt: skip
def test_conf_keys_parse(key: str) -> None:
    assert parse_portspec(f"netmap:eth0@conf:{key}=4").conf


_OWN_OPTIONS = (
    "pipe:lab{0@conf:slots=4096,buf-size=4096",
    "packet:eth0@conf:rx-frames=64,tx-slots=64,frame-size=4096,sndbuf=65536",
)


@pytest.mark.parametrize("spec", _OWN_OPTIONS)
def test_own_options_parse(spec: str) -> None:
    assert parse_portspec(spec).conf


@pytest.mark.parametrize("spec", ["netmap:eth0@extmem:file=/x", "netmap:eth0@offset=8"])
def test_refused_options_are_refused(spec: str) -> None:
    with pytest.raises(PortSpecError):
        parse_portspec(spec)
