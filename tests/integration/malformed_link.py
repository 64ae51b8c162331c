"""Malformed-frame cases for the link layer: Ethernet headers, and ARP packets packed by hand
so that any field can be wrong."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from scapy.layers.inet import UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1Q
from scapy.packet import Raw

from tests.integration.malformed_builders import (
    BROADCAST_MAC,
    Build,
    Case,
    Ctx,
    drop,
    echoed,
    good,
    marker,
)

__all__ = ["ARP_CASES", "ETHERNET"]

# === Ethernet ================================================================================

ETHERNET = [
    Case("eth_unicast_to_another_mac",
         lambda c, n, r: [c.eth(c.ip() / c.udp(marker(n, r)), dst="02:00:00:00:00:99")],
         drop("eth_other_host")),
    Case("eth_multicast_destination",
         lambda c, n, r: [c.eth(c.ip() / c.udp(marker(n, r)), dst="01:00:5e:00:00:01")],
         drop("eth_multicast")),
    Case("eth_group_source_address",
         lambda c, n, r: [c.eth(c.ip() / c.udp(marker(n, r)), src="01:00:5e:00:00:05")],
         drop("eth_bad_source")),
    Case("eth_ipv6",
         lambda c, n, r: [c.eth(IPv6(src="fe80::1", dst="fe80::2") / UDP(dport=7) / marker(n, r))],
         drop("eth_unsupported_type")),
    Case("eth_8023_length_field",
         lambda c, n, r: [c.eth(b"\xaa\xaa\x03\x00\x00\x00" + marker(n, r), type=0x0030)],
         drop("eth_unsupported_type")),
    Case("eth_unknown_ethertype",
         lambda c, n, r: [c.eth(marker(n, r), type=0x88B5)],
         drop("eth_unsupported_type")),
    Case("eth_priority_tag_around_unknown_type",
         lambda c, n, r: [c.eth(Dot1Q(vlan=0, type=0x88B5) / marker(n, r))],
         drop("eth_unsupported_type")),
    # The host is untagged: a frame of VLAN 7 is not for it, as Linux without a VLAN 7
    # sub-interface decides; a priority tag (VLAN id 0) is no VLAN and is served.
    Case("eth_vlan_tagged_udp",
         lambda c, n, r: [c.eth(Dot1Q(vlan=7) / c.ip() / c.udp(marker(n, r)))],
         drop("eth_vlan_tagged")),
    Case("eth_vlan_tagged_arp_request_for_us",
         lambda c, n, r: [c.eth(Dot1Q(vlan=7, type=0x0806) / Raw(arp(c)), dst=BROADCAST_MAC)],
         drop("eth_vlan_tagged")),
    Case("eth_priority_tagged_udp",
         lambda c, n, r: [c.eth(Dot1Q(vlan=0, prio=5) / c.ip() / c.udp(marker(n, r)))],
         {"rx_udp_delivered": 1}, echo=echoed),
    Case("eth_padding_after_the_ip_packet",
         lambda c, n, r: [good(c, n, r) + bytes(30)], {"rx_udp_delivered": 1}, echo=echoed),
]  # fmt: skip

# === ARP =====================================================================================


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
         drop("arp_truncated")),
    Case("arp_hardware_type_not_ethernet", _arp_frame(htype=6), drop("arp_unsupported")),
    Case("arp_protocol_type_not_ipv4", _arp_frame(ptype=0x86DD), drop("arp_unsupported")),
    Case("arp_hardware_length_8", _arp_frame(hlen=8), drop("arp_bad_lengths")),
    Case("arp_protocol_length_16", _arp_frame(plen=16), drop("arp_bad_lengths")),
    Case("arp_operation_3", _arp_frame(op=3), drop("arp_bad_operation")),
    Case("arp_zero_sender_mac", _arp_frame(sha="00:00:00:00:00:00"), drop("arp_bad_sender")),
    Case("arp_multicast_sender_mac", _arp_frame(sha="01:00:5e:00:00:01"),
         drop("arp_bad_sender")),
    Case("arp_broadcast_sender_ip", _arp_frame(spa="255.255.255.255"), drop("arp_bad_sender")),
    Case("arp_request_for_another_address_from_a_stranger",
         _arp_other(lambda c: {"spa": c.on_net(77), "sha": "02:00:00:00:00:77",
                               "tpa": c.on_net(3)}),
         drop("arp_not_for_us", rx_arp=1)),
    Case("arp_request_for_another_address_from_a_neighbour",  # refreshes its cache entry
         _arp_other(lambda c: {"tpa": c.on_net(3)}), {"rx_arp": 1}),
    Case("arp_unsolicited_reply",
         _arp_other(lambda c: {"op": 2, "spa": c.on_net(77), "sha": "02:00:00:00:00:77"}),
         drop("arp_unsolicited", rx_arp=1)),
    # Martian senders: neither answered nor learned (tx_arp_replies stays 0).
    Case("arp_request_for_us_from_loopback", _arp_frame(spa="127.0.0.1"),
         drop("arp_sender_loopback", rx_arp=1)),
    Case("arp_request_for_us_from_the_subnet_broadcast",
         _arp_other(lambda c: {"spa": c.subnet_broadcast}),
         drop("arp_sender_broadcast", rx_arp=1)),
    Case("arp_request_for_us_from_this_network", _arp_frame(spa="0.1.2.3"),
         drop("arp_sender_unspecified", rx_arp=1)),
    Case("arp_probe_for_another_address",
         _arp_other(lambda c: {"spa": "0.0.0.0", "tpa": c.on_net(3)}),
         drop("arp_sender_unspecified", rx_arp=1)),
    Case("arp_request_for_us_from_a_multicast_sender", _arp_frame(spa="224.0.0.1"),
         drop("arp_bad_sender")),
    Case("arp_someone_claims_our_address",
         _arp_other(lambda c: {"spa": c.our_ip, "tpa": c.our_ip}),
         drop("arp_address_conflict", rx_arp=1, arp_conflicts=1)),
    Case("arp_someone_answers_for_our_address",
         _arp_other(lambda c: {"op": 2, "spa": c.our_ip, "tpa": c.peer_ip}),
         drop("arp_address_conflict", rx_arp=1, arp_conflicts=1)),
    # RFC 5227: the owner answers a probe for its address (Linux does), and we report it.
    Case("arp_probe_for_our_address",
         _arp_other(lambda c: {"spa": "0.0.0.0"}),
         {"rx_arp": 1, "tx_arp_replies": 1, "arp_conflicts": 1}),
    Case("arp_request_for_us_with_padding",
         lambda c, n, r: [c.eth(arp(c) + bytes(18), dst=BROADCAST_MAC, type=0x0806)],
         {"rx_arp": 1, "tx_arp_replies": 1}),
]  # fmt: skip
