"""NDP answers and the neighbour state machine, router advertisements, MLDv2 reports and
queries, group delivery: one Host against frames scapy builds and reads."""

from __future__ import annotations

import errno
from typing import Any

import pytest
from scapy.layers.inet import UDP
from scapy.layers.inet6 import (
    ICMPv6DestUnreach,
    ICMPv6EchoReply,
    ICMPv6EchoRequest,
    ICMPv6MLDMultAddrRec,
    ICMPv6MLQuery2,
    ICMPv6MLReport2,
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6ND_RA,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptPrefixInfo,
    ICMPv6NDOptSrcLLAddr,
    ICMPv6PacketTooBig,
    IPv6,
)
from scapy.layers.l2 import Ether
from scapy.packet import Packet

from aionetmap.stack import (
    Datagram6Received,
    DropReason,
    Host,
    HostConfig,
    IcmpErrorReceived,
    SendFailed,
)
from aionetmap.stack.ndp_cache import NeighborState

R = DropReason
A_MAC, B_MAC = "02:00:00:00:00:01", "02:00:00:00:00:02"
A6, B6, A_LL, B_LL = "2001:db8::1", "2001:db8::2", "fe80::1", "fe80::ff:fe00:2"
ROUTER_MAC, ROUTER_LL = "02:00:00:00:00:fe", "fe80::fe"


def host(**config: Any) -> Host:
    cfg = HostConfig(gratuitous_arp=False, dad_transmits=0, unsolicited_na=False, **config)
    h = Host(B_MAC, "10.0.0.2/24", config=cfg, ipv6=[f"{B6}/64"])
    h.start(0.0)
    h.handle_timer(1.0)
    h.frames_to_send()
    return h


def eth(payload: Packet, dst: str = B_MAC, src: str = A_MAC) -> bytes:
    return bytes(Ether(src=src, dst=dst) / payload)


def sent(h: Host) -> list[Ether]:
    return [Ether(f) for f in h.frames_to_send()]


def ns_from_a(target: str = B6, src: str = A6) -> bytes:
    ip = IPv6(src=src, dst=target, hlim=255)
    return eth(ip / ICMPv6ND_NS(tgt=target) / ICMPv6NDOptSrcLLAddr(lladdr=A_MAC))


def cache_state(h: Host, ip: str) -> NeighborState | None:
    assert h.ipv6 is not None
    return h.ipv6.cache.state(IPv6Address(ip).packed)


from ipaddress import IPv6Address  # noqa: E402


def test_ns_answered_with_solicited_na_and_sender_learned() -> None:
    h = host()
    h.receive_frame(ns_from_a(), 2.0)
    [na] = sent(h)
    assert na.dst == A_MAC
    assert na[IPv6].src == B6
    assert na[IPv6].dst == A6
    assert na[IPv6].hlim == 255
    assert na[ICMPv6ND_NA].tgt == B6
    assert (na[ICMPv6ND_NA].S, na[ICMPv6ND_NA].O, na[ICMPv6ND_NA].R) == (1, 1, 0)
    assert na[ICMPv6NDOptDstLLAddr].lladdr == B_MAC
    assert IPv6(bytes(na[IPv6]))[ICMPv6ND_NA].cksum == na[ICMPv6ND_NA].cksum
    assert cache_state(h, A6) is NeighborState.STALE
    assert h.stats.tx_neighbor_adverts == 1


def test_ns_to_solicited_node_group_is_answered() -> None:
    h = host()
    ip = IPv6(src=A6, dst="ff02::1:ff00:2", hlim=255)
    frame = eth(ip / ICMPv6ND_NS(tgt=B6) / ICMPv6NDOptSrcLLAddr(lladdr=A_MAC), "33:33:ff:00:00:02")
    h.receive_frame(frame, 2.0)
    [na] = sent(h)
    assert na[ICMPv6ND_NA].tgt == B6


def test_dad_probe_for_our_address_answered_to_all_nodes() -> None:
    h = host()
    ip = IPv6(src="::", dst="ff02::1:ff00:2", hlim=255)
    h.receive_frame(eth(ip / ICMPv6ND_NS(tgt=B6), "33:33:ff:00:00:02"), 2.0)
    [na] = sent(h)
    assert na[IPv6].dst == "ff02::1"
    assert na[ICMPv6ND_NA].S == 0


def test_neighbour_states_reachable_stale_delay_probe() -> None:
    h = host()
    h.send_datagram(b"1", (A6, 7), 5000, 2.0)
    [solicit] = sent(h)
    assert solicit[IPv6].dst == "ff02::1:ff00:1"
    assert cache_state(h, A6) is NeighborState.INCOMPLETE
    na = IPv6(src=A6, dst=B6, hlim=255) / ICMPv6ND_NA(tgt=A6, S=1, O=1)
    h.receive_frame(eth(na / ICMPv6NDOptDstLLAddr(lladdr=A_MAC)), 2.1)
    [datagram] = sent(h)
    assert datagram.dst == A_MAC
    assert datagram.haslayer(UDP)
    assert cache_state(h, A6) is NeighborState.REACHABLE
    h.handle_timer(32.1)  # ReachableTime (30 s) passed
    assert cache_state(h, A6) is NeighborState.STALE
    h.send_datagram(b"2", (A6, 7), 5000, 40.0)  # a stale entry is used at once...
    assert sent(h)[0].haslayer(UDP)
    assert cache_state(h, A6) is NeighborState.DELAY  # ...and re-confirmed later
    h.handle_timer(45.0)
    [probe] = sent(h)
    assert probe.dst == A_MAC  # unicast
    assert probe[IPv6].dst == A6
    assert cache_state(h, A6) is NeighborState.PROBE
    for t in (46.0, 47.0):
        h.handle_timer(t)
        assert len(sent(h)) == 1
    h.handle_timer(48.0)
    assert cache_state(h, A6) is None


def test_pending_queue_is_capped() -> None:
    h = host(ndp_queue_limit=2)
    for i in range(4):
        h.send_datagram(bytes([i]), (A6, 7), 5000, 2.0)
    failed = [e for e in iter(h.next_event, None) if isinstance(e, SendFailed)]
    assert len(failed) == 2  # two wait (the first started resolution), two fail
    assert len(sent(h)) == 1  # one solicitation, not four


def test_router_advertisement_gives_default_router_and_prefix() -> None:
    h = host()
    with pytest.raises(OSError, match="no IPv6 router"):
        h.send_datagram(b"x", ("2001:db8:9::1", 7), 5000, 2.0)
    ra = (
        IPv6(src=ROUTER_LL, dst="ff02::1", hlim=255)
        / ICMPv6ND_RA(routerlifetime=600)
        / ICMPv6NDOptSrcLLAddr(lladdr=ROUTER_MAC)
        / ICMPv6NDOptPrefixInfo(prefix="2001:db8:5::", prefixlen=64, L=1, A=0, validlifetime=99)
    )
    h.receive_frame(eth(ra, "33:33:00:00:00:01", ROUTER_MAC), 2.0)
    h.send_datagram(b"x", ("2001:db8:9::1", 7), 5000, 3.0)
    [frame] = sent(h)
    assert frame.dst == ROUTER_MAC  # learned from the RA's SLLA: no solicitation needed
    assert frame[IPv6].dst == "2001:db8:9::1"
    h.send_datagram(b"y", ("2001:db8:5::7", 7), 5000, 3.0)
    [solicit] = sent(h)  # on-link by the prefix: resolved directly
    assert solicit[ICMPv6ND_NS].tgt == "2001:db8:5::7"
    ra.routerlifetime = 0
    h.receive_frame(eth(ra, "33:33:00:00:00:01", ROUTER_MAC), 4.0)
    with pytest.raises(OSError, match="no IPv6 router"):
        h.send_datagram(b"x", ("2001:db8:9::1", 7), 5000, 5.0)


def test_ra_ignored_when_configured_off() -> None:
    h = host(accept_ra=False)
    ra = IPv6(src=ROUTER_LL, dst="ff02::1", hlim=255) / ICMPv6ND_RA(routerlifetime=600)
    h.receive_frame(eth(ra, "33:33:00:00:00:01", ROUTER_MAC), 2.0)
    assert h.stats.drops[R.RA_IGNORED] == 1


def test_static_gateway6() -> None:
    cfg = HostConfig(gratuitous_arp=False, dad_transmits=0)
    h = Host(B_MAC, "10.0.0.2/24", config=cfg, ipv6=[f"{B6}/64"], gateway6=ROUTER_LL)
    h.start(0.0)
    h.frames_to_send()
    h.send_datagram(b"x", ("2001:db8:9::1", 7), 5000, 1.0)
    [solicit] = sent(h)
    assert solicit[ICMPv6ND_NS].tgt == ROUTER_LL
    assert solicit[IPv6].src == B_LL  # link-local target: link-local source
    with pytest.raises(ValueError, match="neither link-local nor on-link"):
        Host(B_MAC, "10.0.0.2/24", ipv6=[f"{B6}/64"], gateway6="2001:db8:7::1")


def _records(report: Packet) -> list[tuple[int, str]]:
    """The records of a report (scapy hangs each further record off the one before)."""
    out = []
    for first in report.records:
        record = first
        while isinstance(record, ICMPv6MLDMultAddrRec):
            out.append((record.rtype, record.dst))
            record = record.payload
    assert len(out) == report.records_number
    return out


def _reports(frames: list[Ether]) -> list[list[tuple[int, str]]]:
    return [_records(f[ICMPv6MLReport2]) for f in frames if f.haslayer(ICMPv6MLReport2)]


def test_join_and_leave_send_state_change_reports_twice() -> None:
    h = host()
    assert h.ipv6 is not None
    h.ipv6.join_group("ff15::42", 2.0)
    assert bytes.fromhex("333300000042") in h.multicast_macs
    first = sent(h)
    assert _reports(first) == [[(4, "ff15::42")]]  # CHANGE_TO_EXCLUDE_MODE
    assert first[0][IPv6].hlim == 1
    assert first[0][IPv6].src == B_LL
    h.handle_timer(3.0)  # robustness 2: once more after the unsolicited interval
    assert _reports(sent(h)) == [[(4, "ff15::42")]]
    h.handle_timer(4.0)
    assert sent(h) == []
    h.ipv6.leave_group("ff15::42", 5.0)
    assert _reports(sent(h)) == [[(3, "ff15::42")]]  # CHANGE_TO_INCLUDE_MODE, no sources
    assert bytes.fromhex("333300000042") not in h.multicast_macs


def _query(group: str = "::", mrd: int = 1000) -> bytes:
    ip = IPv6(src=ROUTER_LL, dst="ff02::1", hlim=1)
    return eth(ip / ICMPv6MLQuery2(mladdr=group, mrd=mrd), "33:33:00:00:00:01", ROUTER_MAC)


def test_general_query_answered_within_max_response_delay() -> None:
    h = host()
    assert h.ipv6 is not None
    h.ipv6.join_group("ff15::42", 2.0)
    h.handle_timer(3.0)
    sent(h)
    h.receive_frame(_query(mrd=1000), 10.0)
    assert sent(h) == []  # delayed
    deadline = h.get_timer()
    assert deadline is not None
    assert 10.0 <= deadline <= 11.0
    h.handle_timer(11.0)
    [records] = _reports(sent(h))
    assert sorted(records) == [(2, "ff02::1:ff00:2"), (2, "ff15::42")]  # MODE_IS_EXCLUDE


def test_group_specific_query() -> None:
    h = host()
    assert h.ipv6 is not None
    h.ipv6.join_group("ff15::42", 2.0)
    h.handle_timer(3.0)
    sent(h)
    h.receive_frame(_query("ff15::99"), 10.0)
    assert h.stats.drops[R.MLD_IGNORED] == 1
    h.receive_frame(_query("ff15::42", mrd=0), 10.0)
    h.handle_timer(10.0)
    assert _reports(sent(h)) == [[(2, "ff15::42")]]


def test_group_datagrams_reach_wildcard_ports_of_joined_groups_only() -> None:
    h = host()
    assert h.ipv6 is not None
    h.bind_udp(7, wildcard=True)
    h.bind_udp(8)
    h.ipv6.join_group("ff15::42", 2.0)
    sent(h)
    group = IPv6(src=A6, dst="ff15::42") / UDP(sport=5000, dport=7) / b"feed"
    h.receive_frame(eth(group, "33:33:00:00:00:42"), 3.0)
    got = [e for e in iter(h.next_event, None) if isinstance(e, Datagram6Received)]
    assert got == [Datagram6Received((A6, 5000, 0, 0), 7, b"feed", "ff15::42")]
    to_8 = IPv6(src=A6, dst="ff15::42") / UDP(sport=5000, dport=8) / b"feed"
    h.receive_frame(eth(to_8, "33:33:00:00:00:42"), 3.0)
    assert h.stats.drops[R.UDP6_NO_LISTENER] == 1
    assert sent(h) == []  # no port unreachable for a group
    h.ipv6.leave_group("ff15::42", 4.0)
    h.receive_frame(eth(group, "33:33:00:00:00:42"), 5.0)
    assert h.stats.drops[R.ETH_MULTICAST] == 1  # its MAC is no longer listened on


def test_link_local_source_carries_scope_id() -> None:
    h = host(ipv6_scope_id=5)
    h.bind_udp(7)
    h.receive_frame(eth(IPv6(src=A_LL, dst=B_LL) / UDP(sport=1, dport=7) / b"ll"), 2.0)
    got = [e for e in iter(h.next_event, None) if isinstance(e, Datagram6Received)]
    assert got == [Datagram6Received((A_LL, 1, 0, 5), 7, b"ll", B_LL)]


def test_echo_to_all_nodes_answered_from_unicast() -> None:
    h = host()
    h.receive_frame(ns_from_a(), 2.0)
    sent(h)
    ping = IPv6(src=A6, dst="ff02::1") / ICMPv6EchoRequest(id=3, seq=4, data=b"all")
    h.receive_frame(eth(ping, "33:33:00:00:00:01"), 2.0)
    [reply] = sent(h)
    assert reply[IPv6].src == B6
    assert reply[ICMPv6EchoReply].data == b"all"


def test_port_unreachable_is_rate_limited() -> None:
    h = host(icmp_error_rate=0.0, icmp_error_burst=2)
    h.receive_frame(ns_from_a(), 2.0)
    sent(h)
    for _ in range(5):
        h.receive_frame(eth(IPv6(src=A6, dst=B6) / UDP(sport=1, dport=99) / b"?"), 3.0)
    assert len(sent(h)) == 2
    assert h.stats.icmp_rate_limited == 3
    assert h.stats.drops[R.UDP6_NO_LISTENER] == 5


def _error_about_our_datagram(error: Packet) -> bytes:
    ours = IPv6(src=B6, dst=A6) / UDP(sport=5000, dport=7) / (b"q" * 30)
    return eth(IPv6(src=A6, dst=B6) / error / bytes(ours))


def test_packet_too_big_reported_and_never_answered() -> None:
    h = host()
    h.receive_frame(ns_from_a(), 2.0)
    sent(h)
    h.receive_frame(_error_about_our_datagram(ICMPv6PacketTooBig(mtu=1280)), 3.0)
    [event] = [e for e in iter(h.next_event, None) if isinstance(e, IcmpErrorReceived)]
    assert event.kind == "packet_too_big"
    assert event.error.errno == errno.EMSGSIZE
    assert event.dst == (A6, 7)
    assert sent(h) == []  # errors are never answered with errors


def test_error_quoting_someone_else_is_dropped() -> None:
    h = host()
    theirs = IPv6(src=A6, dst="2001:db8::9") / UDP(sport=1, dport=2)
    h.receive_frame(eth(IPv6(src=A6, dst=B6) / ICMPv6DestUnreach(code=4) / bytes(theirs)), 3.0)
    assert h.stats.drops[R.ICMP6_BAD_QUOTE] == 1
    h.receive_frame(eth(IPv6(src=A6, dst=B6) / ICMPv6DestUnreach(code=4) / b"short"), 3.0)
    assert h.stats.drops[R.ICMP6_BAD_QUOTE] == 2
    assert [e for e in iter(h.next_event, None) if isinstance(e, IcmpErrorReceived)] == []


def test_port_unreachable_quotes_at_most_1280_bytes() -> None:
    h = host()
    h.receive_frame(ns_from_a(), 2.0)
    sent(h)
    h.receive_frame(eth(IPv6(src=A6, dst=B6) / UDP(sport=1, dport=99) / bytes(1400)), 3.0)
    [error] = sent(h)
    assert len(error[IPv6]) == 1280
    assert error[ICMPv6DestUnreach].code == 4
    assert IPv6(bytes(error[IPv6]))[ICMPv6DestUnreach].cksum == error[ICMPv6DestUnreach].cksum
