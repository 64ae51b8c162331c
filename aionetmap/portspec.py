"""Portspecs: libnetmap's port-name grammar in Python, plus aionetmap's ``pipe:`` and ``packet:``.

Grammar (netmap-abi.md §5.2)::

    netmap:NAME[MODE][OPTIONS]      NAME: an interface (eth0) or a pipe end (eth0{1, eth0}1)
    vale[ID]:PORT[MODE][OPTIONS]    the kernel name keeps the prefix (vale0:p1)
    MODE     -N one ring pair | ^ host rings | ^N one host ring | * NIC and host rings,
             then any mix of @N (memory id) and /FLAGS (x z t r R T)
    OPTIONS  @conf:rings=N,tx-slots=N,...   @share=PORTSPEC   (@extmem, @offset: rejected)
    pipe:NAME{ID  pipe:NAME}ID      aionetmap's software pipe, ends "a" and "b";
                                    @conf:slots=N,buf-size=N
    packet:IFNAME                   AF_PACKET; @conf:rx-frames=N,tx-slots=N,frame-size=N,sndbuf=N

The kernel never sees the ``netmap:`` prefix nor the suffixes: :func:`parse_portspec`
turns them into the fields of ``nmreq_header``/``nmreq_register``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

__all__ = ["PortSpec", "PortSpecError", "Subsystem", "UnsupportedPortSpecError", "parse_portspec"]

# Values of netmap_abi.h, repeated so that parsing needs no compiled module; a test checks
# them against the compiled constants.
NR_REG_ALL_NIC = 1
NR_REG_SW = 2
NR_REG_NIC_SW = 3
NR_REG_ONE_NIC = 4
NR_REG_ONE_SW = 8
NR_MONITOR_TX = 0x100
NR_MONITOR_RX = 0x200
NR_ZCOPY_MON = 0x400
NR_EXCLUSIVE = 0x800
NR_RX_RINGS_ONLY = 0x2000
NR_TX_RINGS_ONLY = 0x4000

NAME_MAX = 63  # nr_name is 64 bytes with the NUL
RING_LIMIT = 0xFFF  # ring ids are < NETMAP_RING_MASK, as in libnetmap
VALE_PART_MAX = 15  # IFNAMSIZ - 1, for the switch and for the port part
IFNAME_MAX = 15
PIPE_NAME_MAX = 200  # NAME.ID, as the software pipe accepts it

Subsystem = Literal["netmap", "vale", "pipe", "packet"]

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
_OWN_NAME = re.compile(r"[A-Za-z0-9_.-]*")  # pipe: names and ids, packet: interfaces
_DIGITS = re.compile(r"[0-9]*")
_OPTION_NAME = re.compile(r"[^:=@]*")

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


class PortSpecError(ValueError):
    """A portspec that does not parse. The message quotes it and marks the bad part."""

    def __init__(self, spec: str, offset: int, reason: str) -> None:
        self.spec = spec
        self.offset = offset
        self.reason = reason
        caret = " " * offset + "^"
        super().__init__(f"invalid portspec {spec!r}: {reason}\n    {spec}\n    {caret}")

    def __reduce__(self) -> tuple[type[PortSpecError], tuple[str, int, str]]:
        return type(self), (self.spec, self.offset, self.reason)


class UnsupportedPortSpecError(PortSpecError):
    """A valid libnetmap portspec asking for something aionetmap does not do."""


@dataclass(frozen=True, slots=True)
class PortSpec:
    """A parsed portspec: what goes into the kernel's request, or which backend to open.

    Ring and slot hints are 0 when not given (the kernel, or the backend, picks).
    """

    text: str
    """The portspec as written."""
    subsystem: Subsystem
    nr_name: str
    """Kernel port name (``eth0``, ``eth0{1``, ``vale0:p``); for ``pipe:`` ``NAME{ID``, for
    ``packet:`` the interface name."""
    nr_mode: int = NR_REG_ALL_NIC
    nr_ringid: int = 0
    nr_flags: int = 0
    nr_mem_id: int = 0
    tx_rings: int = 0
    rx_rings: int = 0
    host_tx_rings: int = 0
    host_rx_rings: int = 0
    tx_slots: int = 0
    rx_slots: int = 0
    conf: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    """Every ``@conf`` key as given (``-`` read as ``_``), e.g. ``buf_size`` for pipes."""
    share: str | None = None
    """Kernel name of the ``@share=`` port whose memory id to use."""
    pipe_parent: str | None = None
    pipe_id: str | None = None
    pipe_end: Literal["a", "b"] | None = None
    """``"a"`` for ``{`` (netmap's master end), ``"b"`` for ``}``."""

    @property
    def is_pipe(self) -> bool:
        return self.pipe_end is not None


def parse_portspec(text: str) -> PortSpec:
    """Parse ``text``; raise :class:`PortSpecError` (a ``ValueError``) when it is invalid."""
    if not isinstance(text, str):
        raise TypeError(f"a portspec is a str, not {type(text).__name__}")
    p = _Parser(text)
    if text.startswith("pipe:"):
        return p.own("pipe")
    if text.startswith("packet:"):
        return p.own("packet")
    if text.startswith(("netmap", "vale")):
        return p.netmap()
    raise PortSpecError(
        text, 0, "unknown or missing subsystem: expected netmap:, vale<ID>:, pipe: or packet:"
    )


_HINTS = ("tx_rings", "rx_rings", "host_tx_rings", "host_rx_rings", "tx_slots", "rx_slots")
_BOTH = {
    "rings": ("tx_rings", "rx_rings"),
    "host_rings": ("host_tx_rings", "host_rx_rings"),
    "slots": ("tx_slots", "rx_slots"),
}


def _digit(c: str) -> bool:
    return c != "" and c in "0123456789"


class _Parser:
    """One left-to-right pass over a spec; ``pos`` only moves forward."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.subsystem: Subsystem = "netmap"
        self.nr_name = ""
        self.mode, self.ringid, self.flags, self.mem_id = NR_REG_ALL_NIC, 0, 0, 0
        self.conf: dict[str, int] = {}
        self.share: str | None = None
        self.pipe: tuple[str, str, Literal["a", "b"]] | None = None

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
        digits = self.take(_DIGITS)
        if not digits:
            raise self.fail(f"expected {what}")
        value = int(digits)
        if not low <= value <= high:
            raise self.fail(f"{what} {value} out of range {low}..{high}", at)
        return value

    # ---- netmap: and vale<ID>: ---------------------------------------------------------

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

    # ---- options: @conf, @share, @extmem, @offset ----------------------------------------

    def options(self) -> None:
        while self.pos < len(self.text):
            begin = self.pos + 1  # past the '@'
            end = self.text.find("@", begin)
            end = len(self.text) if end < 0 else end
            self.option(begin, end)
            self.pos = end

    def option(self, begin: int, end: int) -> None:
        if begin == end:
            raise self.fail("empty option after '@'", begin)
        self.pos = begin
        name = self.take(_OPTION_NAME)  # up to ':' (keys follow) or '=' (a bare value)
        stop = self.pos
        netmap = self.subsystem in ("netmap", "vale")
        if name != "conf" and not (netmap and name in _OPTION_KEYS):
            known = "conf, share, extmem, offset" if netmap else "conf"
            raise self.fail(f"unknown option {name!r} (known here: {known})", begin)
        if stop == end:
            raise self.fail(f"'@{name}' needs ':key=value,...' or '=value'", stop)
        if self.text[stop] == "=":
            if name == "conf":
                raise self.fail("'@conf' takes ':key=value,...', not '='", stop)
            if stop + 1 == end:
                raise self.fail(f"missing value after '@{name}='", stop + 1)
            keys = {_OPTION_KEYS[name][1]: (self.text[stop + 1 : end], stop + 1)}
        else:
            allowed = tuple(_CONF[self.subsystem]) if name == "conf" else _OPTION_KEYS[name][0]
            keys = self.keys(name, allowed, stop + 1, end)
        if name == "conf":
            for key, (value, at) in keys.items():
                self.conf[key] = self.conf_value(key, value, at, _CONF[self.subsystem][key])
        elif name == "share":
            self.share_with(*keys["port"])  # keys() lets nothing else through
        else:
            required = _OPTION_KEYS[name][1]
            if required not in keys:
                raise self.fail(f"'@{name}' needs key '{required}'", begin)
            what = "external memory" if name == "extmem" else "buffer offsets"
            raise UnsupportedPortSpecError(
                self.text, begin, f"'@{name}' ({what}) is not supported by aionetmap"
            )

    def keys(
        self, name: str, allowed: tuple[str, ...], at: int, end: int
    ) -> dict[str, tuple[str, int]]:
        found: dict[str, tuple[str, int]] = {}
        for item in self.text[at:end].split(","):
            key, eq, value = item.partition("=")
            norm = key.replace("-", "_")
            if norm not in allowed:
                shown = ", ".join(k.replace("_", "-") for k in allowed)
                raise self.fail(f"unknown key {key!r} for '@{name}' (known: {shown})", at)
            if norm in found:
                raise self.fail(f"duplicate key {key!r} in '@{name}'", at)
            if not eq or not value:
                raise self.fail(f"missing value for key {key!r} in '@{name}'", at + len(key))
            found[norm] = (value, at + len(key) + 1)
            at += len(item) + 1
        return found

    def conf_value(self, key: str, value: str, at: int, limit: int) -> int:
        shown = key.replace("_", "-")
        if _DIGITS.fullmatch(value) is None:
            raise self.fail(f"'{shown}' needs a number, not {value!r}", at)
        n = int(value)
        if not 0 < n <= limit:
            raise self.fail(f"'{shown}' must be in 1..{limit}", at)
        return n

    def share_with(self, value: str, at: int) -> None:
        try:
            other = parse_portspec(value)
        except PortSpecError as exc:
            raise PortSpecError(self.text, at + exc.offset, f"in @share: {exc.reason}") from None
        if other.subsystem not in ("netmap", "vale"):
            raise self.fail("'@share' needs a netmap: or vale port", at)
        self.share = other.nr_name

    # ---- pipe: and packet: -------------------------------------------------------------

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
