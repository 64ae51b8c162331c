"""AF_PACKET port throughput on a veth pair: send and receive rates in frames/s (root only).

Run: ``python bench/packet_throughput.py [--seconds 3] [--size 60]``. Not a test: it prints
a table. On veth the sending core also runs the receiving side's network processing, so a
row's rate is bounded by that core; the CPU column is the measured process's own CPU time
over wall time (100 % = one core). The receive row is bound by the generator (another
PacketPort in the peer namespace, in a second process): its core also copies every frame
into our ring, so the receiver idles at well under one core and takes a few frames per
wakeup; measured here, a receiver spinning on recv() without poll() got no more.
"""

from __future__ import annotations

import argparse
import multiprocessing
import select
import time
from dataclasses import dataclass

from aionetmap.ports.base import FrameBatch
from aionetmap.ports.packet import PacketPort
from aionetmap.testing.netns import VethLink

__all__ = ["main"]


@dataclass
class Row:
    what: str
    frames: int
    seconds: float
    cpu: float
    note: str = ""

    def show(self) -> str:
        rate = self.frames / self.seconds / 1e3
        cpu = 100 * self.cpu / self.seconds
        return f"{self.what:<34} {rate:>9.0f} kfps {cpu:>6.0f} %  {self.note}"


def frame(dst: bytes, src: bytes, size: int) -> bytes:
    # An EtherType nobody handles (local experimental): the receiving kernel drops it early.
    return dst + src + b"\x88\xb5" + bytes(size - 14)


def blast(port: PacketPort, template: bytes, seconds: float) -> int:
    """Send copies of ``template`` for ``seconds``; return how many the kernel took."""
    batch = FrameBatch(port.info.tx_slots)
    batch.extend([template] * batch.capacity)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        port.send_batch(batch)
        port.flush()
    return port.stats()["tx_frames"]


def bench_send(link: VethLink, size: int, seconds: float) -> Row:
    with link.open_port() as port:
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        sent = blast(port, frame(link.peer_mac, link.our_mac, size), seconds)
        wall = time.perf_counter() - t0
        return Row(f"send {size} B (send_batch+flush)", sent, wall, time.process_time() - cpu0)


def _generator(link: VethLink, size: int, seconds: float) -> None:
    with PacketPort.open(link.peer_ifname, netns=link.peer_netns) as port:
        blast(port, frame(link.our_mac, link.peer_mac, size), seconds)


def bench_recv(link: VethLink, size: int, seconds: float) -> Row:
    with link.open_port(rx_frames=16384) as port:
        gen = multiprocessing.get_context("fork").Process(
            target=_generator, args=(link, size, seconds)
        )
        batch = FrameBatch()
        poller = select.poll()
        poller.register(port.fileno(), select.POLLIN)
        got = calls = 0
        gen.start()
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        end = t0 + seconds + 0.5
        while time.perf_counter() < end:
            if poller.poll(100):
                got += port.recv(batch)
                calls += 1
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        gen.join()
        drops = port.stats()["rx_dropped_kernel"]
    note = f"{got / max(calls, 1):.0f} frames/recv, {drops} ring drops"
    return Row(f"recv {size} B (poll+recv, batch 256)", got, wall, cpu, note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--size", type=int, default=60)
    args = parser.parse_args()
    with VethLink() as link:
        rows = [
            bench_send(link, args.size, args.seconds),
            bench_recv(link, args.size, args.seconds),
        ]
    print(f"{'AF_PACKET port on veth':<34} {'rate':>14} {'CPU':>8}")
    for row in rows:
        print(row.show())


if __name__ == "__main__":
    main()
