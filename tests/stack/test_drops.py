"""DropReason values are a contract with the C fast path; StackStats counting and export."""

from __future__ import annotations

from aionetmap.stack.classify import SlowKind
from aionetmap.stack.drops import DropReason, StackStats

# Pinned: the C code mirrors these numbers. Change this table only by adding entries.
EXPECTED = {
    "ETH_TRUNCATED": 1,
    "ETH_OVERSIZE": 2,
    "ETH_OTHER_HOST": 3,
    "ETH_MULTICAST": 4,
    "ETH_BAD_SOURCE": 5,
    "ETH_UNSUPPORTED_TYPE": 6,
    "ETH_VLAN_TAGGED": 7,
    "ETH_VLAN_MISMATCH": 8,
    "ETH_VLAN_UNTAGGED": 9,
    "IP_TRUNCATED": 20,
    "IP_BAD_VERSION": 21,
    "IP_BAD_IHL": 22,
    "IP_BAD_TOTAL_LENGTH": 23,
    "IP_BAD_CHECKSUM": 24,
    "IP_BAD_SOURCE": 25,
    "IP_NOT_FOR_US": 26,
    "IP_L2_BROADCAST": 27,
    "IP_UNSUPPORTED_PROTOCOL": 28,
    "UDP_TRUNCATED": 40,
    "UDP_BAD_LENGTH": 41,
    "UDP_BAD_CHECKSUM": 42,
    "UDP_NO_LISTENER": 43,
    "IP6_TRUNCATED": 60,
    "IP6_BAD_VERSION": 61,
    "IP6_BAD_SOURCE": 62,
    "IP6_NOT_FOR_US": 63,
    "IP6_L2_MULTICAST": 64,
    "IP6_BAD_EXTENSION": 65,
    "IP6_UNKNOWN_HEADER": 66,
    "IP6_UNKNOWN_OPTION": 67,
    "IP6_ROUTING_HEADER": 68,
    "IP6_NO_NEXT_HEADER": 69,
    "UDP6_TRUNCATED": 70,
    "UDP6_BAD_LENGTH": 71,
    "UDP6_ZERO_CHECKSUM": 72,
    "UDP6_BAD_CHECKSUM": 73,
    "UDP6_NO_LISTENER": 74,
    "IP6_BAD_PAYLOAD_LENGTH": 75,
    "ARP_TRUNCATED": 100,
    "ARP_UNSUPPORTED": 101,
    "ARP_BAD_LENGTHS": 102,
    "ARP_BAD_OPERATION": 103,
    "ARP_BAD_SENDER": 104,
    "ARP_NOT_FOR_US": 105,
    "ARP_UNSOLICITED": 106,
    "ARP_ADDRESS_CONFLICT": 107,
    "ARP_SENDER_UNSPECIFIED": 108,
    "ARP_SENDER_LOOPBACK": 109,
    "ARP_SENDER_BROADCAST": 110,
    "ARP_LOOPED_BACK": 111,
    "ICMP_TRUNCATED": 120,
    "ICMP_BAD_CHECKSUM": 121,
    "ICMP_UNSUPPORTED_TYPE": 122,
    "ICMP_BROADCAST": 123,
    "ICMP_BAD_QUOTE": 124,
    "ICMP_ECHO_IGNORED": 125,
    "IP_FRAGMENT": 140,
    "IP_FRAGMENT_TIMEOUT": 141,
    "IP_FRAGMENT_OVERLAP": 142,
    "IP_FRAGMENT_DUPLICATE": 143,
    "IP_FRAGMENT_TOO_BIG": 144,
    "IP_FRAGMENT_LIMIT": 145,
    "IP_FRAGMENT_BAD": 146,
    "IP_FRAGMENT_TABLE_FULL": 147,
    "IP_FRAGMENT_MEMORY": 148,
    "IP_FRAGMENT_SOURCE_LIMIT": 149,
    "MCAST_NOT_JOINED": 200,
    "MCAST_FILTERED": 201,
    "IGMP_TRUNCATED": 202,
    "IGMP_BAD_CHECKSUM": 203,
    "IGMP_BAD_LENGTH": 204,
    "IGMP_BAD_GROUP": 205,
    "IGMP_UNSUPPORTED_TYPE": 206,
    "IGMP_NOT_MULTICAST": 207,
    "IGMP_BAD_QUERY": 208,
    "REPLY_UNROUTABLE": 160,
    "REPLY_TOO_LARGE": 161,
    "ICMP6_TRUNCATED": 170,
    "ICMP6_BAD_CHECKSUM": 171,
    "ICMP6_UNSUPPORTED_TYPE": 172,
    "ICMP6_BAD_QUOTE": 173,
    "ICMP6_ECHO_IGNORED": 174,
    "NDP_INVALID": 175,
    "NDP_NOT_FOR_US": 176,
    "NDP_UNSOLICITED": 177,
    "NDP_DUPLICATE": 178,
    "NDP_TENTATIVE": 179,
    "NDP_LOOPED_BACK": 180,
    "RA_IGNORED": 181,
    "MLD_INVALID": 182,
    "MLD_IGNORED": 183,
    "IP6_FRAGMENT": 185,
    "IP6_FRAGMENT_TIMEOUT": 186,
    "IP6_FRAGMENT_OVERLAP": 187,
    "IP6_FRAGMENT_DUPLICATE": 188,
    "IP6_FRAGMENT_TOO_BIG": 189,
    "IP6_FRAGMENT_LIMIT": 190,
    "IP6_FRAGMENT_BAD": 191,
    "IP6_FRAGMENT_TABLE_FULL": 192,
    "IP6_FRAGMENT_MEMORY": 193,
    "IP6_FRAGMENT_SOURCE_LIMIT": 194,
    "REPLY6_UNROUTABLE": 195,
    "INTERNAL_ERROR": 255,
}


def test_drop_reason_values_are_pinned() -> None:
    assert {r.name: r.value for r in DropReason} == EXPECTED


def test_classify_reasons_are_below_100() -> None:
    # The C classifier returns only these; everything else is Python-only.
    names = [r.name for r in DropReason if r < 100]
    assert all(n.startswith(("ETH_", "IP_", "UDP_", "IP6_", "UDP6_")) for n in names)
    assert not any(n.startswith("IP_FRAGMENT") for n in names)


def test_slow_kind_values_are_pinned() -> None:
    assert {k.name: k.value for k in SlowKind} == {
        "ARP": 1,
        "ICMP": 2,
        "FRAGMENT": 3,
        "UDP_UNREACHABLE": 4,
        "MULTICAST_UDP": 5,
        "IGMP": 6,
        "IPV6": 7,
    }


def test_every_value_fits_a_byte() -> None:
    assert all(0 < r.value < 256 for r in DropReason)


def test_stats_counts_and_exports() -> None:
    stats = StackStats()
    stats.drop(DropReason.IP_BAD_CHECKSUM)
    stats.drop(DropReason.IP_BAD_CHECKSUM, 4)
    stats.drop(DropReason.ARP_TRUNCATED)
    stats.rx_frames = 9
    assert stats.dropped == 6
    exported = stats.as_dict()
    assert exported["drop_ip_bad_checksum"] == 5
    assert exported["drop_arp_truncated"] == 1
    assert exported["drop_udp_no_listener"] == 0
    assert exported["rx_frames"] == 9
    assert exported["dropped"] == 6
    assert "drops" not in exported
    assert all(f"drop_{r.name.lower()}" in exported for r in DropReason)
    assert all(isinstance(v, int) for v in exported.values())


def test_stats_are_independent() -> None:
    one, two = StackStats(), StackStats()
    one.drop(DropReason.ETH_OVERSIZE)
    assert two.drops[DropReason.ETH_OVERSIZE] == 0
