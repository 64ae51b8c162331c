"""IPv4 multicast against the kernel over a veth pair, at the stack level: the host joins a
group with the stack API (``iface.host.join_group``; test_kernel_multicast_api.py tests
the transports' join/leave methods) and a kernel socket in the peer namespace sends to
it. Datagrams to the
joined group reach the wildcard endpoint, which echoes them from our unicast address;
datagrams to another group with the same MAC address do not (``drop_mcast_not_joined``).

Both receive paths (the C fast path hands group datagrams to Python), both loops.
"""

from __future__ import annotations

import asyncio
import json
import socket

import pytest
from scapy.layers.l2 import ARP, Ether

from aionetmap.testing.netns import VethLink
from tests.integration.kernel_peer import FrameInjector, KernelUdp, serve, wait_until

pytestmark = pytest.mark.netns

GROUP, ALIAS = "239.1.2.3", "239.129.2.3"  # one group MAC: only 23 bits are mapped
STRANGER, STRANGER_MAC = "10.99.0.1", "02:00:00:00:00:99"


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


def snooping_querier(link: VethLink) -> None:
    """Make the kernel's end of ``link`` a port of a bridge that snoops IGMP and queries
    as a LAN switch does, from 0.0.0.0: IGMPv3, two startup queries 0.5 s apart to be
    answered within 1 s, then the default 125 s. A membership it learns lasts the
    default 260 s unless a leave ends it (then two group queries 0.5 s apart)."""
    made = link.peer_exec(
        "ip", "link", "add", "br0", "type", "bridge", "mcast_snooping", "1",
        "mcast_querier", "1", "mcast_igmp_version", "3", "mcast_startup_query_interval", "50",
        "mcast_query_response_interval", "100", "mcast_last_member_interval", "50",
        check=False,
    )  # fmt: skip
    if made.returncode != 0:
        pytest.skip("this kernel cannot make an IGMP-snooping bridge: " + made.stderr.strip())
    link.peer_exec("ip", "link", "set", link.peer_ifname, "master", "br0")
    link.peer_exec("ip", "link", "set", "br0", "up")


def snooped_groups(link: VethLink) -> set[str]:
    """The groups the bridge learnt on its port to us (``bridge mdb``)."""
    out = link.peer_exec("bridge", "-j", "mdb", "show", "dev", "br0").stdout
    entries = [e for block in json.loads(out or "[]") for e in block.get("mdb", [])]
    return {e["grp"] for e in entries if e.get("port") == link.peer_ifname}


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast", "python"])
async def test_kernel_snooping_querier_learns_and_forgets_our_group(
    veth: VethLink, fast_path: bool
) -> None:
    """The kernel bridge's queries (from 0.0.0.0) are answered, and the reports are
    valid IGMP to it: it learns the group, and forgets it after our leave (long before
    the membership would time out)."""
    snooping_querier(veth)
    async with serve(veth, fast_path=fast_path, wildcard=True) as served:
        loop = asyncio.get_running_loop()
        served.iface.host.join_group(GROUP, 7, loop.time())
        await wait_until(lambda: GROUP in snooped_groups(veth), what="group learnt")
        # Its queries are answered: reports beyond the join's two.
        await wait_until(
            lambda: (
                served.stats()["rx_igmp_queries"] >= 1 and served.stats()["tx_igmp_reports"] >= 3
            ),
            what="a query answered",
        )
        assert served.stats()["dropped"] == served.stats()["drop_eth_multicast"]
        served.iface.host.leave_group(GROUP, 7, loop.time())
        # The glue does not know of this stack-level leave (UdpTransport.leave_group does):
        # any frame for Python, here an ARP request, makes it send what the host queued.
        with FrameInjector(veth) as injector:
            injector.send(bytes(Ether(src=STRANGER_MAC) / ARP(psrc=STRANGER, pdst=veth.our_ip)))
        await wait_until(lambda: GROUP not in snooped_groups(veth), what="group forgotten")
