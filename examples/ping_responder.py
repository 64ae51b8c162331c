"""A host that answers ARP and ping, and pings another host: no UDP, just the stack.

    python examples/ping_responder.py PORTSPEC A.B.C.D/N [TARGET]

``open_interface`` puts aionetmap's user-space host on the port: it announces itself with
a gratuitous ARP, answers ARP requests and ICMP echo requests for its address, and, with
TARGET, pings TARGET once a second (``NetInterface.ping``). Counters every second; Ctrl-C
stops it. Any portspec: ``netmap:eth0``, ``packet:eth0`` (AF_PACKET), ``pipe:ping{0``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time

import aionetmap


async def ping_forever(interface: aionetmap.NetInterface, target: str) -> None:
    while True:
        start = time.perf_counter()
        try:
            await interface.ping(target, timeout=1.0)
            print(f"reply from {target}: {(time.perf_counter() - start) * 1e3:.3f} ms", flush=True)
        except TimeoutError:
            print(f"no reply from {target}", flush=True)
        await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - start)))


async def main(portspec: str, address: str, target: str | None) -> None:
    interface = await aionetmap.open_interface(portspec, address=address)
    print(f"answering ARP and ping for {address} on {portspec}", flush=True)
    pinger = asyncio.create_task(ping_forever(interface, target)) if target else None

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
        st = interface.stats()
        print(f"ARP replies {st['tx_arp_replies']}, ping replies {st['tx_echo_replies']}",
              flush=True)  # fmt: skip

    if pinger is not None:
        pinger.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pinger
    interface.close()


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) == 4 else None))
