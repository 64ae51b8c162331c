"""IPv4 multicast through the real glue, on both loops and both paths: the host joins a
group with the stack API (``iface.host.join_group``; test_multicast_api.py tests the
transport's own join/leave methods), a sans-I/O peer on the far end of the pipe sends to
the group, and
the wildcard endpoint gets the datagrams (the C classifier hands them to Python), while
an unjoined group and a joined group's unbound port get nothing. The echo leaves from the
unicast address, to the peer's unicast MAC."""

from __future__ import annotations

import aionetmap
from aionetmap.ports.pipe import PipePort
from aionetmap.testing.protocols import EchoProtocol
from tests.transport.helpers import OUR_IP, PEER_MAC
from tests.transport.test_l2_parity import SERVER_PORT, Peer

GROUP, OTHER = "239.1.2.3", "239.129.2.3"  # the same group MAC: only 23 bits are mapped


async def test_joined_group_reaches_a_wildcard_endpoint(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    ours, theirs = pipe
    iface = await aionetmap.open_interface(ours, address=f"{OUR_IP}/24", fast_path=fast_path)
    try:
        await iface.create_datagram_endpoint(
            EchoProtocol, local_port=SERVER_PORT, local_ip="0.0.0.0"
        )
        iface.host.join_group(GROUP, SERVER_PORT, 0.0)
        peer = Peer(theirs)
        peer.send(b"not joined", (OTHER, SERVER_PORT))
        peer.send(b"no port", (GROUP, SERVER_PORT + 1))
        peer.send(b"feed", (GROUP, SERVER_PORT))
        await peer.pump_until(lambda: len(peer.datagrams) == 1)
        assert peer.datagrams == [(b"feed", (OUR_IP, SERVER_PORT))]
        stats = iface.stats()
        assert stats["rx_multicast"] == 1
        assert stats["drop_mcast_not_joined"] == 1
        assert stats["drop_udp_no_listener"] == 1
        assert stats["tx_port_unreachable"] == 0  # no ICMP errors about multicast
        echoes = [f for f in peer.frames if f[12:14] == b"\x08\x00" and f[23] == 17]
        assert len(echoes) == 1
        assert echoes[0][:6] == PEER_MAC
        assert echoes[0][26:34] == bytes([10, 0, 0, 1, 10, 0, 0, 2])
    finally:
        iface.close()
