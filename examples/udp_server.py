"""An await-based UDP server: ``open_udp`` and ``async for``, no protocol class.

    python examples/udp_server.py PORTSPEC A.B.C.D/N [PORT]

Answers every datagram with its upper-case version. ``await sock.sendto()`` waits while
the transport's write buffer is full, so a fast client cannot make it queue without bound.
Any portspec: ``netmap:eth0``, ``packet:eth0`` (AF_PACKET), ``pipe:srv{0`` (software pipe).
"""

from __future__ import annotations

import asyncio
import signal
import sys

import aionetmap


async def serve(sock: aionetmap.UdpSocket) -> int:
    answered = 0
    async for data, addr in sock:  # ends when the socket is closed
        await sock.sendto(data.upper(), addr)
        answered += 1
    return answered


async def main(portspec: str, address: str, port: int) -> None:
    sock = await aionetmap.open_udp(port=portspec, local_addr=(address, port))
    print(f"serving UDP on {address} port {port} through {portspec}", flush=True)
    server = asyncio.create_task(serve(sock))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()

    interface = sock.transport.get_extra_info("netinterface")
    await sock.aclose()
    answered = await server
    interface.close()
    print(f"stopped after answering {answered} datagrams", flush=True)


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) == 4 else 9))
