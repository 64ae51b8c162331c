"""IPv6 UDP and IPv4 group datagrams are delivered by the C fast path (the host no longer
sees them), to the same endpoints, in the same form and with the same ``stats()`` as the
pure-Python path: one scenario run on both paths, on both loops."""

from __future__ import annotations

import asyncio
from typing import Any

from aionetmap.testing import pipe_pair
from aionetmap.testing.protocols import RecordingProtocol
from tests.transport.helpers import open_dual_stack_pair, wait_datagrams

GROUP, OTHER_GROUP = "239.1.2.3", "239.1.2.4"
SERVER6, CLIENT6 = "2001:db8::1", "2001:db8::2"
TIMED = ("stack_tx_frames", "tx_igmp_reports", "tx_mld_reports")
"""Counters of reports the hosts' timers repeat at random times (RFC 3376, RFC 3810)."""
DELIVERED = 11
"""``rx_udp_delivered`` of the scenario: 7 IPv6 datagrams to bound ports (two of which
the interface then drops by family), 2 IPv4 unicast ones and 2 to the joined group."""


def _udp_kind(frame: bytes) -> str | None:
    """ "udp6" for IPv6 UDP to a unicast address, "group" for IPv4 UDP to a group."""
    if frame[12:14] == b"\x86\xdd" and frame[20] == 17 and frame[38] != 0xFF:
        return "udp6"
    if frame[12:14] == b"\x08\x00" and frame[23] == 17 and frame[30] >> 4 == 0xE:
        return "group"
    return None


async def _scenario(fast_path: bool) -> tuple[dict[str, Any], dict[str, int], list[str]]:
    """Every kind of IPv6 and group datagram the fast path now takes or leaves to the
    host, then one marker datagram: when it has arrived, so has everything before it.
    Returns what each server endpoint heard, ``stats()``, and the kinds of the UDP frames
    the host itself received."""
    a, b = pipe_pair(slots=256)
    server, client = await open_dual_stack_pair((a, b), fast_path)
    try:
        seen: list[str] = []
        receive = server.host.receive_frame

        def spy(frame: Any, now: float, csum: int = 0) -> None:
            kind = _udp_kind(bytes(frame))
            if kind is not None:
                seen.append(kind)
            receive(frame, now, csum)

        server.host.receive_frame = spy  # type: ignore[method-assign]
        link_local = next(str(i.ip) for i in server.ipv6_interfaces if i.ip.is_link_local)
        heard: dict[str, Any] = {}
        made = [
            ("dual", 7, "::"),
            ("global", 8, SERVER6),
            ("ll", 10, link_local),
            ("ipv4", 9, "0.0.0.0"),
            ("group", 5000, "0.0.0.0"),
            ("unjoined", 5001, "0.0.0.0"),
            ("marker", 11, "::"),
        ]
        transports = {}
        for name, port, ip in made:
            transports[name], heard[name] = await server.create_datagram_endpoint(
                RecordingProtocol, local_port=port, local_ip=ip
            )
        transports["group"].join_group(GROUP)
        # IP_MULTICAST_ALL off: port 5001 hears only groups it joined itself (none).
        server.host.set_multicast_all(5001, False)
        c6, _ = await client.create_datagram_endpoint(
            RecordingProtocol, local_port=6000, local_ip="::"
        )
        c4, _ = await client.create_datagram_endpoint(RecordingProtocol, local_port=4000)
        for i in range(3):  # a batch for one endpoint, and single ones
            c6.sendto(b"six %d" % i, (SERVER6, 7))
        c6.sendto(b"to the global one", (SERVER6, 8))
        c6.sendto(b"wrong address", (SERVER6, 10))  # rx_dropped_family
        c6.sendto(b"to an AF_INET one", (SERVER6, 9))  # rx_dropped_family
        c6.sendto(b"nobody", (SERVER6, 12))  # port unreachable, by the host
        c4.sendto(b"four", ("10.0.0.1", 7))
        c6.sendto(b"mapped", ("::ffff:10.0.0.1", 7))
        c4.sendto(b"feed 1", (GROUP, 5000))
        c4.sendto(b"feed 2", (GROUP, 5000))
        c4.sendto(b"filtered", (GROUP, 5001))  # joined on 5000 only: MCAST_FILTERED
        c4.sendto(b"not joined", (OTHER_GROUP, 5000))
        c4.sendto(b"not bound", (GROUP, 5002))
        c6.sendto(b"last", (SERVER6, 11))
        await wait_datagrams(heard["marker"], 1)
        await asyncio.sleep(0.05)  # the port unreachable and the echoes of nothing: settle
        stats = server.stats()
        for key in server.port.stats():  # batches and wake-ups depend on timing
            stats.pop(key, None)
        for key in TIMED:
            stats.pop(key)
        got = {name: sorted(rec.datagrams) for name, rec in heard.items()}
        return got, stats, seen
    finally:
        client.close()
        server.close()
        a.close()
        b.close()


async def test_ipv6_and_group_datagrams_go_through_the_fast_path() -> None:
    fast_heard, fast_stats, fast_seen = await _scenario(True)
    pure_heard, pure_stats, pure_seen = await _scenario(False)
    # The same datagrams reach the same endpoints, named the same way.
    assert fast_heard == pure_heard
    assert fast_heard["dual"] == sorted(
        [(b"six %d" % i, (CLIENT6, 6000, 0, 0)) for i in range(3)]
        + [(b"four", ("::ffff:10.0.0.2", 4000, 0, 0)), (b"mapped", ("::ffff:10.0.0.2", 6000, 0, 0))]
    )
    assert fast_heard["global"] == [(b"to the global one", (CLIENT6, 6000, 0, 0))]
    assert fast_heard["ll"] == fast_heard["ipv4"] == fast_heard["unjoined"] == []
    assert fast_heard["group"] == [(b"feed 1", ("10.0.0.2", 4000)), (b"feed 2", ("10.0.0.2", 4000))]
    # The same counters, whichever path decided.
    assert fast_stats == pure_stats
    assert fast_stats["rx_dropped_family"] == 2
    assert fast_stats["rx_multicast"] == 2
    assert fast_stats["rx_udp_delivered"] == DELIVERED
    assert fast_stats["drop_mcast_filtered"] == 1
    assert fast_stats["drop_udp_no_listener"] == 1  # to 5002
    assert fast_stats["drop_udp6_no_listener"] == 1  # to 12, answered by the host
    # On the fast path the host's receive_frame sees only the IPv6 datagram to a closed
    # port (it answers port unreachable); on the pure path it sees them all.
    assert fast_seen == ["udp6"]
    assert sorted(pure_seen) == ["group"] * 5 + ["udp6"] * 8
