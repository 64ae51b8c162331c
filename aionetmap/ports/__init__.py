"""Port backends, :func:`open_port`, which picks the backend a portspec names, and
:func:`forward`, which moves frames from one port to another (zero-copy where it can)."""

from __future__ import annotations

from typing import Any, Literal

from aionetmap._native.batch import FrameBatch
from aionetmap.ports.base import Port, PortClosedError, PortInfo
from aionetmap.ports.forward import ForwardPath, forward, forward_path
from aionetmap.portspec import PortSpec, parse_portspec

__all__ = [
    "ForwardPath",
    "FrameBatch",
    "Port",
    "PortClosedError",
    "PortInfo",
    "forward",
    "forward_path",
    "open_port",
    "parse_portspec",
]


def open_port(spec: str | PortSpec, **overrides: Any) -> Port:
    """Open the port ``spec`` names, with the backend its subsystem selects.

    ``netmap:``/``vale…:`` open the kernel netmap port (:class:`NetmapPort`),
    ``pipe:NAME{ID``/``pipe:NAME}ID`` end ``"a"``/``"b"`` of the software pipe
    ``NAME.ID``, ``packet:IFNAME`` the AF_PACKET backend. ``overrides`` go to the
    backend's ``open`` and win over the portspec's ``@conf`` values (for example
    ``tx_slots=`` for netmap, ``slots=`` for a pipe, ``netns=`` for AF_PACKET).
    Backends are imported only when used, so each needs only its own native module.
    """
    parsed = parse_portspec(spec) if isinstance(spec, str) else spec
    if parsed.subsystem in ("netmap", "vale"):
        from aionetmap.ports.netmap import NetmapPort

        return NetmapPort.open(parsed, **overrides)
    if parsed.subsystem == "pipe":
        from aionetmap.ports.pipe import PipePort

        conf = {"slots": parsed.conf.get("slots"), "buf_size": parsed.conf.get("buf_size")}
        end: Literal["a", "b"] = "a" if parsed.pipe_end == "a" else "b"
        name = f"{parsed.pipe_parent}.{parsed.pipe_id}"
        return PipePort.open(name, end, **{**conf, **overrides})
    from aionetmap.ports.packet import PacketPort

    return PacketPort.open(parsed.nr_name, **{**parsed.conf, **overrides})
