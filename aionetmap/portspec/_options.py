"""Portspec options: ``@conf:key=value,...`` for every subsystem, and libnetmap's ``@share``
(kept), ``@extmem`` and ``@offset`` (recognised, then refused) for netmap: and vale ports."""

from __future__ import annotations

import re

from aionetmap.portspec._cursor import DIGITS, Cursor
from aionetmap.portspec.errors import PortSpecError, UnsupportedPortSpecError

__all__ = ["OptionsGrammar"]

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


class OptionsGrammar(Cursor):
    """The ``@`` options after a port name, up to the end of the spec."""

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
        if DIGITS.fullmatch(value) is None:
            raise self.fail(f"'{shown}' needs a number, not {value!r}", at)
        n = int(value)
        if not 0 < n <= limit:
            raise self.fail(f"'{shown}' must be in 1..{limit}", at)
        return n

    def share_with(self, value: str, at: int) -> None:
        try:
            other = type(self)(value).parse()
        except PortSpecError as exc:
            raise PortSpecError(self.text, at + exc.offset, f"in @share: {exc.reason}") from None
        if other.subsystem not in ("netmap", "vale"):
            raise self.fail("'@share' needs a netmap: or vale port", at)
        self.share = other.nr_name
