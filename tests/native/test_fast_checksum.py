"""The C Internet checksum of the fast path against aionetmap.stack.checksum (the reference):
every length 0..2000 at every start alignment, carries, the zero rule, initial values."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aionetmap._native._fast import ffi, lib
from aionetmap._native.fast_common import inet_checksum as c_checksum
from aionetmap.stack.checksum import inet_checksum, pseudo_header_sum

MAX_LEN = 2000
ALIGNMENTS = 16  # covers every offset modulo the 8-byte word and the 32-byte unrolled step


def _arena(data: bytes) -> Any:
    arena = ffi.new("uint8_t[]", len(data))
    ffi.memmove(arena, data, len(data))
    return arena


def _sweep(data: bytes, initial: int = 0) -> list[tuple[int, int, int, int]]:
    """(start, length, C, Python) for every start alignment and every length."""
    arena = _arena(data)
    out = []
    for start in range(ALIGNMENTS):
        for length in range(MAX_LEN + 1):
            c = lib.fast_inet_checksum(arena + start, length, initial)
            py = inet_checksum(data[start : start + length], initial)
            if c != py:
                out.append((start, length, c, py))
    return out


@pytest.mark.parametrize(
    "fill",
    [
        pytest.param("random", id="random-bytes"),
        pytest.param("ones", id="all-ff-maximal-carries"),
        pytest.param("zeros", id="all-zero"),
        pytest.param("ff00", id="alternating-ff-00"),
    ],
)
def test_every_length_and_alignment_matches_python(fill: str) -> None:
    size = MAX_LEN + ALIGNMENTS
    if fill == "random":
        data = random.Random(1071).randbytes(size)
    elif fill == "ones":
        data = b"\xff" * size
    elif fill == "zeros":
        data = bytes(size)
    else:
        data = b"\xff\x00" * (size // 2)
    assert _sweep(data) == []


def test_every_length_and_alignment_with_a_pseudo_header() -> None:
    data = random.Random(768).randbytes(MAX_LEN + ALIGNMENTS)
    assert _sweep(data, pseudo_header_sum(0x0A000001, 0xC0A80102, 17, 1234)) == []


@pytest.mark.parametrize(
    ("data", "initial", "expected"),
    [
        pytest.param(b"", 0, 0xFFFF, id="empty"),
        pytest.param(bytes(21), 0, 0xFFFF, id="zeros-sum-to-zero"),
        pytest.param(b"\xff\xff", 0, 0x0000, id="negative-zero"),
        pytest.param(b"\x01", 0, 0xFEFF, id="odd-byte-padded-on-the-right"),
        pytest.param(bytes.fromhex("0001f203f4f5f6f7"), 0, 0x220D, id="rfc1071-example"),
        pytest.param(b"", 0xFFFF, 0x0000, id="initial-only"),
        pytest.param(b"\xff" * 8, 2**64 - 1, 0x0000, id="initial-carry-out-of-64-bits"),
        pytest.param(bytes(8), 0x10000, 0xFFFE, id="initial-above-16-bits"),
    ],
)
def test_known_values(data: bytes, initial: int, expected: int) -> None:
    assert c_checksum(data, initial) == expected
    assert inet_checksum(data, initial) == expected


@settings(max_examples=400)
@given(st.binary(max_size=3000), st.integers(0, 2**64 - 1), st.integers(0, 15))
def test_random_data_and_initial(data: bytes, initial: int, start: int) -> None:
    arena = _arena(bytes(start) + data)
    assert lib.fast_inet_checksum(arena + start, len(data), initial) == inet_checksum(data, initial)


@settings(max_examples=200)
@given(st.binary(min_size=2, max_size=200).map(lambda b: b[: len(b) // 2 * 2]))
def test_inserting_the_checksum_verifies(data: bytes) -> None:
    # What the builder relies on: a header holding its own checksum sums to zero.
    csum = c_checksum(data + b"\0\0")
    assert c_checksum(data + csum.to_bytes(2, "big")) == 0


def test_wrapper_accepts_every_bytes_like() -> None:
    data = bytes(range(256)) * 3
    expected = inet_checksum(data)
    assert c_checksum(bytearray(data)) == expected
    assert c_checksum(memoryview(data)[1:]) == inet_checksum(data[1:])
    assert c_checksum(memoryview(data).cast("H")) == expected
