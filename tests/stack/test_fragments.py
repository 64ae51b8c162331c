"""IPv4 reassembly: completion in any order, every bound and its drop reason, and the
host delivering reassembled datagrams (fragments made by scapy)."""

from __future__ import annotations

import random

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.inet import fragment as _scapy_fragment
from scapy.layers.l2 import ARP, Ether

from aionetmap.stack import DatagramReceived, DropReason, Host
from aionetmap.stack.fragments import Reassembler
from aionetmap.stack.ipv4 import IPv4Header

R = DropReason
OUR_MAC, PEER_MAC = "02:00:00:00:00:01", "02:00:00:00:00:02"


def fragment(packet: IP, fragsize: int) -> list[IP]:
    """scapy's fragmenter (untyped), an independent source of fragments."""
    return list(_scapy_fragment(packet, fragsize=fragsize))  # type: ignore[no-untyped-call]


class Counter:
    def __init__(self) -> None:
        self.drops: dict[DropReason, int] = {}

    def __call__(self, reason: DropReason, count: int) -> None:
        self.drops[reason] = self.drops.get(reason, 0) + count


def make(**kwargs: float) -> tuple[Reassembler, Counter]:
    counter = Counter()
    return Reassembler(counter, **kwargs), counter  # type: ignore[arg-type]


def split(data: bytes) -> tuple[IPv4Header, bytes]:
    header = IPv4Header.from_bytes(data)
    return header, data[header.header_length : header.total_length]


def frag(offset: int, payload: bytes, more: bool, ident: int = 1, src: str = "10.0.0.2") -> bytes:
    """A raw fragment; ``offset`` in bytes."""
    packet = IP(
        src=src, dst="10.0.0.1", proto=17, id=ident, frag=offset // 8, flags="MF" if more else 0
    )
    return bytes(packet / payload)


ORIGINAL = (
    IP(src="10.0.0.2", dst="10.0.0.1", id=42) / UDP(sport=1, dport=53) / (bytes(range(256)) * 12)
)
PIECES = [bytes(p) for p in fragment(ORIGINAL, fragsize=512)]


@pytest.mark.parametrize("order", ["in-order", "reversed", "shuffled"])
def test_reassembles_in_any_order(order: str) -> None:
    pieces = list(PIECES)
    if order == "reversed":
        pieces.reverse()
    elif order == "shuffled":
        random.Random(7).shuffle(pieces)
    reassembler, counter = make()
    results = [reassembler.add(*split(p), now=0.0) for p in pieces]
    assert results[:-1] == [None] * (len(pieces) - 1)
    assert results[-1] == bytes(ORIGINAL)
    assert counter.drops == {}
    assert len(reassembler) == 0
    assert reassembler.held_bytes == 0


def test_duplicate_is_dropped_alone() -> None:
    reassembler, counter = make()
    reassembler.add(*split(PIECES[0]), now=0.0)
    assert reassembler.add(*split(PIECES[0]), now=0.0) is None
    assert counter.drops == {R.IP_FRAGMENT_DUPLICATE: 1}
    for piece in PIECES[1:-1]:
        reassembler.add(*split(piece), now=0.0)
    assert reassembler.add(*split(PIECES[-1]), now=0.0) == bytes(ORIGINAL)


@pytest.mark.parametrize(
    ("second", "reason"),
    [
        pytest.param(frag(8, bytes(16), True), R.IP_FRAGMENT_OVERLAP, id="overlap"),
        pytest.param(frag(0, bytes(8), True), R.IP_FRAGMENT_OVERLAP, id="same-start-shorter"),
        pytest.param(frag(16, bytes(4), False), R.IP_FRAGMENT_OVERLAP, id="end-inside-held"),
        pytest.param(frag(8000, bytes(4), False), None, id="far-last-is-fine"),
    ],
)
def test_overlaps_drop_the_whole_datagram(second: bytes, reason: DropReason | None) -> None:
    reassembler, counter = make()
    reassembler.add(*split(frag(0, bytes(24), True)), now=0.0)
    reassembler.add(*split(second), now=0.0)
    if reason is None:
        assert counter.drops == {}
        assert len(reassembler) == 1
    else:
        assert counter.drops == {reason: 2}
        assert len(reassembler) == 0


def test_conflicting_ends() -> None:
    reassembler, counter = make()
    reassembler.add(*split(frag(800, bytes(8), False)), now=0.0)
    reassembler.add(*split(frag(1600, bytes(8), False)), now=0.0)
    assert counter.drops == {R.IP_FRAGMENT_OVERLAP: 2}


def test_fragment_past_known_end() -> None:
    reassembler, counter = make()
    reassembler.add(*split(frag(80, bytes(8), False)), now=0.0)
    reassembler.add(*split(frag(160, bytes(8), True)), now=0.0)
    assert counter.drops == {R.IP_FRAGMENT_OVERLAP: 2}


@pytest.mark.parametrize("size", [0, 7, 12])
def test_non_final_fragment_needs_multiple_of_eight(size: int) -> None:
    reassembler, counter = make()
    assert reassembler.add(*split(frag(0, bytes(size), True)), now=0.0) is None
    assert counter.drops == {R.IP_FRAGMENT_BAD: 1}
    assert len(reassembler) == 0


def test_ping_of_death_drops_everything_held() -> None:
    reassembler, counter = make()
    reassembler.add(*split(frag(0, bytes(1480), True)), now=0.0)
    reassembler.add(*split(frag(65528, bytes(100), False)), now=0.0)
    assert counter.drops == {R.IP_FRAGMENT_TOO_BIG: 2}
    assert len(reassembler) == 0


def test_largest_datagram_is_allowed() -> None:
    reassembler, counter = make(max_bytes=1 << 20, max_fragments=100)
    body = bytes(65535 - 20)
    result = None
    for start in range(0, len(body), 1480):
        chunk = body[start : start + 1480]
        more = start + 1480 < len(body)
        result = reassembler.add(*split(frag(start, chunk, more)), now=0.0)
    assert counter.drops == {}
    assert result is not None
    assert len(result) == 65535


def test_per_source_limit() -> None:
    reassembler, counter = make(max_per_source=2)
    for ident in (1, 2, 3):
        reassembler.add(*split(frag(0, bytes(8), True, ident)), now=0.0)
    assert counter.drops == {R.IP_FRAGMENT_SOURCE_LIMIT: 1}
    reassembler.add(*split(frag(0, bytes(8), True, 3, src="10.0.0.3")), now=0.0)
    assert len(reassembler) == 3


def test_table_limit_counts_all_sources_and_spares_those_in_progress() -> None:
    reassembler, counter = make(max_datagrams=2)
    for host in (1, 2, 3):
        reassembler.add(*split(frag(0, bytes(8), True, src=f"10.0.0.{host}")), now=0.0)
    assert counter.drops == {R.IP_FRAGMENT_TABLE_FULL: 1}
    assert len(reassembler) == 2
    # A datagram already in reassembly may still complete while the table is full.
    done = reassembler.add(*split(frag(8, bytes(8), False, src="10.0.0.1")), now=0.0)
    assert done is not None
    assert len(reassembler) == 1


def test_fragments_per_datagram_limit() -> None:
    reassembler, counter = make(max_fragments=3)
    for i in range(4):
        reassembler.add(*split(frag(i * 8, bytes(8), True)), now=0.0)
    assert counter.drops == {R.IP_FRAGMENT_LIMIT: 4}
    assert len(reassembler) == 0


def test_memory_cap_evicts_oldest_other_datagram() -> None:
    reassembler, counter = make(max_bytes=100)
    reassembler.add(*split(frag(0, bytes(64), True, ident=1)), now=0.0)
    reassembler.add(*split(frag(0, bytes(64), True, ident=2)), now=1.0)
    assert counter.drops == {R.IP_FRAGMENT_MEMORY: 1}
    assert reassembler.held_bytes == 64
    assert reassembler.next_deadline() == 31.0  # only datagram 2 is left


def test_memory_cap_never_evicts_the_datagram_being_built() -> None:
    reassembler, counter = make(max_bytes=100)
    reassembler.add(*split(frag(0, bytes(64), True)), now=0.0)
    reassembler.add(*split(frag(64, bytes(64), True)), now=0.0)
    assert counter.drops == {R.IP_FRAGMENT_MEMORY: 1}
    assert reassembler.held_bytes == 64


def test_timeout_counts_every_held_fragment() -> None:
    reassembler, counter = make(timeout=5.0)
    reassembler.add(*split(frag(0, bytes(8), True, ident=1)), now=0.0)
    reassembler.add(*split(frag(8, bytes(8), True, ident=1)), now=1.0)
    reassembler.add(*split(frag(0, bytes(8), True, ident=2)), now=2.0)
    assert reassembler.next_deadline() == 5.0
    reassembler.expire(4.9)
    assert counter.drops == {}
    reassembler.expire(5.0)
    assert counter.drops == {R.IP_FRAGMENT_TIMEOUT: 2}
    assert reassembler.next_deadline() == 7.0
    reassembler.expire(100.0)
    assert counter.drops == {R.IP_FRAGMENT_TIMEOUT: 3}
    assert reassembler.next_deadline() is None


def test_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="reassembly"):
        make(timeout=0)


# --- through the host ---


def _host() -> Host:
    host = Host(OUR_MAC, "10.0.0.1/24")
    host.bind_udp(53)
    return host


def _frames(packet: IP, size: int) -> list[bytes]:
    return [bytes(Ether(dst=OUR_MAC, src=PEER_MAC) / p) for p in fragment(packet, fragsize=size)]


def test_host_delivers_a_reassembled_datagram() -> None:
    host = _host()
    payload = bytes(range(256)) * 15
    packet = IP(src="10.0.0.2", dst="10.0.0.1", id=9) / UDP(sport=700, dport=53) / payload
    frames = _frames(packet, 1000)
    for frame in reversed(frames):
        host.receive_frame(frame, 0.0)
    assert host.next_event() == DatagramReceived(("10.0.0.2", 700), 53, payload)
    assert host.stats.rx_fragments == len(frames)
    assert host.stats.rx_reassembled == 1
    assert host.stats.dropped == 0


def test_host_checks_udp_checksum_after_reassembly() -> None:
    host = _host()
    packet = IP(src="10.0.0.2", dst="10.0.0.1", id=9) / UDP(sport=700, dport=53, chksum=1)
    for frame in _frames(packet / bytes(3000), 1000):
        host.receive_frame(frame, 0.0)
    assert host.next_event() is None
    assert {r: n for r, n in host.stats.drops.items() if n} == {R.UDP_BAD_CHECKSUM: 1}


def test_host_answers_a_fragmented_ping() -> None:
    host = _host()
    asking = ARP(op=1, hwsrc=PEER_MAC, psrc="10.0.0.2", pdst="10.0.0.1")
    host.receive_frame(bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src=PEER_MAC) / asking), 0.0)
    host.frames_to_send()  # the ARP reply; the host now knows the peer's MAC
    packet = IP(src="10.0.0.2", dst="10.0.0.1", id=3) / ICMP(id=5, seq=6) / bytes(1200)
    for frame in _frames(packet, 600):
        host.receive_frame(frame, 0.0)
    frames = host.frames_to_send()
    assert len(frames) == 1
    reply = Ether(frames[0])[ICMP]
    assert (reply.type, reply.id, reply.seq, len(bytes(reply.payload))) == (0, 5, 6, 1200)


def test_host_ping_of_death() -> None:
    host = _host()
    first = IP(src="10.0.0.2", dst="10.0.0.1", id=1, flags="MF", proto=1) / bytes(1480)
    last = IP(src="10.0.0.2", dst="10.0.0.1", id=1, frag=8189, proto=1) / bytes(1000)
    for packet in (first, last):
        host.receive_frame(bytes(Ether(dst=OUR_MAC, src=PEER_MAC) / packet), 0.0)
    assert {r: n for r, n in host.stats.drops.items() if n} == {R.IP_FRAGMENT_TOO_BIG: 2}
