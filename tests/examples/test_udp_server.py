"""examples/udp_server.py: the await-based server (open_udp, async for) answers in upper case."""

from __future__ import annotations

import asyncio

import aionetmap
from tests.examples.conftest import StartExample, shm_leftovers


async def test_answers_each_datagram_in_upper_case(example: StartExample, pipe_name: str) -> None:
    server = await example("udp_server", f"pipe:{pipe_name}{{0", "10.21.0.1/24")
    await server.expect("serving UDP on 10.21.0.1/24 port 9")
    sock = await aionetmap.open_udp(port=f"pipe:{pipe_name}}}0", local_addr=("10.21.0.2/24", 0))
    interface = sock.transport.get_extra_info("netinterface")
    await sock.sendto(b"warm up", ("10.21.0.1", 9))  # ARP resolves on the first one
    assert await asyncio.wait_for(sock.recv(), 5) == b"WARM UP"
    words = [b"netmap", b"asyncio", b"uvloop"] * 100
    for word in words:  # back to back: the server's sendto must keep up without losing any
        await sock.sendto(word, ("10.21.0.1", 9))
    async with asyncio.timeout(10):
        answers = [await sock.recvfrom() for _ in words]
    assert answers == [(word.upper(), ("10.21.0.1", 9)) for word in words]
    await sock.aclose()
    interface.close()
    status, rest = await server.interrupt()
    assert (status, rest) == (0, [f"stopped after answering {len(words) + 1} datagrams"])
    assert not shm_leftovers(pipe_name)
