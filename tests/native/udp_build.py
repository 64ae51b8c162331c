"""Per-datagram destinations for the C builder, for tests that need them.

The library sends through :meth:`FastUdpBuilder.build_to` and a :class:`DestinationTable`
only; tests that give each datagram its own MAC, address and port number them here, one
table entry per distinct destination, and build through the same C loop.
"""

from __future__ import annotations

from collections.abc import Sequence

from aionetmap._native.batch import FrameBatch
from aionetmap._native.fast_builder import DestinationTable, FastUdpBuilder


def build_each(
    builder: FastUdpBuilder,
    payloads: Sequence[bytes | bytearray | memoryview],
    dst_macs: bytes,
    dst_ips: Sequence[int],
    dst_ports: Sequence[int],
    src_port: int,
) -> FrameBatch:
    """Datagram ``i`` to ``dst_macs[6i:6i+6]``, ``dst_ips[i]``, ``dst_ports[i]``."""
    assert len(dst_macs) == 6 * len(payloads) == 6 * len(dst_ips) == 6 * len(dst_ports)
    table = DestinationTable(max(1, len(payloads)))
    index = []
    for i, (ip, port) in enumerate(zip(dst_ips, dst_ports, strict=True)):
        key = (dst_macs[6 * i : 6 * i + 6], ip, port)
        slot = table.index.get(key)
        if slot is None:
            slot = table.add(key, *key)
        assert slot is not None
        index.append(slot)
    return builder.build_to(payloads, index, table, src_port)
