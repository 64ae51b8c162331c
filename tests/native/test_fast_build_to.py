"""FastUdpBuilder.build_to + DestinationTable: the indexed build the transport uses must
write exactly what the Python stack (build_udp_frame) writes."""

from __future__ import annotations

import random
from array import array

import pytest

from aionetmap._native.fast_builder import DestinationTable, FastUdpBuilder
from aionetmap.stack.udp import build_udp_frame

SRC_MAC = bytes.fromhex("020000000001")
SRC_IP = 0x0A000001
DESTS = [
    (bytes.fromhex("020000000002"), 0x0A000002, 5000),
    (bytes.fromhex("0200000000ff"), 0x0A0000FE, 53),
    (bytes.fromhex("02abcdef0102"), 0xC0A80101, 65535),
]


def builder(capacity: int = 64, arena_size: int | None = None) -> FastUdpBuilder:
    b = FastUdpBuilder(capacity, arena_size=arena_size)
    b.set_source(SRC_MAC, SRC_IP, ttl=61)
    return b


def table() -> DestinationTable:
    t = DestinationTable(8)
    for i, (mac, ip, port) in enumerate(DESTS):
        assert t.add(("key", i), mac, ip, port) == i
    return t


def test_build_to_writes_what_the_python_stack_writes() -> None:
    rng = random.Random(7)
    payloads = [rng.randbytes(rng.randrange(0, 300)) for _ in range(50)]
    picks = [rng.randrange(len(DESTS)) for _ in payloads]
    indexed = builder()
    indexed.ident = 65530  # wraps inside the batch
    expect = [
        build_udp_frame(
            SRC_MAC, mac, SRC_IP, ip, 4242, port, payload, ttl=61, ident=(65530 + i) & 0xFFFF
        )
        for i, (payload, (mac, ip, port)) in enumerate(
            zip(payloads, [DESTS[k] for k in picks], strict=True)
        )
    ]
    got = indexed.build_to(payloads, picks, table(), 4242).frames()
    assert got == expect
    assert indexed.ident == (65530 + 50) & 0xFFFF


def test_index_outside_the_table_is_refused() -> None:
    b = builder()
    with pytest.raises(ValueError, match="index 3 is not in the table"):
        b.build_to([b"a", b"b"], [0, 3], table(), 1)
    assert b.batch.count == 0
    assert b.ident == 0  # nothing was kept


def test_arena_full_builds_a_prefix() -> None:
    b = builder(capacity=8, arena_size=3 * (42 + 100))
    batch = b.build_to([bytes(100)] * 5, [0] * 5, table(), 9)
    assert batch.count == 3
    assert b.ident == 3


def test_table_fills_and_clears() -> None:
    t = DestinationTable(2)
    assert t.add("a", DESTS[0][0], 1, 1) == 0
    assert t.add("b", DESTS[1][0], 2, 2) == 1
    assert t.add("c", DESTS[2][0], 3, 3) is None
    assert t.index == {"a": 0, "b": 1}
    t.clear()
    assert (t.count, t.index) == (0, {})
    assert t.add("c", DESTS[2][0], 3, 3) == 0


@pytest.mark.parametrize(
    ("mac", "ip", "port", "match"),
    [
        (b"\x02\x00", 1, 1, "MAC"),
        (DESTS[0][0], -1, 1, "IPv4"),
        (DESTS[0][0], 1, 65536, "port"),
    ],
)
def test_table_checks_its_entries(mac: bytes, ip: int, port: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        DestinationTable(2).add("k", mac, ip, port)


def test_idents_argument_sets_ident_and_step_for_the_call() -> None:
    b = builder()
    frames = b.build_to([b"x", b"y", b"z"], [0, 1, 2], table(), 1, (65535, 2)).frames()
    idents = [int.from_bytes(frame[18:20], "big") for frame in frames]
    assert idents == [65535, 1, 3]  # stepped by 2 from the given start, wrapping
    assert (b.ident, b.ident_step) == (5, 2)  # as if the properties had been set


@pytest.mark.parametrize("idents", [(65536, 1), (0, 65536), (-1, 0), (0, -1), (1.0, 1), (0, None)])
def test_idents_argument_out_of_range_is_refused(idents: tuple[object, object]) -> None:
    b = builder()
    with pytest.raises(ValueError, match="idents must be two ints"):
        b.build_to([b"a"], [0], table(), 1, idents)  # type: ignore[arg-type]
    assert (b.ident, b.ident_step) == (0, 1)  # nothing kept


def test_an_index_array_builds_what_an_index_list_builds() -> None:
    payloads = [b"a", b"bb", b"ccc"]
    from_list = builder().build_to(payloads, [2, 2, 1], table(), 7).frames()
    from_array = builder().build_to(payloads, array("I", [2, 2, 1]), table(), 7).frames()
    assert from_array == from_list
    with pytest.raises(ValueError, match="index 9 is not in the table"):
        builder().build_to(payloads, array("I", [0, 9, 0]), table(), 7)


def test_build_to_takes_the_callers_lengths() -> None:
    """``lens=``: the lengths the caller measured (the transport's sendto_many) are used
    instead of measuring again; the frames are the same, and lengths that do not add up
    to the payloads are refused before anything is built."""
    rng = random.Random(11)
    payloads = [rng.randbytes(rng.randrange(0, 200)) for _ in range(20)]
    picks = [rng.randrange(len(DESTS)) for _ in payloads]
    expect = builder().build_to(payloads, picks, table(), 99).frames()
    sizes = [len(p) for p in payloads]
    assert builder().build_to(payloads, picks, table(), 99, lens=sizes).frames() == expect
    # More datagrams than the builder's capacity: the first ones, with their lengths.
    small = builder(capacity=8)
    assert small.build_to(payloads, picks, table(), 99, lens=sizes).frames() == expect[:8]
    b = builder()
    with pytest.raises(ValueError, match="do not add up"):
        b.build_to(payloads, picks, table(), 99, lens=[*sizes[:-1], sizes[-1] + 1])
    with pytest.raises(ValueError, match="20 payloads, 19 lengths"):
        b.build_to(payloads, picks, table(), 99, lens=sizes[:-1])
    assert b.batch.count == 0
