"""Run asyncio UDP code written for kernel sockets, unchanged, on aionetmap.

    python examples/unchanged_server.py PORTSPEC A.B.C.D/N IPV6/N PORT

``serve_forever`` below is ordinary asyncio code: a dual-stack echo server made with
``loop.create_datagram_endpoint(local_addr=("::", port))``, as one writes it for an
AF_INET6 kernel socket (IPv4 clients appear as ``::ffff:a.b.c.d``). It knows nothing of
aionetmap. ``main`` opens an aionetmap interface with both addresses and runs it inside
``aionetmap.route_datagram_endpoints(interface)``, which makes the loop's
``create_datagram_endpoint`` create aionetmap endpoints on that interface: the same code
then serves IPv4 and IPv6 clients on ``netmap:eth0``, ``packet:eth0`` or ``pipe:lab{0``.
Library code that makes its own endpoints (aioquic's ``connect()`` and ``serve()``, for
one) runs the same way.
"""

from __future__ import annotations

import asyncio
import signal
import sys

import aionetmap


class Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.DatagramTransport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int, int, int]) -> None:
        print(f"[{addr[0]}]:{addr[1]} {len(data)} bytes", flush=True)
        self.transport.sendto(data, addr)


async def serve_forever(port: int, stop: asyncio.Event) -> None:
    """Plain asyncio: nothing here is aionetmap's."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(Echo, local_addr=("::", port))
    print(f"echo on {transport.get_extra_info('sockname')}", flush=True)
    try:
        await stop.wait()
    finally:
        transport.close()


async def main(portspec: str, address: str, address6: str, port: int) -> None:
    interface = await aionetmap.open_interface(portspec, address=address, ipv6=[address6])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        with aionetmap.route_datagram_endpoints(interface):
            await serve_forever(port, stop)
    finally:
        interface.close()
    print("stopped", flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
