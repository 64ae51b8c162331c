"""The fast path's send side for IPv6 and IPv4 groups, through the endpoint API over the
software pipe: what it builds in C (the host's own ``stats.tx_udp`` counts only what the
host built; ``iface.stats()`` adds the fast path's), what still goes through the host
(unresolved neighbours: NDP, then delivery), and the order of a dual-stack queue."""

from __future__ import annotations

from typing import Any

import aionetmap
from aionetmap.ports.pipe import PipePort, pipe_pair
from aionetmap.testing.protocols import RecordingProtocol
from tests.transport.helpers import open_dual_stack_pair, wait_datagrams

GROUP = "239.1.2.3"


async def _warmed_up(
    server: aionetmap.NetInterface, client: aionetmap.NetInterface
) -> tuple[aionetmap.UdpTransport, Any]:
    """A ``::`` server endpoint on port 7 and a ``::`` client endpoint that has sent it one
    datagram over IPv4 (mapped) and one over IPv6, both arrived: each host knows the other
    on both families, so what follows is built in C on the fast path. Returns the client's
    transport and the server's :class:`RecordingProtocol` (holding the two)."""
    _, srec = await server.create_datagram_endpoint(RecordingProtocol, local_port=7, local_ip="::")
    ct, _ = await client.create_datagram_endpoint(RecordingProtocol, local_ip="::")
    ct.sendto(b"warm4", ("::ffff:10.0.0.1", 7))
    ct.sendto(b"warm6", ("2001:db8::1", 7))
    await wait_datagrams(srec, 2)
    return ct, srec


async def test_ipv6_datagrams_are_built_by_the_fast_path(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    """The first datagram to an unresolved neighbour goes through the host (NDP
    solicits, the datagram waits, then arrives); once the neighbour is known the rest
    are built in C, to a global and to a link-local destination alike."""
    server, client = await open_dual_stack_pair(pipe, fast_path)
    try:
        _, srec = await server.create_datagram_endpoint(
            RecordingProtocol, local_port=7, local_ip="::"
        )
        ct, _ = await client.create_datagram_endpoint(RecordingProtocol, local_ip="::")
        ct.sendto(b"first", ("2001:db8::1", 7))
        await wait_datagrams(srec, 1)
        assert client.host.stats.tx_neighbor_solicits >= 1
        assert client.host.stats.tx_udp == 1  # parked in the host until NDP answered
        link_local = str(server.host.ipv6.interfaces()[0].ip)  # type: ignore[union-attr]
        sent = [(f"n{i}".encode() * (i + 1), "2001:db8::1") for i in range(20)]
        ct.sendto(b"ll", (link_local, 7))
        await wait_datagrams(srec, 2)
        for data, dst in sent:
            ct.sendto(data, (dst, 7))
        await wait_datagrams(srec, 22)
        port = ct.get_extra_info("sockname")[1]
        assert srec.datagrams[0] == (b"first", ("2001:db8::2", port, 0, 0))
        assert srec.datagrams[1][0] == b"ll"
        assert srec.datagrams[1][1][0].startswith("fe80::")  # the link-local source
        assert [d for d, _ in srec.datagrams[2:]] == [d for d, _ in sent]
        assert client.stats()["tx_udp"] == 22
        # The link-local peer was learned from the server's own solicitation, or is
        # resolved through the host at first: at most one more datagram went there.
        assert client.host.stats.tx_udp <= (2 if fast_path else 22)
        assert client.host.stats.tx_udp >= (1 if fast_path else 22)
    finally:
        client.close()
        server.close()


async def test_dual_stack_queue_keeps_its_order(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    """A ``::`` endpoint queueing IPv4 and IPv6 datagrams alternately (runs of one, two
    and three): they arrive in the order sent, built in C once both peers are known."""
    server, client = await open_dual_stack_pair(pipe, fast_path)
    try:
        ct, srec = await _warmed_up(server, client)
        before = client.host.stats.tx_udp
        families = [("::ffff:10.0.0.1", "2001:db8::1")[(i // 3 + i) % 2] for i in range(60)]
        for i, dst in enumerate(families):
            ct.sendto(b"%d" % i, (dst, 7))
        await wait_datagrams(srec, 62)
        got = srec.datagrams[2:]
        assert [d for d, _ in got] == [b"%d" % i for i in range(60)]
        port = ct.get_extra_info("sockname")[1]
        expect_src = {"::ffff:10.0.0.1": "::ffff:10.0.0.2", "2001:db8::1": "2001:db8::2"}
        assert [src for _, src in got] == [(expect_src[d], port, 0, 0) for d in families]
        assert client.host.stats.tx_udp - before == (0 if fast_path else 60)
    finally:
        client.close()
        server.close()


async def test_group_datagrams_are_built_by_the_fast_path_and_looped(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    """To a group the fast path builds the frame (no ARP needed) and the host still
    loops a copy to our own member; the peer gets every one, with the TTL set."""
    server, client = await open_dual_stack_pair(pipe, fast_path)
    try:
        member, mrec = await server.create_datagram_endpoint(
            RecordingProtocol, local_port=5000, local_ip="0.0.0.0"
        )
        member.join_group(GROUP)
        sender, own = await client.create_datagram_endpoint(
            RecordingProtocol, local_port=5000, local_ip="0.0.0.0"
        )
        sender.join_group(GROUP)
        sender.set_multicast_ttl(3)
        for i in range(10):
            sender.sendto(b"g%d" % i, (GROUP, 5000))
        await wait_datagrams(mrec, 10)
        await wait_datagrams(own, 10)
        expect = [(b"g%d" % i, ("10.0.0.2", 5000)) for i in range(10)]
        assert mrec.datagrams == expect
        assert own.datagrams == expect  # IP_MULTICAST_LOOP
        assert client.host.stats.tx_udp == (0 if fast_path else 10)
        assert client.stats()["tx_udp"] == 10
        assert client.host.stats.tx_multicast == 10
        assert client.host.stats.tx_multicast_looped == 10
        sender.set_multicast_loop(False)
        sender.sendto(b"quiet", (GROUP, 5000))
        await wait_datagrams(mrec, 11)
        assert len(own.datagrams) == 10
    finally:
        client.close()
        server.close()


async def test_dual_stack_order_survives_a_full_ring(fast_path: bool) -> None:
    """Frames that take two slots each fill the ring in the middle of a chunk: the rest of
    the chunk, and the runs of the other family after it, wait in order behind them."""
    a, b = pipe_pair(slots=64, buf_size=1024)
    try:
        server, client = await open_dual_stack_pair((a, b), fast_path)
        try:
            ct, srec = await _warmed_up(server, client)
            dsts = [("::ffff:10.0.0.1", "2001:db8::1")[(i // 5) % 2] for i in range(150)]
            for i, dst in enumerate(dsts):
                ct.sendto(b"%04d" % i + bytes(1100), (dst, 7))
            await wait_datagrams(srec, 152)
            assert [d[:4] for d, _ in srec.datagrams[2:]] == [b"%04d" % i for i in range(150)]
        finally:
            client.close()
            server.close()
    finally:
        a.close()
        b.close()
