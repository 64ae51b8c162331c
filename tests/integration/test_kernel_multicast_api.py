"""IPv4 multicast against the kernel over a veth pair, through the endpoint API
(``UdpTransport.join_group``, ``leave_group``, ``close``, ``sendto`` to a group), on both
receive paths and both loops:

* a kernel sender's datagrams reach the endpoint once it joined, and not before or after;
* a kernel bridge snooping IGMP (and querying) learns the group from our join, sees its
  queries answered, and forgets the group on our leave and on our close: the glue sends
  the reports the host queued without any other traffic to trigger it;
* a kernel receiver joined to a group gets what the endpoint sends to it, with the TTL
  the endpoint set (on the fast path, built in C).
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from aionetmap.testing.netns import VethLink
from tests.integration.kernel_peer import KernelUdp, serve, wait_until
from tests.integration.test_kernel_multicast_stack import snooped_groups, snooping_querier

pytestmark = pytest.mark.netns

GROUP, OTHER = "239.1.2.3", "239.1.2.4"
IP_RECVTTL = 12  # <linux/in.h>; the socket module does not export it


def _send_out_of_veth(client: KernelUdp, link: VethLink) -> None:
    # The peer namespace has no multicast route: name the interface by its address.
    client.sock.setsockopt(
        socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(link.peer_ip)
    )


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast", "python"])
async def test_kernel_sender_reaches_the_endpoint_only_while_joined(
    veth: VethLink, fast_path: bool
) -> None:
    async with serve(veth, fast_path=fast_path, wildcard=True) as served:
        with KernelUdp(veth) as client:
            _send_out_of_veth(client, veth)
            client.sendto(b"before join", (GROUP, 7))
            client.sendto(b"marker", (veth.our_ip, 7))  # past it: the group's was handled
            await client.expect(b"marker", (veth.our_ip, 7))
            served.transport.join_group(GROUP)
            client.sendto(b"other group", (OTHER, 7))
            client.sendto(b"joined", (GROUP, 7))
            await client.expect(b"joined", (veth.our_ip, 7))  # echoed, from our address
            served.transport.leave_group(GROUP)
            client.sendto(b"after leave", (GROUP, 7))
            client.sendto(b"unicast", (veth.our_ip, 7))
            await client.expect(b"unicast", (veth.our_ip, 7))
        assert [d for d, _ in client.received] == [b"marker", b"joined", b"unicast"]
        assert served.stats()["rx_multicast"] == 1


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast", "python"])
async def test_kernel_snooping_querier_follows_join_leave_and_close(
    veth: VethLink, fast_path: bool
) -> None:
    snooping_querier(veth)
    async with serve(veth, fast_path=fast_path, wildcard=True) as served:
        served.transport.join_group(GROUP)
        await wait_until(lambda: GROUP in snooped_groups(veth), what="group learnt")
        # The general query is answered: reports beyond the join's two.
        await wait_until(
            lambda: (
                served.stats()["rx_igmp_queries"] >= 1 and served.stats()["tx_igmp_reports"] >= 3
            ),
            what="a query answered",
        )
        served.transport.leave_group(GROUP)  # nothing else reaches the host after it
        await wait_until(lambda: GROUP not in snooped_groups(veth), what="group forgotten")
        served.transport.join_group(OTHER)
        await wait_until(lambda: OTHER in snooped_groups(veth), what="other group learnt")
        served.transport.close()
        await wait_until(lambda: OTHER not in snooped_groups(veth), what="left on close")


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast", "python"])
async def test_kernel_receiver_gets_what_we_send_to_its_group(
    veth: VethLink, fast_path: bool
) -> None:
    async with serve(veth, fast_path=fast_path) as served:
        with KernelUdp(veth, port=5000, bind_ip="0.0.0.0") as receiver:
            membership = socket.inet_aton(GROUP) + socket.inet_aton(veth.peer_ip)
            receiver.sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
            for size in (0, 100, 1472):
                data = bytes([size & 0xFF]) * size
                served.transport.sendto(data, (GROUP, 5000))
                await receiver.expect(data, (veth.our_ip, 7))
            served.transport.sendto(b"not its group", (OTHER, 5000))
            served.transport.sendto(b"last", (GROUP, 5000))
            await receiver.expect(b"last", (veth.our_ip, 7))
        assert b"not its group" not in [d for d, _ in receiver.received]
        assert served.stats()["tx_multicast"] == 5


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast", "python"])
async def test_kernel_receiver_sees_our_multicast_ttl(veth: VethLink, fast_path: bool) -> None:
    """The TTL the kernel reads (IP_RECVTTL) is the endpoint's IP_MULTICAST_TTL, 1 by
    default; on the fast path the frames are built in C (the host built none) and still
    counted by the host."""
    async with serve(veth, fast_path=fast_path, wildcard=True) as served:
        with KernelUdp(veth, port=5000, bind_ip="0.0.0.0", watch=False) as receiver:
            sock = receiver.sock
            membership = socket.inet_aton(GROUP) + socket.inet_aton(veth.peer_ip)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
            sock.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
            ttls: list[int] = []
            for ttl, data in ((None, b"default"), (9, b"nine"), (0, b"zero")):
                if ttl is not None:
                    served.transport.set_multicast_ttl(ttl)
                served.transport.sendto(data, (GROUP, 5000))
                if ttl == 0:
                    continue  # Linux's own TTL 0 never leaves; ours does, as sent
                async with asyncio.timeout(10):
                    while True:
                        try:
                            got, anc, _, _ = sock.recvmsg(2048, socket.CMSG_SPACE(4))
                            break
                        except BlockingIOError:
                            await asyncio.sleep(0.005)
                assert got == data
                ttls.extend(int.from_bytes(c[2][:4], "little") for c in anc)
            assert ttls == [1, 9]
            await wait_until(lambda: served.stats()["tx_multicast"] == 3, what="all sent")
            assert served.iface.host.stats.tx_udp == (0 if fast_path else 3)
