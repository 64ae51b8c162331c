"""The host's link-layer manners: the martian-ARP corpus (ignored, never cached, never
answered), address conflicts (events and counters), VLAN tagging of everything it sends,
and which bound ports broadcast reaches."""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Any

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import ARP, Dot1Q, Ether

from aionetmap.stack import (
    AddressConflict,
    DatagramReceived,
    DropReason,
    Host,
)

OUR_MAC, PEER_MAC, BCAST = "02:00:00:00:00:01", "02:00:00:00:00:02", "ff:ff:ff:ff:ff:ff"
OTHER_MAC = "02:00:00:00:00:66"
OUR_IP, PEER_IP = "10.0.0.1", "10.0.0.2"
R = DropReason
NOW = 1.0


def make_host(**options: Any) -> Host:
    return Host(OUR_MAC, f"{OUR_IP}/24", **options)


def drops(host: Host) -> dict[DropReason, int]:
    return {reason: n for reason, n in host.stats.drops.items() if n}


def arp_frame(
    *, op: int = 1, hwsrc: str = PEER_MAC, psrc: str = PEER_IP, pdst: str = OUR_IP
) -> bytes:
    dst = BCAST if op == 1 else OUR_MAC
    return bytes(Ether(dst=dst, src=hwsrc) / ARP(op=op, hwsrc=hwsrc, psrc=psrc, pdst=pdst))


# === the martian-ARP corpus ==================================================================

MARTIANS = [
    # (id, frame, reason): requests for our address (which would be answered) and replies
    pytest.param(arp_frame(psrc="127.0.0.1"), R.ARP_SENDER_LOOPBACK, id="loopback-request"),
    pytest.param(arp_frame(psrc="127.9.9.9"), R.ARP_SENDER_LOOPBACK, id="loopback-8"),
    pytest.param(arp_frame(op=2, psrc="127.0.0.1"), R.ARP_SENDER_LOOPBACK, id="loopback-reply"),
    pytest.param(arp_frame(psrc="10.0.0.255"), R.ARP_SENDER_BROADCAST, id="subnet-broadcast"),
    pytest.param(
        arp_frame(op=2, psrc="10.0.0.255"), R.ARP_SENDER_BROADCAST, id="subnet-broadcast-reply"
    ),
    pytest.param(arp_frame(psrc="255.255.255.255"), R.ARP_BAD_SENDER, id="limited-broadcast"),
    pytest.param(arp_frame(psrc="224.0.0.1"), R.ARP_BAD_SENDER, id="multicast"),
    pytest.param(arp_frame(psrc="239.255.255.250"), R.ARP_BAD_SENDER, id="multicast-ssdp"),
    pytest.param(arp_frame(psrc="0.1.2.3"), R.ARP_SENDER_UNSPECIFIED, id="this-network"),
    pytest.param(
        arp_frame(psrc="0.0.0.0", pdst="10.0.0.3"), R.ARP_SENDER_UNSPECIFIED, id="probe-for-other"
    ),
    pytest.param(
        arp_frame(op=2, psrc="0.0.0.0"), R.ARP_SENDER_UNSPECIFIED, id="reply-from-unspecified"
    ),
    pytest.param(
        arp_frame(hwsrc=OUR_MAC, psrc=OUR_IP), R.ARP_LOOPED_BACK, id="our-own-announcement"
    ),
    pytest.param(arp_frame(hwsrc=OUR_MAC, psrc="0.0.0.0"), R.ARP_LOOPED_BACK, id="our-own-probe"),
    pytest.param(
        arp_frame(hwsrc=OTHER_MAC, psrc=OUR_IP), R.ARP_ADDRESS_CONFLICT, id="claims-our-address"
    ),
    pytest.param(
        arp_frame(op=2, hwsrc=OTHER_MAC, psrc=OUR_IP, pdst=PEER_IP),
        R.ARP_ADDRESS_CONFLICT,
        id="answers-for-our-address",
    ),
]


@pytest.mark.parametrize(("frame", "reason"), MARTIANS)
def test_martian_arp_is_dropped_not_cached_not_answered(frame: bytes, reason: DropReason) -> None:
    host = make_host()
    # Even a pending resolution of that address must not take the martian's answer.
    host.receive_frame(frame, NOW)
    assert drops(host) == {reason: 1}
    assert host.frames_to_send() == []
    assert host.stats.tx_arp_replies == 0
    assert len(host._arp) == 0
    events = list(iter(host.next_event, None))
    conflict = reason is R.ARP_ADDRESS_CONFLICT
    assert events == (
        [AddressConflict(OUR_IP, bytes.fromhex("020000000066"), False)] if conflict else []
    )
    assert host.stats.arp_conflicts == int(conflict)


@pytest.mark.parametrize(("frame", "reason"), MARTIANS)
def test_martian_arp_does_not_complete_a_pending_resolution(
    frame: bytes, reason: DropReason
) -> None:
    """A martian reply for an address we are resolving is no answer: our datagram waits."""
    host = make_host()
    sender = Ether(frame)[ARP].psrc
    try:
        host.send_datagram(b"x", (sender, 9), 4000, NOW)
    except (ValueError, OSError):
        return  # not an address we would ever resolve
    host.frames_to_send()
    host.receive_frame(frame, NOW)
    assert host.frames_to_send() == []
    assert host.cached_mac(IPv4Address(sender), NOW) is None


def test_probe_for_our_address_is_answered_and_reported() -> None:
    """RFC 5227 2.1.1: the owner's answer is what tells the prober the address is taken;
    Linux answers too. The prober is not learned (it has no address)."""
    host = make_host()
    host.receive_frame(arp_frame(hwsrc=OTHER_MAC, psrc="0.0.0.0"), NOW)
    (reply,) = host.frames_to_send()
    answer = Ether(reply)
    assert answer.dst == OTHER_MAC
    assert (answer[ARP].op, answer[ARP].psrc, answer[ARP].hwsrc) == (2, OUR_IP, OUR_MAC)
    assert answer[ARP].pdst == "0.0.0.0"
    assert host.next_event() == AddressConflict(OUR_IP, bytes.fromhex("020000000066"), True)
    assert (host.stats.arp_conflicts, host.stats.tx_arp_replies, host.stats.dropped) == (1, 1, 0)
    assert len(host._arp) == 0


def test_a_sane_request_still_learns_and_answers() -> None:
    host = make_host()
    host.receive_frame(arp_frame(), NOW)
    assert len(host.frames_to_send()) == 1
    assert host.cached_mac(IPv4Address(PEER_IP), NOW) == bytes.fromhex("020000000002")
    assert host.stats.dropped == 0


# === VLAN ====================================================================================


def test_vlan_host_tags_arp_icmp_and_udp() -> None:
    host = make_host(vlan=42)
    host.bind_udp(7)
    host.start(NOW)
    host.send_datagram(b"first", (PEER_IP, 9), 7, NOW)  # waits for ARP: a tagged request
    ask = Dot1Q(vlan=42) / ARP(op=1, hwsrc=PEER_MAC, psrc=PEER_IP, pdst=OUR_IP)
    host.receive_frame(bytes(Ether(dst=BCAST, src=PEER_MAC) / ask), NOW)
    ping = Dot1Q(vlan=42, prio=6) / IP(src=PEER_IP, dst=OUR_IP) / ICMP(id=1, seq=1) / b"ping"
    host.receive_frame(bytes(Ether(dst=OUR_MAC, src=PEER_MAC) / ping), NOW)
    port_closed = Dot1Q(vlan=42) / IP(src=PEER_IP, dst=OUR_IP) / UDP(sport=9, dport=99)
    host.receive_frame(bytes(Ether(dst=OUR_MAC, src=PEER_MAC) / port_closed), NOW)
    frames = [Ether(f) for f in host.frames_to_send()]
    kinds = [f[Dot1Q].payload.name for f in frames]
    # gratuitous ARP, ARP request, the parked datagram (learned from the request), the
    # ARP reply, the echo reply, the port unreachable
    assert kinds == ["ARP", "ARP", "IP", "ARP", "IP", "IP"]
    assert all(f.type == 0x8100 and f[Dot1Q].vlan == 42 and f[Dot1Q].prio == 0 for f in frames)
    assert frames[2][UDP].load == b"first"
    assert frames[4][ICMP].type == 0
    assert frames[5][ICMP].type == 3
    assert host.stats.dropped == 1  # the closed port (UDP_NO_LISTENER)


def test_vlan_host_refuses_other_vlans_and_untagged() -> None:
    host = make_host(vlan=42)
    host.bind_udp(7)
    body = IP(src=PEER_IP, dst=OUR_IP) / UDP(sport=9, dport=7) / b"x"
    for frame in (
        Ether(dst=OUR_MAC, src=PEER_MAC) / body,
        Ether(dst=OUR_MAC, src=PEER_MAC) / Dot1Q(vlan=0) / body,
        Ether(dst=OUR_MAC, src=PEER_MAC) / Dot1Q(vlan=43) / body,
        Ether(dst=BCAST, src=PEER_MAC) / ARP(psrc=PEER_IP, pdst=OUR_IP),
    ):
        host.receive_frame(bytes(frame), NOW)
    assert drops(host) == {R.ETH_VLAN_UNTAGGED: 3, R.ETH_VLAN_MISMATCH: 1}
    assert host.frames_to_send() == []


@pytest.mark.parametrize("vlan", [0, 4095, -1, True, "5"])
def test_vlan_ids_are_checked(vlan: Any) -> None:
    with pytest.raises(ValueError, match="VLAN id"):
        make_host(vlan=vlan)


def test_repr_names_the_vlan() -> None:
    assert "vlan=9" in repr(make_host(vlan=9))
    assert "vlan" not in repr(make_host())


# === broadcast ===============================================================================


def test_broadcast_reaches_only_wildcard_ports_and_unbind_forgets_it() -> None:
    host = make_host()
    host.bind_udp(7)
    host.bind_udp(8, wildcard=True)
    for port in (7, 8):
        for dst in ("10.0.0.255", "255.255.255.255", OUR_IP):
            frame = Ether(dst=BCAST if dst != OUR_IP else OUR_MAC, src=PEER_MAC)
            host.receive_frame(bytes(frame / IP(src=PEER_IP, dst=dst) / UDP(dport=port)), NOW)
    got = [(e.dst_port) for e in iter(host.next_event, None) if isinstance(e, DatagramReceived)]
    assert got == [7, 8, 8, 8]
    assert drops(host) == {R.UDP_NO_LISTENER: 2}
    assert host.frames_to_send() == []  # no ICMP error for broadcast
    host.unbind_udp(8)
    host.bind_udp(8)
    host.receive_frame(
        bytes(Ether(dst=BCAST, src=PEER_MAC) / IP(src=PEER_IP, dst="10.0.0.255") / UDP(dport=8)),
        NOW,
    )
    assert host.next_event() is None
