"""The batch datagram API (issue 12): ``datagrams_received(data, addrs)`` on the protocol,
``sendto_many`` on the transport and on the await socket, over the pipe on both loops and
both receive/send paths. A batch keeps every rule a single datagram follows: flow
control, sendto's error contract, pause_reading, set_protocol."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

import aionetmap
from aionetmap.ports.pipe import PipePort
from aionetmap.testing.protocols import RecordingProtocol
from tests.loops import catch_loop_errors
from tests.transport.helpers import ManualPeer, wait_until

SERVER = "10.0.0.1/24"
CLIENT = "10.0.0.2/24"
TO_SERVER = ("10.0.0.1", 9)

Address = tuple[str, int]


class Batching(RecordingProtocol):
    """Records batches (``batches`` holds their sizes); ``on_batch`` runs after each."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []
        self.kept: list[tuple[Sequence[bytes], Sequence[Address]]] = []
        self.on_batch: Any = None

    def datagrams_received(self, data: Sequence[bytes], addrs: Sequence[Address]) -> None:
        self.events.append(("datagrams_received", (len(data),)))
        self.batches.append(len(data))
        self.kept.append((data, addrs))
        self.datagrams.extend(zip(data, addrs, strict=True))
        self._received.set()
        if self.on_batch is not None:
            self.on_batch(self)


class BatchEcho(aionetmap.BatchDatagramProtocol):
    """Answers each batch with one sendto_many."""

    def __init__(self) -> None:
        self.transport: aionetmap.UdpTransport | None = None
        self.batches: list[int] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, aionetmap.UdpTransport)
        self.transport = transport

    def datagrams_received(self, data: Sequence[bytes], addrs: Sequence[Address]) -> None:
        assert self.transport is not None
        self.batches.append(len(data))
        self.transport.sendto_many(data, addrs=addrs)


class PerDatagram(aionetmap.BatchDatagramProtocol):
    """Subclasses without overriding the hook: one datagram_received per datagram."""

    def __init__(self) -> None:
        self.got: list[bytes] = []

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.got.append(data)


class Swapping(RecordingProtocol):
    """A per-datagram protocol that hands its transport to ``swap_to`` after the
    ``swap_after``-th datagram."""

    def __init__(self) -> None:
        super().__init__()
        self.swap_after = -1
        self.swap_to: Any = None

    def datagram_received(self, data: bytes, addr: Address) -> None:
        super().datagram_received(data, addr)
        if len(self.datagrams) == self.swap_after:
            assert isinstance(self.transport, aionetmap.UdpTransport)
            self.transport.set_protocol(self.swap_to)


def payload(i: int) -> bytes:
    return b"%04d" % i + b"d" * 60


async def _server(
    pipe: tuple[PipePort, PipePort], fast_path: bool, factory: Any
) -> tuple[aionetmap.NetInterface, aionetmap.UdpTransport, Any]:
    iface = await aionetmap.open_interface(pipe[0], address=SERVER, fast_path=fast_path)
    transport, protocol = await iface.create_datagram_endpoint(factory, local_port=9)
    return iface, transport, protocol


async def _client(
    pipe: tuple[PipePort, PipePort], fast_path: bool = True
) -> tuple[aionetmap.NetInterface, aionetmap.UdpTransport, RecordingProtocol]:
    iface = await aionetmap.open_interface(pipe[1], address=CLIENT, fast_path=fast_path)
    transport, protocol = await iface.create_datagram_endpoint(RecordingProtocol, local_port=4000)
    return iface, transport, protocol


async def _warm(client_t: aionetmap.UdpTransport, server: Any) -> None:
    """One datagram each way first, so ARP is resolved and the next ones go as a batch."""
    client_t.sendto(b"warm", TO_SERVER)
    await wait_until(lambda: bool(getattr(server, "datagrams", None) or server.batches))


async def test_batch_echo_both_ways(pipe: tuple[PipePort, PipePort], fast_path: bool) -> None:
    """A BatchDatagramProtocol gets a read's datagrams in one call and answers them all
    with one sendto_many; nothing is lost or reordered."""
    s_iface, s_t, echo = await _server(pipe, fast_path, BatchEcho)
    c_iface, c_t, client = await _client(pipe, fast_path)
    try:
        await _warm(c_t, echo)
        await client.wait_for(lambda p: len(p.datagrams) == 1)
        c_t.sendto_many([payload(i) for i in range(40)], TO_SERVER)
        await client.wait_for(lambda p: len(p.datagrams) == 41)
        assert [d for d, _ in client.datagrams[1:]] == [payload(i) for i in range(40)]
        assert {addr for _, addr in client.datagrams} == {TO_SERVER}
        assert sum(echo.batches) == 41
        assert max(echo.batches) > 1  # a batch per read, not a call per datagram
        assert s_t.stats()["rx_datagrams"] == 41
        assert s_t.stats()["tx_datagrams"] == 41
        assert c_t.stats()["tx_datagrams"] == 41
    finally:
        c_iface.close()
        s_iface.close()
        await asyncio.sleep(0)


async def test_sendto_many_measures_once_and_the_lengths_stay_a_prefix(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    """sendto_many's lengths go with the queue (``sizes``) to the builder, which then does
    not measure the payloads again. They always describe a prefix of what is queued, also
    when sendto (which measures nothing for it) queues in between, and every datagram
    arrives whole and in order."""
    s_iface, _, echo = await _server(pipe, fast_path, BatchEcho)
    c_iface, c_t, client = await _client(pipe, fast_path)
    try:
        await _warm(c_t, echo)
        await client.wait_for(lambda p: len(p.datagrams) == 1)
        queue = c_t._queue
        first = [b"a" * 1, b"b" * 30, b"c" * 7]
        c_t.sendto_many(first, TO_SERVER)
        assert queue.sizes == [1, 30, 7]
        c_t.sendto(b"d" * 12, TO_SERVER)
        c_t.sendto_many([b"e" * 5, b"f" * 300], TO_SERVER)
        assert queue.sizes == [1, 30, 7]  # not past sendto's datagram
        assert len(queue.payloads) == 6
        sent = [*first, b"d" * 12, b"e" * 5, b"f" * 300]
        await client.wait_for(lambda p: len(p.datagrams) == 7)
        assert [d for d, _ in client.datagrams[1:]] == sent
        assert queue.sizes == []
        assert queue.payloads == []
        c_t.sendto_many([b"g" * 3], TO_SERVER)  # an empty queue: measured again
        assert queue.sizes == [3]
        await client.wait_for(lambda p: len(p.datagrams) == 8)
        assert queue.sizes == []
    finally:
        c_iface.close()
        s_iface.close()
        await asyncio.sleep(0)


async def test_batches_are_the_protocols_to_keep(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    s_iface, _, server = await _server(pipe, fast_path, Batching)
    c_iface, c_t, _ = await _client(pipe)
    try:
        await _warm(c_t, server)
        for round_ in range(3):
            c_t.sendto_many([payload(round_ * 10 + i) for i in range(10)], TO_SERVER)
            await server.wait_for(lambda p, n=round_: len(p.datagrams) == 11 + n * 10)
        kept = [bytes(d) for data, _ in server.kept for d in data]
        assert kept == [b"warm"] + [payload(i) for i in range(30)]
        assert all(len(data) == len(addrs) for data, addrs in server.kept)
        assert all(addr == ("10.0.0.2", 4000) for _, addrs in server.kept for addr in addrs)
    finally:
        c_iface.close()
        s_iface.close()
        await asyncio.sleep(0)


async def test_subclass_without_the_hook_gets_datagram_received(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    s_iface, _, server = await _server(pipe, fast_path, PerDatagram)
    c_iface, c_t, _ = await _client(pipe)
    try:
        c_t.sendto_many([payload(i) for i in range(5)], TO_SERVER)
        await wait_until(lambda: len(server.got) == 5)
        assert server.got == [payload(i) for i in range(5)]
    finally:
        c_iface.close()
        s_iface.close()
        await asyncio.sleep(0)


async def test_pause_reading_in_a_batch(pipe: tuple[PipePort, PipePort], fast_path: bool) -> None:
    """Pausing inside datagrams_received: the batch in hand was delivered whole; what
    arrives next is held, and comes after resume_reading, in order."""
    s_iface, s_t, server = await _server(pipe, fast_path, Batching)
    c_iface, c_t, _ = await _client(pipe)
    try:
        await _warm(c_t, server)
        server.on_batch = lambda p: p.transport.pause_reading()
        c_t.sendto_many([payload(i) for i in range(8)], TO_SERVER)
        await server.wait_for(lambda p: len(p.datagrams) > 1)
        got = len(server.datagrams)
        assert not s_t.is_reading()
        server.on_batch = None
        c_t.sendto_many([payload(i) for i in range(8, 12)], TO_SERVER)
        await wait_until(lambda: s_t.stats()["rx_held"] == 12 - (got - 1))
        assert len(server.datagrams) == got
        s_t.resume_reading()
        await server.wait_for(lambda p: len(p.datagrams) == 13)
        assert [d for d, _ in server.datagrams[1:]] == [payload(i) for i in range(12)]
        assert s_t.stats()["rx_dropped_paused"] == 0
    finally:
        c_iface.close()
        s_iface.close()
        await asyncio.sleep(0)


async def test_set_protocol_between_hooks(pipe: tuple[PipePort, PipePort], fast_path: bool) -> None:
    """A batch protocol swapping in a per-datagram one inside its call, and back: each
    datagram reaches exactly one protocol, in order, through that protocol's hook."""
    s_iface, s_t, batching = await _server(pipe, fast_path, Batching)
    c_iface, c_t, _ = await _client(pipe)
    plain = Swapping()
    second = Batching()
    try:
        await _warm(c_t, batching)

        def to_plain(p: Batching) -> None:
            plain.transport = s_t
            s_t.set_protocol(plain)

        batching.on_batch = to_plain
        c_t.sendto_many([payload(i) for i in range(6)], TO_SERVER)
        await wait_until(lambda: len(batching.datagrams) + len(plain.datagrams) == 7)
        assert [d for d, _ in batching.datagrams + plain.datagrams][1:] == [
            payload(i) for i in range(6)
        ]

        # The plain protocol swaps the batch one in after its 2nd datagram of a batch: the
        # rest of that batch goes to the new protocol, as one batch.
        base = len(plain.datagrams)
        plain.swap_after = base + 2
        plain.swap_to = second
        c_t.sendto_many([payload(i) for i in range(6, 12)], TO_SERVER)
        await wait_until(lambda: len(plain.datagrams) + len(second.datagrams) == base + 6)
        seen = [d for d, _ in batching.datagrams + plain.datagrams + second.datagrams]
        assert seen[1:] == [payload(i) for i in range(12)]
        assert len(plain.datagrams) == base + 2
        assert sum(second.batches) == 4
        assert "datagram_received" not in second.names()
    finally:
        c_iface.close()
        s_iface.close()
        await asyncio.sleep(0)


async def test_a_raising_batch_hook_is_reported_and_the_endpoint_goes_on(
    pipe: tuple[PipePort, PipePort], fast_path: bool, loop_errors: list[dict[str, Any]]
) -> None:
    s_iface, s_t, server = await _server(pipe, fast_path, Batching)
    c_iface, c_t, _ = await _client(pipe)
    try:
        await _warm(c_t, server)

        def boom(p: Batching) -> None:
            raise RuntimeError("boom")

        server.on_batch = boom
        with catch_loop_errors() as seen:
            c_t.sendto_many([payload(i) for i in range(3)], TO_SERVER)
            await server.wait_for(lambda p: len(p.datagrams) == 4)
            await wait_until(lambda: bool(seen))
        assert "datagrams_received" in seen[0]["message"]
        assert not s_t.is_closing()
    finally:
        c_iface.close()
        s_iface.close()
        await asyncio.sleep(0)


# === sendto_many: flow control and the error rules ===


async def test_sendto_many_pauses_writing_once_and_resumes(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    """Counted like sendto: a batch that fills the rings and passes the high-water mark
    pauses the protocol once; it resumes once the peer drains."""
    a, b = pipe
    peer = ManualPeer(b)
    iface = await aionetmap.open_interface(a, address=SERVER, fast_path=fast_path)
    transport, proto = await iface.create_datagram_endpoint(RecordingProtocol, local_port=7)
    try:
        transport.sendto(b"hello", ("10.0.0.2", 9))
        await peer.pump_until(lambda: bool(peer.received[9]))
        data = [b"x" * 1000] * 700  # more than the rings (511 slots) plus the high water
        transport.sendto_many(data, ("10.0.0.2", 9))
        _, high = transport.get_write_buffer_limits()
        assert proto.names().count("pause_writing") == 1
        assert transport.get_write_buffer_size() > high
        transport.sendto_many(data[:10], ("10.0.0.2", 9))
        assert proto.names().count("pause_writing") == 1
        await peer.pump_until(lambda: len(peer.received[9]) == 711, timeout=10)
        await wait_until(lambda: "resume_writing" in proto.names())
        assert transport.get_write_buffer_size() == 0
        assert transport.stats()["tx_datagrams"] == 711
    finally:
        iface.close()
        await asyncio.sleep(0)


async def test_sendto_many_reports_a_bad_destination_and_sends_the_rest(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    s_iface, _, server = await _server(pipe, fast_path, Batching)
    c_iface, c_t, client = await _client(pipe, fast_path)
    try:
        addrs = [TO_SERVER, ("10.0.0.1", 0), TO_SERVER, ("no.such.name", 9), TO_SERVER]
        c_t.sendto_many([payload(i) for i in range(5)], addrs=addrs)
        await server.wait_for(lambda p: len(p.datagrams) == 3)
        assert [d for d, _ in server.datagrams] == [payload(0), payload(2), payload(4)]
        assert len(client.errors) == 2
        assert c_t.stats()["tx_failed"] == 2
        assert not c_t.is_closing()
    finally:
        c_iface.close()
        s_iface.close()
        await asyncio.sleep(0)


@pytest.mark.parametrize(
    ("args", "kwargs", "exc"),
    [
        (([b"a", "text"], TO_SERVER), {}, TypeError),
        (([b"a", 5], TO_SERVER), {}, TypeError),
        ((5, TO_SERVER), {}, TypeError),
        (([b"a"], TO_SERVER), {"addrs": [TO_SERVER]}, TypeError),
        (([b"a", b"b"],), {"addrs": [TO_SERVER]}, ValueError),
    ],
    ids=["str-item", "int-item", "not-iterable", "addr-and-addrs", "length-mismatch"],
)
async def test_sendto_many_bad_arguments_raise_before_queueing(
    pipe: tuple[PipePort, PipePort], args: tuple[Any, ...], kwargs: dict[str, Any], exc: type
) -> None:
    c_iface, c_t, client = await _client(pipe)
    try:
        with pytest.raises(exc):
            c_t.sendto_many(*args, **kwargs)
        assert c_t.get_write_buffer_size() == 0
        assert not c_t.is_closing()
        assert client.errors == []
    finally:
        c_iface.close()
        await asyncio.sleep(0)


async def test_sendto_many_bad_address_shape_is_fatal(
    pipe: tuple[PipePort, PipePort], fast_path: bool, loop_errors: list[dict[str, Any]]
) -> None:
    """As in sendto: an address socket.sendto refuses outright closes the endpoint; the
    datagrams after it go nowhere."""
    c_iface, c_t, client = await _client(pipe, fast_path)
    try:
        with catch_loop_errors() as seen:
            c_t.sendto_many([b"a", b"b", b"c"], addrs=[TO_SERVER, ("10.0.0.1", 9, 0, 0), TO_SERVER])
            exc = await client.lost
        assert isinstance(exc, TypeError)
        assert len(seen) == 1
        assert c_t.stats()["tx_datagrams"] + c_t.get_write_buffer_size() <= 1
    finally:
        c_iface.close()
        await asyncio.sleep(0)


async def test_sendto_many_without_address_on_an_unconnected_endpoint_is_fatal(
    pipe: tuple[PipePort, PipePort], loop_errors: list[dict[str, Any]]
) -> None:
    c_iface, c_t, client = await _client(pipe)
    try:
        with catch_loop_errors() as seen:
            c_t.sendto_many([b"a", b"b"])
            exc = await client.lost
        assert isinstance(exc, TypeError)
        assert len(seen) == 1
    finally:
        c_iface.close()
        await asyncio.sleep(0)


async def test_sendto_many_on_a_connected_endpoint(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    s_iface, _, server = await _server(pipe, fast_path, Batching)
    c_iface = await aionetmap.open_interface(pipe[1], address=CLIENT, fast_path=fast_path)
    c_t, _ = await c_iface.create_datagram_endpoint(
        RecordingProtocol, local_port=4000, remote_addr=TO_SERVER
    )
    try:
        with pytest.raises(ValueError, match="Invalid address"):
            c_t.sendto_many([b"a", b"b"], addrs=[TO_SERVER, ("10.0.0.1", 10)])
        assert c_t.get_write_buffer_size() == 0
        c_t.sendto_many([payload(0), payload(1)])
        c_t.sendto_many([payload(2)], TO_SERVER)
        c_t.sendto_many([payload(3)], addrs=[None])
        await server.wait_for(lambda p: len(p.datagrams) == 4)
        assert [d for d, _ in server.datagrams] == [payload(i) for i in range(4)]
    finally:
        c_iface.close()
        s_iface.close()
        await asyncio.sleep(0)


# === the await socket ===


async def test_socket_recvfrom_many_and_sendto_many(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    s_iface, _, _ = await _server(pipe, fast_path, BatchEcho)
    sock = await aionetmap.open_udp(port=pipe[1], local_addr=(CLIENT, 4000))
    try:
        with pytest.raises(OSError, match=r"port 0|Invalid argument"):
            await sock.sendto_many([b"a"], addrs=[("10.0.0.1", 0)])
        with pytest.raises(ValueError, match="max_count"):
            await sock.recvfrom_many(0)
        await sock.sendto_many([payload(i) for i in range(10)], TO_SERVER)
        got: list[tuple[bytes, Address]] = []
        async with asyncio.timeout(5):
            while len(got) < 10:
                got += await sock.recvfrom_many(4)
        assert len(got) == 10
        assert [d for d, _ in got] == [payload(i) for i in range(10)]
        assert {addr for _, addr in got} == {TO_SERVER}
        assert sock.dropped == 0
    finally:
        await sock.aclose()
        s_iface.close()
        await asyncio.sleep(0)


async def test_socket_queue_limit_counts_batch_drops(pipe: tuple[PipePort, PipePort]) -> None:
    s_iface, s_t, _ = await _server(pipe, True, RecordingProtocol)
    sock = await aionetmap.open_udp(port=pipe[1], local_addr=(CLIENT, 4000), max_queue=5)
    try:
        await sock.sendto(b"warm", TO_SERVER)
        s_t.sendto_many([payload(i) for i in range(8)], ("10.0.0.2", 4000))
        await wait_until(lambda: sock.dropped == 3)
        got = await sock.recvfrom_many()
        assert [d for d, _ in got] == [payload(i) for i in range(5)]
    finally:
        await sock.aclose()
        s_iface.close()
        await asyncio.sleep(0)
