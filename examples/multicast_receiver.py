"""A multicast feed receiver: join IPv4 groups and print every datagram they deliver.

    python examples/multicast_receiver.py PORTSPEC A.B.C.D/N PORT GROUP [GROUP ...]

The socket is bound to the wildcard address (as a kernel socket must be to receive a
group) and joins each group, like ``IP_ADD_MEMBERSHIP``: the interface sends the IGMP
membership reports that switches with IGMP snooping need, answers the router's queries,
and leaves the groups (sending IGMP leaves) when the socket closes. Each datagram is
printed as ``SOURCE:PORT LENGTH TEXT``. Any portspec: ``netmap:eth0``, ``packet:eth0``
(AF_PACKET), ``pipe:feed{0`` (software pipe).
"""

from __future__ import annotations

import asyncio
import signal
import sys

import aionetmap


async def print_feed(sock: aionetmap.UdpSocket) -> int:
    received = 0
    async for data, (source, port) in sock:  # ends when the socket is closed
        text = data.decode("utf-8", "replace")
        print(f"{source}:{port} {len(data)} {text}", flush=True)
        received += 1
    return received


async def main(portspec: str, address: str, port: int, groups: list[str]) -> None:
    sock = await aionetmap.open_udp(port=portspec, address=address, local_addr=("0.0.0.0", port))
    for group in groups:
        sock.join_group(group)
    print(f"receiving {', '.join(groups)} port {port} on {address} through {portspec}", flush=True)
    reader = asyncio.create_task(print_feed(sock))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()

    interface = sock.transport.get_extra_info("netinterface")
    await sock.aclose()  # leaves the groups
    received = await reader
    interface.close()
    print(f"stopped after {received} datagrams", flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]))
