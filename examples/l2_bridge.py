"""A two-port Ethernet bridge: every frame received on one port is sent out of the other.

    python examples/l2_bridge.py PORTSPEC_A PORTSPEC_B
    python examples/l2_bridge.py netmap:eth0 netmap:eth1

Between netmap-layout rings (netmap and software-pipe ports) one call,
``RingSet.forward_to``, moves a burst: when both rings sit in the same mapped memory region
the RX slot's buffer is swapped with a free TX buffer, with no copy (netmap's zero-copy
forwarding; the same port given twice, a reflector, is such a case), otherwise each frame
is copied once. AF_PACKET ports (``packet:eth0``) go through ``recv``/``send_batch``.
A full output leaves frames in the input ring rather than dropping them.
Counters every second; Ctrl-C stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable

import aionetmap
from aionetmap._native.rings import RingSet
from aionetmap.ports import FrameBatch, Port

BURST = 256
BACKOFF = 0.0005  # seconds between retries while the output has no room


def rings_of(port: Port) -> RingSet | None:
    """The netmap rings behind a netmap or software-pipe port; None for AF_PACKET.

    There is no public accessor yet: both ring ports keep their RingSet in ``_rings``.
    """
    rings = getattr(port, "_rings", None)
    return rings if isinstance(rings, RingSet) else None


class Direction:
    """Moves frames from ``src`` to ``dst`` whenever ``src`` is readable."""

    def __init__(self, loop: asyncio.AbstractEventLoop, src: Port, dst: Port) -> None:
        self.loop, self.src, self.dst = loop, src, dst
        self.src_rings, self.dst_rings = rings_of(src), rings_of(dst)
        self.batch = FrameBatch(BURST)
        self.no_frames = FrameBatch(1)  # for recv(..., 0): sync and re-arm only
        self.frames = self.dropped = 0
        self.timers: dict[str, asyncio.TimerHandle] = {}
        loop.add_reader(src.fileno(), self.pump)

    @property
    def mode(self) -> str:
        if self.src_rings is None or self.dst_rings is None:
            return "copy through recv/send_batch"
        if self.src_rings.same_region(self.dst_rings):
            return "zero-copy buffer swap"
        return "ring to ring, one copy (separate memory regions)"

    def pump(self) -> None:
        room = min(self.dst.tx_space(), BURST)
        if room == 0:  # output full: leave the frames in the input ring for a moment
            self.loop.remove_reader(self.src.fileno())
            self.later("resume", lambda: self.loop.add_reader(self.src.fileno(), self.pump))
            return
        if self.src_rings is not None and self.dst_rings is not None:
            self.src.recv(self.no_frames, 0)
            moved = self.src_rings.forward_to(self.dst_rings, room)
        else:
            received = self.src.recv(self.batch, room)
            moved = self.dst.send_batch(self.batch)
            self.dropped += received - moved  # a frame needing more slots than were free
        self.frames += moved
        self.flush()

    def flush(self) -> None:
        """Hand queued frames to ``dst``; retry while its other side has no room for them."""
        self.dst.flush()
        if self.dst.tx_pending():
            self.later("flush", self.flush)

    def later(self, what: str, callback: Callable[[], None]) -> None:
        def run() -> None:
            del self.timers[what]
            callback()

        if what not in self.timers:
            self.timers[what] = self.loop.call_later(BACKOFF, run)

    def close(self) -> None:
        for timer in self.timers.values():
            timer.cancel()
        self.loop.remove_reader(self.src.fileno())


async def main(spec_a: str, spec_b: str) -> None:
    loop = asyncio.get_running_loop()
    with contextlib.closing(aionetmap.open_port(spec_a)) as a, \
         contextlib.closing(aionetmap.open_port(spec_b)) as b:  # fmt: skip
        a_to_b, b_to_a = Direction(loop, a, b), Direction(loop, b, a)
        print(f"bridging {spec_a} <-> {spec_b}: {a_to_b.mode}", flush=True)

        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            print(f"{spec_a} -> {spec_b}: {a_to_b.frames} frames, "
                  f"{spec_b} -> {spec_a}: {b_to_a.frames} frames, "
                  f"dropped {a_to_b.dropped + b_to_a.dropped}", flush=True)  # fmt: skip
        a_to_b.close()
        b_to_a.close()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1], sys.argv[2]))
