"""examples/udp_echo.py: the asyncio echo protocol on a port, against aionetmap and the kernel."""

from __future__ import annotations

import asyncio
import socket

import pytest

import aionetmap
from aionetmap.testing.netns import VethLink
from tests.examples.conftest import StartExample, shm_leftovers


async def test_echo_on_the_software_pipe(example: StartExample, pipe_name: str) -> None:
    server = await example("udp_echo", f"pipe:{pipe_name}{{0", "10.20.0.1/24", "7")
    await server.expect("echoing UDP on 10.20.0.1/24 port 7")
    sock = await aionetmap.open_udp(port=f"pipe:{pipe_name}}}0", local_addr=("10.20.0.2/24", 0))
    interface = sock.transport.get_extra_info("netinterface")
    for i in range(10):
        await sock.sendto(b"datagram %d" % i, ("10.20.0.1", 7))
        assert await asyncio.wait_for(sock.recvfrom(), 5) == (b"datagram %d" % i, ("10.20.0.1", 7))
    await sock.aclose()
    interface.close()
    status, rest = await server.interrupt()
    assert status == 0
    assert rest == ["stopped after echoing 10 datagrams"]
    assert not shm_leftovers(pipe_name)


@pytest.mark.netns
async def test_echo_for_a_kernel_client_over_veth(example: StartExample, veth: VethLink) -> None:
    server = await example(
        "udp_echo", f"packet:{veth.our_ifname}", f"{veth.our_ip}/24", "5005", netns=veth.our_netns
    )
    await server.expect("echoing UDP")
    client = veth.peer_socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.settimeout(5)
    for i in range(3):  # the first one waits for the kernel's ARP request to be answered
        await asyncio.to_thread(client.sendto, b"kernel %d" % i, (veth.our_ip, 5005))
        data, addr = await asyncio.to_thread(client.recvfrom, 2048)
        assert (data, addr) == (b"kernel %d" % i, (veth.our_ip, 5005))
    status, rest = await server.interrupt()
    assert (status, rest) == (0, ["stopped after echoing 3 datagrams"])
