"""One process per ring, each with its own event loop: scaling a UDP echo across NIC queues.

    python examples/multi_ring.py PORTSPEC_TEMPLATE A.B.C.D/N RINGS [PORT]
    python examples/multi_ring.py 'netmap:eth0-{ring}' 192.0.2.10/24 4

A multi-queue NIC spreads flows over its rings (RSS); ``netmap:eth0-K`` binds ring K alone,
so K processes, each running its own uvloop (asyncio's loop if uvloop is missing), serve
one ring each without sharing anything, the way netmap programs scale across cores. All
of them own the same IP and MAC address.

``{ring}`` in the template becomes the ring number. Any portspec works, which is how this
is tested without a multi-queue netmap NIC: one software pipe per "ring"
(``pipe:rss{ring}{0``, the clients on ``pipe:rss{ring}}0``) or one AF_PACKET interface per
ring (``packet:veth{ring}``). Ctrl-C (or SIGTERM to the parent) stops every worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import sys
from collections.abc import Coroutine
from typing import Any

import aionetmap


def say(line: str) -> None:
    """Print a line in one write: the workers share stdout, and lines must not interleave."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Echo(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.echoed = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.DatagramTransport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(data, addr)
        self.echoed += 1


async def serve_ring(ring: int, spec: str, address: str, port: int, mac: bytes) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with contextlib.closing(aionetmap.open_port(spec)) as netport:
        # The NIC's own MAC when the port knows it, else the one the parent chose for all.
        interface = await aionetmap.open_interface(
            netport, address=address, mac=netport.info.mac or mac
        )
        transport, echo = await interface.create_datagram_endpoint(Echo, local_port=port)
        say(f"ring {ring}: pid {os.getpid()} serving {spec}")
        await stop.wait()
        transport.close()
        interface.close()
    say(f"ring {ring}: echoed {echo.echoed} datagrams")


def run_worker(ring: int, spec: str, address: str, port: int, mac: bytes) -> None:
    main: Coroutine[Any, Any, None] = serve_ring(ring, spec, address, port, mac)
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def main(template: str, address: str, rings: int, port: int) -> int:
    mac = bytes([0x02]) + os.urandom(5)  # locally administered, shared by every ring
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter and loop per ring
    workers = [
        spawn.Process(
            target=run_worker,
            args=(ring, template.replace("{ring}", str(ring)), address, port, mac),
        )
        for ring in range(rings)
    ]

    def stop_workers(signum: int, frame: object) -> None:
        for worker in workers:
            if worker.pid is not None and worker.exitcode is None:
                os.kill(worker.pid, signal.SIGTERM)

    signal.signal(signal.SIGINT, stop_workers)
    signal.signal(signal.SIGTERM, stop_workers)
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return max(worker.exitcode or 0 for worker in workers)


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    port = int(sys.argv[4]) if len(sys.argv) == 5 else 7
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), port))
