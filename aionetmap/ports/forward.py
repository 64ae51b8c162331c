"""Forward frames from one port to another: zero-copy between netmap rings where possible.

:func:`forward` is the one call a bridge, a reflector or a tap needs per burst. Between two
ring ports (netmap ports and software-pipe ends) it moves frames with the source's
``forward_to`` in one C call: by swapping buffer indices when both map the same memory
region, by one copy otherwise. Any other pair (an AF_PACKET port on either side) goes through
``recv`` into a :class:`FrameBatch` and ``send_batch``.

Nothing is lost silently. On the ring path, frames the destination has no room for stay in
the source's RX ring for the next call. On the copy path they have already left the source,
so :func:`forward` takes only as many as the destination has room for, and counts any it
still refuses (too long for it, or no room after all) under ``"dropped"`` in ``counters``.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Literal, Protocol, cast

from aionetmap._native.batch import DEFAULT_BATCH, FrameBatch
from aionetmap.ports.base import Port, PortInfo

if TYPE_CHECKING:
    from aionetmap._native.rings import RingSet

__all__ = ["ForwardPath", "forward", "forward_path"]

ForwardPath = Literal["swap", "ring-copy", "copy"]
"""How :func:`forward` moves frames between two ports: ``"swap"``: ring to ring within one
memory region, exchanging buffers (zero-copy); ``"ring-copy"``: ring to ring, one copy per
frame (separate regions); ``"copy"``: ``recv`` into a batch, then ``send_batch``."""


class _RingPort(Port, Protocol):
    def forward_to(self, dst: Port, max_frames: int) -> int: ...


def rings_of(port: Port) -> RingSet | None:
    """The rings behind a ring port (netmap or software pipe); ``None`` for other ports.
    Raises ``PortClosedError`` for a closed ring port. (Package-internal.)"""
    get = getattr(port, "_ring_set", None)
    if get is None:
        return None
    rings: RingSet = get()
    return rings


def destination_rings(src_name: str, dst: Port) -> RingSet:
    """``dst``'s rings for ``forward_to`` on ``src_name``, or a ``TypeError`` that says what
    to use instead. (Package-internal.)"""
    rings = rings_of(dst)
    if rings is None:
        raise TypeError(
            f"{src_name}: cannot forward ring to ring into {dst.info.name} "
            f"({type(dst).__name__} has no netmap rings); use aionetmap.ports.forward()"
        )
    return rings


def forward_path(src: Port, dst: Port) -> ForwardPath:
    """Which way :func:`forward` moves frames from ``src`` to ``dst``."""
    src_rings, dst_rings = rings_of(src), rings_of(dst)
    if src_rings is None or dst_rings is None:
        return "copy"
    return "swap" if src_rings.same_region(dst_rings) else "ring-copy"


def forward(
    src: Port,
    dst: Port,
    max_frames: int,
    *,
    batch: FrameBatch | None = None,
    counters: MutableMapping[str, int] | None = None,
) -> int:
    """Move up to ``max_frames`` received frames from ``src`` to ``dst``'s TX queue.

    Returns how many were queued on ``dst``. ``dst`` is not flushed: call ``dst.flush()``
    once per burst (or per loop iteration). Ring ports use ``src.forward_to(dst)`` (see
    :func:`forward_path`); frames ``dst`` has no room for stay in ``src``. Otherwise frames
    go through ``batch`` (reuse one across calls; without it a temporary one is made), in
    rounds that each receive no more than ``dst`` has room for; frames ``dst`` still
    refuses are dropped.

    ``counters``, when given, is incremented: ``"forwarded"`` by the return value,
    ``"dropped"`` by the frames lost on the way (refused on the copy path, and on the ring
    path the frames the destination can never carry, which the source counts in
    ``stats()["fwd_dropped"]``).

    Readiness works as with ``recv``: a software pipe's fd stays readable exactly while
    frames remain in it, including frames left there because ``dst`` was full, so a
    caller facing a full ``dst`` should stop watching ``src`` until ``dst`` has room.
    """
    if max_frames <= 0:
        return 0
    src_rings = rings_of(src)
    if src_rings is not None and rings_of(dst) is not None:
        ring_src = cast("_RingPort", src)
        if counters is None:
            return ring_src.forward_to(dst, max_frames)
        before = src_rings.fwd_dropped
        n = ring_src.forward_to(dst, max_frames)
        _count(counters, n, src_rings.fwd_dropped - before)
        return n
    if batch is None:
        batch = _batch_for(src.info, min(max_frames, DEFAULT_BATCH))
    n, dropped = _copy(src, dst, max_frames, batch)
    if counters is not None:
        _count(counters, n, dropped)
    return n


def _count(counters: MutableMapping[str, int], forwarded: int, dropped: int) -> None:
    counters["forwarded"] = counters.get("forwarded", 0) + forwarded
    counters["dropped"] = counters.get("dropped", 0) + dropped


def _batch_for(info: PortInfo, capacity: int) -> FrameBatch:
    """A batch that holds ``capacity`` ordinary frames and always at least one of the
    longest ``info`` can deliver."""
    return FrameBatch(capacity, capacity * 2048 + max(info.max_frame, info.buf_size))


def _slots_per_frame(src: PortInfo, dst: PortInfo) -> int:
    """TX slots of ``dst`` the longest frame of ``src`` may need (ring ports that allow
    multi-slot frames report a ``max_frame`` above their ``buf_size``)."""
    if dst.max_frame <= dst.buf_size or dst.buf_size <= 0:
        return 1
    longest = min(src.max_frame, dst.max_frame)
    return max(1, -(-longest // dst.buf_size))


def _copy(src: Port, dst: Port, max_frames: int, batch: FrameBatch) -> tuple[int, int]:
    """recv + send_batch in rounds, each taking no more than ``dst`` surely has room for.
    Returns (queued, dropped)."""
    per_frame = _slots_per_frame(src.info, dst.info)
    taken = sent = 0
    while taken < max_frames:
        room = dst.tx_space()
        if room <= 0:
            break
        # At least one frame while there is room at all, so a destination whose longest
        # frame would need more slots than are free still makes progress.
        limit = min(max_frames - taken, batch.capacity, max(1, room // per_frame))
        received = src.recv(batch, limit)
        if received == 0:
            break
        try:
            sent += dst.send_batch(batch)
        except ValueError:  # a frame dst refuses outright; nothing was queued
            sent += _send_one_by_one(dst, batch)
        taken += received
        if received < limit:
            break  # src has no more for now
    return sent, taken - sent


def _send_one_by_one(dst: Port, batch: FrameBatch) -> int:
    """Queue the frames ``dst`` accepts, skipping those it refuses, until it is full."""
    sent = 0
    for frame in batch:
        try:
            queued = dst.send([frame])
        except ValueError:
            continue
        if queued == 0:
            break
        sent += 1
    return sent
