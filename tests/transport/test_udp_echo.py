"""UDP over the software pipe: a plain asyncio DatagramProtocol served by aionetmap."""

from __future__ import annotations

import asyncio
import struct

import aionetmap
from aionetmap.ports.pipe import PipePort
from aionetmap.stack import DropReason
from aionetmap.testing.protocols import EchoProtocol, RecordingProtocol

SERVER = "10.0.0.1/24"
CLIENT = "10.0.0.2/24"
SERVER_ADDR = ("10.0.0.1", 7)


class _SeqClient(asyncio.DatagramProtocol):
    """Counts echoed datagrams by sequence number and checks every byte."""

    def __init__(self, total: int, size: int) -> None:
        self.seen = bytearray(total)
        self.received = 0
        self.duplicates = 0
        self.corrupt = 0
        self.size = size
        self.progress = asyncio.Event()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        (seq,) = struct.unpack_from("!I", data)
        if data != payload_for(seq, self.size) or addr != SERVER_ADDR:
            self.corrupt += 1
        elif self.seen[seq]:
            self.duplicates += 1
        else:
            self.seen[seq] = 1
            self.received += 1
        self.progress.set()


def payload_for(seq: int, size: int) -> bytes:
    head = struct.pack("!I", seq)
    return head + bytes((seq + i) & 0xFF for i in range(size - len(head)))


async def test_echo_100k_datagrams_none_lost(pipe: tuple[PipePort, PipePort]) -> None:
    a, b = pipe
    total, size, window = 100_000, 32, 512
    server_t, server_p = await aionetmap.create_datagram_endpoint(
        EchoProtocol, port=a, local_addr=(SERVER, 7)
    )
    client_t, client = await aionetmap.create_datagram_endpoint(
        lambda: _SeqClient(total, size), port=b, local_addr=(CLIENT, 0)
    )
    # One round trip first: until ARP resolves, the host parks only a few datagrams per
    # address (HostConfig.arp_queue_limit) and a full window would overflow it.
    client_t.sendto(payload_for(0, size), SERVER_ADDR)
    async with asyncio.timeout(5):
        while not client.received:
            client.progress.clear()
            await client.progress.wait()
    client.seen[0] = 0
    client.received = 0
    server_p.echoed = 0
    payloads = [payload_for(seq, size) for seq in range(total)]
    sent = 0
    async with asyncio.timeout(60):
        while client.received < total:
            # Stay within the write-buffer limits: at most `window` datagrams outstanding.
            while sent < total and sent - client.received < window:
                client_t.sendto(payloads[sent], SERVER_ADDR)
                sent += 1
            assert client_t.get_write_buffer_size() <= client_t.get_write_buffer_limits()[1]
            client.progress.clear()
            await client.progress.wait()
    assert (client.received, client.duplicates, client.corrupt) == (total, 0, 0)
    assert server_p.echoed == total
    assert client_t.stats()["tx_datagrams"] == total + 1
    client_t.close()
    server_t.close()


async def test_endpoints_on_one_port_share_a_host(pipe: tuple[PipePort, PipePort]) -> None:
    a, b = pipe
    t7, p7 = await aionetmap.create_datagram_endpoint(
        RecordingProtocol, port=a, local_addr=(SERVER, 7)
    )
    t8, p8 = await aionetmap.create_datagram_endpoint(
        RecordingProtocol, port=a, local_addr=(SERVER, 8)
    )
    client_t, client = await aionetmap.create_datagram_endpoint(
        RecordingProtocol, port=b, local_addr=(CLIENT, 5000)
    )
    shared = t7.get_extra_info("netinterface")
    assert shared is t8.get_extra_info("netinterface")
    assert shared is not client_t.get_extra_info("netinterface")
    assert sorted(shared.endpoints) == [7, 8]
    client_t.sendto(b"to seven", ("10.0.0.1", 7))
    client_t.sendto(b"to eight", ("10.0.0.1", 8))
    await p7.wait_for(lambda p: p.datagrams)
    await p8.wait_for(lambda p: p.datagrams)
    assert p7.datagrams == [(b"to seven", ("10.0.0.2", 5000))]
    assert p8.datagrams == [(b"to eight", ("10.0.0.2", 5000))]
    for t in (t7, t8, client_t):
        t.close()
    await asyncio.gather(p7.lost, p8.lost, client.lost)


async def test_python_stack_and_fast_path_interoperate(pipe: tuple[PipePort, PipePort]) -> None:
    """The server runs every frame through the pure-Python host, the client the native
    fast path: what one builds the other must accept, byte for byte."""
    a, b = pipe
    total, size = 5_000, 100
    server_iface = await aionetmap.open_interface(a, address=SERVER, fast_path=False)
    server_t, _ = await server_iface.create_datagram_endpoint(EchoProtocol, local_port=7)
    client_t, client = await aionetmap.create_datagram_endpoint(
        lambda: _SeqClient(total, size), port=b, local_addr=(CLIENT, 0)
    )
    async with asyncio.timeout(30):
        for seq in range(total):
            client_t.sendto(payload_for(seq, size), SERVER_ADDR)
            if seq % 128 == 127 or seq == 0:
                while client.received < seq + 1 - 128 or (seq == 0 and not client.received):
                    client.progress.clear()
                    await client.progress.wait()
        while client.received < total:
            client.progress.clear()
            await client.progress.wait()
    assert (client.received, client.duplicates, client.corrupt) == (total, 0, 0)
    # The host's counters and the fast path's, together.
    stats = server_iface.stats()
    assert stats["rx_udp_delivered"] == total
    # The only drop: the client's gratuitous ARP (about an address we never asked for).
    assert stats["dropped"] == stats[f"drop_{DropReason.ARP_NOT_FOR_US.name.lower()}"] == 1
    client_t.close()
    server_t.close()
    server_iface.close()


async def test_implicit_interface_closes_after_its_last_endpoint(
    pipe: tuple[PipePort, PipePort],
) -> None:
    a, _ = pipe
    t7, _ = await aionetmap.create_datagram_endpoint(EchoProtocol, port=a, local_addr=(SERVER, 7))
    t8, _ = await aionetmap.create_datagram_endpoint(EchoProtocol, port=a, local_addr=(SERVER, 8))
    iface = t7.get_extra_info("netinterface")
    t7.close()
    await asyncio.sleep(0.01)
    assert not iface.closed  # one endpoint left
    t8.close()
    await asyncio.wait_for(iface.wait_closed(), 5)
    assert iface.closed
    assert not a.closed  # the caller's port is the caller's to close
