"""PacketPort readiness under epoll (asyncio's selector and uvloop), and single-frame latency.

Each test runs on both loops (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import struct
import time

import pytest
from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import Ether

from aionetmap.ports.base import FrameBatch
from aionetmap.ports.packet import PacketPort
from aionetmap.stack.addresses import format_mac
from aionetmap.testing.netns import VethLink

pytestmark = pytest.mark.netns


async def test_reader_is_called_again_while_frames_remain_and_not_after(veth: VethLink) -> None:
    loop = asyncio.get_running_loop()
    veth.teach_peer()
    source = veth.peer_socket()
    source.connect((veth.our_ip, 9000))
    total = 600
    with veth.open_port() as port:
        batch = FrameBatch(capacity=100)
        calls = 0
        received = 0
        drained = loop.create_future()
        more = asyncio.Event()

        def on_readable() -> None:
            nonlocal calls, received
            calls += 1
            received += port.recv(batch)  # at most 100: leaves the rest in the ring
            if received >= total and not drained.done():
                drained.set_result(calls)
            if received > total:
                more.set()

        for i in range(total):
            source.send(struct.pack("!I", i))
        loop.add_reader(port.fileno(), on_readable)
        try:
            calls_to_drain = await asyncio.wait_for(drained, 5)
            await asyncio.sleep(0.2)  # a tight loop would call us thousands of times here
            calls_after = calls - calls_to_drain
            # New traffic wakes the reader again.
            source.send(b"more")
            await asyncio.wait_for(more.wait(), 2)
        finally:
            loop.remove_reader(port.fileno())
    assert calls_to_drain >= total // batch.capacity
    assert calls_after <= 1, f"reader called {calls_after} times with an empty ring"


async def test_port_is_writable_while_tx_has_room(veth: VethLink) -> None:
    loop = asyncio.get_running_loop()
    with veth.open_port() as port:
        writable = asyncio.Event()
        loop.add_writer(port.fileno(), writable.set)
        try:
            await asyncio.wait_for(writable.wait(), 1)
        finally:
            loop.remove_writer(port.fileno())


async def _ping(port: PacketPort, request: bytes, batch: FrameBatch) -> float:
    """Send one echo request; return the seconds until the reply came through add_reader."""
    loop = asyncio.get_running_loop()
    replied = loop.create_future()
    seq = request[-2 - 32 : -32]

    def on_readable() -> None:
        port.recv(batch)
        for frame in batch:
            # ICMP echo reply (type 0) carrying our sequence number
            is_reply = frame[23] == 1 and frame[34] == 0 and frame[40:42] == seq
            if is_reply and not replied.done():
                replied.set_result(time.perf_counter())

    loop.add_reader(port.fileno(), on_readable)
    try:
        start = time.perf_counter()
        port.send([request])
        port.flush()
        end: float = await asyncio.wait_for(replied, 2)
    finally:
        loop.remove_reader(port.fileno())
    return end - start


async def test_single_request_response_does_not_wait_for_a_timer(veth: VethLink) -> None:
    """200 sequential pings through the port, each answered by the kernel.

    The bound is not a speed target: a round trip here takes tens of microseconds. It only
    catches wakeups that wait for a timer, e.g. a TPACKET_V3 block timeout (10 ms per ping
    at a 10 ms timeout), which would put the median far above 2 ms.
    """
    veth.teach_peer()
    batch = FrameBatch()
    rtts = []
    with veth.open_port() as port:
        for seq in range(200):
            request = bytes(
                Ether(dst=format_mac(veth.peer_mac), src=format_mac(veth.our_mac))
                / IP(src=veth.our_ip, dst=veth.peer_ip)
                / ICMP(type=8, id=0x77, seq=seq)
                / bytes(32)
            )
            rtts.append(await _ping(port, request, batch))
    median = statistics.median(rtts)
    assert median < 0.002, f"median round trip {median * 1e3:.2f} ms"


def test_fixture_sockets_share_the_peer_namespace(veth: VethLink) -> None:
    a = veth.peer_socket()
    b = veth.peer_socket(socket.AF_INET, socket.SOCK_DGRAM)
    a.bind((veth.peer_ip, 0))
    b.sendto(b"x", a.getsockname())
    assert a.recv(10) == b"x"
