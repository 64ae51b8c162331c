"""The malformed-frame table for the integration tests: frames the kernel's side of the veth
pair injects through a raw socket, each with the counters it must move on our stack.

Built with scapy (an independent encoder), then damaged byte by byte where scapy would
"fix" the damage. Two kinds of frame cannot be injected over veth and are left to the
stack's unit tests: runts under 14 bytes (AF_PACKET pads a raw frame to the Ethernet
header, and a VLAN frame too short for its tag is freed by the receiving kernel before any
packet socket sees it), and frames over 14 + 4 + MTU bytes (the receiving veth drops those;
``test_kernel_udp`` covers ``ETH_OVERSIZE`` with a stack MTU below the link's).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_EOL, IPOption_NOP, IPOption_Router_Alert
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1Q, Ether
from scapy.packet import Packet, Raw

from aionetmap.testing.netns import VethLink
from tests.integration.kernel_peer import mac_text

__all__ = ["CASES", "WATCHED", "Case", "Ctx"]

WATCHED = (
    "rx_udp_delivered",
    "rx_arp",
    "rx_icmp",
    "rx_fragments",
    "rx_reassembled",
    "tx_arp_replies",
    "tx_echo_replies",
    "tx_port_unreachable",
    "icmp_rate_limited",
    "replies_failed",
)
"""Besides every ``drop_*`` counter, the counters a case must move exactly as it says
(zero unless it names them)."""

BROADCAST_MAC = "ff:ff:ff:ff:ff:ff"
SERVER_PORT = 7


@dataclass(frozen=True)
class Ctx:
    """Addresses of one link, and the kernel UDP client whose port injected datagrams use
    (so that anything our echo server sends back lands on that client)."""

    our_mac: str
    peer_mac: str
    our_ip: str
    peer_ip: str
    client_port: int

    @classmethod
    def of(cls, link: VethLink, client_port: int) -> Ctx:
        return cls(mac_text(link.our_mac), mac_text(link.peer_mac), link.our_ip, link.peer_ip,
                   client_port)  # fmt: skip

    def on_net(self, host: int) -> str:
        """Another address on the link's /24."""
        return f"{self.our_ip.rsplit('.', 1)[0]}.{host}"

    @property
    def subnet_broadcast(self) -> str:
        return self.on_net(255)

    def eth(self, l3: Packet | bytes, *, dst: str | None = None, src: str | None = None,
            type: int | None = None) -> bytes:  # fmt: skip
        """An Ethernet frame from the kernel's MAC to ours (unless told otherwise)."""
        head = Ether(dst=dst or self.our_mac, src=src or self.peer_mac)
        if type is not None:
            head.type = type
        return bytes(head / (Raw(l3) if isinstance(l3, bytes) else l3))

    def ip(self, **fields: Any) -> IP:
        """An IPv4 header from the kernel's address to ours."""
        return IP(**{"src": self.peer_ip, "dst": self.our_ip, **fields})

    def udp(self, payload: bytes, *, dport: int = SERVER_PORT, **fields: Any) -> Packet:
        return UDP(sport=self.client_port, dport=dport, **fields) / Raw(payload)


def marker(name: str, round_: int) -> bytes:
    """The payload of a case's datagram: unique, so a stray echo is recognised."""
    return f"INJECTED {name} round {round_}".encode()


def patched(frame: bytes, offset: int, data: bytes) -> bytes:
    return frame[:offset] + data + frame[offset + len(data) :]


def wrong(value: int) -> bytes:
    """A 16-bit checksum that cannot verify in place of ``value`` (not even as its
    ones'-complement twin 0x0000/0xffff)."""
    return struct.pack("!H", value ^ 0x0101)


def arp(ctx: Ctx, *, op: int = 1, htype: int = 1, ptype: int = 0x0800, hlen: int = 6,
        plen: int = 4, sha: str | None = None, spa: str | None = None,
        tpa: str | None = None) -> bytes:  # fmt: skip
    """An ARP packet, packed by hand so that any field can be wrong."""
    sender_mac = bytes.fromhex((sha or ctx.peer_mac).replace(":", ""))
    return struct.pack(
        "!HHBBH6s4s6s4s", htype, ptype, hlen, plen, op, sender_mac,
        _ip4(spa or ctx.peer_ip), bytes(6), _ip4(tpa or ctx.our_ip),
    )  # fmt: skip


def _ip4(text: str) -> bytes:
    return bytes(int(part) for part in text.split("."))


Build = Callable[[Ctx, str, int], list[bytes]]


@dataclass(frozen=True)
class Case:
    """One row: how to build the frames of one round, and what each round must count."""

    name: str
    build: Build
    expect: Mapping[str, int]
    """Counter deltas per round: ``drop_<reason>`` and any of :data:`WATCHED`."""
    echo: Callable[[Ctx, str, int], bytes] | None = None
    """The payload our echo server must send back to the client, for frames that are
    valid however odd (``None``: nothing may come back)."""


def _udp_frame(**ip_fields: Any) -> Build:
    """A UDP datagram to the echo port with some IPv4 field set."""

    def build(ctx: Ctx, name: str, r: int) -> list[bytes]:
        return [ctx.eth(ctx.ip(**ip_fields) / ctx.udp(marker(name, r)))]

    return build


def _good(ctx: Ctx, name: str, r: int, **ip_fields: Any) -> bytes:
    return ctx.eth(ctx.ip(**ip_fields) / ctx.udp(marker(name, r)))


def _echo(ctx: Ctx, name: str, r: int) -> bytes:
    return marker(name, r)


def _drop(reason: str, **more: int) -> dict[str, int]:
    return {f"drop_{reason}": 1, **more}


# === Ethernet ================================================================================

ETHERNET = [
    Case("eth_unicast_to_another_mac",
         lambda c, n, r: [c.eth(c.ip() / c.udp(marker(n, r)), dst="02:00:00:00:00:99")],
         _drop("eth_other_host")),
    Case("eth_multicast_destination",
         lambda c, n, r: [c.eth(c.ip() / c.udp(marker(n, r)), dst="01:00:5e:00:00:01")],
         _drop("eth_multicast")),
    Case("eth_group_source_address",
         lambda c, n, r: [c.eth(c.ip() / c.udp(marker(n, r)), src="01:00:5e:00:00:05")],
         _drop("eth_bad_source")),
    Case("eth_ipv6",
         lambda c, n, r: [c.eth(IPv6(src="fe80::1", dst="fe80::2") / UDP(dport=7) / marker(n, r))],
         _drop("eth_unsupported_type")),
    Case("eth_8023_length_field",
         lambda c, n, r: [c.eth(b"\xaa\xaa\x03\x00\x00\x00" + marker(n, r), type=0x0030)],
         _drop("eth_unsupported_type")),
    Case("eth_unknown_ethertype",
         lambda c, n, r: [c.eth(marker(n, r), type=0x88B5)],
         _drop("eth_unsupported_type")),
    Case("eth_vlan_tag_around_unknown_type",
         lambda c, n, r: [c.eth(Dot1Q(vlan=7, type=0x88B5) / marker(n, r))],
         _drop("eth_unsupported_type")),
    Case("eth_vlan_tagged_udp",
         lambda c, n, r: [c.eth(Dot1Q(vlan=7) / c.ip() / c.udp(marker(n, r)))],
         {"rx_udp_delivered": 1}, echo=_echo),
    Case("eth_padding_after_the_ip_packet",
         lambda c, n, r: [_good(c, n, r) + bytes(30)], {"rx_udp_delivered": 1}, echo=_echo),
]  # fmt: skip

# === IPv4 ====================================================================================

IP_OFF = 14


def _ip_damaged(offset: int, data: bytes) -> Build:
    return lambda c, n, r: [patched(_good(c, n, r), IP_OFF + offset, data)]


def _total_length_past_end(c: Ctx, n: str, r: int) -> list[bytes]:
    frame = _good(c, n, r)
    return [patched(frame, IP_OFF + 2, struct.pack("!H", len(frame) - IP_OFF + 100))]


def _bad_ip_checksum(c: Ctx, n: str, r: int) -> list[bytes]:
    frame = _good(c, n, r)
    (correct,) = struct.unpack_from("!H", frame, IP_OFF + 10)
    return [patched(frame, IP_OFF + 10, wrong(correct))]


def _ihl_past_end(c: Ctx, n: str, r: int) -> list[bytes]:
    # IHL 15 claims a 60-byte header; the packet has 20 + 8 + 4 bytes.
    frame = c.eth(c.ip() / c.udp(b"tiny"))
    return [patched(frame, IP_OFF, b"\x4f")]


IPV4 = [
    Case("ip_shorter_than_a_header",
         lambda c, n, r: [c.eth(bytes(c.ip() / c.udp(marker(n, r)))[:19], type=0x0800)],
         _drop("ip_truncated")),
    Case("ip_version_6_in_an_ipv4_frame", _ip_damaged(0, b"\x65"), _drop("ip_bad_version")),
    Case("ip_version_0", _ip_damaged(0, b"\x05"), _drop("ip_bad_version")),
    Case("ip_ihl_4", _ip_damaged(0, b"\x44"), _drop("ip_bad_ihl")),
    Case("ip_ihl_0", _ip_damaged(0, b"\x40"), _drop("ip_bad_ihl")),
    Case("ip_ihl_past_the_end", _ihl_past_end, _drop("ip_truncated")),
    Case("ip_total_length_below_the_header", _ip_damaged(2, b"\x00\x13"),
         _drop("ip_bad_total_length")),
    Case("ip_total_length_past_the_end", _total_length_past_end, _drop("ip_truncated")),
    Case("ip_bad_header_checksum", _bad_ip_checksum, _drop("ip_bad_checksum")),
    Case("ip_source_loopback", _udp_frame(src="127.0.0.1"), _drop("ip_bad_source")),
    Case("ip_source_zero", _udp_frame(src="0.0.0.0"), _drop("ip_bad_source")),
    Case("ip_source_multicast", _udp_frame(src="224.0.0.9"), _drop("ip_bad_source")),
    Case("ip_source_limited_broadcast", _udp_frame(src="255.255.255.255"),
         _drop("ip_bad_source")),
    Case("ip_source_subnet_broadcast",
         lambda c, n, r: [_good(c, n, r, src=c.subnet_broadcast)], _drop("ip_bad_source")),
    Case("ip_source_is_our_address",
         lambda c, n, r: [_good(c, n, r, src=c.our_ip)], _drop("ip_bad_source")),
    Case("ip_destination_another_host",
         lambda c, n, r: [_good(c, n, r, dst=c.on_net(3))], _drop("ip_not_for_us")),
    Case("ip_unicast_in_a_link_broadcast",
         lambda c, n, r: [c.eth(c.ip() / c.udp(marker(n, r)), dst=BROADCAST_MAC)],
         _drop("ip_l2_broadcast")),
    Case("ip_protocol_tcp",
         lambda c, n, r: [c.eth(c.ip() / TCP(sport=40000, dport=7) / marker(n, r))],
         _drop("ip_unsupported_protocol")),
    Case("ip_protocol_gre",
         lambda c, n, r: [c.eth(c.ip(proto=47) / marker(n, r))],
         _drop("ip_unsupported_protocol")),
    Case("ip_router_alert_option_is_ignored",
         lambda c, n, r: [_good(c, n, r, options=[IPOption_Router_Alert()])],
         {"rx_udp_delivered": 1}, echo=_echo),
    Case("ip_forty_bytes_of_options_are_ignored",
         lambda c, n, r: [_good(c, n, r, options=[IPOption_NOP()] * 39 + [IPOption_EOL()])],
         {"rx_udp_delivered": 1}, echo=_echo),
    Case("ip_reserved_flag_is_ignored", _udp_frame(flags=4), {"rx_udp_delivered": 1},
         echo=_echo),
]  # fmt: skip


# === Fragments (reassembly on, as by default) ===============================================


def _fragments(c: Ctx, n: str, r: int, pieces: list[tuple[int, int, bool]]) -> list[bytes]:
    """Fragments of one UDP datagram to the echo port: ``(start, stop, more)`` byte ranges
    of its IPv4 payload. The identification differs per round."""
    ident = 0x4000 + r
    segment = bytes(c.ip() / c.udp(marker(n, r)))[20:]
    frames = []
    for start, stop, more in pieces:
        header = c.ip(id=ident, proto=17, flags="MF" if more else 0, frag=start // 8)
        frames.append(c.eth(header / Raw(segment[start:stop])))
    return frames


def _whole(c: Ctx, n: str, r: int) -> int:
    return len(marker(n, r)) + 8


FRAGMENTS = [
    Case("frag_reassembled_and_delivered",
         lambda c, n, r: _fragments(c, n, r, [(0, 16, True), (16, _whole(c, n, r), False)]),
         {"rx_fragments": 2, "rx_reassembled": 1, "rx_udp_delivered": 1}, echo=_echo),
    Case("frag_reassembled_out_of_order",
         lambda c, n, r: _fragments(c, n, r, [(16, _whole(c, n, r), False), (8, 16, True),
                                              (0, 8, True)]),
         {"rx_fragments": 3, "rx_reassembled": 1, "rx_udp_delivered": 1}, echo=_echo),
    Case("frag_non_final_not_a_multiple_of_8",
         lambda c, n, r: _fragments(c, n, r, [(0, 13, True)]),
         _drop("ip_fragment_bad", rx_fragments=1)),
    Case("frag_past_65535_bytes",
         lambda c, n, r: [c.eth(c.ip(id=0x5000 + r, proto=17, frag=8189) / Raw(bytes(100)))],
         _drop("ip_fragment_too_big", rx_fragments=1)),
    Case("frag_overlapping",
         lambda c, n, r: _fragments(c, n, r, [(0, 16, True), (8, _whole(c, n, r), False)]),
         {"drop_ip_fragment_overlap": 2, "rx_fragments": 2}),
    Case("frag_duplicate",
         lambda c, n, r: _fragments(c, n, r, [(0, 16, True), (0, 16, True)]),
         {"drop_ip_fragment_duplicate": 1, "rx_fragments": 2}),
]  # fmt: skip

# === UDP =====================================================================================


def _udp_damaged(offset: int, data: bytes) -> Build:
    return lambda c, n, r: [patched(_good(c, n, r), IP_OFF + 20 + offset, data)]


def _bad_udp_checksum(c: Ctx, n: str, r: int) -> list[bytes]:
    frame = _good(c, n, r)
    (correct,) = struct.unpack_from("!H", frame, IP_OFF + 26)
    return [patched(frame, IP_OFF + 26, wrong(correct))]


def _udp_length_short_of_the_ip_payload(c: Ctx, n: str, r: int) -> list[bytes]:
    # A valid 4-byte datagram, followed inside the IPv4 packet by bytes UDP does not claim.
    segment = bytes(c.ip() / c.udp(marker(n, r)[:4]))[20:]
    return [c.eth(c.ip(proto=17) / Raw(segment + b" not part of the datagram"))]


def _to_broadcast(dst: str, dport: int) -> Build:
    def build(c: Ctx, n: str, r: int) -> list[bytes]:
        ip_dst = c.subnet_broadcast if dst == "subnet" else dst
        return [c.eth(c.ip(dst=ip_dst) / c.udp(marker(n, r), dport=dport), dst=BROADCAST_MAC)]

    return build


UDP_CASES = [
    Case("udp_shorter_than_a_header",
         lambda c, n, r: [c.eth(c.ip(proto=17) / Raw(b"\x9c\x40\x00\x07\x00\x0f\x00"))],
         _drop("udp_truncated")),
    Case("udp_length_past_the_ip_payload", _udp_damaged(4, b"\x01\x00"), _drop("udp_truncated")),
    Case("udp_length_below_8", _udp_damaged(4, b"\x00\x07"), _drop("udp_bad_length")),
    Case("udp_bad_checksum", _bad_udp_checksum, _drop("udp_bad_checksum")),
    Case("udp_zero_checksum_is_accepted",
         lambda c, n, r: [c.eth(c.ip() / c.udp(marker(n, r), chksum=0))],
         {"rx_udp_delivered": 1}, echo=_echo),
    Case("udp_length_short_of_the_ip_payload", _udp_length_short_of_the_ip_payload,
         {"rx_udp_delivered": 1}, echo=lambda c, n, r: marker(n, r)[:4]),
    Case("udp_closed_port",
         lambda c, n, r: [c.eth(c.ip() / c.udp(marker(n, r), dport=9))],
         _drop("udp_no_listener", tx_port_unreachable=1)),
    Case("udp_subnet_broadcast_to_a_closed_port", _to_broadcast("subnet", 9),
         _drop("udp_no_listener")),
    Case("udp_subnet_broadcast_to_the_echo_port", _to_broadcast("subnet", SERVER_PORT),
         {"rx_udp_delivered": 1}, echo=_echo),
    Case("udp_limited_broadcast_to_the_echo_port", _to_broadcast("255.255.255.255", SERVER_PORT),
         {"rx_udp_delivered": 1}, echo=_echo),
]  # fmt: skip

# === ARP =====================================================================================


def _arp_frame(**fields: Any) -> Build:
    return _arp_other(lambda c: fields)


def _arp_other(fields: Callable[[Ctx], dict[str, Any]]) -> Build:
    """A broadcast ARP frame whose fields may depend on the link's addresses."""

    def build(c: Ctx, n: str, r: int) -> list[bytes]:
        return [c.eth(arp(c, **fields(c)), dst=BROADCAST_MAC, type=0x0806)]

    return build


ARP_CASES = [
    Case("arp_shorter_than_28_bytes",
         lambda c, n, r: [c.eth(arp(c)[:20], dst=BROADCAST_MAC, type=0x0806)],
         _drop("arp_truncated")),
    Case("arp_hardware_type_not_ethernet", _arp_frame(htype=6), _drop("arp_unsupported")),
    Case("arp_protocol_type_not_ipv4", _arp_frame(ptype=0x86DD), _drop("arp_unsupported")),
    Case("arp_hardware_length_8", _arp_frame(hlen=8), _drop("arp_bad_lengths")),
    Case("arp_protocol_length_16", _arp_frame(plen=16), _drop("arp_bad_lengths")),
    Case("arp_operation_3", _arp_frame(op=3), _drop("arp_bad_operation")),
    Case("arp_zero_sender_mac", _arp_frame(sha="00:00:00:00:00:00"), _drop("arp_bad_sender")),
    Case("arp_multicast_sender_mac", _arp_frame(sha="01:00:5e:00:00:01"),
         _drop("arp_bad_sender")),
    Case("arp_broadcast_sender_ip", _arp_frame(spa="255.255.255.255"), _drop("arp_bad_sender")),
    Case("arp_request_for_another_address_from_a_stranger",
         _arp_other(lambda c: {"spa": c.on_net(77), "sha": "02:00:00:00:00:77",
                               "tpa": c.on_net(3)}),
         _drop("arp_not_for_us", rx_arp=1)),
    Case("arp_request_for_another_address_from_a_neighbour",  # refreshes its cache entry
         _arp_other(lambda c: {"tpa": c.on_net(3)}), {"rx_arp": 1}),
    Case("arp_unsolicited_reply",
         _arp_other(lambda c: {"op": 2, "spa": c.on_net(77), "sha": "02:00:00:00:00:77"}),
         _drop("arp_unsolicited", rx_arp=1)),
    Case("arp_someone_claims_our_address",
         _arp_other(lambda c: {"spa": c.our_ip, "tpa": c.our_ip}),
         _drop("arp_address_conflict", rx_arp=1)),
    Case("arp_request_for_us_with_padding",
         lambda c, n, r: [c.eth(arp(c) + bytes(18), dst=BROADCAST_MAC, type=0x0806)],
         {"rx_arp": 1, "tx_arp_replies": 1}),
]  # fmt: skip

# === ICMP ====================================================================================


def _icmp(message: Packet | bytes, **ip_fields: Any) -> Build:
    def build(c: Ctx, n: str, r: int) -> list[bytes]:
        return [c.eth(c.ip(proto=1, **ip_fields) / message)]

    return build


def _bad_icmp_checksum(c: Ctx, n: str, r: int) -> list[bytes]:
    frame = c.eth(c.ip() / ICMP(type=8, id=1, seq=r) / marker(n, r))
    (correct,) = struct.unpack_from("!H", frame, IP_OFF + 22)
    return [patched(frame, IP_OFF + 22, wrong(correct))]


def _unreachable_quoting(quote: Callable[[Ctx], bytes]) -> Build:
    def build(c: Ctx, n: str, r: int) -> list[bytes]:
        return [c.eth(c.ip() / ICMP(type=3, code=3) / Raw(quote(c)))]

    return build


def _our_udp(c: Ctx) -> bytes:
    return bytes(IP(src=c.our_ip, dst=c.peer_ip) / UDP(sport=7, dport=c.client_port) / bytes(8))


def _our_tcp(c: Ctx) -> bytes:
    return bytes(IP(src=c.our_ip, dst=c.peer_ip) / TCP(sport=7, dport=80))


ICMP_CASES = [
    Case("icmp_shorter_than_8_bytes", _icmp(Raw(b"\x08\x00\xf7\xff")), _drop("icmp_truncated")),
    Case("icmp_bad_checksum", _bad_icmp_checksum, _drop("icmp_bad_checksum")),
    Case("icmp_timestamp_request", _icmp(ICMP(type=13)), _drop("icmp_unsupported_type", rx_icmp=1)),
    Case("icmp_echo_to_the_subnet_broadcast",
         lambda c, n, r: [c.eth(c.ip(dst=c.subnet_broadcast) / ICMP(type=8, seq=r),
                                dst=BROADCAST_MAC)],
         _drop("icmp_broadcast", rx_icmp=1)),
    Case("icmp_unreachable_quoting_tcp", _unreachable_quoting(_our_tcp),
         _drop("icmp_bad_quote", rx_icmp=1)),
    Case("icmp_unreachable_quoting_too_little", _unreachable_quoting(lambda c: _our_udp(c)[:24]),
         _drop("icmp_bad_quote", rx_icmp=1)),
    Case("icmp_unreachable_quoting_our_datagram",  # only a connected endpoint would hear of it
         _unreachable_quoting(_our_udp), {"rx_icmp": 1}),
    Case("icmp_unsolicited_echo_reply", _icmp(ICMP(type=0, id=99, seq=1)), {"rx_icmp": 1}),
    Case("icmp_echo_from_off_the_link", _icmp(ICMP(type=8, id=1, seq=1), src="192.0.2.1"),
         _drop("reply_unroutable", rx_icmp=1)),
    Case("icmp_echo_request", _icmp(ICMP(type=8, id=1, seq=1) / b"ping"),
         {"rx_icmp": 1, "tx_echo_replies": 1}),
]  # fmt: skip

CASES: list[Case] = [*ETHERNET, *IPV4, *FRAGMENTS, *UDP_CASES, *ARP_CASES, *ICMP_CASES]
