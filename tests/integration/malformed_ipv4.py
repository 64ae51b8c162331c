"""Malformed-frame cases for IPv4: the header's fields one by one, addresses that must not be
answered, and fragments (reassembly on, as by default)."""

from __future__ import annotations

import struct
from typing import Any

from scapy.layers.inet import TCP, IPOption_EOL, IPOption_NOP, IPOption_Router_Alert
from scapy.packet import Raw

from tests.integration.malformed_builders import (
    BROADCAST_MAC,
    IP_OFF,
    Build,
    Case,
    Ctx,
    bad_checksum,
    damaged,
    drop,
    echoed,
    good,
    marker,
    patched,
)

__all__ = ["FRAGMENTS", "IPV4"]


# === IPv4 ====================================================================================


def _udp_frame(**ip_fields: Any) -> Build:
    """A UDP datagram to the echo port with some IPv4 field set."""
    return lambda c, n, r: [good(c, n, r, **ip_fields)]


def _total_length_past_end(c: Ctx, n: str, r: int) -> list[bytes]:
    frame = good(c, n, r)
    return [patched(frame, IP_OFF + 2, struct.pack("!H", len(frame) - IP_OFF + 100))]


def _bad_ip_checksum(c: Ctx, n: str, r: int) -> list[bytes]:
    return [bad_checksum(good(c, n, r), IP_OFF + 10)]


def _ihl_past_end(c: Ctx, n: str, r: int) -> list[bytes]:
    # IHL 15 claims a 60-byte header; the packet has 20 + 8 + 4 bytes.
    frame = c.eth(c.ip() / c.udp(b"tiny"))
    return [patched(frame, IP_OFF, b"\x4f")]


IPV4 = [
    Case("ip_shorter_than_a_header",
         lambda c, n, r: [c.eth(bytes(c.ip() / c.udp(marker(n, r)))[:19], type=0x0800)],
         drop("ip_truncated")),
    Case("ip_version_6_in_an_ipv4_frame", damaged(0, b"\x65"), drop("ip_bad_version")),
    Case("ip_version_0", damaged(0, b"\x05"), drop("ip_bad_version")),
    Case("ip_ihl_4", damaged(0, b"\x44"), drop("ip_bad_ihl")),
    Case("ip_ihl_0", damaged(0, b"\x40"), drop("ip_bad_ihl")),
    Case("ip_ihl_past_the_end", _ihl_past_end, drop("ip_truncated")),
    Case("ip_total_length_below_the_header", damaged(2, b"\x00\x13"),
         drop("ip_bad_total_length")),
    Case("ip_total_length_past_the_end", _total_length_past_end, drop("ip_truncated")),
    Case("ip_bad_header_checksum", _bad_ip_checksum, drop("ip_bad_checksum")),
    Case("ip_source_loopback", _udp_frame(src="127.0.0.1"), drop("ip_bad_source")),
    Case("ip_source_zero", _udp_frame(src="0.0.0.0"), drop("ip_bad_source")),
    Case("ip_source_multicast", _udp_frame(src="224.0.0.9"), drop("ip_bad_source")),
    Case("ip_source_limited_broadcast", _udp_frame(src="255.255.255.255"),
         drop("ip_bad_source")),
    Case("ip_source_subnet_broadcast",
         lambda c, n, r: [good(c, n, r, src=c.subnet_broadcast)], drop("ip_bad_source")),
    Case("ip_source_is_our_address",
         lambda c, n, r: [good(c, n, r, src=c.our_ip)], drop("ip_bad_source")),
    Case("ip_destination_another_host",
         lambda c, n, r: [good(c, n, r, dst=c.on_net(3))], drop("ip_not_for_us")),
    Case("ip_unicast_in_a_link_broadcast",
         lambda c, n, r: [c.eth(c.ip() / c.udp(marker(n, r)), dst=BROADCAST_MAC)],
         drop("ip_l2_broadcast")),
    Case("ip_protocol_tcp",
         lambda c, n, r: [c.eth(c.ip() / TCP(sport=40000, dport=7) / marker(n, r))],
         drop("ip_unsupported_protocol")),
    Case("ip_protocol_gre",
         lambda c, n, r: [c.eth(c.ip(proto=47) / marker(n, r))],
         drop("ip_unsupported_protocol")),
    Case("ip_router_alert_option_is_ignored",
         lambda c, n, r: [good(c, n, r, options=[IPOption_Router_Alert()])],
         {"rx_udp_delivered": 1}, echo=echoed),
    Case("ip_forty_bytes_of_options_are_ignored",
         lambda c, n, r: [good(c, n, r, options=[IPOption_NOP()] * 39 + [IPOption_EOL()])],
         {"rx_udp_delivered": 1}, echo=echoed),
    Case("ip_reserved_flag_is_ignored", _udp_frame(flags=4), {"rx_udp_delivered": 1},
         echo=echoed),
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
         {"rx_fragments": 2, "rx_reassembled": 1, "rx_udp_delivered": 1}, echo=echoed),
    Case("frag_reassembled_out_of_order",
         lambda c, n, r: _fragments(c, n, r, [(16, _whole(c, n, r), False), (8, 16, True),
                                              (0, 8, True)]),
         {"rx_fragments": 3, "rx_reassembled": 1, "rx_udp_delivered": 1}, echo=echoed),
    Case("frag_non_final_not_a_multiple_of_8",
         lambda c, n, r: _fragments(c, n, r, [(0, 13, True)]),
         drop("ip_fragment_bad", rx_fragments=1)),
    Case("frag_past_65535_bytes",
         lambda c, n, r: [c.eth(c.ip(id=0x5000 + r, proto=17, frag=8189) / Raw(bytes(100)))],
         drop("ip_fragment_too_big", rx_fragments=1)),
    Case("frag_overlapping",
         lambda c, n, r: _fragments(c, n, r, [(0, 16, True), (8, _whole(c, n, r), False)]),
         {"drop_ip_fragment_overlap": 2, "rx_fragments": 2}),
    Case("frag_duplicate",
         lambda c, n, r: _fragments(c, n, r, [(0, 16, True), (0, 16, True)]),
         {"drop_ip_fragment_duplicate": 1, "rx_fragments": 2}),
]  # fmt: skip
