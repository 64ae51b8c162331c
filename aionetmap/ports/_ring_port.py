"""What the two ring-backed ports (:class:`NetmapPort`, :class:`PipePort`) share: the
``info``/``closed`` properties, the warning for a port left unclosed, and a
:class:`PortInfo` read off their :class:`RingSet`."""

from __future__ import annotations

import warnings
from typing import Literal

from aionetmap._native.rings import RingSet
from aionetmap.ports.base import PortInfo
from aionetmap.ports.closing import ClosingContext

__all__ = ["RingPort", "ring_port_info"]


class RingPort(ClosingContext):
    """Base of the ring-backed ports; a subclass sets ``_info`` and ``_closed``."""

    __slots__ = ()

    _info: PortInfo
    _closed: bool

    @property
    def info(self) -> PortInfo:
        return self._info

    @property
    def closed(self) -> bool:
        return self._closed

    def __del__(self) -> None:
        # A port half set up (or never set up) has no _closed yet, or True: nothing to warn.
        if not getattr(self, "_closed", True):
            warnings.warn(f"unclosed {self!r}", ResourceWarning, source=self, stacklevel=1)
            self.close()


def ring_port_info(
    rings: RingSet,
    name: str,
    backend: Literal["netmap", "pipe"],
    *,
    mem_id: int | None = None,
    mtu: int | None = None,
    mac: bytes | None = None,
    ifname: str | None = None,
) -> PortInfo:
    """The :class:`PortInfo` of a port whose rings are ``rings``."""
    return PortInfo(
        name=name,
        backend=backend,
        rx_rings=rings.rx_rings,
        tx_rings=rings.tx_rings,
        rx_slots=rings.rx_slots,
        tx_slots=rings.tx_slots,
        buf_size=rings.buf_size,
        max_frame=rings.max_frame,
        mem_id=mem_id,
        mtu=mtu,
        mac=mac,
        ifname=ifname,
    )
