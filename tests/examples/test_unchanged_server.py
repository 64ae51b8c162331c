"""examples/unchanged_server.py: plain asyncio code for a dual-stack kernel socket serves
IPv4 and IPv6 clients on aionetmap through route_datagram_endpoints."""

from __future__ import annotations

import aionetmap
from aionetmap.stack import HostConfig
from aionetmap.testing.protocols import RecordingProtocol
from tests.examples.conftest import StartExample, shm_leftovers


async def test_serves_both_families(example: StartExample, pipe_name: str) -> None:
    server = await example(
        "unchanged_server", f"pipe:{pipe_name}{{0", "10.23.0.1/24", "fd00:23::1/64", "7"
    )
    await server.expect("echo on ('::', 7, 0, 0)")
    client = await aionetmap.open_interface(
        f"pipe:{pipe_name}}}0",
        address="10.23.0.2/24",
        ipv6=["fd00:23::2/64"],
        config=HostConfig(ndp_retrans_timer=0.05),
    )
    try:
        four, rec4 = await client.create_datagram_endpoint(RecordingProtocol, local_port=4000)
        six, rec6 = await client.create_datagram_endpoint(
            RecordingProtocol, local_port=4001, local_ip="fd00:23::2"
        )
        four.sendto(b"over ipv4", ("10.23.0.1", 7))
        assert await server.expect("9 bytes") == "[::ffff:10.23.0.2]:4000 9 bytes"
        six.sendto(b"over ipv6", ("fd00:23::1", 7))
        assert await server.expect("9 bytes") == "[fd00:23::2]:4001 9 bytes"
        await rec4.wait_for(lambda p: len(p.datagrams) == 1)
        await rec6.wait_for(lambda p: len(p.datagrams) == 1)
        assert rec4.datagrams == [(b"over ipv4", ("10.23.0.1", 7))]
        assert rec6.datagrams == [(b"over ipv6", ("fd00:23::1", 7, 0, 0))]
    finally:
        client.close()
    status, rest = await server.interrupt()
    assert (status, rest) == (0, ["stopped"])
    assert not shm_leftovers(pipe_name)
