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

The parser is a cursor (:mod:`._cursor`) with one grammar mixin per part: the netmap/vale
names, modes and flags (:mod:`._netmap`), ``pipe:``/``packet:`` (:mod:`._own`) and the ``@``
options they share (:mod:`._options`). :class:`PortSpec` and the ABI values are in
:mod:`.spec`, the errors in :mod:`.errors`.
"""

from __future__ import annotations

from aionetmap.portspec._netmap import NetmapGrammar
from aionetmap.portspec._own import OwnGrammar
from aionetmap.portspec.errors import PortSpecError, UnsupportedPortSpecError
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
    Subsystem,
)

__all__ = [
    "IFNAME_MAX",
    "NAME_MAX",
    "NR_EXCLUSIVE",
    "NR_MONITOR_RX",
    "NR_MONITOR_TX",
    "NR_REG_ALL_NIC",
    "NR_REG_NIC_SW",
    "NR_REG_ONE_NIC",
    "NR_REG_ONE_SW",
    "NR_REG_SW",
    "NR_RX_RINGS_ONLY",
    "NR_TX_RINGS_ONLY",
    "NR_ZCOPY_MON",
    "PIPE_NAME_MAX",
    "RING_LIMIT",
    "VALE_PART_MAX",
    "PortSpec",
    "PortSpecError",
    "Subsystem",
    "UnsupportedPortSpecError",
    "parse_portspec",
]


class _Parser(NetmapGrammar, OwnGrammar):
    """The whole grammar: picks the rules by the spec's subsystem prefix."""

    def parse(self) -> PortSpec:
        text = self.text
        if text.startswith("pipe:"):
            return self.own("pipe")
        if text.startswith("packet:"):
            return self.own("packet")
        if text.startswith(("netmap", "vale")):
            return self.netmap()
        raise PortSpecError(
            text, 0, "unknown or missing subsystem: expected netmap:, vale<ID>:, pipe: or packet:"
        )


def parse_portspec(text: str) -> PortSpec:
    """Parse ``text``; raise :class:`PortSpecError` (a ``ValueError``) when it is invalid."""
    if not isinstance(text, str):
        raise TypeError(f"a portspec is a str, not {type(text).__name__}")
    return _Parser(text).parse()
