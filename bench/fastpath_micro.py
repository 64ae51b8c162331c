"""Micro-benchmark of the C UDP fast path against the pure-Python stack, in ns per frame.

Run: ``python bench/fastpath_micro.py [--size 64] [--batches 2000]``. Not a test: it prints
a table. Every row handles 256-frame batches of ``--size``-byte Ethernet/IPv4/UDP frames
(64 bytes = a 22-byte payload) and reports the best of five runs, divided by the frames
handled; one process, one core, no I/O.

Receive rows: ``FastClassifier.classify`` alone; the same plus the copy-out every consumer
does (payload ``bytes`` and the source address per delivered frame); ``classify()`` of the
Python stack per frame; ``Host.receive_frame`` (classify, event, copy). Send rows:
``FastUdpBuilder.build_to`` of a whole batch (one destination-table entry, as the
transport sends to a resolved peer); ``build_udp_frame`` per datagram; and
``Host.send_datagram`` to a resolved neighbour.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from aionetmap._native.fast_builder import DestinationTable, FastUdpBuilder
from aionetmap._native.fast_classifier import FastClassifier
from aionetmap._native.fast_common import KIND_DELIVER
from aionetmap.stack.addresses import int_to_str
from aionetmap.stack.arp import build_arp_request
from aionetmap.stack.classify import classify
from aionetmap.stack.config import HostConfig
from aionetmap.stack.host import Host
from aionetmap.stack.udp import build_udp_frame

__all__ = ["main"]

BATCH = 256
OUR_MAC, PEER_MAC = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
OUR_IP, PEER_IP = 0x0A000001, 0x0A000002
PORT, PEER_PORT = 9000, 4000


def best_ns_per_frame(run: Callable[[], int], batches: int) -> float:
    """Best of five: ``run`` handles one batch and returns how many frames it handled."""
    best = float("inf")
    for _ in range(5):
        frames = 0
        start = time.perf_counter_ns()
        for _ in range(batches):
            frames += run()
        elapsed = time.perf_counter_ns() - start
        best = min(best, elapsed / frames)
    return best


def make_host() -> Host:
    host = Host(OUR_MAC, "10.0.0.1/24", config=HostConfig(gratuitous_arp=False))
    host.bind_udp(PORT)
    # An ARP request from the peer teaches the host the peer's MAC (and queues a reply).
    host.receive_frame(build_arp_request(PEER_MAC, PEER_IP, OUR_IP), 0.0)
    host.frames_to_send()
    return host


def one_destination(mac: bytes, ip: int, port: int) -> DestinationTable:
    """A table whose entry 0 is the one peer every datagram goes to."""
    table = DestinationTable(1)
    table.add("peer", mac, ip, port)
    return table


def receive_rows(size: int, batches: int) -> list[tuple[str, float]]:
    payload = bytes(size - 42)
    sender = FastUdpBuilder(BATCH)
    sender.set_source(PEER_MAC, PEER_IP)
    batch = sender.build_to(
        [payload] * BATCH, [0] * BATCH, one_destination(OUR_MAC, OUR_IP, PORT), 4000
    )
    fc = FastClassifier(BATCH)
    fc.set_context(OUR_MAC, OUR_IP, 0x0A0000FF, 1500)
    fc.bind(PORT)
    host = make_host()

    def c_classify() -> int:
        return fc.classify(batch)

    def c_classify_copy() -> int:
        n = fc.classify(batch)
        data, kinds, offs, lens = batch.data, fc.kinds, fc.payload_offsets, fc.payload_lengths
        ips, ports = fc.src_ips, fc.src_ports
        out = []
        for i in range(n):
            if kinds[i] == KIND_DELIVER:
                off = offs[i]
                out.append((data[off : off + lens[i]].tobytes(), (int_to_str(ips[i]), ports[i])))
        return n

    def py_classify() -> int:
        ctx = host.context
        for frame in batch:
            classify(frame, ctx)
        return batch.count

    def py_host() -> int:
        for frame in batch:
            host.receive_frame(frame, 1.0)
        while host.next_event() is not None:
            pass
        return batch.count

    slow = max(1, batches // 20)
    return [
        ("C FastClassifier.classify", best_ns_per_frame(c_classify, batches)),
        ("C classify + copy out payload/addr", best_ns_per_frame(c_classify_copy, batches)),
        ("Python classify() per frame", best_ns_per_frame(py_classify, slow)),
        ("Python Host.receive_frame", best_ns_per_frame(py_host, slow)),
    ]


def send_rows(size: int, batches: int) -> list[tuple[str, float]]:
    payloads = [bytes(size - 42)] * BATCH
    index, table = [0] * BATCH, one_destination(PEER_MAC, PEER_IP, PEER_PORT)
    builder = FastUdpBuilder(BATCH)
    builder.set_source(OUR_MAC, OUR_IP)
    host = make_host()
    peer = (int_to_str(PEER_IP), PEER_PORT)

    def c_build() -> int:
        return builder.build_to(payloads, index, table, PORT).count

    def py_build() -> int:
        for i, p in enumerate(payloads):
            build_udp_frame(OUR_MAC, PEER_MAC, OUR_IP, PEER_IP, PORT, PEER_PORT, p, ident=i)
        return BATCH

    def py_host() -> int:
        for p in payloads:
            host.send_datagram(p, peer, PORT, 1.0)
        host.frames_to_send()
        return BATCH

    slow = max(1, batches // 20)
    return [
        ("C FastUdpBuilder.build_to", best_ns_per_frame(c_build, batches)),
        ("Python build_udp_frame per datagram", best_ns_per_frame(py_build, slow)),
        ("Python Host.send_datagram", best_ns_per_frame(py_host, slow)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64, help="frame size in bytes (42..1514)")
    parser.add_argument("--batches", type=int, default=2000, help="batches per C run")
    args = parser.parse_args()
    if not 42 <= args.size <= 1514:
        parser.error("--size must be in 42..1514")
    print(f"{BATCH}-frame batches of {args.size}-byte UDP frames; best of 5 runs")
    print(f"{'path':<38} {'ns/frame':>9} {'Mframes/s':>10}")
    for title, rows in (
        ("receive", receive_rows(args.size, args.batches)),
        ("send", send_rows(args.size, args.batches)),
    ):
        print(f"-- {title}")
        for name, ns in rows:
            print(f"{name:<38} {ns:>9.1f} {1e3 / ns:>10.2f}")


if __name__ == "__main__":
    main()
