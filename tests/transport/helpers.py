"""Shared pieces of the transport tests: a hand-driven peer, loop-error capture, endpoints
on an explicit interface with either receive/send path, two dual-stack hosts on a pipe."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import aionetmap
from aionetmap.ports.base import FrameBatch
from aionetmap.ports.pipe import PipePort
from aionetmap.stack import DatagramReceived, EchoReplyReceived, Host, HostConfig
from aionetmap.testing.protocols import RecordingProtocol

__all__ = [
    "FAST_DAD",
    "OUR_IP",
    "PEER_IP",
    "ManualPeer",
    "open_dual_stack_pair",
    "open_udp_endpoint",
    "wait_datagrams",
    "wait_until",
]

OUR_IP = "10.0.0.1"
PEER_IP = "10.0.0.2"
PEER_MAC = bytes.fromhex("020000000002")
FAST_DAD = HostConfig(ndp_retrans_timer=0.05)
"""DAD in 50 ms instead of 1 s: the tests wait for it on every interface they open."""

_P = TypeVar("_P")


class ManualPeer:
    """A sans-I/O Host on the raw far end of a pipe that moves frames only when pumped, so
    "the peer stops reading" is exactly that. ``received[port]`` lists the payloads that
    arrived for each bound UDP port, in order; ``echo_replies`` the answers to its pings."""

    def __init__(self, port: PipePort, ports: tuple[int, ...] = (9,)) -> None:
        self.port = port
        self.host = Host(PEER_MAC, f"{PEER_IP}/24")
        self.received: dict[int, list[bytes]] = {}
        for number in ports:
            self.host.bind_udp(number)
            self.received[number] = []
        self.echo_replies: list[EchoReplyReceived] = []
        self.batch = FrameBatch(64)

    def pump(self, now: float, max_frames: int | None = None) -> int:
        """Read up to one batch (or ``max_frames``), answer what the host answers."""
        count = self.port.recv(self.batch, max_frames)
        for frame in self.batch:
            self.host.receive_frame(frame, now)
        while (event := self.host.next_event()) is not None:
            if isinstance(event, DatagramReceived):
                self.received[event.dst_port].append(event.payload)
            elif isinstance(event, EchoReplyReceived):
                self.echo_replies.append(event)
        frames = self.host.frames_to_send()
        if frames:
            assert self.port.send(frames) == len(frames)
            self.port.flush()
        return count

    def total(self) -> int:
        return sum(map(len, self.received.values()))

    async def pump_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Pump (yielding to the loop in between) until ``predicate()`` holds."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            while not predicate():
                self.pump(loop.time())
                await asyncio.sleep(0)


async def open_udp_endpoint(
    port: PipePort,
    protocol_factory: Callable[[], _P],
    *,
    fast_path: bool,
    local_port: int = 7,
    address: str = f"{OUR_IP}/24",
    **options: Any,
) -> tuple[aionetmap.NetInterface, aionetmap.UdpTransport, _P]:
    """An explicit interface on ``port`` (native fast path or pure-Python stack) with one
    endpoint on it. The caller closes the interface."""
    iface = await aionetmap.open_interface(port, address=address, fast_path=fast_path, **options)
    transport, protocol = await iface.create_datagram_endpoint(
        protocol_factory, local_port=local_port
    )
    return iface, transport, protocol


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Yield to the loop until ``predicate()`` holds."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.001)


async def wait_datagrams(recorder: RecordingProtocol, count: int, timeout: float = 5.0) -> None:
    """Wait until ``recorder`` holds ``count`` datagrams in all."""
    await wait_until(lambda: len(recorder.datagrams) >= count, timeout)


async def open_dual_stack_pair(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> tuple[aionetmap.NetInterface, aionetmap.NetInterface]:
    """Two dual-stack interfaces on the ends of ``pipe`` (DAD in 50 ms), the server
    10.0.0.1 and 2001:db8::1, the client 10.0.0.2 and 2001:db8::2. The caller closes both."""
    a, b = pipe
    server = await aionetmap.open_interface(
        a, address="10.0.0.1/24", ipv6=["2001:db8::1/64"], config=FAST_DAD, fast_path=fast_path
    )
    client = await aionetmap.open_interface(
        b, address="10.0.0.2/24", ipv6=["2001:db8::2/64"], config=FAST_DAD, fast_path=fast_path
    )
    return server, client
