"""examples/multicast_receiver.py: prints what its joined groups deliver, and only that."""

from __future__ import annotations

import aionetmap
from tests.examples.conftest import StartExample, shm_leftovers


async def test_prints_the_feed_of_its_groups(example: StartExample, pipe_name: str) -> None:
    receiver = await example(
        "multicast_receiver", f"pipe:{pipe_name}{{0", "10.22.0.1/24", "5000", "239.1.2.3"
    )
    await receiver.expect("receiving 239.1.2.3 port 5000 on 10.22.0.1/24")
    sock = await aionetmap.open_udp(port=f"pipe:{pipe_name}}}0", local_addr=("10.22.0.2/24", 4000))
    interface = sock.transport.get_extra_info("netinterface")
    await sock.sendto(b"other group", ("239.1.2.4", 5000))
    await sock.sendto(b"other port", ("239.1.2.3", 5001))
    for i in range(3):
        await sock.sendto(b"tick %d" % i, ("239.1.2.3", 5000))
    for i in range(3):
        assert await receiver.expect(f"tick {i}") == f"10.22.0.2:4000 6 tick {i}"
    await sock.aclose()
    interface.close()
    status, rest = await receiver.interrupt()
    assert (status, rest) == (0, ["stopped after 3 datagrams"])
    assert receiver.lines[1:] == [
        *(f"10.22.0.2:4000 6 tick {i}" for i in range(3)),
        "stopped after 3 datagrams",
    ]
    assert not shm_leftovers(pipe_name)
