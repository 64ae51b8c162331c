"""examples/ping_responder.py: answers ARP and ping, and pings a target, on a pipe and a veth."""

from __future__ import annotations

import pytest

import aionetmap
from aionetmap.testing.netns import VethLink
from tests.examples.conftest import StartExample, shm_leftovers


async def test_answers_and_sends_pings_on_the_pipe(example: StartExample, pipe_name: str) -> None:
    # Our end first: the example pings it from its first second on.
    interface = await aionetmap.open_interface(f"pipe:{pipe_name}}}0", address="10.22.0.2/24")
    try:
        responder = await example(
            "ping_responder", f"pipe:{pipe_name}{{0", "10.22.0.1/24", "10.22.0.2"
        )
        await responder.expect("answering ARP and ping for 10.22.0.1/24")
        for _ in range(3):
            assert await interface.ping("10.22.0.1", timeout=5) < 5
        await responder.expect("reply from 10.22.0.2: ")
        await responder.expect("ping replies 3")
        assert interface.stats()["tx_echo_replies"] >= 1  # we answered its pings
    finally:
        interface.close()
    status, _ = await responder.interrupt()
    assert status == 0
    assert not shm_leftovers(pipe_name)


@pytest.mark.netns
async def test_kernel_pings_it_and_it_pings_the_kernel(
    example: StartExample, veth: VethLink
) -> None:
    responder = await example(
        "ping_responder", f"packet:{veth.our_ifname}", f"{veth.our_ip}/24", veth.peer_ip,
        netns=veth.our_netns,
    )  # fmt: skip
    await responder.expect("answering ARP and ping")
    await responder.expect(f"reply from {veth.peer_ip}: ")  # the kernel answered its ping
    ping = veth.peer_exec("ping", "-n", "-c", "3", "-i", "0.2", "-W", "2", veth.our_ip,
                          check=False)  # fmt: skip
    assert "3 packets transmitted, 3 received" in ping.stdout, ping.stdout + ping.stderr
    await responder.expect("ping replies 3")
    status, _ = await responder.interrupt()
    assert status == 0
