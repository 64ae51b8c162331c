"""The ``netmap:`` and ``vale<ID>:`` grammar, as libnetmap reads it: the prefix, the kernel
port name (with a netmap pipe's brace), the ring mode, ``@N`` memory ids and ``/FLAGS``."""

from __future__ import annotations

import re

from aionetmap.portspec._options import OptionsGrammar
from aionetmap.portspec.spec import (
    NAME_MAX,
    NR_EXCLUSIVE,
    NR_MONITOR_RX,
    NR_MONITOR_TX,
    NR_REG_ALL_NIC,
    NR_REG_NIC_SW,
    NR_REG_ONE_NIC,
    NR_REG_ONE_SW,
    NR_REG_SW,
    NR_RX_RINGS_ONLY,
    NR_TX_RINGS_ONLY,
    NR_ZCOPY_MON,
    RING_LIMIT,
    VALE_PART_MAX,
    PortSpec,
)

__all__ = ["NetmapGrammar"]

_FLAGS = {
    "x": NR_EXCLUSIVE,
    "z": NR_ZCOPY_MON,
    "t": NR_MONITOR_TX,
    "r": NR_MONITOR_RX,
    "R": NR_RX_RINGS_ONLY,
    "T": NR_TX_RINGS_ONLY,
}
_IDENT = re.compile(r"[A-Za-z0-9_]*")  # libnetmap's identifier (switch names, pipe ids)
_NAME = re.compile(r"[A-Za-z0-9_.]*")  # interface and VALE port names


def _digit(c: str) -> bool:
    return c != "" and c in "0123456789"


class NetmapGrammar(OptionsGrammar):
    """``netmap:NAME[MODE][OPTIONS]`` and ``vale[ID]:PORT[MODE][OPTIONS]``."""

    def netmap(self) -> PortSpec:
        start = self.prefix()
        name_at = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in "-*^/@":
            self.pos += 1
        self.kernel_name(start, name_at)
        self.ring_mode()
        self.suffixes()
        self.options()
        return self.build()

    def prefix(self) -> int:
        """Consume ``netmap:`` or ``vale<ID>:``; return where the kernel name starts."""
        if self.text.startswith("netmap"):
            self.pos = len("netmap")
            if self.peek() != ":":
                if ":" in self.text:
                    raise self.fail("no identifier is allowed between 'netmap' and ':'")
                raise self.fail("missing ':' after 'netmap'")
            self.pos += 1
            return self.pos
        self.subsystem = "vale"
        self.pos = len("vale")
        self.take(_IDENT)
        if self.peek() != ":":
            if self.pos == len(self.text):
                raise self.fail("missing ':' after the VALE switch name")
            raise self.fail("a VALE switch name is 'vale' plus letters, digits and '_'")
        if self.pos > VALE_PART_MAX:
            raise self.fail(f"VALE switch name longer than {VALE_PART_MAX} characters", 0)
        self.pos += 1
        return 0  # the kernel wants the whole "valeX:port"

    def kernel_name(self, start: int, name_at: int) -> None:
        name = self.text[name_at : self.pos]
        braces = [i for i in (name.find("{"), name.find("}")) if i >= 0]
        brace = min(braces, default=len(name))
        valid = _NAME.match(name, 0, brace)
        assert valid is not None
        if valid.end() < brace:
            at = name_at + valid.end()
            if self.text[at] == ":":
                raise self.fail("':' in a port name (VALE ports are written vale0:PORT)", at)
            raise self.fail(f"character {self.text[at]!r} is not allowed in a port name", at)
        if not name:
            raise self.fail("empty port name", name_at)
        if brace < len(name):
            self.netmap_pipe(name, brace, name_at)
        if self.subsystem == "vale" and brace > VALE_PART_MAX:
            raise self.fail(f"VALE port name longer than {VALE_PART_MAX} characters", name_at)
        self.nr_name = self.text[start : self.pos]
        if len(self.nr_name.encode()) > NAME_MAX:
            raise self.fail(f"port name longer than {NAME_MAX} bytes", start)

    def netmap_pipe(self, name: str, brace: int, name_at: int) -> None:
        id_at = name_at + brace + 1
        pipe_id = name[brace + 1 :]
        if brace == 0:
            raise self.fail("a pipe needs a parent port name before the brace", name_at)
        if not pipe_id:
            raise self.fail("empty pipe id after the brace", id_at)
        valid = _IDENT.match(pipe_id)
        assert valid is not None
        if valid.end() < len(pipe_id):
            raise self.fail("a pipe id has only letters, digits and '_'", id_at + valid.end())
        parent = self.text[: name_at + brace] if self.subsystem == "vale" else name[:brace]
        self.pipe = (parent, pipe_id, "a" if name[brace] == "{" else "b")

    def ring_mode(self) -> None:
        c, at = self.peek(), self.pos
        if c == "-":
            self.pos += 1
            self.mode = NR_REG_ONE_NIC
            self.ringid = self.number("a ring number after '-'", 0, RING_LIMIT - 1)
        elif c == "^":
            self.pos += 1
            self.mode = NR_REG_SW
            if _digit(self.peek()):
                self.mode = NR_REG_ONE_SW
                self.ringid = self.number("a host ring number", 0, RING_LIMIT - 1)
        elif c == "*":
            self.pos += 1
            self.mode = NR_REG_NIC_SW
        if self.pipe and self.mode not in (NR_REG_ALL_NIC, NR_REG_ONE_NIC):
            raise self.fail("a netmap pipe has no host rings: use no mode or -N", at)

    def suffixes(self) -> None:
        """``@N`` memory ids and ``/FLAGS``, in any order, up to the first option."""
        while self.pos < len(self.text):
            c = self.peek()
            if c == "/":
                self.pos += 1
                if self.pos == len(self.text) or self.peek() == "@":
                    raise self.fail("expected flag letters (x z t r R T) after '/'")
                while self.pos < len(self.text) and self.peek() != "@":
                    bit = _FLAGS.get(self.peek())
                    if bit is None:
                        raise self.fail(f"unknown flag {self.peek()!r} (known: x z t r R T)")
                    self.flags |= bit
                    self.pos += 1
            elif c == "@" and _digit(self.peek(1)):
                self.pos += 1
                at = self.pos
                mem_id = self.number("memory id", 1, 0xFFFF)
                if self.mem_id and mem_id != self.mem_id:
                    raise self.fail(f"memory id {mem_id} conflicts with @{self.mem_id}", at)
                self.mem_id = mem_id
            elif c == "@":
                if self.pos + 1 == len(self.text):
                    raise self.fail("expected a memory id or an option after '@'", self.pos + 1)
                return  # options start here
            else:
                raise self.fail(f"unexpected {c!r} (ring modes -N ^ ^N * come first)")
