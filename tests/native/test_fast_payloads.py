"""FastClassifier.payloads: every delivered payload in one struct call, equal to slicing."""

from __future__ import annotations

import random

from aionetmap._native.batch import FrameBatch
from aionetmap._native.fast_classifier import FastClassifier
from aionetmap.stack import build_udp_frame

MAC = bytes.fromhex("020000000001")
PEER = bytes.fromhex("020000000002")


def classifier() -> FastClassifier:
    fc = FastClassifier(64)
    fc.set_context(MAC, 0x0A000001, 0x0A0000FF, 1500)
    fc.bind(7)
    return fc


def frame(payload: bytes, dport: int = 7) -> bytes:
    return build_udp_frame(PEER, MAC, "10.0.0.2", "10.0.0.1", 5000, dport, payload)


def sliced(fc: FastClassifier, batch: FrameBatch) -> list[bytes]:
    out = []
    for i in range(batch.count):
        if fc.kinds[i] == 1:
            start = fc.payload_offsets[i]
            out.append(bytes(batch.data[start : start + fc.payload_lengths[i]]))
    return out


def test_payloads_equal_slices_for_mixed_batches() -> None:
    rng = random.Random(3)
    fc = classifier()
    for _ in range(50):
        batch = FrameBatch(64)
        frames = [
            frame(rng.randbytes(rng.randrange(0, 1473)), rng.choice([7, 7, 7, 9]))
            for _ in range(rng.randrange(1, 40))
        ]
        batch.extend(frames)
        fc.classify(batch)
        got = fc.payloads(batch)
        assert got is not None
        assert list(got) == sliced(fc, batch)  # port 9 is not bound: skipped, not taken


def test_frames_out_of_arena_order_fall_back() -> None:
    fc = classifier()
    a, b = frame(b"first"), frame(b"second")
    batch = FrameBatch(4)
    batch.data[200 : 200 + len(a)] = a
    batch.data[10 : 10 + len(b)] = b
    batch.offsets[0], batch.lengths[0] = 200, len(a)
    batch.offsets[1], batch.lengths[1] = 10, len(b)
    batch.count = 2
    fc.classify(batch)
    assert fc.payloads(batch) is None  # the caller slices instead
    assert sliced(fc, batch) == [b"first", b"second"]


def test_empty_and_all_dropped_batches() -> None:
    fc = classifier()
    batch = FrameBatch(4)
    fc.classify(batch)
    assert fc.payloads(batch) == ()
    batch.extend([b"\x00" * 20])
    fc.classify(batch)
    assert fc.payloads(batch) == ()


def test_frame_batch_frames_equal_slices_in_and_out_of_order() -> None:
    rng = random.Random(5)
    frames = [rng.randbytes(rng.randrange(0, 3000)) for _ in range(60)]
    batch = FrameBatch(64, 200_000)
    assert batch.extend(frames) == 60
    assert batch.frames() == frames
    # Frames written out of arena order: still right (sliced one by one).
    batch.offsets[0], batch.offsets[1] = batch.offsets[1], batch.offsets[0]
    batch.lengths[0], batch.lengths[1] = batch.lengths[1], batch.lengths[0]
    assert batch.frames()[:2] == [frames[1], frames[0]]
    assert batch.frames()[2:] == frames[2:]
