"""IPv4 multicast on the Host: joins and leaves (IGMPv3 reports, v2/v1 compatibility),
query answers within Max Resp Time on injected time, delivery only to joined groups,
sending to a group (mapped MAC, TTL 1, loopback). scapy parses what the host sends."""

from __future__ import annotations

import errno
import struct
from ipaddress import IPv4Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.igmp import IGMP, IGMPv3
from scapy.layers.inet import IP, UDP, IPOption_Router_Alert, fragment
from scapy.layers.l2 import Ether

from aionetmap.stack import DatagramReceived, DropReason, Event, Host, HostConfig
from aionetmap.stack.checksum import inet_checksum

A_MAC, B_MAC, Q_MAC = (bytes.fromhex(f"0200000000{i:02x}") for i in (1, 2, 9))
A_IP, B_IP, Q_IP = "10.0.0.1", "10.0.0.2", "10.0.0.9"
GROUP, GROUP2 = "239.1.2.3", "239.7.7.7"
GROUP_MAC = "01:00:5e:01:02:03"
ALIAS = "239.129.2.3"  # another group with GROUP's MAC (only 23 bits are mapped)
R = DropReason


def host(mac: bytes = A_MAC, ip: str = A_IP, **config: object) -> Host:
    cfg = HostConfig(gratuitous_arp=False, **config)  # type: ignore[arg-type]
    return Host(mac, f"{ip}/24", config=cfg)


def member(*ports: int, group: str = GROUP, **config: object) -> Host:
    """A host whose wildcard ``ports`` joined ``group`` (its join reports taken away)."""
    h = host(A_MAC, A_IP, **config)
    for port in ports:
        h.bind_udp(port, wildcard=True)
        h.join_group(group, port, 0.0)
    drain(h)
    return h


def drain(h: Host) -> None:
    """Send every pending state-change repetition and forget all frames."""
    while (when := h.get_timer()) is not None:
        h.handle_timer(when)
    h.frames_to_send()


def events(h: Host) -> list[Event]:
    return list(iter(h.next_event, None))


def records(frame: bytes) -> list[tuple[int, str]]:
    """(record type, group) of an IGMPv3 report, checked to be built as Linux builds it."""
    pkt = Ether(frame)
    assert pkt.dst == "01:00:5e:00:00:16"
    ip = pkt[IP]
    assert (ip.dst, ip.src, ip.ttl, ip.tos, ip.id, str(ip.flags)) == (
        "224.0.0.22", A_IP, 1, 0xC0, 0, "DF"
    )  # fmt: skip
    assert isinstance(ip.options[0], IPOption_Router_Alert)
    report = pkt[IGMPv3]
    assert report.type == 0x22
    assert inet_checksum(bytes(ip.payload)) == 0
    return [(r.rtype, r.maddr) for r in report.records]


def ip_bytes(ip: str) -> bytes:
    return bytes(int(x) for x in ip.split("."))


def mac_of(ip: str) -> str:
    """The group MAC of ``ip``, or ours for a unicast address."""
    b = ip_bytes(ip)
    if b[0] >> 4 != 0xE:
        return "02:00:00:00:00:01"
    return f"01:00:5e:{b[1] & 0x7F:02x}:{b[2]:02x}:{b[3]:02x}"


def igmp_frame(
    message: bytes, dst: str = "224.0.0.1", src: str = Q_IP, dst_mac: str | None = None
) -> bytes:
    """An IGMP message as a querier sends it (TTL 1, TOS 0xC0, Router Alert)."""
    ip = IP(src=src, dst=dst, ttl=1, tos=0xC0, options=[IPOption_Router_Alert()], proto=2)
    return bytes(Ether(dst=dst_mac or mac_of(dst), src=Q_MAC) / ip / message)


def v3_query(
    max_resp_code: int, group: str = "0.0.0.0", sources: tuple[str, ...] = (), qrv: int = 2
) -> bytes:
    """An IGMPv3 query, by hand (RFC 3376 4.1): scapy's builder mangles them."""
    body = bytearray(
        struct.pack("!BBH4sBBH", 0x11, max_resp_code, 0, ip_bytes(group), qrv, 125, len(sources))
    )
    body += b"".join(map(ip_bytes, sources))
    body[2:4] = inet_checksum(body).to_bytes(2, "big")
    return bytes(body)


def old_query(max_resp_code: int, group: str = "0.0.0.0") -> bytes:
    """An IGMPv2 query (v1 with code 0)."""
    return bytes(IGMP(type=0x11, mrcode=max_resp_code, gaddr=group))


# --- joining and leaving (IGMPv3) ---


def test_join_sends_change_to_exclude_twice_and_listens() -> None:
    h = host()
    h.bind_udp(5000, wildcard=True)
    h.join_group(GROUP, 5000, 0.0)
    (frame,) = h.frames_to_send()
    assert records(frame) == [(4, GROUP)]  # CHANGE_TO_EXCLUDE {}
    assert bytes.fromhex("01005e010203") in h.multicast_macs
    assert bytes.fromhex("01005e000001") in h.multicast_macs  # general queries
    when = h.get_timer()
    assert when is not None
    assert 0.0 <= when <= 1.0  # Unsolicited Report Interval
    h.handle_timer(when)
    (again,) = h.frames_to_send()
    assert records(again) == [(4, GROUP)]
    assert h.get_timer() is None  # robustness 2: sent twice
    assert h.stats.tx_igmp_reports == 2
    assert h.groups == {IPv4Address(GROUP)}


def test_second_port_joining_sends_nothing_and_the_last_leave_reports() -> None:
    h = member(5000, 6000)
    h.leave_group(GROUP, 5000, 1.0)
    assert h.frames_to_send() == []  # port 6000 is still in the group
    h.leave_group(GROUP, 6000, 2.0)
    (frame,) = h.frames_to_send()
    assert records(frame) == [(3, GROUP)]  # CHANGE_TO_INCLUDE {}: leave
    assert h.multicast_macs == frozenset()
    when = h.get_timer()
    assert when is not None
    h.handle_timer(when)
    assert [records(f) for f in h.frames_to_send()] == [[(3, GROUP)]]


def test_unbinding_a_port_leaves_its_groups() -> None:
    h = member(5000)
    h.unbind_udp(5000, 3.0)
    (frame,) = h.frames_to_send()
    assert records(frame) == [(3, GROUP)]
    assert h.groups == frozenset()
    assert h.multicast_macs == frozenset()


def test_all_hosts_is_never_reported() -> None:
    h = host()
    h.bind_udp(5000, wildcard=True)
    h.join_group("224.0.0.1", 5000, 0.0)
    assert h.frames_to_send() == []
    assert h.get_timer() is None


@pytest.mark.parametrize(
    ("call", "error"),
    [
        pytest.param(lambda h: h.join_group(GROUP, 7, 0.0), ValueError, id="port-not-bound"),
        pytest.param(lambda h: h.join_group(B_IP, 5000, 0.0), ValueError, id="not-a-group"),
        pytest.param(lambda h: h.join_group("nonsense", 5000, 0.0), ValueError, id="not-an-ip"),
        pytest.param(lambda h: h.join_group(GROUP, 5000, 0.0), errno.EADDRINUSE, id="twice"),
        pytest.param(lambda h: h.leave_group(GROUP2, 5000, 0.0), errno.EADDRNOTAVAIL, id="leave"),
        pytest.param(lambda h: h.set_multicast_ttl(5000, 256), ValueError, id="ttl"),
        pytest.param(lambda h: h.set_multicast_loop(7, True), ValueError, id="loop-unbound"),
    ],
)
def test_membership_errors(call: object, error: type[Exception] | int) -> None:
    h = member(5000)
    if isinstance(error, int):
        with pytest.raises(OSError, match="joined") as info:
            call(h)  # type: ignore[operator]
        assert info.value.errno == error
    else:
        with pytest.raises(error):
            call(h)  # type: ignore[operator]
    assert h.frames_to_send() == []


def test_membership_limits() -> None:
    h = member(5000, multicast_max_memberships=2, multicast_max_groups=3)
    h.join_group(GROUP2, 5000, 0.0)
    with pytest.raises(OSError, match="port 5000 has joined 2") as per_port:
        h.join_group("239.0.0.3", 5000, 0.0)
    assert per_port.value.errno == errno.ENOBUFS
    h.bind_udp(6000)
    h.join_group("239.0.0.3", 6000, 0.0)
    with pytest.raises(OSError, match="the host has joined 3") as per_host:
        h.join_group("239.0.0.4", 6000, 0.0)
    assert per_host.value.errno == errno.ENOBUFS


# --- queries ---


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), code=st.integers(1, 255))
def test_general_query_answered_within_max_resp_time(seed: int, code: int) -> None:
    h = member(5000, 6000, igmp_random_seed=seed)
    h.join_group(GROUP2, 6000, 0.0)
    drain(h)
    h.receive_frame(igmp_frame(v3_query(code)), 10.0)
    limit = 10.0 + (code if code < 128 else ((code & 15) | 16) << ((code >> 4 & 7) + 3)) / 10
    when = h.get_timer()
    assert when is not None
    assert 10.0 <= when <= limit
    h.handle_timer(when)
    (frame,) = h.frames_to_send()
    assert sorted(records(frame)) == [(2, GROUP), (2, GROUP2)]  # MODE_IS_EXCLUDE {}
    assert h.get_timer() is None
    assert (h.stats.rx_igmp, h.stats.rx_igmp_queries) == (1, 1)


def test_group_specific_query_answers_that_group_only() -> None:
    h = member(5000)
    h.join_group(GROUP2, 5000, 0.0)
    drain(h)
    h.receive_frame(igmp_frame(v3_query(10, GROUP), dst=GROUP), 5.0)
    h.receive_frame(igmp_frame(v3_query(10, ALIAS), dst=ALIAS), 5.0)
    when = h.get_timer()
    assert when is not None
    assert 5.0 <= when <= 6.0
    h.handle_timer(when)
    assert [records(f) for f in h.frames_to_send()] == [[(2, GROUP)]]
    assert h.stats.drops[R.MCAST_NOT_JOINED] == 1  # the query to a group not joined


def test_group_and_source_query_and_zero_source_are_answered() -> None:
    h = member(5000)
    query = igmp_frame(v3_query(0, GROUP, ("10.0.0.7",)), dst=GROUP, src="0.0.0.0")
    h.receive_frame(query, 1.0)  # a snooping switch's query, from 0.0.0.0; answer now
    assert h.get_timer() == 1.0
    h.handle_timer(1.0)
    assert [records(f) for f in h.frames_to_send()] == [[(2, GROUP)]]


def test_query_without_groups_is_not_heard() -> None:
    h = host()
    h.receive_frame(igmp_frame(v3_query(100)), 0.0)
    assert h.stats.drops[R.ETH_MULTICAST] == 1
    assert h.get_timer() is None


def test_report_splits_to_fit_the_mtu() -> None:
    small = Host(A_MAC, f"{A_IP}/24", mtu=96, config=HostConfig(multicast_max_memberships=100))
    small.bind_udp(5000, wildcard=True)
    for i in range(20):
        small.join_group(f"239.0.0.{i + 10}", 5000, 0.0)
    drain(small)
    small.receive_frame(igmp_frame(v3_query(0)), 1.0)
    small.handle_timer(1.0)
    frames = small.frames_to_send()
    assert [len(records(f)) for f in frames] == [8, 8, 4]  # (96 - 24 - 8) // 8 per report
    assert all(len(f) - 14 <= 96 for f in frames)


# --- IGMPv2 / v1 compatibility ---


def test_v2_querier_switches_to_v2_reports_and_leaves() -> None:
    h = member(5000, igmp_random_seed=1)
    h.receive_frame(igmp_frame(old_query(100)), 10.0)
    when = h.get_timer()
    assert when is not None
    assert 10.0 <= when <= 20.0
    h.handle_timer(when)
    (frame,) = h.frames_to_send()
    pkt = Ether(frame)
    assert (pkt.dst, pkt[IP].dst, pkt[IP].ttl) == (GROUP_MAC, GROUP, 1)
    assert (pkt[IGMP].type, pkt[IGMP].gaddr) == (0x16, GROUP)
    h.leave_group(GROUP, 5000, 30.0)
    (leave,) = h.frames_to_send()
    pkt = Ether(leave)
    assert (pkt.dst, pkt[IP].dst, pkt[IGMP].type, pkt[IGMP].gaddr) == (
        "01:00:5e:00:00:02", "224.0.0.2", 0x17, GROUP
    )  # fmt: skip
    assert h.stats.tx_igmp_leaves == 1
    # 260 s after the last v2 query the host speaks v3 again.
    h.join_group(GROUP, 5000, 271.0)
    assert [records(f) for f in h.frames_to_send()] == [[(4, GROUP)]]


def test_v2_query_cancels_pending_v3_reports() -> None:
    h = host()
    h.bind_udp(5000, wildcard=True)
    h.join_group(GROUP, 5000, 0.0)
    h.frames_to_send()
    h.receive_frame(igmp_frame(old_query(0)), 0.1)  # v1 query: answer within 10 s in v1
    when = h.get_timer()
    assert when is not None
    h.handle_timer(when)
    (frame,) = h.frames_to_send()  # the v3 repetition is gone; one v1 report
    assert (Ether(frame)[IGMP].type, Ether(frame)[IP].dst) == (0x12, GROUP)
    h.leave_group(GROUP, 5000, 20.0)
    assert h.frames_to_send() == []  # v1 has no leave


def test_v1_query_is_general_whatever_its_group() -> None:
    h = member(5000)
    h.join_group(GROUP2, 5000, 0.0)
    drain(h)
    h.receive_frame(igmp_frame(old_query(0, "239.9.9.9")), 1.0)
    while (when := h.get_timer()) is not None:
        h.handle_timer(when)
    assert sorted(Ether(f)[IGMP].gaddr for f in h.frames_to_send()) == [GROUP, GROUP2]


def test_querier_robustness_is_adopted() -> None:
    """A v3 query's QRV sets how often state changes are sent (RFC 3376 8.1)."""
    h = member(5000)
    h.receive_frame(igmp_frame(v3_query(0, qrv=4)), 1.0)
    drain(h)
    h.join_group(GROUP2, 5000, 2.0)
    sent = len(h.frames_to_send())
    while (when := h.get_timer()) is not None:
        h.handle_timer(when)
        sent += len(h.frames_to_send())
    assert sent == 4


def test_v2_report_suppression() -> None:
    h = member(5000)
    h.receive_frame(igmp_frame(old_query(100)), 10.0)
    assert h.get_timer() is not None
    other = bytes(IGMP(type=0x16, gaddr=GROUP))
    h.receive_frame(igmp_frame(other, dst=GROUP, src=B_IP), 10.5)
    assert h.get_timer() is None
    assert h.frames_to_send() == []


def test_forced_version_2() -> None:
    h = host(igmp_version=2, igmp_robustness=1)
    h.bind_udp(5000, wildcard=True)
    h.join_group(GROUP, 5000, 0.0)
    (frame,) = h.frames_to_send()
    assert Ether(frame)[IGMP].type == 0x16
    assert h.get_timer() is None  # robustness 1: once


# --- malformed IGMP ---


def _bad_checksum() -> bytes:
    body = bytearray(v3_query(10))
    body[2] ^= 0xFF
    return bytes(body)


MALFORMED = [
    ("truncated", igmp_frame(b"\x11\x0a\xee"), R.IGMP_TRUNCATED),
    ("bad-checksum", igmp_frame(_bad_checksum()), R.IGMP_BAD_CHECKSUM),
    ("unsupported-type", igmp_frame(bytes(IGMP(type=0x13))), R.IGMP_UNSUPPORTED_TYPE),
    ("query-for-unicast", igmp_frame(v3_query(10, B_IP)), R.IGMP_BAD_GROUP),
    ("report-for-unicast", igmp_frame(bytes(IGMP(type=0x16, gaddr=B_IP))), R.IGMP_BAD_GROUP),
    ("to-broadcast", igmp_frame(v3_query(10), dst="10.0.0.255", dst_mac="ff:ff:ff:ff:ff:ff"),
     R.IGMP_NOT_MULTICAST),
    ("to-group-not-joined", igmp_frame(v3_query(10, ALIAS), dst=ALIAS), R.MCAST_NOT_JOINED),
    ("from-0-to-unicast", igmp_frame(v3_query(10), dst=A_IP, src="0.0.0.0"), R.IP_BAD_SOURCE),
    ("general-with-sources", igmp_frame(v3_query(10, sources=(B_IP,))), R.IGMP_BAD_QUERY),
]  # fmt: skip


def _short_query() -> bytes:
    body = bytearray(v3_query(10)[:10])
    body[2:4] = b"\0\0"
    body[2:4] = inet_checksum(body).to_bytes(2, "big")
    return bytes(body)


def _too_many_sources() -> bytes:
    body = bytearray(v3_query(10, GROUP, ("10.0.0.7",)))
    body[11] = 2
    body[2:4] = b"\0\0"
    body[2:4] = inet_checksum(body).to_bytes(2, "big")
    return bytes(body)


MALFORMED += [
    ("query-of-10-bytes", igmp_frame(_short_query()), R.IGMP_BAD_LENGTH),
    ("sources-past-end", igmp_frame(_too_many_sources(), dst=GROUP), R.IGMP_BAD_LENGTH),
]


@pytest.mark.parametrize(("frame", "reason"), [pytest.param(f, r, id=n) for n, f, r in MALFORMED])
def test_malformed_igmp_is_a_counted_drop(frame: bytes, reason: DropReason) -> None:
    h = member(5000)
    h.receive_frame(frame, 1.0)
    assert {r: n for r, n in h.stats.drops.items() if n} == {reason: 1}
    assert h.stats.rx_igmp == 0
    assert h.get_timer() is None
    assert h.frames_to_send() == []


@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(max_size=40),
    fix=st.booleans(),
    dst=st.sampled_from(["224.0.0.1", GROUP, ALIAS, A_IP]),
)
def test_host_never_raises_on_random_igmp(body: bytes, fix: bool, dst: str) -> None:
    h = member(5000)
    data = bytearray(body)
    if fix and len(data) >= 4:
        data[2:4] = b"\0\0"
        data[2:4] = inet_checksum(data).to_bytes(2, "big")
    h.receive_frame(igmp_frame(bytes(data), dst=dst), 1.0)
    assert h.stats.drops[R.INTERNAL_ERROR] == 0
    assert h.stats.rx_igmp + h.stats.dropped == 1
    while (when := h.get_timer()) is not None:
        h.handle_timer(when)
    for frame in h.frames_to_send():  # whatever it answers is a well-formed report
        pkt = Ether(frame)
        assert pkt[IP].ttl == 1
        assert inet_checksum(bytes(pkt[IP].payload)) == 0


# --- receiving datagrams to a group ---


def to_group(
    group: str = GROUP, dport: int = 5000, payload: bytes = b"tick", mac: str | None = None
) -> bytes:
    dst_mac = mac or mac_of(group)
    ip = IP(src=B_IP, dst=group, ttl=1)
    return bytes(Ether(dst=dst_mac, src=B_MAC) / ip / UDP(sport=4000, dport=dport) / payload)


def test_joined_group_is_delivered_unjoined_is_dropped() -> None:
    h = member(5000)
    h.receive_frame(to_group(), 1.0)
    assert events(h) == [DatagramReceived((B_IP, 4000), 5000, b"tick")]
    assert (h.stats.rx_multicast, h.stats.rx_udp_delivered) == (1, 1)
    h.receive_frame(to_group(ALIAS), 1.0)  # same MAC, group not joined
    h.receive_frame(to_group(GROUP2), 1.0)  # MAC not listened on
    h.receive_frame(to_group(GROUP2, mac="02:00:00:00:00:01"), 1.0)  # to our MAC
    assert events(h) == []
    assert h.stats.drops[R.MCAST_NOT_JOINED] == 2
    assert h.stats.drops[R.ETH_MULTICAST] == 1
    assert h.frames_to_send() == []  # no ICMP errors about multicast


def test_wildcard_ports_get_joined_groups_like_linux() -> None:
    """IP_MULTICAST_ALL (on by default): a wildcard port gets every group the host
    joined; with it off, only its own; a port bound to the unicast address gets none."""
    h = member(5000)
    h.bind_udp(6000, wildcard=True)
    h.bind_udp(7000)
    h.receive_frame(to_group(dport=6000), 1.0)
    assert events(h) == [DatagramReceived((B_IP, 4000), 6000, b"tick")]
    h.set_multicast_all(6000, False)
    h.receive_frame(to_group(dport=6000), 1.0)
    h.receive_frame(to_group(dport=7000), 1.0)
    h.receive_frame(to_group(dport=8000), 1.0)
    assert events(h) == []
    assert h.stats.drops[R.MCAST_FILTERED] == 1
    assert h.stats.drops[R.UDP_NO_LISTENER] == 2
    h.set_multicast_all(5000, False)
    h.receive_frame(to_group(), 1.0)  # port 5000 joined GROUP itself
    assert len(events(h)) == 1
    assert h.frames_to_send() == []


def test_fragmented_datagram_to_a_group_is_reassembled() -> None:
    h = member(5000)
    pkt = IP(src=B_IP, dst=GROUP, ttl=1, id=9) / UDP(sport=4000, dport=5000) / bytes(3000)
    for piece in fragment(pkt, fragsize=1400):  # type: ignore[no-untyped-call]
        h.receive_frame(bytes(Ether(dst=GROUP_MAC, src=B_MAC) / piece), 1.0)
    assert events(h) == [DatagramReceived((B_IP, 4000), 5000, bytes(3000))]


# --- sending to a group ---


def test_send_to_group_uses_mapped_mac_ttl_1_and_unicast_source() -> None:
    h = host()
    h.bind_udp(5000)
    h.send_datagram(b"feed", (GROUP, 6000), 5000, 0.0)
    h.set_multicast_ttl(5000, 5)
    h.send_datagram(b"feed", (GROUP, 6000), 5000, 0.0)
    h.send_datagram(b"feed", (GROUP, 6000), 5000, 0.0, multicast_ttl=9)
    h.send_datagram(b"unicast", (B_IP, 6000), 5000, 0.0)  # ARP first: TTL 64 later
    frames = [Ether(f) for f in h.frames_to_send()]
    assert [f.dst for f in frames[:3]] == [GROUP_MAC] * 3
    assert [f[IP].ttl for f in frames[:3]] == [1, 5, 9]
    assert {(f[IP].src, f[IP].dst, f[UDP].dport, bytes(f[UDP].payload)) for f in frames[:3]} == {
        (A_IP, GROUP, 6000, b"feed")
    }
    assert frames[3].type == 0x0806  # only the unicast destination needed ARP
    assert h.stats.tx_multicast == 3
    assert h.multicast_options(5000).ttl == 5
    h.unbind_udp(5000)
    assert h.multicast_options(5000).ttl == 1  # forgotten with the port


def test_large_datagram_to_a_group_is_fragmented_to_the_group_mac() -> None:
    h = host()
    h.bind_udp(5000)
    h.send_datagram(bytes(4000), (GROUP, 6000), 5000, 0.0)
    (group,) = h.take_frames()
    assert isinstance(group, tuple)
    assert {Ether(f).dst for f in group} == {GROUP_MAC}
    assert {Ether(f)[IP].ttl for f in group} == {1}


def test_own_datagrams_loop_back_to_joined_ports() -> None:
    h = member(5000)
    h.send_datagram(b"me", (GROUP, 5000), 5000, 0.0)
    assert events(h) == [DatagramReceived((A_IP, 5000), 5000, b"me")]
    assert len(h.frames_to_send()) == 1  # and it left on the wire too
    h.set_multicast_loop(5000, False)
    h.send_datagram(b"me", (GROUP, 5000), 5000, 0.0)
    h.send_datagram(b"me", (GROUP2, 5000), 5000, 0.0)
    assert events(h) == []
    assert h.stats.tx_multicast_looped == 1


def test_two_hosts_feed() -> None:
    """A sends to a group B joined: B delivers it, and B's answer is unicast from B."""
    a, b = host(), host(B_MAC, B_IP)
    a.bind_udp(4000)
    b.bind_udp(5000, wildcard=True)
    b.join_group(GROUP, 5000, 0.0)
    b.frames_to_send()
    a.send_datagram(b"price", (GROUP, 5000), 4000, 0.0)
    for frame in a.frames_to_send():
        b.receive_frame(frame, 0.0)
    assert events(b) == [DatagramReceived((A_IP, 4000), 5000, b"price")]
    b.send_datagram(b"ack", (A_IP, 4000), 5000, 0.0)
    (arp,) = b.frames_to_send()
    assert Ether(arp).pdst == A_IP  # a unicast reply: ARP for the sender
