"""The portspec parser: one class, :class:`PortSpecParser`, making one left-to-right pass.

Its methods come in four groups: the cursor (``_peek``, ``_take``, ``_number``, ``_fail``
and ``_build``, which turns the fields found into a :class:`PortSpec`); the ``netmap:`` and
``vale<ID>:`` grammar as libnetmap reads it (the prefix, the kernel port name with a netmap
pipe's brace, the ring mode, ``@N`` memory ids and ``/FLAGS``); aionetmap's own ``pipe:`` and
``packet:`` (plain names, no ring modes or flags); and the ``@`` options every subsystem may
end with (``@conf`` everywhere; libnetmap's ``@share`` kept, ``@extmem`` and ``@offset``
recognised, then refused).
"""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Literal

from aionetmap.portspec.spec import (
    IFNAME_MAX,
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
    PIPE_NAME_MAX,
    RING_LIMIT,
    VALE_PART_MAX,
    PortSpec,
    PortSpecError,
    Subsystem,
    UnsupportedPortSpecError,
)

__all__ = ["PortSpecParser", "parse_portspec"]

_DIGITS = re.compile(r"[0-9]*")
_IDENT = re.compile(r"[A-Za-z0-9_]*")  # libnetmap's identifier (switch names, pipe ids)
_NAME = re.compile(r"[A-Za-z0-9_.]*")  # netmap interface and VALE port names
_OWN_NAME = re.compile(r"[A-Za-z0-9_.-]*")  # pipe: names and ids, packet: interfaces
_OPTION_NAME = re.compile(r"[^:=@]*")

_FLAGS = {
    "x": NR_EXCLUSIVE,
    "z": NR_ZCOPY_MON,
    "t": NR_MONITOR_TX,
    "r": NR_MONITOR_RX,
    "R": NR_RX_RINGS_ONLY,
    "T": NR_TX_RINGS_ONLY,
}

# @conf keys per subsystem, with the largest value each field can hold.
_U16, _U32 = 0xFFFF, 0xFFFFFFFF
_NETMAP_CONF = dict.fromkeys(
    ("rings", "tx_rings", "rx_rings", "host_rings", "host_tx_rings", "host_rx_rings"), _U16
) | dict.fromkeys(("slots", "tx_slots", "rx_slots"), _U32)
_CONF = {
    "netmap": _NETMAP_CONF,
    "vale": _NETMAP_CONF,
    "pipe": {"slots": _U32, "buf_size": _U32},
    "packet": {"rx_frames": _U32, "tx_slots": _U32, "frame_size": _U32, "sndbuf": _U32},
}
# Options libnetmap knows, with their keys and the key a bare "=value" sets.
_OPTION_KEYS = {
    "share": (("port",), "port"),
    "extmem": (
        ("file", "if_num", "if_size", "ring_num", "ring_size", "buf_num", "buf_size"),
        "file",
    ),
    "offset": (("initial", "bits"), "initial"),
}
# The @conf keys that become PortSpec's ring and slot hints, and the shared keys that set
# two of them at once.
_HINTS = ("tx_rings", "rx_rings", "host_tx_rings", "host_rx_rings", "tx_slots", "rx_slots")
_BOTH = {
    "rings": ("tx_rings", "rx_rings"),
    "host_rings": ("host_tx_rings", "host_rx_rings"),
    "slots": ("tx_slots", "rx_slots"),
}


def _digit(c: str) -> bool:
    return c != "" and c in "0123456789"


def parse_portspec(text: str) -> PortSpec:
    """Parse ``text``; raise :class:`PortSpecError` (a ``ValueError``) when it is invalid."""
    if not isinstance(text, str):
        raise TypeError(f"a portspec is a str, not {type(text).__name__}")
    return PortSpecParser(text).parse()


class PortSpecParser:
    """One pass over one spec; ``pos`` only moves forward. Use once: :meth:`parse`."""

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
        """The whole spec, by the rules its subsystem prefix picks."""
        text = self.text
        if text.startswith("pipe:"):
            return self._own("pipe")
        if text.startswith("packet:"):
            return self._own("packet")
        if text.startswith(("netmap", "vale")):
            return self._netmap()
        raise PortSpecError(
            text, 0, "unknown or missing subsystem: expected netmap:, vale<ID>:, pipe: or packet:"
        )

    # === The cursor ===

    def _build(self) -> PortSpec:
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

    def _fail(self, reason: str, at: int | None = None) -> PortSpecError:
        return PortSpecError(self.text, self.pos if at is None else at, reason)

    def _peek(self, ahead: int = 0) -> str:
        return self.text[self.pos + ahead : self.pos + ahead + 1]

    def _take(self, pattern: re.Pattern[str]) -> str:
        m = pattern.match(self.text, self.pos)
        assert m is not None  # every pattern here matches the empty string
        self.pos = m.end()
        return m.group()

    def _number(self, what: str, low: int, high: int) -> int:
        at = self.pos
        digits = self._take(_DIGITS)
        if not digits:
            raise self._fail(f"expected {what}")
        value = int(digits)
        if not low <= value <= high:
            raise self._fail(f"{what} {value} out of range {low}..{high}", at)
        return value

    # === netmap:NAME[MODE][OPTIONS] and vale[ID]:PORT[MODE][OPTIONS] ===

    def _netmap(self) -> PortSpec:
        start = self._prefix()
        name_at = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in "-*^/@":
            self.pos += 1
        self._kernel_name(start, name_at)
        self._ring_mode()
        self._suffixes()
        self._options()
        return self._build()

    def _prefix(self) -> int:
        """Consume ``netmap:`` or ``vale<ID>:``; return where the kernel name starts."""
        if self.text.startswith("netmap"):
            self.pos = len("netmap")
            if self._peek() != ":":
                if ":" in self.text:
                    raise self._fail("no identifier is allowed between 'netmap' and ':'")
                raise self._fail("missing ':' after 'netmap'")
            self.pos += 1
            return self.pos
        self.subsystem = "vale"
        self.pos = len("vale")
        self._take(_IDENT)
        if self._peek() != ":":
            if self.pos == len(self.text):
                raise self._fail("missing ':' after the VALE switch name")
            raise self._fail("a VALE switch name is 'vale' plus letters, digits and '_'")
        if self.pos > VALE_PART_MAX:
            raise self._fail(f"VALE switch name longer than {VALE_PART_MAX} characters", 0)
        self.pos += 1
        return 0  # the kernel wants the whole "valeX:port"

    def _kernel_name(self, start: int, name_at: int) -> None:
        name = self.text[name_at : self.pos]
        braces = [i for i in (name.find("{"), name.find("}")) if i >= 0]
        brace = min(braces, default=len(name))
        valid = _NAME.match(name, 0, brace)
        assert valid is not None
        if valid.end() < brace:
            at = name_at + valid.end()
            if self.text[at] == ":":
                raise self._fail("':' in a port name (VALE ports are written vale0:PORT)", at)
            raise self._fail(f"character {self.text[at]!r} is not allowed in a port name", at)
        if not name:
            raise self._fail("empty port name", name_at)
        if brace < len(name):
            self._netmap_pipe(name, brace, name_at)
        if self.subsystem == "vale" and brace > VALE_PART_MAX:
            raise self._fail(f"VALE port name longer than {VALE_PART_MAX} characters", name_at)
        self.nr_name = self.text[start : self.pos]
        if len(self.nr_name.encode()) > NAME_MAX:
            raise self._fail(f"port name longer than {NAME_MAX} bytes", start)

    def _netmap_pipe(self, name: str, brace: int, name_at: int) -> None:
        id_at = name_at + brace + 1
        pipe_id = name[brace + 1 :]
        if brace == 0:
            raise self._fail("a pipe needs a parent port name before the brace", name_at)
        if not pipe_id:
            raise self._fail("empty pipe id after the brace", id_at)
        valid = _IDENT.match(pipe_id)
        assert valid is not None
        if valid.end() < len(pipe_id):
            raise self._fail("a pipe id has only letters, digits and '_'", id_at + valid.end())
        parent = self.text[: name_at + brace] if self.subsystem == "vale" else name[:brace]
        self.pipe = (parent, pipe_id, "a" if name[brace] == "{" else "b")

    def _ring_mode(self) -> None:
        c, at = self._peek(), self.pos
        if c == "-":
            self.pos += 1
            self.mode = NR_REG_ONE_NIC
            self.ringid = self._number("a ring number after '-'", 0, RING_LIMIT - 1)
        elif c == "^":
            self.pos += 1
            self.mode = NR_REG_SW
            if _digit(self._peek()):
                self.mode = NR_REG_ONE_SW
                self.ringid = self._number("a host ring number", 0, RING_LIMIT - 1)
        elif c == "*":
            self.pos += 1
            self.mode = NR_REG_NIC_SW
        if self.pipe and self.mode not in (NR_REG_ALL_NIC, NR_REG_ONE_NIC):
            raise self._fail("a netmap pipe has no host rings: use no mode or -N", at)

    def _suffixes(self) -> None:
        """``@N`` memory ids and ``/FLAGS``, in any order, up to the first option."""
        while self.pos < len(self.text):
            c = self._peek()
            if c == "/":
                self.pos += 1
                self._flags()
            elif c == "@" and _digit(self._peek(1)):
                self.pos += 1
                at = self.pos
                mem_id = self._number("memory id", 1, 0xFFFF)
                if self.mem_id and mem_id != self.mem_id:
                    raise self._fail(f"memory id {mem_id} conflicts with @{self.mem_id}", at)
                self.mem_id = mem_id
            elif c == "@":
                if self.pos + 1 == len(self.text):
                    raise self._fail("expected a memory id or an option after '@'", self.pos + 1)
                return  # options start here
            else:
                raise self._fail(f"unexpected {c!r} (ring modes -N ^ ^N * come first)")

    def _flags(self) -> None:
        """The letters after a ``/``, up to the next ``@`` or the end."""
        if self.pos == len(self.text) or self._peek() == "@":
            raise self._fail("expected flag letters (x z t r R T) after '/'")
        while self.pos < len(self.text) and self._peek() != "@":
            bit = _FLAGS.get(self._peek())
            if bit is None:
                raise self._fail(f"unknown flag {self._peek()!r} (known: x z t r R T)")
            self.flags |= bit
            self.pos += 1

    # === pipe:NAME{ID, pipe:NAME}ID and packet:IFNAME ===

    def _own(self, subsystem: Subsystem) -> PortSpec:
        self.subsystem = subsystem
        self.pos = name_at = len(subsystem) + 1
        if not self._take(_OWN_NAME):
            raise self._fail(f"empty {'pipe' if subsystem == 'pipe' else 'interface'} name")
        if subsystem == "pipe":
            self._own_pipe(name_at)
        elif self.pos - name_at > IFNAME_MAX:
            raise self._fail(f"interface name longer than {IFNAME_MAX} characters", name_at)
        if self.pos < len(self.text) and self._peek() != "@":
            raise self._fail(
                f"character {self._peek()!r} is not allowed here "
                f"({subsystem}: ports have no netmap ring modes or flags)"
            )
        self.nr_name = self.text[name_at : self.pos]
        if len(self.nr_name) > PIPE_NAME_MAX:
            raise self._fail(f"pipe name longer than {PIPE_NAME_MAX} characters", name_at)
        self._options()
        return self._build()

    def _own_pipe(self, name_at: int) -> None:
        brace = self._peek()
        if brace not in ("{", "}"):
            raise self._fail("a pipe: spec is NAME{ID (end a) or NAME}ID (end b)")
        name = self.text[name_at : self.pos]
        self.pos += 1
        pipe_id = self._take(_OWN_NAME)
        if not pipe_id:
            raise self._fail("empty pipe id after the brace")
        self.pipe = (name, pipe_id, "a" if brace == "{" else "b")

    # === @ options, up to the end of the spec ===

    def _options(self) -> None:
        while self.pos < len(self.text):
            begin = self.pos + 1  # past the '@'
            end = self.text.find("@", begin)
            end = len(self.text) if end < 0 else end
            self._option(begin, end)
            self.pos = end

    def _option(self, begin: int, end: int) -> None:
        if begin == end:
            raise self._fail("empty option after '@'", begin)
        self.pos = begin
        name = self._take(_OPTION_NAME)  # up to ':' (keys follow) or '=' (a bare value)
        stop = self.pos
        netmap = self.subsystem in ("netmap", "vale")
        if name != "conf" and not (netmap and name in _OPTION_KEYS):
            known = "conf, share, extmem, offset" if netmap else "conf"
            raise self._fail(f"unknown option {name!r} (known here: {known})", begin)
        if stop == end:
            raise self._fail(f"'@{name}' needs ':key=value,...' or '=value'", stop)
        if self.text[stop] == "=":
            if name == "conf":
                raise self._fail("'@conf' takes ':key=value,...', not '='", stop)
            if stop + 1 == end:
                raise self._fail(f"missing value after '@{name}='", stop + 1)
            keys = {_OPTION_KEYS[name][1]: (self.text[stop + 1 : end], stop + 1)}
        else:
            allowed = tuple(_CONF[self.subsystem]) if name == "conf" else _OPTION_KEYS[name][0]
            keys = self._keys(name, allowed, stop + 1, end)
        self._apply(name, keys, begin)

    def _apply(self, name: str, keys: dict[str, tuple[str, int]], begin: int) -> None:
        """Record option ``name`` (found at ``begin``) with its ``keys``, or refuse it."""
        if name == "conf":
            for key, (value, at) in keys.items():
                self.conf[key] = self._conf_value(key, value, at, _CONF[self.subsystem][key])
        elif name == "share":
            self._share_with(*keys["port"])  # _keys() lets nothing else through
        else:
            required = _OPTION_KEYS[name][1]
            if required not in keys:
                raise self._fail(f"'@{name}' needs key '{required}'", begin)
            what = "external memory" if name == "extmem" else "buffer offsets"
            raise UnsupportedPortSpecError(
                self.text, begin, f"'@{name}' ({what}) is not supported by aionetmap"
            )

    def _keys(
        self, name: str, allowed: tuple[str, ...], at: int, end: int
    ) -> dict[str, tuple[str, int]]:
        found: dict[str, tuple[str, int]] = {}
        for item in self.text[at:end].split(","):
            key, eq, value = item.partition("=")
            norm = key.replace("-", "_")
            if norm not in allowed:
                shown = ", ".join(k.replace("_", "-") for k in allowed)
                raise self._fail(f"unknown key {key!r} for '@{name}' (known: {shown})", at)
            if norm in found:
                raise self._fail(f"duplicate key {key!r} in '@{name}'", at)
            if not eq or not value:
                raise self._fail(f"missing value for key {key!r} in '@{name}'", at + len(key))
            found[norm] = (value, at + len(key) + 1)
            at += len(item) + 1
        return found

    def _conf_value(self, key: str, value: str, at: int, limit: int) -> int:
        shown = key.replace("_", "-")
        if _DIGITS.fullmatch(value) is None:
            raise self._fail(f"'{shown}' needs a number, not {value!r}", at)
        n = int(value)
        if not 0 < n <= limit:
            raise self._fail(f"'{shown}' must be in 1..{limit}", at)
        return n

    def _share_with(self, value: str, at: int) -> None:
        try:
            other = PortSpecParser(value).parse()
        except PortSpecError as exc:
            raise PortSpecError(self.text, at + exc.offset, f"in @share: {exc.reason}") from None
        if other.subsystem not in ("netmap", "vale"):
            raise self._fail("'@share' needs a netmap: or vale port", at)
        self.share = other.nr_name
