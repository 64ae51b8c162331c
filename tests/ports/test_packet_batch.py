"""PacketPort batching against kernel UDP sockets: 10 000 frames each way, none lost."""

from __future__ import annotations

import select
import socket
import struct
import time

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from aionetmap.ports.base import FrameBatch
from aionetmap.stack.addresses import format_mac
from aionetmap.testing.netns import VethLink

pytestmark = pytest.mark.netns

COUNT = 10_000
RCVBUF = 64 << 20


def big_rcvbuf(sock: socket.socket) -> None:
    # SO_RCVBUFFORCE (root) lifts rmem_max, so the kernel socket never drops a datagram
    # while this single-threaded test is busy on the sending side.
    sock.setsockopt(socket.SOL_SOCKET, 33, RCVBUF)  # SO_RCVBUFFORCE


def drain(sock: socket.socket, seen: set[int]) -> None:
    while True:
        try:
            data = sock.recv(64, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        seen.add(struct.unpack_from("!I", data)[0])


def test_ten_thousand_frames_to_a_kernel_socket(veth: VethLink) -> None:
    sink = veth.peer_socket()
    big_rcvbuf(sink)
    sink.bind((veth.peer_ip, 7000))
    template = bytes(
        Ether(dst=format_mac(veth.peer_mac), src=format_mac(veth.our_mac))
        / IP(src=veth.our_ip, dst=veth.peer_ip)
        / UDP(sport=7001, dport=7000, chksum=0)  # zero: "no checksum" (RFC 768)
        / bytes(4)
    )
    seen: set[int] = set()
    flushes = 0
    with veth.open_port() as port:
        batch = FrameBatch(port.info.tx_slots)
        sent = 0
        deadline = time.monotonic() + 30
        while sent < COUNT and time.monotonic() < deadline:
            batch.clear()
            n = min(batch.capacity, port.tx_space(), COUNT - sent)
            batch.extend(template[:-4] + struct.pack("!I", sent + i) for i in range(n))
            assert port.send_batch(batch) == n
            port.flush()
            flushes += 1
            sent += n
            drain(sink, seen)
        deadline = time.monotonic() + 5
        while len(seen) < COUNT and time.monotonic() < deadline:
            select.select([sink], [], [], 0.1)
            drain(sink, seen)
        stats = port.stats()
    assert seen == set(range(COUNT))
    assert flushes <= COUNT // port.info.tx_slots + 2
    assert stats["tx_frames"] == COUNT
    assert stats["tx_pending"] == stats["tx_dropped_nobufs"] == stats["tx_dropped_error"] == 0


def test_ten_thousand_datagrams_from_a_kernel_socket(veth: VethLink) -> None:
    veth.teach_peer()
    source = veth.peer_socket()
    source.connect((veth.our_ip, 8000))
    with veth.open_port(rx_frames=16384) as port:
        for i in range(COUNT):
            source.send(struct.pack("!I", i))
        time.sleep(0.05)  # let softirq processing finish if it was deferred to ksoftirqd
        batch = FrameBatch()
        seen: list[int] = []
        calls = 0
        deadline = time.monotonic() + 10
        while len(seen) < COUNT and time.monotonic() < deadline:
            if port.recv(batch) == 0:
                select.select([port], [], [], 0.1)
                continue
            calls += 1
            for frame in batch:
                if frame[12:14].tobytes() == b"\x08\x00" and frame[23] == 17:  # IPv4/UDP
                    seen.append(struct.unpack_from("!I", frame, 42)[0])
        stats = port.stats()
    assert seen == list(range(COUNT))  # all of them, in order
    assert calls <= COUNT // batch.capacity + 10  # (nearly) full batches, not one per frame
    assert stats["rx_dropped_kernel"] == 0


def test_recv_respects_max_frames_and_small_arenas(veth: VethLink) -> None:
    veth.teach_peer()
    source = veth.peer_socket()
    source.connect((veth.our_ip, 8000))
    with veth.open_port() as port:
        for size in (10, 10, 10, 10, 10, 10, 1000):
            source.send(bytes(size))
        time.sleep(0.05)
        batch = FrameBatch(capacity=8, arena_size=200)
        assert port.recv(batch, max_frames=2) == 2
        assert list(batch.lengths[:2]) == [52, 52]  # 14 + 20 + 8 + 10
        # Three 52-byte frames fill the 200-byte arena; the fourth waits in the ring.
        assert port.recv(batch) == 3
        assert port.rx_ready()
        # The 1042-byte frame can never fit this arena: dropped and counted, not stuck.
        assert port.recv(batch) == 1
        assert not port.rx_ready()
        assert port.recv(batch) == 0
        assert port.stats()["rx_dropped_oversize"] == 1
        assert port.stats()["rx_frames"] == 6


def test_ring_overflow_is_counted_as_kernel_drops(veth: VethLink) -> None:
    veth.teach_peer()
    source = veth.peer_socket()
    source.connect((veth.our_ip, 8000))
    with veth.open_port(rx_frames=32) as port:
        ring = port.info.rx_slots
        for i in range(ring + 50):
            source.send(struct.pack("!I", i))
        time.sleep(0.05)
        batch = FrameBatch()
        assert port.recv(batch) == ring  # the first ones, in order
        assert struct.unpack_from("!I", batch.frame(0), 42)[0] == 0
        assert port.recv(batch) == 0
        assert port.stats()["rx_dropped_kernel"] == 50
        source.send(b"after")  # the ring works again once drained
        time.sleep(0.02)
        assert port.recv(batch) == 1
        assert port.stats()["rx_dropped_kernel"] == 50  # accumulated, not reset by reading


def test_send_takes_every_kind_of_bytes_like_frame(veth: VethLink) -> None:
    # send() packs the frames itself: bytes, bytearray, a strided (non-contiguous)
    # memoryview and a memoryview of 4-byte items must all arrive byte for byte.
    sink = veth.peer_socket()
    sink.bind((veth.peer_ip, 7000))
    sink.settimeout(5)

    def datagram(tag: bytes) -> bytes:  # 48 bytes: 14 + 20 + 8 + 6, a multiple of 4
        return bytes(
            Ether(dst=format_mac(veth.peer_mac), src=format_mac(veth.our_mac))
            / IP(src=veth.our_ip, dst=veth.peer_ip)
            / UDP(sport=7001, dport=7000, chksum=0)
            / tag
        )

    spread = bytearray(96)
    spread[::2] = datagram(b"strode")
    frames: list[bytes | bytearray | memoryview] = [
        datagram(b"bytes!"),
        bytearray(datagram(b"barray")),
        memoryview(spread)[::2],
        memoryview(datagram(b"words!")).cast("I"),
    ]
    with veth.open_port() as port:
        assert port.send(frames) == 4
        port.flush()
        got = [sink.recv(64) for _ in frames]
    assert got == [b"bytes!", b"barray", b"strode", b"words!"]
