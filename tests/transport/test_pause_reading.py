"""pause_reading() loses nothing within limits (issue 14, item 6): a paused UDP endpoint
holds what arrives up to its read-buffer limit and delivers it, in order, after
resume_reading(); only what does not fit is dropped, and counted. The frame endpoint's
side (it stops draining its ring) is in test_frame_transport.py."""

from __future__ import annotations

import asyncio

import pytest

import aionetmap
from aionetmap.ports.pipe import PipePort
from aionetmap.testing.protocols import RecordingProtocol
from tests.transport.helpers import wait_until

SERVER = "10.0.0.1/24"
CLIENT = "10.0.0.2/24"
OVERHEAD = 256  # what each held datagram costs on top of its payload


class Pausing(RecordingProtocol):
    """Records datagrams; pauses its transport after the ``pause_after``-th one."""

    def __init__(self) -> None:
        super().__init__()
        self.pause_after: int | None = None

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        super().datagram_received(data, addr)
        if self.pause_after is not None and len(self.datagrams) == self.pause_after:
            assert isinstance(self.transport, aionetmap.UdpTransport)
            self.transport.pause_reading()


async def _pair(
    pipe: tuple[PipePort, PipePort], fast_path: bool, read_buffer_limit: int | None = None
) -> tuple[aionetmap.NetInterface, aionetmap.UdpTransport, Pausing, aionetmap.UdpTransport]:
    """A sink endpoint (port 9, on the path under test) and a client (port 4000) that has
    already reached it once (ARP resolved both ways)."""
    a, b = pipe
    iface = await aionetmap.open_interface(a, address=SERVER, fast_path=fast_path)
    sink_t, sink = await iface.create_datagram_endpoint(
        Pausing, local_port=9, read_buffer_limit=read_buffer_limit
    )
    client_t, _ = await aionetmap.create_datagram_endpoint(
        RecordingProtocol, port=b, local_addr=(CLIENT, 4000)
    )
    client_t.sendto(b"first", ("10.0.0.1", 9))
    await sink.wait_for(lambda p: p.datagrams)
    return iface, sink_t, sink, client_t


def payload(i: int) -> bytes:
    return b"%06d" % i + b"p" * 94  # 100 bytes


async def _close(iface: aionetmap.NetInterface, *transports: aionetmap.UdpTransport) -> None:
    for transport in transports:
        transport.close()
    iface.close()
    await asyncio.sleep(0)


async def test_paused_endpoint_holds_up_to_its_limit_and_drops_beyond(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    iface, sink_t, sink, client_t = await _pair(pipe, fast_path, read_buffer_limit=15 * 356)
    assert sink_t.get_read_buffer_limit() == 15 * (100 + OVERHEAD)
    sink_t.pause_reading()
    assert not sink_t.is_reading()
    for i in range(20):
        client_t.sendto(payload(i), ("10.0.0.1", 9))
    # ARP and ping are the host's: they go on while the endpoint is paused.
    client_iface = client_t.get_extra_info("netinterface")
    assert await client_iface.ping("10.0.0.1", timeout=2) >= 0
    await wait_until(lambda: sink_t.stats()["rx_held"] + sink_t.stats()["rx_dropped_paused"] == 20)
    assert sink.datagrams[1:] == []
    assert (sink_t.stats()["rx_held"], sink_t.stats()["rx_dropped_paused"]) == (15, 5)
    assert sink_t.get_read_buffer_size() == 15 * (100 + OVERHEAD)
    sink_t.resume_reading()
    assert len(sink.datagrams) == 1  # delivered from a later callback, as asyncio does
    client_t.sendto(b"after", ("10.0.0.1", 9))
    await sink.wait_for(lambda p: len(p.datagrams) == 17)
    expected = [b"first", *(payload(i) for i in range(15)), b"after"]
    assert [d for d, _ in sink.datagrams] == expected
    assert all(src == ("10.0.0.2", 4000) for _, src in sink.datagrams)
    assert sink_t.stats()["rx_datagrams"] == 17
    assert sink_t.get_read_buffer_size() == 0
    await _close(iface, sink_t, client_t)


async def test_default_limit_is_rmem_default(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    """212,992 bytes: 598 datagrams of 100 bytes fit, the 599th does not."""
    iface, sink_t, sink, client_t = await _pair(pipe, fast_path)
    assert sink_t.get_read_buffer_limit() == 212992
    sink_t.pause_reading()
    for i in range(600):
        client_t.sendto(payload(i), ("10.0.0.1", 9))
        if i % 100 == 99:
            await asyncio.sleep(0)
    await wait_until(lambda: sink_t.stats()["rx_held"] + sink_t.stats()["rx_dropped_paused"] == 600)
    assert (sink_t.stats()["rx_held"], sink_t.stats()["rx_dropped_paused"]) == (598, 2)
    sink_t.resume_reading()
    await sink.wait_for(lambda p: len(p.datagrams) == 599)
    assert [d for d, _ in sink.datagrams[1:]] == [payload(i) for i in range(598)]
    await _close(iface, sink_t, client_t)


async def test_pausing_again_during_the_replay_stops_it(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    iface, sink_t, sink, client_t = await _pair(pipe, fast_path)
    sink_t.pause_reading()
    for i in range(10):
        client_t.sendto(payload(i), ("10.0.0.1", 9))
    await wait_until(lambda: sink_t.stats()["rx_held"] == 10)
    sink.pause_after = 4  # "first" and three held ones, then pause again
    sink_t.resume_reading()
    await wait_until(lambda: not sink_t.is_reading())
    await asyncio.sleep(0.01)
    assert [d for d, _ in sink.datagrams] == [b"first", payload(0), payload(1), payload(2)]
    assert sink_t.stats()["rx_held"] == 7
    sink.pause_after = None
    sink_t.resume_reading()
    await sink.wait_for(lambda p: len(p.datagrams) == 11)
    assert [d for d, _ in sink.datagrams[1:]] == [payload(i) for i in range(10)]
    assert sink_t.stats()["rx_dropped_paused"] == 0
    await _close(iface, sink_t, client_t)


async def test_arrivals_before_the_replay_queue_behind_it(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    """What arrives between resume_reading() and the replay goes after the held ones,
    even past the limit (the replay is due in this very iteration)."""
    iface, sink_t, sink, client_t = await _pair(pipe, fast_path, read_buffer_limit=356)
    sink_t.pause_reading()
    client_t.sendto(payload(0), ("10.0.0.1", 9))
    await wait_until(lambda: sink_t.stats()["rx_held"] == 1)
    sink_t.resume_reading()
    sink_t.deliver(b"late", ("10.0.0.2", 4000))  # as the interface would, white box
    assert sink_t.stats()["rx_held"] == 2
    await sink.wait_for(lambda p: len(p.datagrams) == 3)
    assert [d for d, _ in sink.datagrams] == [b"first", payload(0), b"late"]
    await _close(iface, sink_t, client_t)


async def test_close_while_paused_discards_what_is_held(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    iface, sink_t, sink, client_t = await _pair(pipe, fast_path)
    sink_t.pause_reading()
    client_t.sendto(payload(0), ("10.0.0.1", 9))
    await wait_until(lambda: sink_t.stats()["rx_held"] == 1)
    sink_t.resume_reading()
    sink_t.close()  # before the replay runs: nothing more is delivered
    assert await sink.lost is None
    assert [d for d, _ in sink.datagrams] == [b"first"]
    assert sink_t.get_read_buffer_size() == 0
    await _close(iface, client_t)


async def test_connected_endpoint_holds_only_its_peers_datagrams(
    pipe: tuple[PipePort, PipePort],
) -> None:
    a, b = pipe
    sink_t, sink = await aionetmap.create_datagram_endpoint(
        RecordingProtocol, port=a, local_addr=(SERVER, 9), remote_addr=("10.0.0.2", 4000)
    )
    other_t, _ = await aionetmap.create_datagram_endpoint(
        RecordingProtocol, port=b, local_addr=(CLIENT, 4001)
    )
    client_t, _ = await aionetmap.create_datagram_endpoint(
        RecordingProtocol, port=b, local_addr=(CLIENT, 4000)
    )
    sink_t.pause_reading()
    other_t.sendto(b"stranger", ("10.0.0.1", 9))
    client_t.sendto(b"peer", ("10.0.0.1", 9))
    await wait_until(lambda: sink_t.stats()["rx_held"] == 1)
    await wait_until(lambda: sink_t.stats()["rx_dropped_not_peer"] == 1)
    sink_t.resume_reading()
    await sink.wait_for(lambda p: p.datagrams)
    assert [d for d, _ in sink.datagrams] == [b"peer"]
    for transport in (sink_t, other_t, client_t):
        transport.close()


async def test_open_udp_takes_the_limit(pipe: tuple[PipePort, PipePort]) -> None:
    a, _ = pipe
    sock = await aionetmap.open_udp(port=a, local_addr=(SERVER, 9), read_buffer_limit=4096)
    assert sock.transport.get_read_buffer_limit() == 4096
    with pytest.raises(ValueError, match="read buffer limit"):
        sock.transport.set_read_buffer_limit(True)
    await sock.aclose()
