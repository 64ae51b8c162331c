"""The parser's cursor: one left-to-right pass over a spec, the fields it has found so far,
and :meth:`Cursor.build`, which turns them into a :class:`PortSpec`."""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Literal

from aionetmap.portspec.errors import PortSpecError
from aionetmap.portspec.spec import NR_REG_ALL_NIC, PortSpec, Subsystem

__all__ = ["DIGITS", "Cursor"]

DIGITS = re.compile(r"[0-9]*")

_HINTS = ("tx_rings", "rx_rings", "host_tx_rings", "host_rx_rings", "tx_slots", "rx_slots")
_BOTH = {
    "rings": ("tx_rings", "rx_rings"),
    "host_rings": ("host_tx_rings", "host_rx_rings"),
    "slots": ("tx_slots", "rx_slots"),
}


class Cursor:
    """One left-to-right pass over a spec; ``pos`` only moves forward. The grammar mixins
    (:mod:`._netmap`, :mod:`._own`, :mod:`._options`) add the rules."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.subsystem: Subsystem = "netmap"
        self.nr_name = ""
        self.mode, self.ringid, self.flags, self.mem_id = NR_REG_ALL_NIC, 0, 0, 0
        self.conf: dict[str, int] = {}
        self.share: str | None = None
        self.pipe: tuple[str, str, Literal["a", "b"]] | None = None

    def parse(self) -> PortSpec:
        """Parse the whole spec (the composed parser dispatches on its subsystem)."""
        raise NotImplementedError

    def build(self) -> PortSpec:
        hints = {key: 0 for key in _HINTS}
        # As libnetmap: "rings"/"slots" first, so that tx-slots etc. override them.
        for key, targets in _BOTH.items():
            for target in targets if key in self.conf else ():
                hints[target] = self.conf[key]
        hints.update((key, self.conf[key]) for key in _HINTS if key in self.conf)
        parent, pipe_id, end = self.pipe or (None, None, None)
        return PortSpec(
            text=self.text,
            subsystem=self.subsystem,
            nr_name=self.nr_name,
            nr_mode=self.mode,
            nr_ringid=self.ringid,
            nr_flags=self.flags,
            nr_mem_id=self.mem_id,
            conf=MappingProxyType(self.conf),
            share=self.share,
            pipe_parent=parent,
            pipe_id=pipe_id,
            pipe_end=end,
            **hints,
        )

    def fail(self, reason: str, at: int | None = None) -> PortSpecError:
        return PortSpecError(self.text, self.pos if at is None else at, reason)

    def peek(self, ahead: int = 0) -> str:
        return self.text[self.pos + ahead : self.pos + ahead + 1]

    def take(self, pattern: re.Pattern[str]) -> str:
        m = pattern.match(self.text, self.pos)
        assert m is not None  # every pattern here matches the empty string
        self.pos = m.end()
        return m.group()

    def number(self, what: str, low: int, high: int) -> int:
        at = self.pos
        digits = self.take(DIGITS)
        if not digits:
            raise self.fail(f"expected {what}")
        value = int(digits)
        if not low <= value <= high:
            raise self.fail(f"{what} {value} out of range {low}..{high}", at)
        return value
