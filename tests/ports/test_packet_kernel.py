"""PacketPort with the Linux kernel as the peer: ARP, ICMP echo, checksums, VLAN tags."""

from __future__ import annotations

import errno
import os
import select
import socket
import time
from collections.abc import Callable
from ipaddress import IPv4Address

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import ARP, Dot1Q, Ether

from aionetmap.ports.base import FrameBatch, Port
from aionetmap.ports.packet import PacketPort, netns_path, netns_socket
from aionetmap.stack.addresses import format_mac
from aionetmap.stack.checksum import inet_sum, pseudo_header_sum
from aionetmap.stack.classify import RxChecksum
from aionetmap.testing.netns import VethLink

pytestmark = pytest.mark.netns

BROADCAST = "ff:ff:ff:ff:ff:ff"


def wait_for(
    port: PacketPort, match: Callable[[Ether], object], timeout: float = 2.0
) -> tuple[Ether, list[Ether]]:
    """Poll the port's fd until a frame ``match`` accepts arrives; also return all seen."""
    poller = select.poll()
    poller.register(port.fileno(), select.POLLIN)
    batch = FrameBatch()
    seen: list[Ether] = []
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        poller.poll(left * 1000)
        port.recv(batch)
        for raw in batch.frames():
            frame = Ether(raw)
            seen.append(frame)
            if match(frame):
                return frame, seen
    raise AssertionError(f"no matching frame within {timeout} s; saw {[f.summary() for f in seen]}")


def arp_request(link: VethLink, target: str | None = None) -> bytes:
    return bytes(
        Ether(dst=BROADCAST, src=format_mac(link.our_mac))
        / ARP(op=1, hwsrc=format_mac(link.our_mac), psrc=link.our_ip, pdst=target or link.peer_ip)
    )


def checksums_ok(frame: Ether) -> bool:
    """True if scapy, rebuilding the frame with fresh checksums, gets the same bytes."""
    fresh = frame.copy()
    for layer in (IP, UDP, ICMP):
        if fresh.haslayer(layer):
            del fresh[layer].chksum
    return bytes(Ether(bytes(fresh))) == bytes(frame)


def test_port_describes_our_end(veth: VethLink) -> None:
    with veth.open_port(rx_frames=100) as port:
        assert isinstance(port, Port)
        info = port.info
        assert info.name == f"packet:{veth.our_ifname}"
        assert (info.backend, info.ifname, info.mac) == ("packet", veth.our_ifname, veth.our_mac)
        assert (info.mtu, info.max_frame) == (1500, 1518)  # room for an 802.1Q tag
        assert info.rx_slots >= 100
        assert info.buf_size >= 1514
        assert port.tx_wakeup == "writable"
        assert port.netns == veth.our_netns


def test_arp_request_gets_the_kernels_reply(veth: VethLink) -> None:
    with veth.open_port() as port:
        assert port.send([arp_request(veth)]) == 1
        port.flush()
        reply, seen = wait_for(port, lambda f: f.haslayer(ARP) and f[ARP].op == 2)
        assert reply[Ether].dst == format_mac(veth.our_mac)
        assert reply[ARP].hwsrc == format_mac(veth.peer_mac)
        assert (reply[ARP].psrc, reply[ARP].pdst) == (veth.peer_ip, veth.our_ip)
        # our own request must not come back through the RX ring
        assert all(f[Ether].src != format_mac(veth.our_mac) for f in seen)
        stats = port.stats()
        assert stats["tx_frames"] == 1
        assert stats["rx_frames"] == len(seen)
        assert stats["rx_dropped_outgoing"] == 0


def test_icmp_echo_gets_a_reply_after_arp_taught_the_kernel(veth: VethLink) -> None:
    with veth.open_port() as port:
        # The request teaches the kernel our MAC (it caches the sender of an ARP request).
        port.send([arp_request(veth)])
        port.flush()
        arp, _ = wait_for(port, lambda f: f.haslayer(ARP) and f[ARP].op == 2)
        payload = bytes(range(56))
        echo = (
            Ether(dst=arp[ARP].hwsrc, src=format_mac(veth.our_mac))
            / IP(src=veth.our_ip, dst=veth.peer_ip, id=7)
            / ICMP(type=8, id=0x4242, seq=9)
            / payload
        )
        port.send([bytes(echo)])
        port.flush()
        reply, _ = wait_for(port, lambda f: f.haslayer(ICMP) and f[ICMP].type == 0)
        assert (reply[IP].src, reply[IP].dst) == (veth.peer_ip, veth.our_ip)
        assert (reply[ICMP].id, reply[ICMP].seq) == (0x4242, 9)
        assert bytes(reply[ICMP].payload) == payload
        assert checksums_ok(reply)


def udp_frame(link: VethLink, dport: int, payload: bytes, *, bad_checksum: bool = False) -> bytes:
    pkt = (
        Ether(dst=format_mac(link.peer_mac), src=format_mac(link.our_mac))
        / IP(src=link.our_ip, dst=link.peer_ip)
        / UDP(sport=40000, dport=dport)
        / payload
    )
    raw = bytearray(bytes(pkt))
    if bad_checksum:
        raw[40] ^= 0xFF  # UDP checksum, high byte
    return bytes(raw)


@pytest.mark.parametrize("offload", [True, False], ids=["default-offloads", "offloads-off"])
def test_kernel_peer_verifies_our_udp_checksums(
    offload: bool, request: pytest.FixtureRequest
) -> None:
    """A wrong checksum is really dropped: the kernel is a strict checker of what a
    user-space stack sends, with RX checksum offload off and also at the defaults (a frame
    a packet socket injects never claims to be checked)."""
    veth: VethLink = request.getfixturevalue("veth" if offload else "veth_no_offload")
    sock = veth.peer_socket()
    sock.bind((veth.peer_ip, 5555))
    sock.settimeout(2.0)
    with veth.open_port() as port:
        frames = [
            udp_frame(veth, 5555, b"first"),
            udp_frame(veth, 5555, b"corrupt", bad_checksum=True),
            udp_frame(veth, 5555, b"last"),
        ]
        assert port.send(frames) == 3
        port.flush()
        got = [sock.recvfrom(100) for _ in range(2)]
        assert got == [(b"first", (veth.our_ip, 40000)), (b"last", (veth.our_ip, 40000))]
        sock.settimeout(0.05)
        with pytest.raises(TimeoutError):
            sock.recv(100)


def udp_from_kernel(link: VethLink, payload: bytes) -> tuple[Ether, int, dict[str, int]]:
    """A kernel socket in the peer sends ``payload`` to us: the frame as received, the
    checksum flag the port gave it, and the port's counters."""
    link.teach_peer()
    sock = link.peer_socket()
    with link.open_port() as port:
        sock.sendto(payload, (link.our_ip, 6000))
        poller = select.poll()
        poller.register(port.fileno(), select.POLLIN)
        batch = FrameBatch()
        deadline = time.monotonic() + 2.0
        while (left := deadline - time.monotonic()) > 0:
            poller.poll(left * 1000)
            port.recv(batch)
            assert batch.csum_known  # the packet port always says what it knows
            for i in range(batch.count):
                frame = Ether(batch.frame_bytes(i))
                if frame.haslayer(UDP) and frame[UDP].dport == 6000:
                    return frame, batch.frame_csum(i), dict(port.stats())
    raise AssertionError("the kernel's datagram did not arrive")


def test_kernel_frames_arrive_with_complete_checksums(veth_no_offload: VethLink) -> None:
    """TX checksum offload is off on the kernel end: no partial checksums reach us."""
    frame, flag, stats = udp_from_kernel(veth_no_offload, b"hello" * 20)
    assert bytes(frame[UDP].payload) == b"hello" * 20
    assert frame[UDP].chksum != 0
    assert checksums_ok(frame)
    assert flag != RxChecksum.PARTIAL
    assert stats["rx_csum_not_ready"] == 0


def test_kernel_frames_at_default_offloads_are_flagged_partial(veth: VethLink) -> None:
    """At the kernel's defaults (TX checksum offload on) the UDP checksum field holds only
    the folded pseudo-header sum; AF_PACKET says so and the port passes it on per frame."""
    frame, flag, stats = udp_from_kernel(veth, b"hello" * 20)
    assert bytes(frame[UDP].payload) == b"hello" * 20
    assert not checksums_ok(frame)  # not a checksum yet
    pseudo = inet_sum(
        b"",
        pseudo_header_sum(
            int(IPv4Address(veth.peer_ip)), int(IPv4Address(veth.our_ip)), 17, frame[UDP].len
        ),
    )
    assert frame[UDP].chksum == pseudo
    assert flag == RxChecksum.PARTIAL
    assert stats["rx_csum_not_ready"] >= 1


def test_vlan_tag_lifted_by_the_kernel_is_put_back(veth: VethLink) -> None:
    """Receive untags 802.1Q frames into packet metadata before packet sockets see them;
    the port must still return the frame as it was on the wire."""
    tagged = bytes(
        Ether(dst=format_mac(veth.our_mac), src=format_mac(veth.peer_mac))
        / Dot1Q(vlan=5, prio=3)
        / IP(src="192.168.5.1", dst="192.168.5.2")
        / UDP(sport=1, dport=2)
        / b"tagged"
    )
    raw = veth.peer_socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    raw.bind((veth.peer_ifname, 0))
    with veth.open_port() as port:
        raw.send(tagged)
        frame, _ = wait_for(port, lambda f: f.haslayer(UDP) and f[UDP].dport == 2)
        assert bytes(frame) == tagged


def test_ip_reserved_for_our_stack_is_on_no_kernel_interface(veth: VethLink) -> None:
    for ns in (veth.peer_netns, veth.our_netns):
        addrs = veth.peer_exec("ip", "netns", "exec", ns, "ip", "-4", "addr").stdout
        assert veth.our_ip not in addrs
        v6 = veth.peer_exec("ip", "netns", "exec", ns, "ip", "-6", "addr").stdout
        assert v6.strip() == "", f"IPv6 must be off in {ns}: {v6}"
    # and nothing answers for it: an ARP request for .2 from the kernel side goes unanswered
    probe = veth.peer_exec(
        "arping", "-c", "1", "-w", "0.3", "-I", veth.peer_ifname, veth.our_ip, check=False
    )
    assert probe.returncode != 0, probe.stdout
    # The peer's address is local to the peer namespace only. Each bind runs in a namespace
    # the link made, never in the one the tests run in: whether that namespace can bind
    # 10.x.y.1 depends on the machine (its own addresses and sysctls), not on VethLink.
    with netns_socket(veth.peer_netns, socket.AF_INET, socket.SOCK_DGRAM) as there:
        there.bind((veth.peer_ip, 0))
    for addr in (veth.peer_ip, veth.our_ip):
        ours = netns_socket(veth.our_netns, socket.AF_INET, socket.SOCK_DGRAM)
        with ours, pytest.raises(OSError, match="assign") as info:
            ours.bind((addr, 0))
        assert info.value.errno == errno.EADDRNOTAVAIL
    # and the tests' own thread is in neither namespace
    here = os.stat("/proc/thread-self/ns/net").st_ino
    assert here not in {os.stat(netns_path(ns)).st_ino for ns in (veth.peer_netns, veth.our_netns)}
