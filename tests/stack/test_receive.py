"""Host.receive_frame: the malformed-frame table (each frame ends in exactly one counted
drop reason), and what the host does with ARP, ICMP and closed ports."""

from __future__ import annotations

import errno
from ipaddress import IPv4Address
from typing import Any

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_Router_Alert
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Packet

from aionetmap.stack import (
    DatagramReceived,
    DropReason,
    EchoReplyReceived,
    Host,
    HostConfig,
    IcmpErrorReceived,
)
from aionetmap.stack.checksum import inet_checksum

OUR_MAC, PEER_MAC, BCAST = "02:00:00:00:00:01", "02:00:00:00:00:02", "ff:ff:ff:ff:ff:ff"
OUR_IP, PEER_IP = "10.0.0.1", "10.0.0.2"
R = DropReason


def make_host(**config: object) -> Host:
    host = Host(OUR_MAC, f"{OUR_IP}/24", config=HostConfig(**config))  # type: ignore[arg-type]
    host.bind_udp(53)
    return host


def drops(host: Host) -> dict[DropReason, int]:
    return {reason: n for reason, n in host.stats.drops.items() if n}


def eth(dst: str = OUR_MAC, src: str = PEER_MAC) -> Ether:
    return Ether(dst=dst, src=src)


def ip(**fields: Any) -> IP:
    base: dict[str, Any] = {"src": PEER_IP, "dst": OUR_IP}
    base.update(fields)
    return IP(**base)


def arp(**fields: Any) -> ARP:
    base: dict[str, Any] = {"op": 1, "hwsrc": PEER_MAC, "psrc": PEER_IP, "pdst": OUR_IP}
    base.update(fields)
    return ARP(**base)


def raw(packet: Packet) -> bytes:
    return bytes(packet)


UDP_FRAME = raw(eth() / ip() / UDP(sport=4000, dport=53) / b"payload!")
ARP_FRAME = raw(eth(BCAST) / arp())
ICMP_FRAME = raw(eth() / ip() / ICMP(id=1, seq=1) / b"ping")


def _cuts(name: str, frame: bytes, boundary: int, inner: DropReason) -> list[object]:
    return [
        pytest.param(frame[:n], R.ETH_TRUNCATED if n < 14 else inner, id=f"{name}-cut-{n}")
        for n in range(boundary if boundary else len(frame))
    ]


MALFORMED = [
    *_cuts("udp", UDP_FRAME, 0, R.IP_TRUNCATED),
    *_cuts("arp", ARP_FRAME, 14 + 28, R.ARP_TRUNCATED),
    *_cuts("icmp", ICMP_FRAME, 0, R.IP_TRUNCATED),
    pytest.param(raw(eth() / ip(ihl=4) / UDP()), R.IP_BAD_IHL, id="ihl-4"),
    pytest.param(raw(eth() / ip(len=300) / UDP()), R.IP_TRUNCATED, id="total-length-past-frame"),
    pytest.param(
        raw(eth() / ip(len=12) / UDP()), R.IP_BAD_TOTAL_LENGTH, id="total-length-under-ihl"
    ),
    pytest.param(
        raw(eth() / ip(len=24) / UDP(dport=53)), R.UDP_TRUNCATED, id="total-length-cuts-udp"
    ),
    pytest.param(raw(eth() / ip(chksum=0xBAD) / UDP(dport=53)), R.IP_BAD_CHECKSUM, id="ip-csum"),
    pytest.param(
        raw(eth() / ip() / UDP(dport=53, chksum=0xBAD) / b"x"), R.UDP_BAD_CHECKSUM, id="udp-csum"
    ),
    pytest.param(raw(eth() / ip() / ICMP(chksum=0xBAD)), R.ICMP_BAD_CHECKSUM, id="icmp-csum"),
    pytest.param(raw(eth() / ip(proto=1) / b"1234567"), R.ICMP_TRUNCATED, id="icmp-under-8"),
    pytest.param(raw(eth() / ip(version=6) / UDP()), R.IP_BAD_VERSION, id="version-6-in-ipv4"),
    pytest.param(raw(eth() / ip(src="224.1.1.1") / UDP()), R.IP_BAD_SOURCE, id="martian-src"),
    pytest.param(raw(eth() / ip(dst="10.0.0.7") / UDP()), R.IP_NOT_FOR_US, id="other-ip"),
    pytest.param(raw(eth(BCAST) / ip() / UDP()), R.IP_L2_BROADCAST, id="unicast-in-l2-bcast"),
    pytest.param(raw(eth() / ip() / TCP()), R.IP_UNSUPPORTED_PROTOCOL, id="tcp"),
    pytest.param(raw(eth() / ip() / UDP(len=4)), R.UDP_BAD_LENGTH, id="udp-len-4"),
    pytest.param(raw(eth("02:00:00:00:00:09") / ip() / UDP()), R.ETH_OTHER_HOST, id="other-mac"),
    pytest.param(raw(eth("01:00:5e:00:00:fb") / ip() / UDP()), R.ETH_MULTICAST, id="mcast-mac"),
    pytest.param(raw(eth(src=BCAST) / ip() / UDP()), R.ETH_BAD_SOURCE, id="bcast-src-mac"),
    pytest.param(
        raw(eth() / Dot1Q(vlan=0) / Dot1Q() / ip() / UDP()), R.ETH_UNSUPPORTED_TYPE, id="qinq"
    ),
    pytest.param(
        raw(eth() / ip() / UDP(dport=53) / bytes(1500 - 28 + 5)), R.ETH_OVERSIZE, id="oversize"
    ),
    pytest.param(raw(eth(BCAST) / arp(pdst="10.0.0.3")), R.ARP_NOT_FOR_US, id="arp-other-ip"),
    pytest.param(
        raw(eth(BCAST) / arp(psrc="10.0.0.3", pdst="10.0.0.3")), R.ARP_NOT_FOR_US, id="garp-unknown"
    ),
    pytest.param(raw(eth(BCAST) / arp(hwlen=8)), R.ARP_BAD_LENGTHS, id="arp-hlen-8"),
    pytest.param(raw(eth(BCAST) / arp(plen=6)), R.ARP_BAD_LENGTHS, id="arp-plen-6"),
    pytest.param(raw(eth(BCAST) / arp(hwtype=6)), R.ARP_UNSUPPORTED, id="arp-htype"),
    pytest.param(raw(eth(BCAST) / arp(op=9)), R.ARP_BAD_OPERATION, id="arp-op"),
    pytest.param(raw(eth(BCAST) / arp(hwsrc=BCAST)), R.ARP_BAD_SENDER, id="arp-bcast-sender"),
    pytest.param(raw(eth() / arp(op=2, hwdst=OUR_MAC)), R.ARP_UNSOLICITED, id="arp-unsolicited"),
    pytest.param(
        raw(eth(BCAST) / ip(dst="10.0.0.255") / ICMP()), R.ICMP_BROADCAST, id="broadcast-ping"
    ),
    pytest.param(raw(eth() / ip() / ICMP(type=13)), R.ICMP_UNSUPPORTED_TYPE, id="icmp-timestamp"),
    pytest.param(raw(eth() / ip() / ICMP(type=5)), R.ICMP_UNSUPPORTED_TYPE, id="icmp-redirect"),
    pytest.param(
        raw(eth() / ip() / ICMP(type=3, code=3) / b"short"), R.ICMP_BAD_QUOTE, id="quote-short"
    ),
    pytest.param(
        raw(eth() / ip() / ICMP(type=3, code=3) / IP(src="10.0.0.9", dst=PEER_IP) / UDP()),
        R.ICMP_BAD_QUOTE,
        id="quote-not-from-us",
    ),
    pytest.param(
        raw(eth() / ip() / ICMP(type=3, code=3) / IP(src=OUR_IP, dst=PEER_IP) / TCP()),
        R.ICMP_BAD_QUOTE,
        id="quote-not-udp",
    ),
    pytest.param(
        raw(eth(BCAST) / ip(dst="255.255.255.255") / UDP(dport=99)),
        R.UDP_NO_LISTENER,
        id="bcast-closed-port",
    ),
    pytest.param(
        raw(eth() / ip(src="192.0.2.1") / ICMP(id=1, seq=1)),
        R.REPLY_UNROUTABLE,
        id="ping-from-off-link-without-gateway",
    ),
]


@pytest.mark.parametrize(("frame", "reason"), MALFORMED)
def test_malformed_frame_is_counted_once(frame: bytes, reason: DropReason) -> None:
    host = make_host()
    host.receive_frame(frame, 1.0)
    assert drops(host) == {reason: 1}
    assert host.stats.rx_frames == 1
    assert host.next_event() is None
    assert host.frames_to_send() == []


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(raw(eth() / ip(flags="MF", id=5) / UDP(dport=53) / bytes(16)), id="first"),
        pytest.param(raw(eth() / ip(flags="MF", frag=3, id=5, proto=17) / bytes(16)), id="middle"),
        pytest.param(raw(eth() / ip(frag=5, id=5, proto=17) / bytes(4)), id="last"),
    ],
)
def test_fragments_dropped_when_reassembly_is_off(frame: bytes) -> None:
    host = make_host(reassembly=False)
    host.receive_frame(frame, 1.0)
    assert drops(host) == {R.IP_FRAGMENT: 1}


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(raw(eth() / ip(flags="MF", id=5) / UDP(dport=53) / bytes(16)), id="first"),
        pytest.param(raw(eth() / ip(flags="MF", frag=3, id=5, proto=17) / bytes(16)), id="middle"),
        pytest.param(raw(eth() / ip(frag=5, id=5, proto=17) / bytes(4)), id="last"),
    ],
)
def test_lone_fragment_is_held_then_times_out(frame: bytes) -> None:
    host = make_host(reassembly_timeout=30.0)
    host.receive_frame(frame, 1.0)
    assert drops(host) == {}
    assert host.stats.rx_fragments == 1
    assert host.get_timer() == 31.0
    host.handle_timer(30.9)
    assert drops(host) == {}
    host.handle_timer(31.0)
    assert drops(host) == {R.IP_FRAGMENT_TIMEOUT: 1}
    assert host.get_timer() is None


def test_valid_frames_are_not_drops() -> None:
    host = make_host()
    for frame in (
        UDP_FRAME,
        UDP_FRAME + bytes(20),  # Ethernet padding
        raw(eth() / ip(options=[IPOption_Router_Alert()]) / UDP(sport=4000, dport=53) / b"opt"),
        raw(eth() / Dot1Q(vlan=0) / ip() / UDP(sport=4000, dport=53) / b"prio-tagged"),
    ):
        host.receive_frame(frame, 1.0)
    assert drops(host) == {}
    payloads = [e.payload for e in iter(host.next_event, None) if isinstance(e, DatagramReceived)]
    assert payloads == [b"payload!", b"payload!", b"opt", b"prio-tagged"]
    assert host.stats.rx_udp_delivered == 4


def test_delivered_payload_is_a_copy() -> None:
    host = make_host()
    frame = bytearray(UDP_FRAME)
    host.receive_frame(memoryview(frame), 1.0)
    frame[-8:] = bytes(8)
    event = host.next_event()
    assert event == DatagramReceived((PEER_IP, 4000), 53, b"payload!")


@pytest.mark.parametrize("fmt", ["H", "b", "c"])
def test_odd_memoryview_formats_are_accepted(fmt: str) -> None:
    host = make_host()
    frame = UDP_FRAME + bytes(-len(UDP_FRAME) % 2)  # even, so it can be cast to "H"
    view: memoryview = memoryview(frame).cast(fmt)  # type: ignore[call-overload]
    host.receive_frame(view, 1.0)
    assert host.next_event() == DatagramReceived((PEER_IP, 4000), 53, b"payload!")


def test_non_contiguous_memoryview_is_accepted() -> None:
    host = make_host()
    doubled = bytes(b for byte in UDP_FRAME for b in (byte, 0))
    host.receive_frame(memoryview(doubled)[::2], 1.0)
    assert host.next_event() == DatagramReceived((PEER_IP, 4000), 53, b"payload!")


# --- ARP ---


def test_answers_arp_request_for_its_address_and_learns_the_asker() -> None:
    host = make_host()
    host.receive_frame(ARP_FRAME, 5.0)
    (reply,) = host.frames_to_send()
    parsed = Ether(reply)
    assert parsed.dst == PEER_MAC
    assert parsed[ARP].op == 2
    assert (parsed[ARP].hwsrc, parsed[ARP].psrc) == (OUR_MAC, OUR_IP)
    assert (parsed[ARP].hwdst, parsed[ARP].pdst) == (PEER_MAC, PEER_IP)
    assert host.cached_mac(IPv4Address(PEER_IP), 5.0) == bytes.fromhex("020000000002")
    assert host.stats.tx_arp_replies == 1
    assert drops(host) == {}


def test_answers_probe_without_learning() -> None:
    host = make_host()
    host.receive_frame(raw(eth(BCAST) / arp(psrc="0.0.0.0")), 1.0)
    (reply,) = host.frames_to_send()
    assert Ether(reply)[ARP].pdst == "0.0.0.0"
    assert host.cached_mac(IPv4Address("0.0.0.0"), 1.0) is None


def test_does_not_learn_off_subnet_asker() -> None:
    host = make_host()
    host.receive_frame(raw(eth(BCAST) / arp(psrc="192.0.2.5")), 1.0)
    assert len(host.frames_to_send()) == 1
    assert host.cached_mac(IPv4Address("192.0.2.5"), 1.0) is None


def test_known_neighbour_announcement_updates_the_cache() -> None:
    host = make_host()
    host.receive_frame(ARP_FRAME, 1.0)
    new_mac = "02:00:00:00:00:22"
    host.receive_frame(raw(eth(BCAST, new_mac) / arp(hwsrc=new_mac, pdst=PEER_IP)), 2.0)
    assert drops(host) == {}
    peer = IPv4Address(PEER_IP)
    assert host.cached_mac(peer, 2.0) == bytes.fromhex("020000000022")


# --- ICMP ---


def test_echo_reply_mirrors_the_request() -> None:
    host = make_host()
    host.receive_frame(ARP_FRAME, 1.0)
    host.frames_to_send()
    payload = bytes(range(200))
    host.receive_frame(raw(eth() / ip(ttl=3) / ICMP(id=0x4321, seq=77) / payload), 1.0)
    (frame,) = host.frames_to_send()
    reply = Ether(frame)
    assert reply.dst == PEER_MAC
    assert (reply[IP].src, reply[IP].dst, reply[IP].ttl) == (OUR_IP, PEER_IP, 64)
    icmp = reply[ICMP]
    assert (icmp.type, icmp.code, icmp.id, icmp.seq) == (0, 0, 0x4321, 77)
    assert bytes(icmp.payload) == payload
    del reply[ICMP].chksum
    del reply[IP].chksum
    assert Ether(bytes(reply)) == Ether(frame)  # both checksums as scapy computes them


def test_echo_reply_waits_for_arp() -> None:
    host = make_host()
    host.receive_frame(ICMP_FRAME, 1.0)
    (request,) = host.frames_to_send()
    assert Ether(request)[ARP].pdst == PEER_IP
    host.receive_frame(raw(eth() / arp(op=2, hwdst=OUR_MAC)), 1.5)
    (reply,) = host.frames_to_send()
    assert Ether(reply)[ICMP].type == 0


def test_echo_ignored_when_configured() -> None:
    host = make_host(answer_echo=False)
    host.receive_frame(ICMP_FRAME, 1.0)
    assert drops(host) == {R.ICMP_ECHO_IGNORED: 1}
    assert host.frames_to_send() == []


def test_echo_reply_event() -> None:
    host = make_host()
    host.receive_frame(raw(eth() / ip() / ICMP(type=0, id=9, seq=3) / b"pong"), 1.0)
    assert host.next_event() == EchoReplyReceived(PEER_IP, 9, 3, b"pong")
    assert drops(host) == {}


def test_port_unreachable_quotes_the_datagram() -> None:
    host = make_host()
    host.receive_frame(ARP_FRAME, 1.0)
    host.frames_to_send()
    packet = ip() / UDP(sport=4000, dport=99) / b"knock"
    offending = raw(packet)
    host.receive_frame(raw(eth() / packet), 1.0)
    assert drops(host) == {R.UDP_NO_LISTENER: 1}
    (frame,) = host.frames_to_send()
    icmp = Ether(frame)[ICMP]
    assert (icmp.type, icmp.code) == (3, 3)
    assert bytes(icmp.payload) == offending
    assert host.stats.tx_port_unreachable == 1


def test_port_unreachable_is_rate_limited() -> None:
    host = make_host(icmp_error_rate=1.0, icmp_error_burst=2)
    host.receive_frame(ARP_FRAME, 0.0)
    host.frames_to_send()
    closed = raw(eth() / ip() / UDP(dport=99))
    for _ in range(5):
        host.receive_frame(closed, 10.0)
    assert len(host.frames_to_send()) == 2
    assert host.stats.icmp_rate_limited == 3
    host.receive_frame(closed, 11.0)
    assert len(host.frames_to_send()) == 1
    assert drops(host) == {R.UDP_NO_LISTENER: 6}


@pytest.mark.parametrize(
    ("code", "kind", "exc_type", "err"),
    [
        (3, "port_unreachable", ConnectionRefusedError, errno.ECONNREFUSED),
        (1, "host_unreachable", OSError, errno.EHOSTUNREACH),
    ],
)
def test_icmp_error_about_our_datagram(
    code: int, kind: str, exc_type: type[OSError], err: int
) -> None:
    host = make_host()
    quoted = raw(IP(src=OUR_IP, dst="198.51.100.7") / UDP(sport=5000, dport=6000) / b"data")
    host.receive_frame(raw(eth() / ip(src="10.0.0.254") / ICMP(type=3, code=code) / quoted), 1.0)
    event = host.next_event()
    assert isinstance(event, IcmpErrorReceived)
    assert (event.src, event.kind, event.dst, event.src_port) == (
        "10.0.0.254",
        kind,
        ("198.51.100.7", 6000),
        5000,
    )
    assert type(event.error) is exc_type
    assert event.error.errno == err
    assert "198.51.100.7:6000" in str(event.error)
    assert drops(host) == {}


def test_time_exceeded_with_only_eight_quoted_bytes() -> None:
    host = make_host()
    quoted = raw(IP(src=OUR_IP, dst="198.51.100.7") / UDP(sport=5000, dport=6000))[:28]
    host.receive_frame(raw(eth() / ip() / ICMP(type=11) / quoted), 1.0)
    event = host.next_event()
    assert isinstance(event, IcmpErrorReceived)
    assert event.kind == "time_exceeded"


def test_echo_request_reassembled_is_answered_in_fragments() -> None:
    host = make_host()
    host.receive_frame(ARP_FRAME, 0.0)
    host.frames_to_send()
    payload = bytes(range(256)) * 12
    packet = IP(raw(ip(id=9) / ICMP(id=1, seq=1) / payload))
    body = raw(packet)[20:]
    first = raw(eth() / ip(id=9, flags="MF", proto=1) / body[:1480])
    second = raw(eth() / ip(id=9, flags="MF", frag=185, proto=1) / body[1480:2960])
    last = raw(eth() / ip(id=9, frag=370, proto=1) / body[2960:])
    for frame in (first, second, last):
        host.receive_frame(frame, 1.0)
    assert host.stats.rx_reassembled == 1
    assert drops(host) == {}
    (group,) = host.take_frames()
    assert isinstance(group, tuple)
    assert [len(f) for f in group] == [1514, 1514, 14 + 20 + len(body) - 2960]
    assert [Ether(f)[IP].frag for f in group] == [0, 185, 370]
    assert {Ether(f)[IP].src for f in group} == {OUR_IP}
    data = b"".join(raw(Ether(f)[IP])[20:] for f in group)
    assert inet_checksum(data) == 0
    message = ICMP(data)
    assert (message.type, message.id, message.seq) == (0, 1, 1)
    assert raw(message.payload) == payload
    assert host.stats.tx_echo_replies == 1


def test_internal_errors_are_counted_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    host = make_host()

    def boom(*args: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(host, "_dispatch", boom)
    host.receive_frame(UDP_FRAME, 1.0)
    assert drops(host) == {R.INTERNAL_ERROR: 1}
