"""Hypothesis properties of the IPv6 side: parsers raise only ParseError, the host never
fails on any input, fragmentation and reassembly round-trip, UDP6 checksums verify."""

from __future__ import annotations

import contextlib
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from aionetmap.stack import DropReason, Host, HostConfig
from aionetmap.stack.checksum import inet_checksum
from aionetmap.stack.errors import ParseError
from aionetmap.stack.events import Datagram6Received
from aionetmap.stack.icmpv6 import parse_icmpv6
from aionetmap.stack.ipv6 import (
    NextHeader,
    build_ipv6_fragments,
    build_ipv6_packet,
    parse_ipv6,
    pseudo_header_sum6,
)
from aionetmap.stack.mld import parse_query
from aionetmap.stack.ndp import parse_na, parse_ns, parse_options, parse_ra
from aionetmap.stack.udp6 import build_udp6_segment

A_MAC, B_MAC = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
A6 = bytes.fromhex("20010db8000000000000000000000001")
B6 = bytes.fromhex("20010db8000000000000000000000002")
ETH = B_MAC + A_MAC + b"\x86\xdd"

addresses = st.sampled_from([A6, B6, bytes(16), bytes.fromhex("ff02" + "0" * 27 + "1")])


@given(st.binary(max_size=200), st.integers(0, 8))
def test_parse_ipv6_raises_only_parse_error(data: bytes, offset: int) -> None:
    try:
        packet = parse_ipv6(data, offset)
    except ParseError:
        return
    assert offset + 40 <= packet.payload_offset <= packet.end <= len(data)


@given(st.binary(max_size=120), addresses, addresses)
def test_message_parsers_raise_only_parse_error(data: bytes, src: bytes, dst: bytes) -> None:
    for parse in (
        lambda: parse_icmpv6(data, src, dst),
        lambda: parse_ns(data, src, dst),
        lambda: parse_na(data, dst),
        lambda: parse_ra(data),
        lambda: parse_options(data),
        lambda: parse_query(data),
    ):
        with contextlib.suppress(ParseError):
            parse()


def _host(mtu: int = 1500) -> Host:
    cfg = HostConfig(gratuitous_arp=False, dad_transmits=0)
    h = Host(B_MAC, "10.0.0.2/24", config=cfg, ipv6=["2001:db8::2/64"], mtu=mtu)
    h.start(0.0)
    h.bind_udp(7)
    h.frames_to_send()
    return h


def _valid_packet(nh: int, body: bytes) -> bytes:
    return build_ipv6_packet(A6, B6, nh, body)


packets = st.one_of(
    st.binary(max_size=300),
    st.builds(
        _valid_packet,
        st.sampled_from([0, 17, 43, 44, 58, 59, 60, 253]),
        st.binary(min_size=1, max_size=200),
    ),
    st.builds(
        lambda seg: _valid_packet(17, seg),
        st.builds(
            build_udp6_segment,
            st.just(A6),
            st.just(B6),
            st.integers(1, 65535),
            st.sampled_from([7, 9]),
            st.binary(max_size=64),
        ),
    ),
)


@settings(max_examples=300)
@given(st.lists(st.tuples(packets, st.integers(0, 40), st.integers(0, 255)), max_size=6))
def test_host_never_fails_on_ipv6_input(frames: list[tuple[bytes, int, int]]) -> None:
    """Any IPv6 packet, valid or mutated at one byte, ends as a counted outcome."""
    h = _host()
    for now, (packet, at, value) in enumerate(frames):
        mutated = bytearray(packet)
        if mutated:
            mutated[at % len(mutated)] = value
        h.receive_frame(ETH + bytes(mutated), float(now))
        h.handle_timer(float(now))
        h.frames_to_send()
    assert h.stats.drops[DropReason.INTERNAL_ERROR] == 0


@settings(max_examples=60)
@given(
    st.integers(0, 20000),
    st.integers(1280, 9000),
    st.integers(0, 2**32),
)
def test_fragmentation_round_trip(size: int, mtu: int, seed: int) -> None:
    rnd = random.Random(seed)
    payload = rnd.randbytes(size)
    segment = build_udp6_segment(A6, B6, 5000, 7, payload)
    fragments = build_ipv6_fragments(A6, B6, NextHeader.UDP, segment, mtu=mtu, ident=77)
    assert all(len(f) <= mtu for f in fragments)
    rnd.shuffle(fragments)
    h = _host(mtu=9000)
    for fragment in fragments:
        h.receive_frame(ETH + fragment, 1.0)
    got = [e for e in iter(h.next_event, None) if isinstance(e, Datagram6Received)]
    assert [e.payload for e in got] == [payload]


@given(st.binary(max_size=300), st.integers(1, 65535), st.integers(1, 65535))
def test_udp6_checksum_verifies(payload: bytes, sport: int, dport: int) -> None:
    segment = build_udp6_segment(A6, B6, sport, dport, payload)
    assert segment[6:8] != b"\x00\x00"
    assert inet_checksum(segment, pseudo_header_sum6(A6, B6, 17, len(segment))) == 0
