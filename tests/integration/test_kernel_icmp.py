"""ICMP echo and ARP against the Linux kernel: ``ping``, ``arping`` and the kernel's
neighbour table, with aionetmap's user-space stack on the other end of a veth pair."""

from __future__ import annotations

import json
import re
from ipaddress import IPv4Address
from typing import Any

import pytest

from aionetmap.stack import HostConfig
from aionetmap.stack.addresses import format_mac
from aionetmap.testing.netns import VethLink
from tests.integration.kernel_peer import (
    arping_command,
    delta,
    kernel_snmp,
    peer_run,
    serve,
)

pytestmark = pytest.mark.netns


def ping_summary(output: str) -> tuple[int, int]:
    """(transmitted, received) from ping's statistics line."""
    match = re.search(r"(\d+) packets transmitted, (\d+) received", output)
    assert match, f"no ping summary in {output!r}"
    return int(match[1]), int(match[2])


async def neighbour(link: VethLink, ip: str) -> dict[str, Any] | None:
    """The kernel peer's neighbour entry for ``ip`` on its veth end, if any."""
    proc = await peer_run(link, "ip", "-j", "neigh", "show", "dev", link.peer_ifname)
    assert proc.returncode == 0, proc.stderr
    for entry in json.loads(proc.stdout or "[]"):
        if entry.get("dst") == ip:
            return dict(entry)
    return None


@pytest.mark.parametrize(
    ("size", "pattern"),
    [(0, "00"), (56, "a5"), (1472, "ff00")],
    ids=["empty", "default-size", "largest-unfragmented"],
)
async def test_linux_ping_gets_replies(veth: VethLink, size: int, pattern: str) -> None:
    async with serve(veth) as served:
        assert await neighbour(veth, veth.our_ip) is None  # nothing learnt it yet
        proc = await peer_run(
            veth, "ping", "-c", "3", "-i", "0.05", "-w", "10", "-s", str(size), "-p", pattern,
            veth.our_ip,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert ping_summary(proc.stdout) == (3, 3)
        # ping compares every returned byte with what it sent and complains otherwise.
        assert "wrong data" not in proc.stdout
        assert "DUP!" not in proc.stdout
        stats = served.stats()
        assert stats["tx_echo_replies"] == 3
        assert stats["rx_icmp"] == 3
        assert stats["dropped"] == 0
        # The kernel resolved us through ARP, and what it learnt is our MAC address.
        assert stats["tx_arp_replies"] >= 1
        entry = await neighbour(veth, veth.our_ip)
        assert entry is not None
        assert entry["lladdr"] == format_mac(veth.our_mac)
        assert entry["state"][0] in ("REACHABLE", "STALE", "DELAY", "PROBE")
        snmp = await kernel_snmp(veth)
        assert snmp["Icmp.InEchoReps"] == 3
        assert snmp["Icmp.InCsumErrors"] == snmp["Icmp.InErrors"] == 0
        assert snmp["Ip.InHdrErrors"] == 0


async def test_flood_ping_loses_nothing(veth: VethLink) -> None:
    async with serve(veth) as served:
        # -f: a new request as soon as the previous reply is in (or every 10 ms).
        proc = await peer_run(veth, "ping", "-f", "-c", "500", "-w", "60", veth.our_ip)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert ping_summary(proc.stdout) == (500, 500)
        assert served.stats()["tx_echo_replies"] == 500


async def test_arping_from_the_kernel_gets_our_mac(veth: VethLink) -> None:
    async with serve(veth) as served:
        before = served.stats()
        proc = await peer_run(veth, *arping_command(veth.peer_ifname, veth.our_ip, 3))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        ours = format_mac(veth.our_mac)
        replies = [line for line in proc.stdout.lower().splitlines() if ours in line]
        assert len(replies) == 3, proc.stdout
        assert all(veth.our_ip in line for line in replies)
        changed = delta(served.stats(), before)
        assert changed["tx_arp_replies"] == 3
        assert changed.get("dropped", 0) == 0


async def test_arping_for_another_address_gets_no_answer_from_us(veth: VethLink) -> None:
    other = veth.our_ip.rsplit(".", 1)[0] + ".3"
    async with serve(veth) as served:
        before = served.stats()
        proc = await peer_run(veth, *arping_command(veth.peer_ifname, other, 2, answered=False))
        assert proc.returncode != 0, proc.stdout
        assert format_mac(veth.our_mac) not in proc.stdout.lower()
        changed = delta(served.stats(), before)
        assert changed["rx_arp"] == 2
        assert "tx_arp_replies" not in changed
        # The asker is not in our cache: nothing to refresh, so the requests are dropped.
        assert changed["drop_arp_not_for_us"] == 2


async def test_our_ping_reaches_the_kernel(veth: VethLink) -> None:
    async with serve(veth) as served:
        rtts = [await served.iface.ping(veth.peer_ip, timeout=5.0) for _ in range(3)]
        assert all(0 < rtt < 5.0 for rtt in rtts)
        stats = served.stats()
        # Our own ARP resolution: the announcement at start plus one request for the peer
        # (a second only if this machine stalled the loop past the 1 s retry interval).
        assert stats["tx_arp_requests"] in (2, 3)
        assert stats["arp_failures"] == 0
        assert served.iface.host.cached_mac(
            IPv4Address(veth.peer_ip), served.iface.loop.time()
        ) == (veth.peer_mac)
        assert stats["tx_echo_requests"] == 3
        snmp = await kernel_snmp(veth)
        assert snmp["Icmp.InEchos"] == 3
        assert snmp["Icmp.OutEchoReps"] == 3
        assert snmp["Icmp.InCsumErrors"] == 0
        # The kernel learnt our address from our ARP request.
        entry = await neighbour(veth, veth.our_ip)
        assert entry is not None
        assert entry["lladdr"] == format_mac(veth.our_mac)


async def test_broadcast_ping_is_ignored_and_counted(veth: VethLink) -> None:
    broadcast = veth.our_ip.rsplit(".", 1)[0] + ".255"
    async with serve(veth) as served:
        proc = await peer_run(veth, "ping", "-b", "-c", "3", "-i", "0.05", "-W", "1", broadcast)
        assert ping_summary(proc.stdout)[1] == 0
        stats = served.stats()
        assert stats["drop_icmp_broadcast"] == 3
        assert stats["tx_echo_replies"] == 0
        assert stats["dropped"] == 3


async def test_echo_answering_can_be_turned_off(veth: VethLink) -> None:
    async with serve(veth, config=HostConfig(answer_echo=False)) as served:
        proc = await peer_run(veth, "ping", "-c", "2", "-i", "0.05", "-W", "1", veth.our_ip)
        assert ping_summary(proc.stdout) == (2, 0)
        stats = served.stats()
        assert stats["drop_icmp_echo_ignored"] == 2
        assert stats["tx_echo_replies"] == 0
        assert stats["tx_arp_replies"] >= 1  # still reachable at the link layer
