"""UDP between aionetmap's user-space stack and plain Linux kernel sockets over a veth pair:
echo both ways, ICMP port unreachable both ways, a 20 000-datagram burst, flow control,
a graceful close, and fragments."""

from __future__ import annotations

import asyncio
import os
import struct
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

import aionetmap
from aionetmap.interface import NetInterface
from aionetmap.stack import HostConfig
from aionetmap.testing.netns import VethLink, netns_exec
from aionetmap.testing.protocols import RecordingProtocol
from tests.integration.kernel_peer import KernelUdp, kernel_snmp, serve, wait_until

pytestmark = pytest.mark.netns

SIZES = [0, 1, 2, 3, 7, 8, 9, 17, 64, 255, 256, 511, 999, 1000, 1023, 1024, 1400, 1471, 1472]
"""Payload sizes up to the largest that fits a 1500-byte MTU unfragmented; odd ones
exercise the checksum's trailing byte."""


def payloads() -> list[bytes]:
    """Every size in SIZES with random content, plus all-zero and all-ones payloads."""
    out = [os.urandom(size) for size in SIZES]
    out += [bytes(100), b"\xff" * 100, b"\xff" * 1472, b"\x00\xff" * 5]
    return out


def numbered(seq: int, size: int) -> bytes:
    """A datagram that says which one it is and whose every byte can be checked."""
    head = struct.pack("!I", seq)
    return head + bytes((seq + i) & 0xFF for i in range(size - len(head)))


@asynccontextmanager
async def udp_socket(link: VethLink, **options: Any) -> AsyncIterator[aionetmap.UdpSocket]:
    """An await-based aionetmap UDP socket on our end of ``link``; closed afterwards."""
    port = link.open_port()
    try:
        sock = await aionetmap.open_udp(
            port=port, local_addr=(f"{link.our_ip}/{link.prefixlen}", 0), **options
        )
        try:
            yield sock
        finally:
            await asyncio.wait_for(sock.aclose(), 10)
            iface = sock.transport.get_extra_info("netinterface")
            assert isinstance(iface, NetInterface)
            iface.close()
    finally:
        port.close()


async def test_kernel_client_gets_every_datagram_echoed(veth: VethLink) -> None:
    sent = payloads()
    async with serve(veth) as served:
        with KernelUdp(veth) as client:
            for data in sent:
                client.sendto(data, served.address)
            await client.wait_received(len(sent))
            await asyncio.sleep(0.05)  # room for a duplicate to show up
            assert Counter(client.received) == Counter((d, served.address) for d in sent)
        assert served.protocol.echoed == len(sent)
        stats = served.stats()
        assert stats["rx_udp_delivered"] == stats["tx_udp"] == len(sent)
        assert stats["dropped"] == 0
    # The kernel verified every checksum we sent in software (a frame from a packet socket
    # never claims to be checked, whatever the offloads).
    snmp = await kernel_snmp(veth)
    assert snmp["Udp.InDatagrams"] == len(sent)
    assert snmp["Udp.InCsumErrors"] == snmp["Udp.InErrors"] == 0


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast", "python"])
async def test_kernel_client_at_default_offloads_is_echoed_byte_exact(
    veth: VethLink, fast_path: bool
) -> None:
    """The kernel end keeps TX checksum offload on, as a veth has it by default: every
    datagram it sends carries only a partial checksum, which AF_PACKET flags. All are
    delivered and echoed byte-exact, counted as accepted on the kernel's flag."""
    sent = payloads()
    async with serve(veth, fast_path=fast_path) as served:
        with KernelUdp(veth) as client:
            for data in sent:
                client.sendto(data, served.address)
            await client.wait_received(len(sent))
            assert Counter(client.received) == Counter((d, served.address) for d in sent)
        stats = served.stats()
        assert stats["rx_csum_not_ready"] == len(sent)  # the port saw the flag on each
        assert stats["rx_udp_delivered"] == stats["rx_udp_csum_offloaded"] == len(sent)
        assert stats["rx_udp_csum_partial"] == stats["drop_udp_bad_checksum"] == 0


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast", "python"])
async def test_kernel_client_with_offloads_off_is_echoed(
    veth_no_offload: VethLink, fast_path: bool
) -> None:
    """Checksum offload off on the kernel end: complete checksums, none flagged partial,
    and the kernel verifies every echo in software."""
    link, sent = veth_no_offload, payloads()
    async with serve(link, fast_path=fast_path) as served:
        with KernelUdp(link) as client:
            for data in sent:
                client.sendto(data, served.address)
            await client.wait_received(len(sent))
            assert Counter(client.received) == Counter((d, served.address) for d in sent)
        stats = served.stats()
        assert stats["rx_csum_not_ready"] == 0
        assert stats["rx_udp_delivered"] == len(sent)
        assert stats["rx_udp_csum_partial"] == stats["drop_udp_bad_checksum"] == 0
    snmp = await kernel_snmp(link)
    assert snmp["Udp.InDatagrams"] == len(sent)
    assert snmp["Udp.InCsumErrors"] == snmp["Udp.InErrors"] == 0


async def test_aionetmap_client_reaches_a_kernel_echo_server(veth: VethLink) -> None:
    sent = payloads()
    with KernelUdp(veth, port=7, echo=True) as server:
        async with udp_socket(veth) as sock:
            # All sent before ARP has resolved the server: they wait in the ARP queue.
            for data in sent:
                await sock.sendto(data, (veth.peer_ip, 7))
            got: Counter[tuple[bytes, tuple[str, int]]] = Counter()
            async with asyncio.timeout(10):
                for _ in sent:
                    got[await sock.recvfrom()] += 1
            assert got == Counter((d, (veth.peer_ip, 7)) for d in sent)
            iface = sock.transport.get_extra_info("netinterface")
            stats = iface.stats()
            # The announcement, then one request for the server however many datagrams
            # wait (a retry only if the machine stalled the loop for over a second).
            assert stats["tx_arp_requests"] in (2, 3)
            assert stats["send_failed"] == stats["dropped"] == 0
        assert Counter(server.received) == Counter((d, sock.sockname) for d in sent)
    snmp = await kernel_snmp(veth)
    assert snmp["Udp.InCsumErrors"] == snmp["Udp.InErrors"] == 0


async def test_closed_port_is_refused_to_a_connected_kernel_socket(veth: VethLink) -> None:
    async with serve(veth) as served:
        with (
            KernelUdp(veth, connect=(veth.our_ip, 9), watch=False) as refused,
            KernelUdp(veth) as echo,
        ):
            for attempt in range(1, 4):
                refused.send(b"anyone there?")
                await refused.wait_errors(attempt)
                assert isinstance(refused.errors[-1], ConnectionRefusedError)
                # The echo service on the same host keeps answering meanwhile.
                echo.sendto(b"still here %d" % attempt, served.address)
                await echo.expect(b"still here %d" % attempt, served.address)
            assert refused.received == []
        stats = served.stats()
        assert stats["tx_port_unreachable"] == 3
        assert stats["drop_udp_no_listener"] == stats["dropped"] == 3
    snmp = await kernel_snmp(veth)
    assert snmp["Icmp.InDestUnreachs"] == 3
    assert snmp["Icmp.InCsumErrors"] == 0


async def test_port_unreachable_is_rate_limited(veth: VethLink) -> None:
    count = 60
    config = HostConfig(icmp_error_rate=10.0, icmp_error_burst=10)
    async with serve(veth, config=config) as served:
        with KernelUdp(veth) as client:
            start = served.iface.loop.time()
            for i in range(count):
                client.sendto(b"%d" % i, (veth.our_ip, 9))
            await wait_until(lambda: served.stats()["drop_udp_no_listener"] == count)
            elapsed = served.iface.loop.time() - start
        stats = served.stats()
    sent, limited = stats["tx_port_unreachable"], stats["icmp_rate_limited"]
    assert sent + limited == count
    # A full burst at once, then at most the sustained rate (loose: only a bug exceeds it).
    assert 10 <= sent <= 10 + 10 * elapsed + 1


async def test_connected_aionetmap_socket_hears_port_unreachable(veth: VethLink) -> None:
    with KernelUdp(veth, port=7, echo=True):
        async with udp_socket(veth, remote_addr=(veth.peer_ip, 9)) as sock:
            await sock.send(b"is port 9 open?")
            async with asyncio.timeout(10):
                with pytest.raises(ConnectionRefusedError, match="port unreachable"):
                    await sock.recv()
        # Like a kernel socket, an unconnected one is not told; it goes on working.
        async with udp_socket(veth) as sock:
            await sock.sendto(b"to a closed port", (veth.peer_ip, 9))
            await sock.sendto(b"to the echo server", (veth.peer_ip, 7))
            async with asyncio.timeout(10):
                assert await sock.recvfrom() == (b"to the echo server", (veth.peer_ip, 7))


async def test_kernel_burst_of_20000_datagrams_is_echoed_without_loss(veth: VethLink) -> None:
    total, window = 20_000, 256
    expected = [numbered(seq, 4 + seq % 61) for seq in range(total)]
    async with serve(veth) as served:
        with KernelUdp(veth) as client:
            client.sendto(b"warm-up", served.address)  # ARP both ways before the burst
            await client.expect(b"warm-up", served.address)
            client.received.clear()
            sent = 0
            async with asyncio.timeout(90):
                while len(client.received) < total:
                    # At most `window` datagrams in flight: well inside every buffer.
                    while sent < total and sent - len(client.received) < window:
                        client.sendto(expected[sent], served.address)
                        sent += 1
                    await client.wait_received(len(client.received) + 1)
            await asyncio.sleep(0.05)  # room for a duplicate to show up
            got = [data for data, _ in client.received]
            assert len(got) == total
            assert Counter(got) == Counter(expected)  # byte-exact, each exactly once
            assert {addr for _, addr in client.received} == {served.address}
        stats = served.stats()
        assert served.protocol.echoed == total + 1
        assert stats["dropped"] == stats["rx_dropped_kernel"] == 0
        assert stats["tx_dropped_nobufs"] == stats["tx_dropped_error"] == 0
    snmp = await kernel_snmp(veth)
    assert snmp["Udp.RcvbufErrors"] == snmp["Udp.InCsumErrors"] == 0


class _Writer(RecordingProtocol):
    """Counts pause_writing/resume_writing and lets the sender wait for a resume."""

    def __init__(self) -> None:
        super().__init__()
        self.paused = False
        self.resumed = asyncio.Event()

    def pause_writing(self) -> None:
        super().pause_writing()
        self.paused = True
        self.resumed.clear()

    def resume_writing(self) -> None:
        super().resume_writing()
        self.paused = False
        self.resumed.set()


async def test_flow_control_on_a_rate_limited_link(veth: VethLink) -> None:
    # A token bucket on our end of the link holds frames back at 50 Mbit/s: the packet
    # socket's send buffer fills, the TX staging area behind it, then the transport's
    # buffer, and the writer has to wait. Nothing may be lost on the way.
    netns_exec(veth.our_netns, "tc", "qdisc", "add", "dev", veth.our_ifname, "root",
               "tbf", "rate", "50mbit", "burst", "32kb", "limit", "16mb")  # fmt: skip
    total, size = 2000, 1000
    payloads = [numbered(seq, size) for seq in range(total)]
    # A smaller TX staging area than the default 1024 frames: the writer is paused sooner,
    # so it surely is, however slowly a loaded machine runs this loop.
    async with serve(veth, _Writer, port_options={"tx_slots": 64}) as served:
        transport, writer = served.transport, served.protocol
        high = transport.get_write_buffer_limits()[1]
        # A permanent neighbour entry: the kernel never probes us, so nothing but the
        # transport's own wake-ups moves our frames.
        veth.teach_peer()
        with KernelUdp(veth, port=9000) as sink:
            await served.iface.ping(veth.peer_ip, timeout=5.0)  # resolve the sink first
            peak = 0
            async with asyncio.timeout(60):
                for data in payloads:
                    if writer.paused:
                        await writer.resumed.wait()
                    transport.sendto(data, (veth.peer_ip, 9000))
                    peak = max(peak, transport.get_write_buffer_size())
            try:
                await sink.wait_received(total, timeout=10)
            except TimeoutError:
                raise AssertionError(
                    f"{total - len(sink.received)} of {total} datagrams never reached the "
                    f"kernel: the port still stages {served.port.tx_pending()} frames the "
                    f"kernel refused (EAGAIN), and the driver is not waiting for writability "
                    f"(tx_waiting={served.iface.driver.tx_waiting})"
                ) from None
            assert [d for d, _ in sink.received] == payloads
        names = [n for n in writer.names() if n in ("pause_writing", "resume_writing")]
        assert names, "the writer was never paused: the test did not exercise flow control"
        assert names[::2] == ["pause_writing"] * len(names[::2])  # strictly alternating
        assert names[1::2] == ["resume_writing"] * len(names[1::2])
        assert not writer.paused
        # The sender stopped at the high-water mark: one datagram past it at most.
        assert peak <= high + size + 8
        assert transport.stats()["tx_datagrams"] == total
        stats = served.stats()
        assert stats["tx_dropped_nobufs"] == stats["tx_dropped_error"] == 0


async def test_close_sends_what_is_queued_first(veth: VethLink) -> None:
    total = 200
    async with serve(veth, RecordingProtocol) as served:
        with KernelUdp(veth, port=9000) as sink:
            await served.iface.ping(veth.peer_ip, timeout=5.0)
            for seq in range(total):
                served.transport.sendto(numbered(seq, 100), (veth.peer_ip, 9000))
            served.transport.close()
            async with asyncio.timeout(10):
                assert await served.protocol.lost is None
            await sink.wait_received(total)
            assert [d for d, _ in sink.received] == [numbered(s, 100) for s in range(total)]
        # The interface was opened for this endpoint alone: it retires once drained.
        await wait_until(lambda: served.iface.closed, what="interface closed after drain")


async def test_fragmented_datagrams_from_the_kernel_are_reassembled(veth: VethLink) -> None:
    big = [os.urandom(4000), os.urandom(8000), os.urandom(65507)]  # 65507: the UDP maximum
    async with serve(veth, RecordingProtocol) as served:
        with KernelUdp(veth) as client:
            for data in big:
                client.sendto(data, served.address)
            await served.protocol.wait_for(lambda p: len(p.datagrams) >= len(big), timeout=10)
            assert served.protocol.datagrams == [(d, client.address) for d in big]
        stats = served.stats()
        # The kernel cuts 1480 bytes of IPv4 payload per fragment at a 1500-byte MTU.
        assert stats["rx_fragments"] == sum(-(-(len(d) + 8) // 1480) for d in big)
        assert stats["rx_reassembled"] == 3
        assert stats["dropped"] == 0


async def test_fragments_are_dropped_when_reassembly_is_off(veth: VethLink) -> None:
    async with serve(veth, config=HostConfig(reassembly=False)) as served:
        with KernelUdp(veth) as client:
            client.sendto(os.urandom(4000), served.address)  # three fragments
            client.sendto(b"small", served.address)
            await client.expect(b"small", served.address)
            await wait_until(lambda: served.stats()["drop_ip_fragment"] == 3)
            assert [d for d, _ in client.received] == [b"small"]
        stats = served.stats()
        assert stats["dropped"] == 3
        assert stats["rx_fragments"] == stats["rx_reassembled"] == 0


async def test_frames_over_the_stack_mtu_are_dropped(veth: VethLink) -> None:
    # The link carries 1500 bytes; the stack is configured for 1000.
    async with serve(veth, mtu=1000) as served:
        with KernelUdp(veth) as client:
            client.sendto(b"x" * 1200, served.address)
            client.sendto(b"y" * 972, served.address)  # the largest payload that fits
            await client.expect(b"y" * 972, served.address)
            await wait_until(lambda: served.stats()["drop_eth_oversize"] == 1)
            assert len(client.received) == 1
        assert served.stats()["dropped"] == 1
