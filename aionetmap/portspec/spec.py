"""What parsing a portspec gives: :class:`PortSpec`, the netmap ABI values and name limits
its fields are checked against, and the two errors a spec that does not parse raises."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

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
]

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
