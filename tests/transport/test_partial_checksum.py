"""Partial UDP checksums (a Linux sender with TX checksum offload on) through a whole
interface, on both receive paths and both loops.

The software pipe stands in for a netmap port on an OS interface, which passes no checksum
flag: crafted frames whose checksum field holds the pseudo-header sum are delivered with
``HostConfig.accept_partial_checksum`` on (and counted), dropped with it off (the default
for a pipe); a really wrong checksum is dropped either way. The AF_PACKET side (the kernel
flags such frames) is covered over veth in tests/integration/test_kernel_udp.py.
"""

from __future__ import annotations

import struct

import pytest

import aionetmap
from aionetmap.ports.pipe import PipePort
from aionetmap.stack import HostConfig
from aionetmap.testing.protocols import RecordingProtocol
from tests.frame_checksums import fix_checksums, partial_checksum
from tests.transport.helpers import OUR_IP, PEER_IP, PEER_MAC, open_udp_endpoint, wait_until

PEER_PORT = 4000


def datagram(our_mac: bytes, payload: bytes, how: str) -> bytes:
    """A frame from the peer to our port 7: ``how`` is "complete" (a correct checksum),
    "partial" (the pseudo-header sum, as TX offload leaves it) or "wrong" (neither)."""
    src = int.from_bytes(bytes(map(int, PEER_IP.split("."))))
    dst = int.from_bytes(bytes(map(int, OUR_IP.split("."))))
    udp = struct.pack("!HHHH", PEER_PORT, 7, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBHII", 0x45, 0, 20 + len(udp), 1, 0x4000, 64, 17, 0, src, dst)
    frame = bytearray(our_mac + PEER_MAC + b"\x08\x00" + ip + udp)
    fix_checksums(frame)
    if how != "complete":
        partial_checksum(frame)
    if how == "wrong":
        frame[14 + 20 + 7] ^= 0x01  # one off the pseudo-header sum
    return bytes(frame)


async def send_mix(
    pipe: tuple[PipePort, PipePort], fast_path: bool, config: HostConfig | None
) -> tuple[aionetmap.NetInterface, RecordingProtocol, int]:
    """Open our endpoint on pipe end a, send the mix from end b; wait until every frame
    is accounted for (delivered or dropped). Returns the interface, the protocol and how
    many frames were sent."""
    a, b = pipe
    if config is None:
        iface, _, protocol = await open_udp_endpoint(a, RecordingProtocol, fast_path=fast_path)
    else:
        iface, _, protocol = await open_udp_endpoint(
            a, RecordingProtocol, fast_path=fast_path, config=config
        )
    mac = iface.host.mac
    frames = [
        datagram(mac, b"partial one", "partial"),
        datagram(mac, b"complete", "complete"),
        datagram(mac, b"wrong", "wrong"),
        datagram(mac, b"partial two" * 50, "partial"),
    ]
    assert b.send(frames) == len(frames)
    b.flush()

    def accounted() -> bool:
        stats = iface.stats()
        return stats["rx_udp_delivered"] + stats["dropped"] >= len(frames)

    await wait_until(accounted)
    return iface, protocol, len(frames)


async def test_partial_checksums_delivered_and_counted_with_the_rule_on(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    config = HostConfig(accept_partial_checksum=True)
    iface, protocol, _ = await send_mix(pipe, fast_path, config)
    try:
        assert iface.host.context.accept_partial_checksum
        peer = (PEER_IP, PEER_PORT)
        assert protocol.datagrams == [
            (b"partial one", peer),
            (b"complete", peer),
            (b"partial two" * 50, peer),
        ]
        stats = iface.stats()
        assert stats["rx_udp_csum_partial"] == 2
        assert stats["rx_udp_csum_offloaded"] == 0
        assert stats["drop_udp_bad_checksum"] == stats["dropped"] == 1  # the wrong one
        # The host's counters are its own: the C fast path counts what it decided in its
        # own, and stats() adds the two.
        host = iface.host.stats
        assert (host.rx_udp_delivered, host.dropped) == ((0, 0) if fast_path else (3, 1))
    finally:
        iface.close()


@pytest.mark.parametrize("config", [None, HostConfig(accept_partial_checksum=False)])
async def test_partial_checksums_dropped_with_the_rule_off(
    pipe: tuple[PipePort, PipePort], fast_path: bool, config: HostConfig | None
) -> None:
    """Off by default on a pipe (its frames come from netmap clients, never a kernel)."""
    iface, protocol, _ = await send_mix(pipe, fast_path, config)
    try:
        assert not iface.host.context.accept_partial_checksum
        assert protocol.datagrams == [(b"complete", (PEER_IP, PEER_PORT))]
        stats = iface.stats()
        assert stats["rx_udp_csum_partial"] == stats["rx_udp_csum_offloaded"] == 0
        assert stats["drop_udp_bad_checksum"] == stats["dropped"] == 3
    finally:
        iface.close()
