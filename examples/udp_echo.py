"""UDP echo server on a netmap port: a plain asyncio DatagramProtocol, served by aionetmap.

    python examples/udp_echo.py PORTSPEC A.B.C.D/N [PORT]
    python examples/udp_echo.py netmap:eth0 192.0.2.10/24 7

The protocol is the one you would hand to ``loop.create_datagram_endpoint``; aionetmap's
user-space stack owns the address (it answers ARP and ping too). Without netmap, use
``packet:eth0`` (AF_PACKET, as root) or the software pipe ``pipe:echo{0``, whose other
end ``pipe:echo}0`` another program can open. Ctrl-C stops it.
"""

from __future__ import annotations

import asyncio
import signal
import sys

import aionetmap


class Echo(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.echoed = 0
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.DatagramTransport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(data, addr)
        self.echoed += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set_result(None)


async def main(portspec: str, address: str, port: int) -> None:
    transport, echo = await aionetmap.create_datagram_endpoint(
        Echo, port=portspec, local_addr=(address, port)
    )
    print(f"echoing UDP on {address} port {port} through {portspec}", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()

    interface = transport.get_extra_info("netinterface")  # shared by endpoints on the port
    transport.close()
    await echo.closed
    interface.close()  # closes the port now instead of when the loop gets round to it
    print(f"stopped after echoing {echo.echoed} datagrams", flush=True)


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) == 4 else 7))
