"""The other process of the cross-process pipe tests: send or check a numbered frame stream.

Run as a program (``python pipe_peer.py NAME END send|recv COUNT``) it opens the named pipe
end ``END`` by name, as an unrelated process would; with ``handle JSON`` instead of ``NAME
END`` it attaches an anonymous pair's end whose fds it inherited (``pass_fds``).
``test_pipe_procs`` also loads it as a module for the same two loops.

Frames are 64 bytes: the sequence number at both ends, so a lost, duplicated, reordered or
torn frame shows up as a wrong number.
"""

from __future__ import annotations

import json
import select
import struct
import sys
import time

from aionetmap._native.batch import FrameBatch
from aionetmap.ports.pipe import PipeHandle, PipePort

__all__ = ["FRAME", "recv_sequence", "send_sequence"]

FRAME = struct.Struct("<Q48xQ")
BATCH = 256
# Seconds without progress that count as a lost wake-up. Generous because the first wait
# also covers the other process starting its interpreter: once, on a loaded 2-core machine,
# a sender filled both rings (2,046 frames) and gave up after 10 s before the spawned
# receiver had attached. Still well inside pytest's 120 s timeout, so a real lost wake-up
# fails with this message rather than a bare timeout.
STALL = 45.0


def _wait(port: PipePort, what: str, progress: int) -> None:
    ready, _, _ = select.select([port.fileno()], [], [], STALL)
    if not ready:
        raise TimeoutError(
            f"{port.info.name}: no wake-up for {STALL}s while {what} (at {progress})"
        )


def send_sequence(port: PipePort, count: int) -> None:
    """Send frames 0..count-1, sleeping on the fd whenever the ring is full; return once the
    peer has taken every frame."""
    batch = FrameBatch(BATCH, BATCH * FRAME.size)
    batch.extend([bytes(FRAME.size)] * BATCH)
    data = batch.data
    seq = 0
    while seq < count:
        k = min(BATCH, count - seq)
        batch.count = k
        for i in range(k):
            FRAME.pack_into(data, i * FRAME.size, seq + i, seq + i)
        start = 0
        while True:
            start += port.send_batch(batch, start)
            port.flush()
            if start == k:
                break
            if port.tx_space() == 0:  # full: sleep until the peer makes room
                _wait(port, "sending", seq + start)
                port.recv(FrameBatch(1))  # nothing comes back: clears the TX-room wake-up
        seq += k
    while port.tx_space() < port.info.tx_slots - 1:  # still queued on our side
        _wait(port, "draining", seq)
        port.recv(FrameBatch(1))


def recv_sequence(port: PipePort, count: int) -> int:
    """Receive frames 0..count-1 in order (raising on any gap, duplicate or damage), then
    wait for the sender to close and check that nothing else arrives."""
    batch = FrameBatch(BATCH)
    expect = 0
    while expect < count:
        n = port.recv(batch)
        if n == 0:
            _wait(port, "receiving", expect)
            continue
        data, offsets, lengths = batch.data, batch.offsets, batch.lengths
        for i in range(n):
            if lengths[i] != FRAME.size:
                raise AssertionError(f"frame {expect}: {lengths[i]} bytes")
            first, last = FRAME.unpack_from(data, offsets[i])
            if first != expect or last != expect:
                raise AssertionError(f"expected frame {expect}, got {first}/{last}")
            expect += 1
    deadline = time.monotonic() + STALL
    while not port.peer_closed:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{port.info.name}: sender never closed")
        _wait(port, "waiting for close", expect)
        if port.recv(batch):
            raise AssertionError(f"{batch.count} frames after the last one")
    if port.recv(batch):
        raise AssertionError(f"{batch.count} frames after the last one")
    return expect


def open_port(where: str, end: str) -> PipePort:
    """``NAME a|b``: open by name; ``handle JSON``: attach an inherited anonymous end."""
    if where == "handle":
        return PipePort.attach(PipeHandle.decode(end))
    if end not in ("a", "b"):
        raise SystemExit(f"bad end {end!r}")
    return PipePort.open(where, "a" if end == "a" else "b")


def main(argv: list[str]) -> int:
    mode, count = argv[2], int(argv[3])
    with open_port(argv[0], argv[1]) as port:
        started = time.monotonic()
        if mode == "send":
            send_sequence(port, count)
            result = count
        else:
            result = recv_sequence(port, count)
        stats = dict(port.stats())
    print(json.dumps({"frames": result, "seconds": time.monotonic() - started, "stats": stats}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
