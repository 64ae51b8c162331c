"""A two-port Ethernet bridge: every frame received on one port is sent out of the other.

    python examples/l2_bridge.py PORTSPEC_A PORTSPEC_B
    python examples/l2_bridge.py netmap:eth0 netmap:eth1

One call per burst, ``aionetmap.ports.forward``, moves the frames. Between netmap ports on
the same memory allocator (two NICs, a NIC and its pipes, or a port bridged to itself) each
RX buffer is swapped with a free TX buffer, with no copy (netmap's zero-copy forwarding);
between netmap-layout rings in separate regions (software pipes) each frame is copied once;
AF_PACKET ports (``packet:eth0``) go through a reusable FrameBatch. A full output leaves
frames in the input (the ring, or the kernel's queue); anything dropped is counted.
Counters every second; Ctrl-C stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable

import aionetmap
from aionetmap.ports import FrameBatch, Port, forward, forward_path

BURST = 256
BACKOFF = 0.0005  # seconds between retries while the output has no room
MODES = {
    "swap": "zero-copy buffer swap",
    "ring-copy": "ring to ring, one copy (separate memory regions)",
    "copy": "copy through recv/send_batch",
}


class Direction:
    """Moves frames from ``src`` to ``dst`` whenever ``src`` is readable."""

    def __init__(self, loop: asyncio.AbstractEventLoop, src: Port, dst: Port) -> None:
        self.loop, self.src, self.dst = loop, src, dst
        self.mode = MODES[forward_path(src, dst)]
        self.batch = FrameBatch(BURST)  # used only on the copy path
        self.counters = {"forwarded": 0, "dropped": 0}
        self.timers: dict[str, asyncio.TimerHandle] = {}
        loop.add_reader(src.fileno(), self.pump)

    @property
    def frames(self) -> int:
        return self.counters["forwarded"]

    @property
    def dropped(self) -> int:
        return self.counters["dropped"]

    def pump(self) -> None:
        if self.dst.tx_space() == 0:  # output full: leave the frames where they are a moment
            self.loop.remove_reader(self.src.fileno())
            self.later("resume", lambda: self.loop.add_reader(self.src.fileno(), self.pump))
            return
        forward(self.src, self.dst, BURST, batch=self.batch, counters=self.counters)
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
