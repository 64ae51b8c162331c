"""Two dual-stack Hosts wired back to back over IPv6: DAD, NDP resolution, ping6, UDP6
both ways (fragmented too), port unreachable, a duplicate address; scapy checks every
message type the host builds."""

from __future__ import annotations

import errno

import pytest
from scapy.layers.inet import UDP
from scapy.layers.inet6 import (
    ICMPv6DestUnreach,
    ICMPv6EchoReply,
    ICMPv6EchoRequest,
    ICMPv6MLReport2,
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    in6_chksum,
)
from scapy.layers.l2 import Ether

from aionetmap.stack import (
    AddressReady,
    Datagram6Received,
    DatagramReceived,
    DropReason,
    DuplicateAddress,
    EchoReplyReceived,
    Event,
    Host,
    HostConfig,
    IcmpErrorReceived,
    NeighborResolved,
    SendFailed,
)

A_MAC, B_MAC = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
A6, B6 = "2001:db8::1", "2001:db8::2"
A_LL = "fe80::ff:fe00:1"


def pair(**config: object) -> tuple[Host, Host]:
    cfg = HostConfig(gratuitous_arp=False, **config)  # type: ignore[arg-type]
    a = Host(A_MAC, "10.0.0.1/24", config=cfg, ipv6=[f"{A6}/64"])
    b = Host(B_MAC, "10.0.0.2/24", config=cfg, ipv6=[f"{B6}/64"])
    return a, b


def pump(a: Host, b: Host, now: float, log: list[bytes] | None = None) -> int:
    moved = 0
    while True:
        batch = 0
        for src, dst in ((a, b), (b, a)):
            for frame in src.frames_to_send():
                if log is not None:
                    log.append(frame)
                dst.receive_frame(frame, now)
                batch += 1
        if not batch:
            return moved
        moved += batch


def events(host: Host) -> list[Event]:
    return list(iter(host.next_event, None))


def ready_pair(**config: object) -> tuple[Host, Host]:
    """Both hosts up, DAD done (one second of RetransTimer), events drained."""
    a, b = pair(**config)
    a.start(0.0)
    b.start(0.0)
    pump(a, b, 0.0)
    for host in (a, b):
        host.handle_timer(1.0)
    pump(a, b, 1.0)
    for host in (a, b):
        assert [e for e in events(host) if isinstance(e, AddressReady)]
    return a, b


def test_link_local_from_eui64() -> None:
    a, _ = pair()
    assert a.ipv6 is not None
    assert str(a.ipv6.interfaces()[0]) == f"{A_LL}/64"


def test_dad_messages_then_ready_and_unsolicited_na() -> None:
    a, _ = pair()
    a.start(0.0)
    frames = [Ether(f) for f in a.frames_to_send()]
    reports = [f for f in frames if f.haslayer(ICMPv6MLReport2)]
    probes = [f for f in frames if f.haslayer(ICMPv6ND_NS)]
    assert reports
    report = reports[0]
    assert report[IPv6].hlim == 1
    assert report[IPv6].dst == "ff02::16"
    assert report.haslayer(IPv6ExtHdrHopByHop)  # Router Alert
    groups = {r.dst for r in report[ICMPv6MLReport2].records}
    assert groups == {"ff02::1:ff00:1"}
    assert {p[ICMPv6ND_NS].tgt for p in probes} == {A_LL, A6}
    for probe in probes:
        assert probe[IPv6].src == "::"
        assert probe[IPv6].hlim == 255
        assert probe[IPv6].dst == "ff02::1:ff00:1"
        assert probe.dst == "33:33:ff:00:00:01"
        assert not probe.haslayer(ICMPv6NDOptSrcLLAddr)
        raw = bytes(probe[IPv6].payload)
        assert in6_chksum(58, probe[IPv6], raw) == 0  # type: ignore[no-untyped-call]
    assert a.ipv6 is not None
    assert a.ipv6.state_of(bytes(16)) is None
    with pytest.raises(OSError, match="no usable IPv6 source") as info:
        a.send_datagram(b"x", (B6, 7), 5000, 0.5)
    assert info.value.errno == errno.EADDRNOTAVAIL
    a.handle_timer(1.0)
    sent = [Ether(f) for f in a.frames_to_send()]
    adverts = [f for f in sent if f.haslayer(ICMPv6ND_NA)]
    assert {n[ICMPv6ND_NA].tgt for n in adverts} == {A_LL, A6}
    for advert in adverts:
        assert advert[ICMPv6ND_NA].O == 1
        assert advert[ICMPv6ND_NA].S == 0
        assert advert[IPv6].dst == "ff02::1"
        assert advert[ICMPv6NDOptDstLLAddr].lladdr == "02:00:00:00:00:01"
    assert {e.ip for e in events(a) if isinstance(e, AddressReady)} == {A_LL, A6}


def test_resolution_udp_both_ways_and_ping() -> None:
    a, b = ready_pair()
    b.bind_udp(7)
    a.bind_udp(5000)
    log: list[bytes] = []
    a.send_datagram(b"hello", (B6, 7), 5000, 2.0)
    pump(a, b, 2.0, log)
    ns = [Ether(f) for f in log if Ether(f).haslayer(ICMPv6ND_NS)]
    assert ns
    assert ns[0][IPv6].dst == "ff02::1:ff00:2"
    assert ns[0][ICMPv6NDOptSrcLLAddr].lladdr == "02:00:00:00:00:01"
    udp = [Ether(f) for f in log if Ether(f).haslayer(UDP)]
    assert len(udp) == 1
    assert udp[0][UDP].chksum == UDP(bytes(udp[0][UDP])).chksum  # kept as sent
    checked = IPv6(bytes(udp[0][IPv6]))
    del checked[UDP].chksum
    assert IPv6(bytes(checked))[UDP].chksum == udp[0][UDP].chksum  # scapy recomputes it
    got = events(b)
    assert Datagram6Received((A6, 5000, 0, 0), 7, b"hello", B6) in got
    assert NeighborResolved(B6, B_MAC) in events(a)
    b.send_datagram(b"back", (A6, 5000, 0, 0), 7, 2.1)
    pump(a, b, 2.1)
    assert Datagram6Received((B6, 7, 0, 0), 5000, b"back", A6) in events(a)
    a.send_echo_request(B6, 9, 1, b"ping6", 2.2)
    log.clear()
    pump(a, b, 2.2, log)
    request = Ether(log[0])
    assert request[ICMPv6EchoRequest].id == 9
    assert request[ICMPv6EchoRequest].data == b"ping6"
    assert Ether(log[1])[ICMPv6EchoReply].seq == 1
    assert EchoReplyReceived(B6, 9, 1, b"ping6") in events(a)


def test_fragmented_udp6_both_ways() -> None:
    a, b = ready_pair()
    b.bind_udp(7)
    a.bind_udp(5000)
    big = bytes(range(256)) * 16  # 4096 bytes: 4 fragments at MTU 1500
    log: list[bytes] = []
    a.send_datagram(big, (B6, 7), 5000, 2.0)
    pump(a, b, 2.0, log)
    fragments = [Ether(f) for f in log if Ether(f).haslayer(IPv6ExtHdrFragment)]
    assert len(fragments) == 3
    assert all(len(f) <= 1514 for f in fragments)
    assert {f[IPv6ExtHdrFragment].id for f in fragments} == {fragments[0][IPv6ExtHdrFragment].id}
    assert [f[IPv6ExtHdrFragment].m for f in fragments] == [1, 1, 0]
    assert Datagram6Received((A6, 5000, 0, 0), 7, big, B6) in events(b)
    assert b.stats.rx_reassembled == 1
    b.send_datagram(big[::-1], (A6, 5000), 7, 2.1)
    pump(a, b, 2.1)
    assert Datagram6Received((B6, 7, 0, 0), 5000, big[::-1], A6) in events(a)


def test_port_unreachable_becomes_icmp_error_event() -> None:
    a, b = ready_pair()
    a.bind_udp(5000)
    log: list[bytes] = []
    a.send_datagram(b"anyone?", (B6, 9), 5000, 2.0)
    pump(a, b, 2.0, log)
    assert b.stats.drops[DropReason.UDP6_NO_LISTENER] == 1
    error = next(Ether(f) for f in log if Ether(f).haslayer(ICMPv6DestUnreach))
    assert error[ICMPv6DestUnreach].code == 4
    got = [e for e in events(a) if isinstance(e, IcmpErrorReceived)]
    assert len(got) == 1
    assert got[0].kind == "port_unreachable"
    assert got[0].dst == (B6, 9)
    assert got[0].src_port == 5000
    assert isinstance(got[0].error, ConnectionRefusedError)


def test_duplicate_address_detected() -> None:
    cfg = HostConfig(gratuitous_arp=False)
    a = Host(A_MAC, "10.0.0.1/24", config=cfg, ipv6=[f"{A6}/64"])
    b = Host(B_MAC, "10.0.0.2/24", config=cfg, ipv6=[f"{A6}/64"])  # same global address
    a.start(0.0)
    pump(a, b, 0.0)
    a.handle_timer(1.0)
    pump(a, b, 1.0)  # a holds it now
    assert a.ipv6 is not None
    assert a.ipv6.state_of(bytes.fromhex("20010db8" + "0" * 23 + "1"))
    b.start(2.0)
    pump(a, b, 2.0)  # b's DAD probe is answered by a
    dup = [e for e in events(b) if isinstance(e, DuplicateAddress)]
    assert dup == [DuplicateAddress(A6, A_MAC)]
    assert b.stats.dad_conflicts == 1
    b.handle_timer(3.0)
    assert b.ipv6 is not None
    ready = [e.ip for e in events(b) if isinstance(e, AddressReady)]
    assert ready == ["fe80::ff:fe00:2"]  # the link-local one passed; the duplicate never
    with pytest.raises(OSError, match="duplicate") as info:
        b.ipv6.check_source(bytes.fromhex("20010db8" + "0" * 23 + "1"))
    assert info.value.errno == errno.EADDRNOTAVAIL


def test_simultaneous_dad_both_lose() -> None:
    cfg = HostConfig(gratuitous_arp=False)
    a = Host(A_MAC, "10.0.0.1/24", config=cfg, ipv6=[f"{A6}/64"])
    b = Host(B_MAC, "10.0.0.2/24", config=cfg, ipv6=[f"{A6}/64"])
    a.start(0.0)
    b.start(0.0)
    pump(a, b, 0.0)
    for host in (a, b):
        assert [e.ip for e in events(host) if isinstance(e, DuplicateAddress)] == [A6]


def test_unresolved_neighbour_fails_after_solicits() -> None:
    a, _ = ready_pair()
    a.send_datagram(b"void", ("2001:db8::99", 7), 5000, 2.0)
    assert len(a.frames_to_send()) == 1  # the first solicitation
    for t in (3.0, 4.0):
        a.handle_timer(t)
        assert len(a.frames_to_send()) == 1
    a.handle_timer(5.0)
    failed = [e for e in events(a) if isinstance(e, SendFailed)]
    assert len(failed) == 1
    assert failed[0].error.errno == errno.EHOSTUNREACH
    assert a.stats.ndp_failures == 1


def test_off_link_without_router_is_unreachable() -> None:
    a, _ = ready_pair()
    with pytest.raises(OSError, match="no IPv6 router") as info:
        a.send_datagram(b"x", ("2001:db8:1::1", 7), 5000, 2.0)
    assert info.value.errno == errno.ENETUNREACH


def test_host_without_ipv6_refuses_and_drops() -> None:
    h = Host(A_MAC, "10.0.0.1/24")
    with pytest.raises(OSError, match="has no IPv6") as info:
        h.send_datagram(b"x", (B6, 7), 5000, 0.0)
    assert info.value.errno == errno.EAFNOSUPPORT
    frame = bytes(Ether(dst="02:00:00:00:00:01") / IPv6(dst=A6) / UDP(dport=7))
    h.receive_frame(frame, 0.0)
    assert h.stats.drops[DropReason.ETH_UNSUPPORTED_TYPE] == 1


def test_ipv4_mapped_destination_goes_over_ipv4() -> None:
    a, b = ready_pair()
    b.bind_udp(7)
    a.send_datagram(b"v4", ("::ffff:10.0.0.2", 7, 0, 0), 5000, 2.0)
    pump(a, b, 2.0)
    assert DatagramReceived(("10.0.0.1", 5000), 7, b"v4") in events(b)


def test_constructor_shapes_and_refusals() -> None:
    only_ll = Host(A_MAC, "10.0.0.1/24", ipv6=[])
    assert only_ll.ipv6 is not None
    assert [str(i) for i in only_ll.ipv6.interfaces()] == [f"{A_LL}/64"]
    given = Host(A_MAC, "10.0.0.1/24", ipv6=["fe80::1234/64", f"{A6}/64"])
    assert given.ipv6 is not None
    assert [str(i) for i in given.ipv6.interfaces()] == ["fe80::1234/64", f"{A6}/64"]
    with pytest.raises(ValueError, match="at least 1280"):
        Host(A_MAC, "10.0.0.1/24", mtu=1000, ipv6=[])
    for bad in ("::1/128", "ff02::1/64", "::/0", "::ffff:10.0.0.1/128"):
        with pytest.raises(ValueError, match="cannot be a host's IPv6 address"):
            Host(A_MAC, "10.0.0.1/24", ipv6=[bad])
    with pytest.raises(ValueError, match="given twice"):
        Host(A_MAC, "10.0.0.1/24", ipv6=[f"{A6}/64", f"{A6}/64"])
    with pytest.raises(TypeError, match="list of addresses"):
        Host(A_MAC, "10.0.0.1/24", ipv6=f"{A6}/64")


def test_send_refusals() -> None:
    a, _ = ready_pair()
    with pytest.raises(ValueError, match="own address"):
        a.send_datagram(b"x", (A6, 7), 5000, 2.0)
    with pytest.raises(ValueError, match="not an IPv6 address"):
        a.send_datagram(b"x", ("2001:db8::zz", 7), 5000, 2.0)
    with pytest.raises(ValueError, match="4-tuple"):
        a.send_datagram(b"x", ("10.0.0.2", 7, 0, 0), 5000, 2.0)
    with pytest.raises(OSError, match="exceeds the limit") as info:
        a.send_datagram(bytes(65528), (B6, 7), 5000, 2.0)
    assert info.value.errno == errno.EMSGSIZE
    a.send_datagram(bytes(65527), (B6, 7), 5000, 2.0)  # the IPv6 limit is 65535 - 8
