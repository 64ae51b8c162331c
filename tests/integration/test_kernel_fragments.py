"""Datagrams larger than the MTU between aionetmap and the Linux kernel over a veth pair:
kernel sockets get large datagrams echoed byte-exact (the kernel reassembles our
fragments), ``ping -s`` is answered in fragments, and a DNS server protocol built from
dnslib answers ``dig`` with a reply over 1472 bytes."""

from __future__ import annotations

import asyncio
import os
import re
from typing import Any

import pytest
from dnslib import EDNS0, QTYPE, RR, DNSRecord
from dnslib.zoneresolver import ZoneResolver

from aionetmap.testing.netns import VethLink
from tests.integration.kernel_peer import KernelUdp, kernel_snmp, peer_run, serve

pytestmark = pytest.mark.netns

FAST_OR_PYTHON = pytest.mark.parametrize("fast_path", [True, False], ids=["fast", "python"])


def fragments(size: int) -> int:
    """Fragments of a UDP datagram with ``size`` bytes of payload at a 1500-byte MTU."""
    return -(-(size + 8) // 1480)


@FAST_OR_PYTHON
@pytest.mark.parametrize("size", [1473, 3000, 65507])
async def test_kernel_socket_gets_large_datagrams_back_byte_exact(
    veth: VethLink, fast_path: bool, size: int
) -> None:
    before = await kernel_snmp(veth)
    sent = [os.urandom(size) for _ in range(3)]
    async with serve(veth, fast_path=fast_path) as served:
        with KernelUdp(veth) as client:
            # Resolve each other first: the kernel parks only about 200 KB for a neighbour
            # it is still resolving, fewer than three 65507-byte datagrams in fragments.
            client.sendto(b"hello", served.address)
            await client.expect(b"hello", served.address)
            client.received.clear()
            for data in sent:
                client.sendto(data, served.address)
            await client.wait_received(len(sent))
            await asyncio.sleep(0.05)  # room for a duplicate to show up
            assert client.received == [(data, served.address) for data in sent]
        stats = served.stats()
        assert stats["rx_reassembled"] == stats["tx_fragmented"] == len(sent)
        assert stats["rx_udp_delivered"] == len(sent) + 1
        assert stats["tx_fragments"] == len(sent) * fragments(size)
        assert stats["tx_groups_dropped"] == 0
    after = await kernel_snmp(veth)
    # The kernel reassembled every datagram from our fragments and found both checksums
    # (each fragment's header, the whole datagram's UDP) right.
    assert after["Ip.ReasmOKs"] - before["Ip.ReasmOKs"] == len(sent)
    assert after["Ip.ReasmFails"] == before["Ip.ReasmFails"]
    assert after["Udp.InCsumErrors"] == after["Ip.InHdrErrors"] == 0


@FAST_OR_PYTHON
@pytest.mark.parametrize("size", [1473, 3000, 65507])
async def test_ping_with_large_payload_is_answered(
    veth: VethLink, fast_path: bool, size: int
) -> None:
    async with serve(veth, fast_path=fast_path) as served:
        proc = await peer_run(
            veth, "ping", "-c", "3", "-i", "0.05", "-w", "10", "-s", str(size), "-p", "a5c3",
            veth.our_ip,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert re.search(r"3 packets transmitted, 3 received", proc.stdout), proc.stdout
        # ping compares every returned byte with what it sent and complains otherwise.
        assert "wrong data" not in proc.stdout
        assert "DUP!" not in proc.stdout
        stats = served.stats()
        assert stats["rx_reassembled"] == stats["tx_echo_replies"] == 3
        assert stats["tx_fragments"] == 3 * fragments(size)
        assert stats["drop_reply_too_large"] == 0
        assert stats["reassembly_datagrams"] == stats["reassembly_bytes"] == 0
    snmp = await kernel_snmp(veth)
    assert snmp["Icmp.InEchoReps"] == 3
    assert snmp["Icmp.InCsumErrors"] == 0


ZONE = "\n".join(
    f'big.example. 60 IN TXT "{i:02d} {"aionetmap fragments " * 10}"' for i in range(16)
)
"""Sixteen 200-byte TXT records: an answer of about 3.4 KB, over one 1500-byte frame."""


class DnslibServer:
    """A plain asyncio UDP DNS server: dnslib parses each query, its ZoneResolver answers
    from ``ZONE``, and the reply goes back with an EDNS0 record when the query had one.
    Nothing in it knows about aionetmap."""

    def __init__(self) -> None:
        self.resolver = ZoneResolver(ZONE)
        self.transport: Any = None
        self.replies: list[int] = []

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        request = DNSRecord.parse(data)
        reply = self.resolver.resolve(request, None)
        edns = [rr for rr in request.ar if rr.rtype == QTYPE.OPT]
        if edns:
            reply.add_ar(EDNS0(udp_len=edns[0].edns_len))
        packed = reply.pack()
        self.replies.append(len(packed))
        self.transport.sendto(packed, addr)

    def error_received(self, exc: Exception) -> None:
        raise AssertionError(f"error_received({exc!r})")

    def connection_lost(self, exc: Exception | None) -> None:
        pass


@FAST_OR_PYTHON
async def test_dig_gets_a_large_answer_from_a_dnslib_server(
    veth: VethLink, fast_path: bool
) -> None:
    async with serve(veth, DnslibServer, udp_port=53, fast_path=fast_path) as served:
        proc = await peer_run(
            veth, "dig", f"@{veth.our_ip}", "-p", "53", "+bufsize=4096", "+notcp", "+ignore",
            "+tries=2", "+time=5", "big.example", "TXT",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "status: NOERROR" in proc.stdout, proc.stdout
        flags = re.search(r"flags: ([a-z ]*);", proc.stdout)
        assert flags is not None, proc.stdout
        assert "tc" not in flags[1].split()  # not truncated: the whole answer came by UDP
        assert "ANSWER: 16" in proc.stdout
        size = re.search(r"MSG SIZE\s+rcvd: (\d+)", proc.stdout)
        assert size is not None, proc.stdout
        assert int(size[1]) > 1472
        answers = [line for line in proc.stdout.splitlines() if "\tTXT\t" in line]
        assert len(answers) == 16
        records = [RR.fromZone(line)[0] for line in ZONE.splitlines()]
        for record in records:
            assert str(record.rdata) in proc.stdout
        protocol = served.protocol
        assert isinstance(protocol, DnslibServer)
        assert protocol.replies == [int(size[1])]
        assert served.stats()["tx_fragmented"] == 1
