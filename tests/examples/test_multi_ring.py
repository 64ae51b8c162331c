"""examples/multi_ring.py: one process and event loop per "ring", here one software pipe each
(no multi-queue netmap NIC on the test machines)."""

from __future__ import annotations

import asyncio
import os
from ipaddress import IPv4Address

import aionetmap
from tests.examples.conftest import StartExample, shm_leftovers

RINGS = 3


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_each_ring_is_served_by_its_own_process(
    example: StartExample, pipe_name: str
) -> None:
    parent = await example("multi_ring", f"pipe:{pipe_name}r{{ring}}{{0", "10.24.0.1/24",
                           str(RINGS), "7")  # fmt: skip
    pids = set()
    for _ in range(RINGS):
        line = await parent.expect(" serving ")
        pids.add(int(line.split(" pid ")[1].split()[0]))
    assert len(pids) == RINGS
    assert parent.pid not in pids

    macs = set()
    for ring in range(RINGS):
        sock = await aionetmap.open_udp(
            port=f"pipe:{pipe_name}r{ring}}}0", local_addr=(f"10.24.0.{10 + ring}/24", 5000)
        )
        interface = sock.transport.get_extra_info("netinterface")
        try:
            for i in range(ring + 1):  # a different count per ring, checked below
                await sock.sendto(b"ring %d #%d" % (ring, i), ("10.24.0.1", 7))
                assert await asyncio.wait_for(sock.recv(), 10) == b"ring %d #%d" % (ring, i)
            now = asyncio.get_running_loop().time()
            macs.add(interface.host.cached_mac(IPv4Address("10.24.0.1"), now))
        finally:
            await sock.aclose()
            interface.close()
    assert len(macs) == 1  # every ring answers ARP with the same MAC
    assert None not in macs

    status, rest = await parent.interrupt()
    assert status == 0
    assert sorted(line for line in rest if "echoed" in line) == [
        f"ring {ring}: echoed {ring + 1} datagrams" for ring in range(RINGS)
    ]
    for pid in pids:  # the workers are gone
        assert not _alive(pid)
    assert not shm_leftovers(pipe_name)
