"""Malformed-frame cases for what IPv4 carries: UDP datagrams (lengths, checksums, closed
ports, broadcasts) and ICMP messages (checksums, types, quotes of our own datagrams)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.packet import Packet, Raw

from tests.integration.malformed_builders import (
    BROADCAST_MAC,
    IP_OFF,
    SERVER_PORT,
    Build,
    Case,
    Ctx,
    bad_checksum,
    damaged,
    drop,
    echoed,
    good,
    marker,
)

__all__ = ["ICMP_CASES", "UDP_CASES"]

# === UDP =====================================================================================


def _udp_damaged(offset: int, data: bytes) -> Build:
    return damaged(20 + offset, data)


def _bad_udp_checksum(c: Ctx, n: str, r: int) -> list[bytes]:
    return [bad_checksum(good(c, n, r), IP_OFF + 26)]


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
         drop("udp_truncated")),
    Case("udp_length_past_the_ip_payload", _udp_damaged(4, b"\x01\x00"), drop("udp_truncated")),
    Case("udp_length_below_8", _udp_damaged(4, b"\x00\x07"), drop("udp_bad_length")),
    Case("udp_bad_checksum", _bad_udp_checksum, drop("udp_bad_checksum")),
    Case("udp_zero_checksum_is_accepted",
         lambda c, n, r: [c.eth(c.ip() / c.udp(marker(n, r), chksum=0))],
         {"rx_udp_delivered": 1}, echo=echoed),
    Case("udp_length_short_of_the_ip_payload", _udp_length_short_of_the_ip_payload,
         {"rx_udp_delivered": 1}, echo=lambda c, n, r: marker(n, r)[:4]),
    Case("udp_closed_port",
         lambda c, n, r: [c.eth(c.ip() / c.udp(marker(n, r), dport=9))],
         drop("udp_no_listener", tx_port_unreachable=1)),
    Case("udp_subnet_broadcast_to_a_closed_port", _to_broadcast("subnet", 9),
         drop("udp_no_listener")),
    # The echo endpoint is bound to our unicast address: as on Linux, broadcast is not for it
    # (else the echo would be an amplifier). Wildcard endpoints: test_kernel_l2.py.
    Case("udp_subnet_broadcast_to_the_echo_port", _to_broadcast("subnet", SERVER_PORT),
         drop("udp_no_listener")),
    Case("udp_limited_broadcast_to_the_echo_port", _to_broadcast("255.255.255.255", SERVER_PORT),
         drop("udp_no_listener")),
]  # fmt: skip

# === ICMP ====================================================================================


def _icmp(message: Packet | bytes, **ip_fields: Any) -> Build:
    def build(c: Ctx, n: str, r: int) -> list[bytes]:
        return [c.eth(c.ip(proto=1, **ip_fields) / message)]

    return build


def _bad_icmp_checksum(c: Ctx, n: str, r: int) -> list[bytes]:
    frame = c.eth(c.ip() / ICMP(type=8, id=1, seq=r) / marker(n, r))
    return [bad_checksum(frame, IP_OFF + 22)]


def _unreachable_quoting(quote: Callable[[Ctx], bytes]) -> Build:
    def build(c: Ctx, n: str, r: int) -> list[bytes]:
        return [c.eth(c.ip() / ICMP(type=3, code=3) / Raw(quote(c)))]

    return build


def _our_udp(c: Ctx) -> bytes:
    return bytes(IP(src=c.our_ip, dst=c.peer_ip) / UDP(sport=7, dport=c.client_port) / bytes(8))


def _our_tcp(c: Ctx) -> bytes:
    return bytes(IP(src=c.our_ip, dst=c.peer_ip) / TCP(sport=7, dport=80))


ICMP_CASES = [
    Case("icmp_shorter_than_8_bytes", _icmp(Raw(b"\x08\x00\xf7\xff")), drop("icmp_truncated")),
    Case("icmp_bad_checksum", _bad_icmp_checksum, drop("icmp_bad_checksum")),
    Case("icmp_timestamp_request", _icmp(ICMP(type=13)), drop("icmp_unsupported_type", rx_icmp=1)),
    Case("icmp_echo_to_the_subnet_broadcast",
         lambda c, n, r: [c.eth(c.ip(dst=c.subnet_broadcast) / ICMP(type=8, seq=r),
                                dst=BROADCAST_MAC)],
         drop("icmp_broadcast", rx_icmp=1)),
    Case("icmp_unreachable_quoting_tcp", _unreachable_quoting(_our_tcp),
         drop("icmp_bad_quote", rx_icmp=1)),
    Case("icmp_unreachable_quoting_too_little", _unreachable_quoting(lambda c: _our_udp(c)[:24]),
         drop("icmp_bad_quote", rx_icmp=1)),
    Case("icmp_unreachable_quoting_our_datagram",  # only a connected endpoint would hear of it
         _unreachable_quoting(_our_udp), {"rx_icmp": 1}),
    Case("icmp_unsolicited_echo_reply", _icmp(ICMP(type=0, id=99, seq=1)), {"rx_icmp": 1}),
    Case("icmp_echo_from_off_the_link", _icmp(ICMP(type=8, id=1, seq=1), src="192.0.2.1"),
         drop("reply_unroutable", rx_icmp=1)),
    Case("icmp_echo_request", _icmp(ICMP(type=8, id=1, seq=1) / b"ping"),
         {"rx_icmp": 1, "tx_echo_replies": 1}),
]  # fmt: skip
