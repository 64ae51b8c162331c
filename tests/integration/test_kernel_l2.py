"""Link-layer parity with a Linux host, against the kernel over a veth pair: 802.1Q VLANs
(a kernel VLAN sub-interface as the peer), broadcast delivery (kernel sockets with
SO_BROADCAST), and ARP from martian senders (arping).

Every test runs on both receive paths, the C fast path and the pure-Python stack, and
(through the suite's loop fixture) on asyncio and uvloop.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import struct

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import ARP, Dot1Q, Ether

from aionetmap.ports.closing import ClosingContext
from aionetmap.stack import Host
from aionetmap.testing.netns import VethLink
from tests.integration.kernel_peer import (
    FrameInjector,
    KernelUdp,
    Served,
    arping_command,
    peer_run,
    serve,
    wait_until,
)

pytestmark = pytest.mark.netns

PATHS = pytest.mark.parametrize("fast_path", [True, False], ids=["fast", "python"])

VLAN_ID = 100
VLAN_NET = "172.31.100.0/24"
VLAN_PEER_IP, VLAN_OUR_IP = "172.31.100.1", "172.31.100.2"


def kernel_vlan(link: VethLink) -> str:
    """A VLAN ``VLAN_ID`` sub-interface on the kernel's end of ``link``, holding
    ``VLAN_PEER_IP``; skips the test on a kernel built without 802.1Q support."""
    name = f"vl{VLAN_ID}"
    made = link.peer_exec(
        "ip", "link", "add", "link", link.peer_ifname, "name", name,
        "type", "vlan", "id", str(VLAN_ID), check=False,
    )  # fmt: skip
    if made.returncode != 0:
        pytest.skip(
            "this kernel cannot create 802.1Q VLAN interfaces (CONFIG_VLAN_8021Q): "
            + made.stderr.strip()
        )
    link.peer_exec("ip", "addr", "add", f"{VLAN_PEER_IP}/24", "dev", name)
    link.peer_exec("ip", "link", "set", name, "up")
    return name


def vlan_address() -> str:
    return f"{VLAN_OUR_IP}/{ipaddress.IPv4Network(VLAN_NET).prefixlen}"


async def echoed(client: KernelUdp, dst: tuple[str, int], sizes: list[int]) -> None:
    for size in sizes:
        data = os.urandom(size)
        client.sendto(data, dst)
        await client.expect(data, dst)


# === VLANs ===================================================================================


@PATHS
async def test_untagged_host_does_not_answer_a_kernel_vlan(veth: VethLink, fast_path: bool) -> None:
    """The address is the VLAN's, but the host is untagged: the kernel's tagged ARP and
    ping are dropped (counted), as a Linux host without that VLAN drops them."""
    kernel_vlan(veth)
    async with serve(veth, fast_path=fast_path, address=vlan_address()) as served:
        proc = await peer_run(veth, "ping", "-c", "2", "-i", "0.2", "-W", "1", VLAN_OUR_IP)
        assert proc.returncode != 0, proc.stdout
        stats = served.stats()
        assert stats["drop_eth_vlan_tagged"] >= 2  # ARP requests, tagged
        assert stats["tx_arp_replies"] == stats["tx_echo_replies"] == 0


@PATHS
async def test_vlan_host_answers_a_kernel_vlan_and_tags_everything(
    veth: VethLink, fast_path: bool
) -> None:
    """vlan=100: ARP, ping and UDP with the kernel's VLAN 100 interface; the kernel only
    delivers them there if our frames carry the tag (full-size datagrams included)."""
    kernel_vlan(veth)
    async with serve(veth, fast_path=fast_path, address=vlan_address(), vlan=VLAN_ID) as served:
        proc = await peer_run(veth, "ping", "-c", "3", "-i", "0.2", "-W", "2", VLAN_OUR_IP)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        with KernelUdp(veth, bind_ip=VLAN_PEER_IP) as client:
            await echoed(client, (VLAN_OUR_IP, 7), [0, 1, 100, 1471, 1472])
        stats = served.stats()
        assert stats["tx_echo_replies"] == 3
        assert stats["tx_arp_replies"] >= 1
        assert stats["drop_eth_vlan_untagged"] == 0


@PATHS
async def test_vlan_host_drops_untagged_traffic(veth: VethLink, fast_path: bool) -> None:
    """A kernel socket on the untagged interface reaches the vlan host's MAC, untagged:
    dropped, counted, not echoed."""
    async with serve(veth, fast_path=fast_path, vlan=VLAN_ID) as served:
        veth.teach_peer()  # no ARP needed: the datagram goes straight to our MAC
        with KernelUdp(veth) as client:
            client.sendto(b"untagged", (veth.our_ip, 7))
            await wait_until(
                lambda: served.stats()["drop_eth_vlan_untagged"] >= 1, what="untagged drop"
            )
            await asyncio.sleep(0.05)
            assert client.received == []
        assert served.stats()["rx_udp_delivered"] == 0


class TagCapture(ClosingContext):
    """A raw packet socket on the kernel's end: every frame from our MAC that arrives there,
    with the VLAN id of its 802.1Q tag (the kernel lifts the tag into metadata on receive;
    ``PACKET_AUXDATA`` hands it back)."""

    SOL_PACKET, PACKET_AUXDATA, TP_STATUS_VLAN_VALID, ETH_P_ALL = 263, 8, 0x10, 0x0003

    def __init__(self, link: VethLink) -> None:
        proto = socket.htons(self.ETH_P_ALL)
        self.sock = link.peer_socket(socket.AF_PACKET, socket.SOCK_RAW, proto, track=False)
        self.sock.setsockopt(self.SOL_PACKET, self.PACKET_AUXDATA, 1)
        self.sock.bind((link.peer_ifname, 0))
        self.sock.setblocking(False)
        self.our_mac = link.our_mac
        self.frames: list[tuple[bytes, int | None]] = []

    def close(self) -> None:
        self.sock.close()

    def poll(self) -> list[tuple[bytes, int | None]]:
        while True:
            try:
                data, ancillary, _, _ = self.sock.recvmsg(65535, socket.CMSG_SPACE(32))
            except BlockingIOError:
                return self.frames
            if data[6:12] != self.our_mac:
                continue
            vid = None
            for level, kind, blob in ancillary:
                if (level, kind) == (self.SOL_PACKET, self.PACKET_AUXDATA) and len(blob) >= 20:
                    status, _, _, _, _, tci, _ = struct.unpack_from("=IIIHHHH", blob)
                    if status & self.TP_STATUS_VLAN_VALID:
                        vid = tci & 0xFFF
            if data[12:14] == b"\x81\x00":  # a kernel that left the tag in the frame
                vid = int.from_bytes(data[14:16], "big") & 0xFFF
                data = data[:12] + data[16:]
            self.frames.append((data, vid))


def crafted(link: VethLink, vlan: int) -> list[bytes]:
    """From the kernel's end, tagged with ``vlan``: an ARP request for our address, a ping
    and a datagram to the echo port."""
    peer, ours = link.peer_mac.hex(":"), link.our_mac.hex(":")
    tag = Dot1Q(vlan=vlan)
    ip = IP(src=link.peer_ip, dst=link.our_ip)
    asking = ARP(op=1, hwsrc=peer, psrc=link.peer_ip, pdst=link.our_ip)
    return [
        bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src=peer) / tag / asking),
        bytes(Ether(dst=ours, src=peer) / tag / ip / ICMP(id=7, seq=1) / b"tagged ping"),
        bytes(Ether(dst=ours, src=peer) / tag / ip / UDP(sport=5555, dport=7) / b"tagged udp"),
    ]


def replies(capture: TagCapture) -> list[tuple[Ether, int | None]]:
    """What the host sent back: everything from our MAC but its gratuitous announcement."""
    out = []
    for data, vid in capture.poll():
        frame = Ether(data)
        if ARP in frame and frame[ARP].op == 1 and frame[ARP].psrc == frame[ARP].pdst:
            continue
        out.append((frame, vid))
    return out


@PATHS
async def test_vlan_host_answers_crafted_tagged_frames_tagged(
    veth: VethLink, fast_path: bool
) -> None:
    """The same as with a kernel VLAN interface, for kernels without one: tagged ARP, ping
    and UDP crafted on the kernel's end are answered, each reply tagged with our VLAN."""
    async with serve(veth, fast_path=fast_path, vlan=VLAN_ID) as served:
        with TagCapture(veth) as capture, FrameInjector(veth) as injector:
            injector.send(*crafted(veth, VLAN_ID))
            await wait_until(lambda: len(replies(capture)) >= 3, what="three replies")
            got = replies(capture)
        assert [vid for _, vid in got] == [VLAN_ID] * 3
        arp_reply, echo_reply, udp_echo = (frame for frame, _ in got)
        assert (arp_reply[ARP].op, arp_reply[ARP].psrc) == (2, veth.our_ip)
        assert (echo_reply[ICMP].type, echo_reply[ICMP].load) == (0, b"tagged ping")
        assert (udp_echo[UDP].dport, udp_echo[UDP].load) == (5555, b"tagged udp")
        stats = served.stats()
        assert (stats["tx_arp_replies"], stats["tx_echo_replies"]) == (1, 1)


@PATHS
async def test_untagged_host_ignores_crafted_tagged_frames(veth: VethLink, fast_path: bool) -> None:
    async with serve(veth, fast_path=fast_path) as served:
        with TagCapture(veth) as capture, FrameInjector(veth) as injector:
            injector.send(*crafted(veth, VLAN_ID))
            await wait_until(lambda: served.stats()["drop_eth_vlan_tagged"] == 3, what="drops")
            await asyncio.sleep(0.05)
            assert replies(capture) == []
        assert served.stats()["rx_udp_delivered"] == 0


# === broadcast ===============================================================================


def broadcasts(link: VethLink) -> list[str]:
    net = ipaddress.IPv4Network(f"{link.our_ip}/{link.prefixlen}", strict=False)
    return [str(net.broadcast_address), "255.255.255.255"]


@PATHS
async def test_broadcast_is_not_echoed_by_a_unicast_bound_endpoint(
    veth: VethLink, fast_path: bool
) -> None:
    async with serve(veth, fast_path=fast_path) as served:
        with KernelUdp(veth, broadcast=True) as client:
            await echoed(client, served.address, [8])  # ARP resolved both ways
            before = served.stats()
            for dst in broadcasts(veth):
                client.sendto(f"to {dst}".encode(), (dst, 7))
            await wait_until(
                lambda: (
                    served.stats()["drop_udp_no_listener"] == before["drop_udp_no_listener"] + 2
                ),
                what="both broadcasts dropped",
            )
            await echoed(client, served.address, [9])  # after them, on the same path
            assert [data for data, _ in client.received] == [
                data for data, _ in client.received if not data.startswith(b"to ")
            ]
            after = served.stats()
            assert after["rx_udp_delivered"] == before["rx_udp_delivered"] + 1
            assert after["tx_port_unreachable"] == before["tx_port_unreachable"]


@PATHS
async def test_broadcast_reaches_a_wildcard_endpoint_which_answers_from_its_address(
    veth: VethLink, fast_path: bool
) -> None:
    """Bound to 0.0.0.0, as a kernel socket: broadcast arrives; the echo leaves from our
    unicast address to the sender's (a kernel socket bound to the peer's unicast address
    gets it, which it would not were it sent to a broadcast address)."""
    async with serve(veth, fast_path=fast_path, wildcard=True) as served:
        assert served.address == ("0.0.0.0", 7)
        ours = (veth.our_ip, 7)
        with KernelUdp(veth, broadcast=True) as client:
            for dst in broadcasts(veth):
                data = f"to {dst}".encode()
                client.sendto(data, (dst, 7))
                await client.expect(data, ours)
            await echoed(client, ours, [0, 1472])  # unicast too
        assert served.stats()["rx_udp_delivered"] == 4


@PATHS
async def test_broadcast_ping_stays_unanswered(veth: VethLink, fast_path: bool) -> None:
    async with serve(veth, fast_path=fast_path, wildcard=True) as served:
        subnet = broadcasts(veth)[0]
        proc = await peer_run(veth, "ping", "-b", "-c", "2", "-i", "0.2", "-W", "1", subnet)
        assert proc.returncode != 0, proc.stdout
        await wait_until(lambda: served.stats()["drop_icmp_broadcast"] >= 2, what="dropped")
        assert served.stats()["tx_echo_replies"] == 0


# === ARP =====================================================================================


def served_host(served: Served) -> Host:
    return served.iface.host


@PATHS
@pytest.mark.parametrize(
    ("source", "reason"),
    [
        pytest.param("127.0.0.1", "drop_arp_sender_loopback", id="loopback"),
        pytest.param("subnet-broadcast", "drop_arp_sender_broadcast", id="subnet-broadcast"),
    ],
)
async def test_arping_from_a_martian_source_gets_no_reply(
    veth: VethLink, fast_path: bool, source: str, reason: str
) -> None:
    sender = broadcasts(veth)[0] if source == "subnet-broadcast" else source
    async with serve(veth, fast_path=fast_path) as served:
        cmd = arping_command(veth.peer_ifname, veth.our_ip, 2, answered=False)
        cmd[1:1] = ["-S", sender]
        proc = await peer_run(veth, *cmd)
        assert proc.returncode != 0, proc.stdout + proc.stderr
        stats = served.stats()
        assert stats[reason] == 2, {k: v for k, v in stats.items() if v and "arp" in k}
        assert stats["tx_arp_replies"] == 0
        host = served_host(served)
        assert (
            host.cached_mac(ipaddress.IPv4Address(sender), asyncio.get_running_loop().time())
            is None
        )


@PATHS
async def test_arp_probe_for_our_address_is_answered_and_reported(
    veth: VethLink, fast_path: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """RFC 5227: another station probing for our address (sender 0.0.0.0) gets the answer
    that tells it the address is taken, as from Linux; we report the conflict."""
    async with serve(veth, fast_path=fast_path) as served:
        cmd = arping_command(veth.peer_ifname, veth.our_ip, 2)
        cmd[1:1] = ["-0"]
        proc = await peer_run(veth, *cmd)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        stats = served.stats()
        assert stats["arp_conflicts"] == stats["tx_arp_replies"] == 2
    assert "address conflict" in caplog.text
