"""Two Hosts wired back to back: ARP, then UDP, then ping, with injected time; cache
expiry, failed resolution, bounded queues; the send API's errors."""

from __future__ import annotations

import errno
from ipaddress import IPv4Address, IPv4Interface

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import ARP, Ether

from aionetmap.stack import (
    ArpResolved,
    DatagramReceived,
    DatagramTooLarge,
    DropReason,
    EchoReplyReceived,
    Event,
    Host,
    HostConfig,
    IcmpErrorReceived,
    SendFailed,
)

A_MAC, B_MAC = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
A_IP, B_IP = "10.0.0.1", "10.0.0.2"


def pair(**config: float) -> tuple[Host, Host]:
    cfg = HostConfig(**config)  # type: ignore[arg-type]
    return Host(A_MAC, f"{A_IP}/24", config=cfg), Host(B_MAC, f"{B_IP}/24", config=cfg)


def pump(a: Host, b: Host, now: float) -> int:
    """Deliver frames both ways until both are quiet; return how many frames moved."""
    moved = 0
    while True:
        batch = 0
        for src, dst in ((a, b), (b, a)):
            for frame in src.frames_to_send():
                dst.receive_frame(frame, now)
                batch += 1
        if not batch:
            return moved
        moved += batch


def events(host: Host) -> list[Event]:
    return list(iter(host.next_event, None))


def test_arp_then_udp_then_ping() -> None:
    a, b = pair()
    a.start(0.0)
    b.start(0.0)
    assert pump(a, b, 0.0) == 2  # the two announcements, unknown to the other side
    assert a.stats.drops[DropReason.ARP_NOT_FOR_US] == 1
    b.bind_udp(7)

    a.send_datagram(b"hello", (B_IP, 7), 5000, 1.0)
    (request,) = a.frames_to_send()
    assert Ether(request)[ARP].pdst == B_IP
    b.receive_frame(request, 1.0)
    (reply,) = b.frames_to_send()
    a.receive_frame(reply, 1.0)
    assert events(a) == [ArpResolved(B_IP, B_MAC)]
    (datagram,) = a.frames_to_send()
    b.receive_frame(datagram, 1.0)
    assert events(b) == [DatagramReceived((A_IP, 5000), 7, b"hello")]

    # B learnt A from A's request: its answer goes out without ARP.
    a.bind_udp(5000)
    b.send_datagram(b"world", (A_IP, 5000), 7, 1.1)
    assert pump(a, b, 1.1) == 1
    assert events(a) == [DatagramReceived((B_IP, 7), 5000, b"world")]

    a.send_echo_request(B_IP, 0x77, 1, b"are you there", 1.2)
    assert pump(a, b, 1.2) == 2
    assert events(a) == [EchoReplyReceived(B_IP, 0x77, 1, b"are you there")]
    assert a.stats.tx_echo_requests == 1
    assert b.stats.tx_echo_replies == 1
    assert a.stats.dropped == 1
    assert b.stats.dropped == 1  # A's announcement
    assert a.get_timer() is None
    assert b.get_timer() is None


def test_udp_to_closed_port_reports_connection_refused() -> None:
    a, b = pair()
    a.send_datagram(b"x", (B_IP, 9999), 4000, 0.0)
    pump(a, b, 0.0)
    (event,) = [e for e in events(a) if isinstance(e, IcmpErrorReceived)]
    assert event.kind == "port_unreachable"
    assert event.dst == (B_IP, 9999)
    assert event.src_port == 4000
    assert isinstance(event.error, ConnectionRefusedError)
    assert b.stats.drops[DropReason.UDP_NO_LISTENER] == 1


def test_cache_expiry_triggers_new_resolution() -> None:
    a, b = pair(arp_ttl=30.0)
    b.bind_udp(7)
    a.send_datagram(b"1", (B_IP, 7), 1, 0.0)
    pump(a, b, 0.0)
    peer = IPv4Address(B_IP)
    assert a.cached_mac(peer, 29.9) == B_MAC
    assert a.cached_mac(peer, 30.0) is None
    a.send_datagram(b"2", (B_IP, 7), 1, 30.0)
    (frame,) = a.frames_to_send()
    assert Ether(frame).haslayer(ARP)
    b.receive_frame(frame, 30.0)
    pump(a, b, 30.0)
    delivered = [e.payload for e in events(b) if isinstance(e, DatagramReceived)]
    assert delivered == [b"1", b"2"]
    assert a.stats.tx_arp_requests == 2


def test_failed_resolution_reports_every_waiting_datagram() -> None:
    a, _ = pair()
    a.send_datagram(b"1", ("10.0.0.9", 7), 1000, 10.0)
    assert a.get_timer() == 11.0
    a.send_datagram(b"2", ("10.0.0.9", 8), 1001, 10.5)
    assert len(a.frames_to_send()) == 1  # one request, not one per datagram
    a.handle_timer(10.9)  # nothing due yet
    assert a.frames_to_send() == []
    for now in (11.0, 12.0):
        a.handle_timer(now)
        (retry,) = a.frames_to_send()
        assert Ether(retry)[ARP].pdst == "10.0.0.9"
        assert a.get_timer() == now + 1.0
    a.handle_timer(13.0)
    assert a.frames_to_send() == []
    failures = events(a)
    assert [(f.dst, f.src_port) for f in failures if isinstance(f, SendFailed)] == [
        (("10.0.0.9", 7), 1000),
        (("10.0.0.9", 8), 1001),
    ]
    for failure in failures:
        assert isinstance(failure, SendFailed)
        assert failure.error.errno == errno.EHOSTUNREACH
        assert "10.0.0.9" in str(failure.error)
    assert a.stats.arp_failures == 1
    assert a.stats.send_failed == 2
    assert a.stats.tx_arp_requests == 3
    assert a.get_timer() is None


def test_at_most_one_request_per_second_even_when_timer_runs_late() -> None:
    a, _ = pair(arp_retries=5)
    a.send_datagram(b"1", ("10.0.0.9", 7), 1, 0.0)
    a.frames_to_send()
    a.handle_timer(3.5)  # late: still only one request, and the next one a second later
    assert len(a.frames_to_send()) == 1
    assert a.get_timer() == 4.5


def test_waiting_queue_is_bounded() -> None:
    a, _ = pair(arp_queue_limit=2)
    for i in range(3):
        a.send_datagram(bytes([i]), ("10.0.0.9", 7), 1, 0.0)
    (overflow,) = events(a)
    assert isinstance(overflow, SendFailed)
    assert overflow.error.errno == errno.ENOBUFS
    assert "10.0.0.9" in str(overflow.error)


def test_pending_table_is_bounded() -> None:
    a, _ = pair(arp_max_pending=1)
    a.send_datagram(b"", ("10.0.0.9", 7), 1, 0.0)
    a.send_datagram(b"", ("10.0.0.10", 7), 1, 0.0)
    (overflow,) = events(a)
    assert isinstance(overflow, SendFailed)
    assert overflow.dst == ("10.0.0.10", 7)
    assert overflow.error.errno == errno.ENOBUFS


def test_failed_echo_request_is_reported_with_port_zero() -> None:
    a, _ = pair(arp_retries=1)
    a.send_echo_request("10.0.0.9", 1, 1, b"", 0.0)
    a.handle_timer(1.0)
    (failure,) = events(a)
    assert isinstance(failure, SendFailed)
    assert (failure.dst, failure.src_port) == (("10.0.0.9", 0), 0)


def test_off_link_goes_through_gateway() -> None:
    a = Host(A_MAC, f"{A_IP}/24", gateway="10.0.0.254")
    assert a.next_hop(IPv4Address("8.8.8.8")) == IPv4Address("10.0.0.254")
    assert a.next_hop(IPv4Address("10.0.0.77")) == IPv4Address("10.0.0.77")
    a.send_datagram(b"x", ("8.8.8.8", 53), 1234, 0.0)
    (request,) = a.frames_to_send()
    assert Ether(request)[ARP].pdst == "10.0.0.254"
    gw_mac = "02:00:00:00:00:fe"
    reply = Ether(dst=A_MAC, src=gw_mac) / ARP(
        op=2, hwsrc=gw_mac, psrc="10.0.0.254", hwdst=A_MAC, pdst=A_IP
    )
    a.receive_frame(bytes(reply), 0.1)
    (frame,) = a.frames_to_send()
    parsed = Ether(frame)
    assert parsed.dst == gw_mac
    assert parsed[IP].dst == "8.8.8.8"


def test_off_link_without_gateway_is_unreachable() -> None:
    a, _ = pair()
    with pytest.raises(OSError, match="no default gateway") as info:
        a.send_datagram(b"x", ("8.8.8.8", 53), 1234, 0.0)
    assert info.value.errno == errno.ENETUNREACH
    with pytest.raises(OSError, match=r"8\.8\.8\.8"):
        a.next_hop(IPv4Address("8.8.8.8"))


@pytest.mark.parametrize("dst", ["10.0.0.255", "255.255.255.255"])
def test_broadcast_needs_no_arp(dst: str) -> None:
    a, _ = pair()
    a.send_datagram(b"all", (dst, 67), 68, 0.0)
    (frame,) = a.frames_to_send()
    parsed = Ether(frame)
    assert parsed.dst == "ff:ff:ff:ff:ff:ff"
    assert (parsed[IP].dst, parsed[UDP].dport, bytes(parsed[UDP].payload)) == (dst, 67, b"all")


def test_largest_unfragmented_datagram_fills_the_mtu_exactly() -> None:
    a, b = pair()
    b.bind_udp(9)
    assert a.max_unfragmented == 1472
    a.send_datagram(bytes(1472), (B_IP, 9), 1, 0.0)
    assert a.stats.tx_fragmented == 0
    pump(a, b, 0.0)
    (event,) = [e for e in events(b) if isinstance(e, DatagramReceived)]
    assert len(event.payload) == 1472


def test_only_payloads_over_the_ipv4_limit_are_too_large() -> None:
    a, _ = pair()
    assert a.max_payload == 65507
    with pytest.raises(DatagramTooLarge) as info:
        a.send_datagram(bytes(65508), (B_IP, 9), 1, 0.0)
    assert info.value.errno == errno.EMSGSIZE
    assert isinstance(info.value, OSError)
    assert "65508" in str(info.value)
    assert "65507" in str(info.value)
    with pytest.raises(DatagramTooLarge, match="ICMP echo"):
        a.send_echo_request(B_IP, 1, 1, bytes(65508), 0.0)
    assert a.frames_to_send() == []


def test_small_mtu_fragments_what_does_not_fit() -> None:
    a = Host(A_MAC, f"{A_IP}/24", mtu=576)
    a.send_datagram(memoryview(bytes(548)), ("10.0.0.255", 9), 1, 0.0)
    a.send_datagram(bytes(549), ("10.0.0.255", 9), 1, 0.0)
    a.send_echo_request("10.0.0.255", 1, 1, bytes(549), 0.0)
    assert [len(item) for item in a.take_frames()] == [14 + 576, 2, 2]


@pytest.mark.parametrize(
    ("dst", "src_port", "match"),
    [
        pytest.param(("not an ip", 1), 1, "IPv4", id="bad-address"),
        pytest.param(("10.0.0.1", 1), 1, "own", id="own-address"),
        pytest.param(("127.0.0.1", 1), 1, "loopback", id="loopback"),
        pytest.param(("0.0.0.0", 1), 1, "unspecified", id="unspecified"),
        pytest.param((B_IP, 0), 1, "destination port", id="dst-port-0"),
        pytest.param((B_IP, 65536), 1, "destination port", id="dst-port-big"),
        pytest.param((B_IP, 1), 0, "source port", id="src-port-0"),
        pytest.param((B_IP,), 1, "tuple", id="not-a-pair"),
    ],
)
def test_send_datagram_rejects_bad_arguments(
    dst: tuple[str, int], src_port: int, match: str
) -> None:
    a, _ = pair()
    with pytest.raises(ValueError, match=match):
        a.send_datagram(b"", dst, src_port, 0.0)
    assert a.frames_to_send() == []


def test_send_echo_rejects_bad_ident() -> None:
    a, _ = pair()
    with pytest.raises(ValueError, match="ident"):
        a.send_echo_request(B_IP, 65536, 0, b"", 0.0)


def test_bind_rules() -> None:
    a, _ = pair()
    a.bind_udp(53)
    assert a.is_bound(53)
    with pytest.raises(ValueError, match="already bound"):
        a.bind_udp(53)
    for port in (0, 65536, -1):
        with pytest.raises(ValueError, match=r"1\.\.65535"):
            a.bind_udp(port)
    a.unbind_udp(53)
    a.unbind_udp(53)
    assert not a.is_bound(53)


def test_gratuitous_arp_on_start() -> None:
    a = Host(A_MAC, f"{A_IP}/24")
    a.start(0.0)
    (frame,) = a.frames_to_send()
    arp = Ether(frame)[ARP]
    assert (arp.op, arp.psrc, arp.pdst, arp.hwsrc) == (1, A_IP, A_IP, "02:00:00:00:00:01")
    quiet = Host(A_MAC, f"{A_IP}/24", config=HostConfig(gratuitous_arp=False))
    quiet.start(0.0)
    assert quiet.frames_to_send() == []


def test_slash_31_peers_talk_unicast() -> None:
    a = Host(A_MAC, "10.0.0.0/31")
    b = Host(B_MAC, "10.0.0.1/31")
    b.bind_udp(5)
    a.send_datagram(b"p2p", ("10.0.0.1", 5), 6, 0.0)
    pump(a, b, 0.0)
    assert [e for e in events(b) if isinstance(e, DatagramReceived)] == [
        DatagramReceived(("10.0.0.0", 6), 5, b"p2p")
    ]


def test_attributes() -> None:
    a = Host("02:00:00:00:00:01", IPv4Interface("10.0.0.1/24"), gateway="10.0.0.254", mtu=9000)
    assert a.mac == A_MAC
    assert a.address == IPv4Address(A_IP)
    assert str(a.network) == "10.0.0.0/24"
    assert a.gateway == IPv4Address("10.0.0.254")
    assert a.mtu == 9000
    assert "10.0.0.1/24" in repr(a)
    assert a.context.ip == int(a.address)
    assert a.context.broadcast == int(IPv4Address("10.0.0.255"))


def test_payload_views_of_any_format_are_sent_as_their_bytes() -> None:
    a, b = pair()
    b.bind_udp(9)
    data = bytes(range(16))
    a.send_datagram(memoryview(data).cast("I"), (B_IP, 9), 1, 0.0)
    pump(a, b, 0.0)
    assert [e for e in events(b) if isinstance(e, DatagramReceived)] == [
        DatagramReceived((A_IP, 1), 9, data)
    ]


def test_payload_must_be_bytes_like() -> None:
    a, _ = pair()
    with pytest.raises(TypeError, match="bytes-like"):
        a.send_datagram("text", (B_IP, 9), 1, 0.0)  # type: ignore[arg-type]
