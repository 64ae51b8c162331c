"""aionetmap's own subsystems: ``pipe:NAME{ID``/``pipe:NAME}ID`` (the software pipe) and
``packet:IFNAME`` (AF_PACKET). Plain names, no netmap ring modes or flags; only ``@conf``."""

from __future__ import annotations

import re

from aionetmap.portspec._options import OptionsGrammar
from aionetmap.portspec.spec import IFNAME_MAX, PIPE_NAME_MAX, PortSpec, Subsystem

__all__ = ["OwnGrammar"]

_OWN_NAME = re.compile(r"[A-Za-z0-9_.-]*")  # pipe: names and ids, packet: interfaces


class OwnGrammar(OptionsGrammar):
    """``pipe:`` and ``packet:`` specs."""

    def own(self, subsystem: Subsystem) -> PortSpec:
        self.subsystem = subsystem
        self.pos = name_at = len(subsystem) + 1
        if not self.take(_OWN_NAME):
            raise self.fail(f"empty {'pipe' if subsystem == 'pipe' else 'interface'} name")
        if subsystem == "pipe":
            self.own_pipe(name_at)
        elif self.pos - name_at > IFNAME_MAX:
            raise self.fail(f"interface name longer than {IFNAME_MAX} characters", name_at)
        if self.pos < len(self.text) and self.peek() != "@":
            raise self.fail(
                f"character {self.peek()!r} is not allowed here "
                f"({subsystem}: ports have no netmap ring modes or flags)"
            )
        self.nr_name = self.text[name_at : self.pos]
        if len(self.nr_name) > PIPE_NAME_MAX:
            raise self.fail(f"pipe name longer than {PIPE_NAME_MAX} characters", name_at)
        self.options()
        return self.build()

    def own_pipe(self, name_at: int) -> None:
        brace = self.peek()
        if brace not in ("{", "}"):
            raise self.fail("a pipe: spec is NAME{ID (end a) or NAME}ID (end b)")
        name = self.text[name_at : self.pos]
        self.pos += 1
        pipe_id = self.take(_OWN_NAME)
        if not pipe_id:
            raise self.fail("empty pipe id after the brace")
        self.pipe = (name, pipe_id, "a" if brace == "{" else "b")
