"""IPv4 multicast against the kernel over a veth pair, at the stack level: the host joins a
group with the stack API (``iface.host.join_group``; the transports' join/leave methods
come later) and a kernel socket in the peer namespace sends to it. Datagrams to the
joined group reach the wildcard endpoint, which echoes them from our unicast address;
datagrams to another group with the same MAC address do not (``drop_mcast_not_joined``).

Both receive paths (the C fast path hands group datagrams to Python), both loops.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from aionetmap.testing.netns import VethLink
from tests.integration.kernel_peer import KernelUdp, serve, wait_until

pytestmark = pytest.mark.netns

GROUP, ALIAS = "239.1.2.3", "239.129.2.3"  # one group MAC: only 23 bits are mapped


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast", "python"])
async def test_kernel_sender_reaches_a_joined_group_only(veth: VethLink, fast_path: bool) -> None:
    async with serve(veth, fast_path=fast_path, wildcard=True) as served:
        served.iface.host.join_group(GROUP, 7, asyncio.get_running_loop().time())
        ours = (veth.our_ip, 7)
        with KernelUdp(veth) as client:
            # Send out of the veth (the peer namespace has no multicast route).
            client.sock.setsockopt(
                socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(veth.peer_ip)
            )
            client.sendto(b"not joined", (ALIAS, 7))
            await wait_until(lambda: served.stats()["drop_mcast_not_joined"] == 1, what="dropped")
            for size in (0, 100, 1472):
                data = bytes([size & 0xFF]) * size
                client.sendto(data, (GROUP, 7))
                await client.expect(data, ours)  # the echo: unicast, from our address
        stats = served.stats()
        assert stats["rx_multicast"] == 3
        assert stats["tx_port_unreachable"] == 0
        assert [d for d, _ in client.received] == [b"", bytes([100]) * 100, bytes([0xC0]) * 1472]
