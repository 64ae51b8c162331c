"""NetmapPort against a fake kernel (the whole open/register/mmap/sync/close path, through the
real RingSet), the real syscall layer on a non-netmap fd, open_port dispatch, and, where
/dev/netmap exists, the real kernel."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

import aionetmap
from aionetmap._native._netmap import ffi, lib
from aionetmap._native.batch import FrameBatch
from aionetmap._native.fast_classifier import FastClassifier
from aionetmap._native.fast_common import KIND_DELIVER, KIND_DROP
from aionetmap.endpoints import _config_for
from aionetmap.ports import Port, PortClosedError, forward_path, open_port
from aionetmap.ports import netmap as netmap_module
from aionetmap.ports.netmap import KernelSyscalls, NetmapPort
from aionetmap.ports.pipe import pipe_pair
from aionetmap.stack import DatagramReceived, DropReason, Host, HostConfig
from aionetmap.stack.addresses import format_mac
from aionetmap.stack.classify import UdpChecksum
from aionetmap.testing.protocols import RecordingProtocol
from tests.frame_checksums import partial_checksum
from tests.ports.fake_kernel import NIFP, FakeKernel, NoRings


@pytest.fixture
def kernel() -> Iterator[FakeKernel]:
    fake = FakeKernel()
    yield fake
    fake.shutdown()


def frames(n: int, size: int = 60) -> list[bytes]:
    return [bytes([i]) * size for i in range(1, n + 1)]


# ---- opening and registering ------------------------------------------------------------


def test_open_registers_what_the_spec_says(kernel: FakeKernel) -> None:
    with NetmapPort.open("netmap:eth0-1/x@conf:tx-slots=64", syscalls=kernel) as port:
        req = kernel.requests[0]
        assert (req["version"], req["reqtype"], req["reserved"], req["options"]) == (14, 1, 0, 0)
        assert (req["name"], req["mode"], req["ringid"]) == ("eth0", lib.NR_REG_ONE_NIC, 1)
        assert req["flags"] == lib.NR_EXCLUSIVE | lib.NR_NO_TX_POLL
        assert (req["tx_slots"], req["rx_slots"], req["mem_id"]) == (64, 0, 0)
        info = port.info
        assert (info.name, info.backend, info.ifname) == (
            "netmap:eth0-1/x@conf:tx-slots=64",
            "netmap",
            "eth0",
        )
        assert (info.tx_rings, info.rx_rings) == (1, 1)  # only ring 1 is bound
        assert (info.tx_slots, info.rx_slots, info.buf_size, info.mem_id) == (8, 8, 2048, 3)
        assert info.max_frame == 2048  # a NIC port keeps a frame in one slot
        assert port.fileno() in kernel.fds
        assert port.tx_wakeup == "writable"
        assert isinstance(port, Port)


@pytest.mark.parametrize(
    ("spec", "tx", "rx"),
    [
        ("netmap:eth0", 2, 2),
        ("netmap:eth0*", 3, 3),
        ("netmap:eth0^", 1, 1),
        ("netmap:eth0/R", 0, 2),
        ("netmap:eth0/T", 2, 0),
        ("netmap:eth0^0", 1, 1),
    ],
)
def test_rings_found_through_ring_ofs(kernel: FakeKernel, spec: str, tx: int, rx: int) -> None:
    with NetmapPort.open(spec, syscalls=kernel) as port:
        assert (port.info.tx_rings, port.info.rx_rings) == (tx, rx)


@pytest.mark.parametrize(
    ("spec", "no_tx_poll"),
    [("netmap:eth0", True), ("vale0:p", True), ("netmap:eth0{1", False), ("netmap:x}7", False)],
)
def test_pipes_keep_the_kernels_tx_poll(kernel: FakeKernel, spec: str, no_tx_poll: bool) -> None:
    # A netmap pipe holds back what its peer has no room for; only the kernel's txsync in
    # the wake-up the peer's read posts moves it on, so pipes must not set NR_NO_TX_POLL.
    with NetmapPort.open(spec, syscalls=kernel):
        flags = kernel.requests[0]["flags"]
        assert bool(flags & lib.NR_NO_TX_POLL) is no_tx_poll


def test_overrides_and_tx_poll(kernel: FakeKernel) -> None:
    with NetmapPort.open("vale0:p@conf:slots=16", syscalls=kernel, tx_poll=True, rx_slots=32):
        req = kernel.requests[0]
        assert (req["name"], req["tx_slots"], req["rx_slots"], req["flags"]) == (
            "vale0:p",
            16,
            32,
            0,
        )
    with pytest.raises(TypeError, match="bogus"):
        NetmapPort.open("vale0:p", syscalls=kernel, bogus=1)
    with pytest.raises(ValueError, match=r"tx_rings=65536 is not in 0\.\.65535"):
        NetmapPort.open("vale0:p", syscalls=kernel, tx_rings=65536)
    with pytest.raises(ValueError, match="netmap: and vale"):
        NetmapPort.open("pipe:x{1", syscalls=kernel)
    assert not kernel.fds


def test_vale_port_allows_multi_slot_frames(kernel: FakeKernel) -> None:
    with NetmapPort.open("vale0:p", syscalls=kernel) as port:
        assert port.info.max_frame > port.info.buf_size


def test_share_takes_the_memory_id_of_the_other_port(kernel: FakeKernel) -> None:
    with NetmapPort.open("netmap:eth0@share=netmap:eth1", syscalls=kernel) as port:
        assert kernel.requests[0]["mem_id"] == 5
        assert port.info.mem_id == 5
    with pytest.raises(ValueError, match=r"memory id 5.*@2"):
        NetmapPort.open("netmap:eth0@2@share=netmap:eth1", syscalls=kernel)
    assert not kernel.fds


# ---- partial UDP checksums (netmap's emulated adapter gives no flag) ------------------------


@pytest.mark.parametrize(
    ("spec", "unflagged"),
    [
        ("netmap:eth0", True),
        ("netmap:eth0^", True),  # host rings: the host stack's own frames
        ("netmap:eth0-1", True),
        ("vale0:p", False),
        ("netmap:eth0{1", False),
        ("netmap:x}7", False),
    ],
)
def test_os_interfaces_may_carry_unflagged_partial_checksums(
    kernel: FakeKernel, spec: str, unflagged: bool
) -> None:
    with NetmapPort.open(spec, syscalls=kernel) as port:
        assert port.info.unflagged_partial_checksums is unflagged
        config = _config_for(None, port.info)  # what open_interface gives the host
        assert config.accept_partial_checksum is unflagged
        # an explicit setting always wins over the port's
        assert _config_for(HostConfig(accept_partial_checksum=False), port.info) == HostConfig(
            accept_partial_checksum=False
        )


def test_partial_checksum_frames_through_an_os_interface_port(kernel: FakeKernel) -> None:
    """Frames a kernel sent with TX offload on, read through a netmap OS-interface port:
    the rule the port turns on accepts them in Python and in C, and counts them; a wrong
    checksum is still dropped by both."""
    our_mac, peer_mac = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
    with NetmapPort.open("netmap:eth0-0", syscalls=kernel) as port:
        config = _config_for(None, port.info)
        host = Host(our_mac, "10.0.0.1/24", config=config)
        host.bind_udp(7)
        sent = []
        for i, how in enumerate(["partial", "wrong", "complete"]):
            packet = (
                Ether(dst=format_mac(our_mac), src=format_mac(peer_mac))
                / IP(src="10.0.0.2", dst="10.0.0.1")
                / UDP(sport=4000, dport=7)
                / (bytes([i]) * 40)
            )
            frame = bytearray(bytes(packet))
            if how != "complete":
                partial_checksum(frame)
            if how == "wrong":
                frame[41] ^= 1
            sent.append(bytes(frame))
        assert port.send(sent) == 3
        port.flush()
        batch = FrameBatch(16)
        batch.csum_known = True  # stale from an earlier fill: recv must clear it
        assert port.recv(batch) == 3
        assert not batch.csum_known
        for i in range(batch.count):
            host.receive_frame(batch.frame(i), 0.0, batch.frame_csum(i))
        got = [e.payload for e in iter(host.next_event, None) if isinstance(e, DatagramReceived)]
        assert got == [bytes([0]) * 40, bytes([2]) * 40]
        assert host.stats.rx_udp_csum_partial == 1
        assert host.stats.drops[DropReason.UDP_BAD_CHECKSUM] == 1
        fast = FastClassifier(16)
        fast.set_context(our_mac, 0x0A000001, 0x0A0000FF, 1500, accept_partial_checksum=True)
        fast.bind(7)
        fast.classify(batch)
        assert list(fast.kinds[:3]) == [KIND_DELIVER, KIND_DROP, KIND_DELIVER]
        assert list(fast.reasons[:3]) == [
            UdpChecksum.PSEUDO,
            DropReason.UDP_BAD_CHECKSUM,
            UdpChecksum.VERIFIED,
        ]
        assert (fast.csum_pseudo, fast.csum_offloaded) == (1, 0)


# ---- data path through the real RingSet ---------------------------------------------------


def test_send_flush_recv_loopback(kernel: FakeKernel) -> None:
    with NetmapPort.open("netmap:eth0-0", syscalls=kernel) as port:
        assert port.tx_space() == 7  # one slot always stays empty
        assert port.send(frames(3)) == 3
        assert port.tx_space() == 4
        port.flush()
        assert port.tx_space() == 7  # the fake reclaims at once
        batch = FrameBatch(16)
        # RX ring empty: recv does one NIOCRXSYNC, which delivers, then reads again
        assert port.recv(batch) == 3
        assert batch.frames() == frames(3)
        assert kernel.syncs == {"tx": 1, "rx": 1}
        stats = port.stats()
        assert (stats["tx_frames"], stats["rx_frames"]) == (3, 3)
        assert (stats["txsync_calls"], stats["rxsync_calls"]) == (1, 1)


def test_ring_wraps_many_times(kernel: FakeKernel) -> None:
    batch = FrameBatch(16)
    with NetmapPort.open("netmap:eth0-1", syscalls=kernel) as port:
        for round_ in range(20):
            sent = [bytes([round_, i]) * 30 for i in range(5)]
            assert port.send(sent) == 5
            port.flush()
            assert port.recv(batch) == 5
            assert batch.frames() == sent


def test_flush_skips_the_syscall_when_nothing_is_queued(kernel: FakeKernel) -> None:
    with NetmapPort.open("netmap:eth0", syscalls=kernel) as port:
        port.flush()
        assert kernel.syncs["tx"] == 0
        port.send(frames(1))
        port.flush()
        port.flush()
        assert kernel.syncs["tx"] == 1


def test_tx_in_flight_until_the_kernel_reclaims(kernel: FakeKernel) -> None:
    """Slots stay in flight from send until a TXSYNC finds them done: here (``tx_lag``)
    one sync after the one that took them, as with a NIC still transmitting."""
    kernel.tx_lag = 1
    with NetmapPort.open("netmap:eth0-0", syscalls=kernel) as port:
        assert port.tx_in_flight() == 0
        port.send(frames(3))
        assert port.tx_in_flight() == 3  # queued
        port.flush()
        assert port.tx_in_flight() == 3  # taken, not yet reclaimed
        assert port.tx_pending() == 0  # nothing needs a wake-up: only more syncs
        port.flush()
        assert port.tx_in_flight() == 0
        assert port.tx_space() == 7
        port.flush()
        assert kernel.syncs["tx"] == 2  # nothing in flight: no syscall


async def test_graceful_close_waits_until_the_nic_has_taken_every_frame(
    kernel: FakeKernel,
) -> None:
    """netmap's own idiom before leaving netmap mode (which resets a native driver's
    rings): TXSYNC until every TX ring's tail has caught up with head."""
    kernel.tx_lag = 3
    port = NetmapPort.open("netmap:eth0-0", syscalls=kernel)
    seen: list[int] = []

    class Watcher(RecordingProtocol):
        def connection_lost(self, exc: Exception | None) -> None:
            seen.append(port.tx_in_flight())
            super().connection_lost(exc)

    try:
        transport, proto = await aionetmap.create_frame_endpoint(Watcher, port=port)
        transport.send_many(frames(5))
        transport.close()
        assert await proto.lost is None
        assert seen == [0]  # connection_lost came only once the NIC had them all
        assert kernel.syncs["tx"] >= 4
        assert transport.stats()["tx_dropped_close"] == 0
        assert port.recv(FrameBatch(8)) == 5  # the fake loops them back: all went out
    finally:
        port.close()


def test_recv_on_an_empty_port_returns_zero(kernel: FakeKernel) -> None:
    with NetmapPort.open("netmap:eth0", syscalls=kernel) as port:
        assert port.recv(FrameBatch(4)) == 0
        assert kernel.syncs["rx"] == 1
        assert port.recv(FrameBatch(4), max_frames=0) == 0
        assert kernel.syncs["rx"] == 1  # asking for nothing costs no syscall


def test_send_refuses_oversize_frames(kernel: FakeKernel) -> None:
    with NetmapPort.open("netmap:eth0", syscalls=kernel) as port:
        with pytest.raises(ValueError, match="exceeds"):
            port.send([bytes(port.info.max_frame + 1)])
        assert port.tx_space() == 2 * 7


# ---- errors -------------------------------------------------------------------------------

ERRORS = [
    ("open", errno.ENOENT, FileNotFoundError, "not loaded"),
    ("open", errno.EACCES, PermissionError, "udev rule"),
    ("register", errno.ENXIO, OSError, "interface not found"),
    ("register", errno.EBUSY, OSError, "exclusively owned"),
    ("register", errno.EINVAL, OSError, "ring id out of range"),
    ("register", errno.EIO, OSError, "vnet"),
    ("register", errno.EOPNOTSUPP, OSError, "native mode"),
    ("register", errno.ENOMEM, OSError, "VALE"),
    ("mmap", errno.ENOMEM, OSError, "address space"),
    ("port_info", errno.ENXIO, OSError, "PORT_INFO_GET"),
]


@pytest.mark.parametrize(
    ("op", "err", "cls", "words"), ERRORS, ids=[f"{o}-{e}" for o, e, *_ in ERRORS]
)
def test_open_errors(kernel: FakeKernel, op: str, err: int, cls: type, words: str) -> None:
    kernel.fail[op] = err
    spec = "netmap:eth0@share=netmap:eth1" if op == "port_info" else "netmap:eth0"
    with pytest.raises(OSError, match=words) as info:
        NetmapPort.open(spec, syscalls=kernel)
    assert type(info.value) is cls
    assert info.value.errno == err
    assert spec in str(info.value)
    assert isinstance(info.value.__cause__, OSError)
    assert not kernel.fds  # the fd never leaks


def test_inconsistent_kernel_reply_is_refused(kernel: FakeKernel) -> None:
    kernel.memsize_override = NIFP  # the netmap_if would start at the very end
    with pytest.raises(ValueError, match="netmap:eth0"):
        NetmapPort.open("netmap:eth0", syscalls=kernel)
    assert not kernel.fds


def test_region_the_ringset_rejects_is_unmapped_and_closed(kernel: FakeKernel) -> None:
    kernel.slots = 1  # a ring needs at least 2 slots
    with pytest.raises(ValueError, match="netmap:eth0"):
        NetmapPort.open("netmap:eth0", syscalls=kernel)
    assert not kernel.fds
    assert kernel.region is not None
    assert kernel.region.closed


@pytest.mark.parametrize(
    ("op", "err", "words"),
    [("txsync", errno.EIO, "ring is stopped"), ("rxsync", errno.ENXIO, "not registered")],
)
def test_sync_errors(kernel: FakeKernel, op: str, err: int, words: str) -> None:
    with NetmapPort.open("netmap:eth0", syscalls=kernel) as port:
        port.send(frames(1))
        kernel.fail[op] = err
        with pytest.raises(OSError, match=words) as info:
            port.flush() if op == "txsync" else port.recv(FrameBatch(4))
        assert info.value.errno == err


# ---- lifetime -----------------------------------------------------------------------------


def test_close_is_idempotent_and_releases_everything(kernel: FakeKernel) -> None:
    port = NetmapPort.open("netmap:eth0", syscalls=kernel)
    fd = port.fileno()
    assert f"<NetmapPort netmap:eth0 fd={fd} " in repr(port)
    port.send(frames(2))
    port.close()
    port.close()
    assert port.closed
    assert "closed" in repr(port)
    assert not kernel.fds
    assert not kernel.bound()
    assert kernel.region is not None
    assert kernel.region.closed
    assert port.stats()["tx_frames"] == 2  # the counters survive the close
    for call in (
        port.fileno,
        port.flush,
        port.tx_space,
        lambda: port.send([b"x"]),
        lambda: port.recv(FrameBatch(1)),
    ):
        with pytest.raises(PortClosedError, match="netmap:eth0"):
            call()


def test_leaked_port_warns_and_closes(kernel: FakeKernel) -> None:
    port = NetmapPort.open("netmap:eth0", syscalls=kernel)
    with pytest.warns(ResourceWarning, match="unclosed <NetmapPort netmap:eth0"):
        del port  # no cycles: the last reference going away runs __del__ right here
    assert not kernel.fds


# ---- one mapping per memory region -----------------------------------------------------------


def test_ports_of_one_allocator_share_one_mapping_and_swap_buffers(kernel: FakeKernel) -> None:
    with (
        NetmapPort.open("netmap:eth0", syscalls=kernel) as a,
        NetmapPort.open("netmap:eth1", syscalls=kernel) as b,
    ):
        assert kernel.mmaps == 1  # the second port reuses the first one's mapping
        assert a.info.mem_id == b.info.mem_id == 3
        assert forward_path(a, b) == "swap"
        before = sorted(kernel.buffers())
        kernel.deliver(a.fileno(), frames(5))
        assert a.forward_to(b, 16) == 5  # nothing visible: one RXSYNC fetched them
        assert kernel.syncs["rx"] == 1
        stats = a.stats()
        assert (stats["fwd_swapped"], stats["fwd_copied"], stats["rx_frames"]) == (5, 0, 5)
        b.flush()
        batch = FrameBatch(16)
        assert b.recv(batch) == 5
        assert batch.frames() == frames(5)
        # The next RXSYNC on a hands its slots, now holding b's old buffers, back.
        kernel.ioctl(a.fileno(), lib.NIOCRXSYNC)
        # Every buffer is still in exactly one slot, and the kernel was told of every swap.
        assert sorted(kernel.buffers()) == before
        assert kernel.unflagged == 0


def test_ports_of_different_allocators_copy(kernel: FakeKernel) -> None:
    with (
        NetmapPort.open("netmap:eth0", syscalls=kernel) as a,
        NetmapPort.open("netmap:eth1@4", syscalls=kernel) as b,
    ):
        assert kernel.mmaps == 2
        assert (a.info.mem_id, b.info.mem_id) == (3, 4)
        assert forward_path(a, b) == "ring-copy"
        kernel.deliver(a.fileno(), frames(4, size=300))
        assert a.forward_to(b, 16) == 4
        assert (a.stats()["fwd_swapped"], a.stats()["fwd_copied"]) == (0, 4)
        b.flush()
        batch = FrameBatch(16)
        assert b.recv(batch) == 4
        assert batch.frames() == frames(4, size=300)


@pytest.mark.parametrize("first", ["mapping-owner", "other"])
def test_closing_either_port_releases_it_and_keeps_the_other_working(
    kernel: FakeKernel, first: str
) -> None:
    a = NetmapPort.open("netmap:eth0", syscalls=kernel)
    b = NetmapPort.open("netmap:eth1", syscalls=kernel)
    region = kernel.region
    assert region is not None
    gone, stays = (a, b) if first == "mapping-owner" else (b, a)
    try:
        kernel.deliver(a.fileno(), frames(3))
        assert a.forward_to(b, 8) == 3
        gone.close()
        # The closed port is released by the kernel at once: its fd is closed and the
        # shared mapping no longer goes through it.
        assert kernel.bound() == {stays.fileno()}
        assert kernel.remaps == (1 if first == "mapping-owner" else 0)
        assert not region.closed
        # The survivor still sends, receives and swaps buffers through the shared mapping.
        stays.flush()
        assert stays.send(frames(2, size=100)) == 2
        stays.flush()
        batch = FrameBatch(16)
        got = stays.recv(batch)
        assert batch.frames()[-2:] == frames(2, size=100)
        assert got in (2, 5)  # b also gets back the 3 frames a forwarded to it
        kernel.deliver(stays.fileno(), frames(2))
        assert stays.forward_to(stays, 8) == 2
        assert stays.stats()["fwd_swapped"] >= 2
    finally:
        stays.close()
    assert region.closed
    assert not kernel.bound()
    assert not kernel.fds


def test_mapping_that_cannot_move_keeps_the_closed_port_until_the_last_closes(
    kernel: FakeKernel,
) -> None:
    a = NetmapPort.open("netmap:eth0", syscalls=kernel)
    b = NetmapPort.open("netmap:eth1", syscalls=kernel)
    a_fd = a.fileno()
    kernel.fail["remap"] = errno.ENOMEM
    with pytest.warns(RuntimeWarning, match=r"netmap:eth0: could not move .* memory 3"):
        a.close()
    assert a.closed
    assert kernel.bound() == {a_fd, b.fileno()}  # a's fd stays open under the mapping
    kernel.deliver(b.fileno(), frames(2))
    batch = FrameBatch(4)
    assert b.recv(batch) == 2
    b.close()
    assert not kernel.bound()
    assert not kernel.fds
    assert kernel.region is not None
    assert kernel.region.closed


def test_a_different_size_for_a_mapped_memory_id_is_refused(kernel: FakeKernel) -> None:
    with NetmapPort.open("netmap:eth0", syscalls=kernel) as a:
        size = len(kernel.maps[0][0])
        kernel.memsize_override = size + 4096
        with pytest.raises(ValueError, match=rf"netmap:eth1: .*memory 3 as {size + 4096} bytes"):
            NetmapPort.open("netmap:eth1", syscalls=kernel)
        assert kernel.fds == {a.fileno()}  # the refused port's fd is closed again
        kernel.memsize_override = None
        with NetmapPort.open("netmap:eth1", syscalls=kernel) as b:
            assert kernel.mmaps == 1
            kernel.deliver(a.fileno(), frames(1))
            assert a.forward_to(b, 1) == 1


def test_forward_to_needs_an_open_ring_port(kernel: FakeKernel) -> None:
    with NetmapPort.open("netmap:eth0", syscalls=kernel) as a:
        other = NetmapPort.open("netmap:eth1", syscalls=kernel)
        other.close()
        with pytest.raises(PortClosedError, match="netmap:eth1"):
            a.forward_to(other, 1)
        p, q = pipe_pair(slots=8)
        try:
            with pytest.raises(TypeError, match=r"netmap:eth0: .*use aionetmap.ports.forward"):
                a.forward_to(NoRings(p), 1)
        finally:
            p.close()
            q.close()
        assert a.forward_to(a, 0) == 0
        assert kernel.syncs["rx"] == 0  # asking for nothing costs no syscall


def test_forward_to_a_full_port_leaves_frames_in_the_ring(kernel: FakeKernel) -> None:
    with (
        NetmapPort.open("netmap:eth0-0", syscalls=kernel) as a,
        NetmapPort.open("netmap:eth1-0", syscalls=kernel) as b,
    ):
        assert b.send(frames(5, size=70)) == 5  # 2 of 7 TX slots left
        kernel.deliver(a.fileno(), frames(6))
        assert a.forward_to(b, 16) == 2
        syncs = kernel.syncs["rx"]
        assert a.forward_to(b, 16) == 0  # b is full; the rest is visible: no RXSYNC
        assert kernel.syncs["rx"] == syncs
        b.flush()
        assert a.forward_to(b, 16) == 4
        b.flush()
        batch = FrameBatch(16)
        assert b.recv(batch) == 7  # what b's RX ring holds at a time
        got = batch.frames()
        assert b.recv(batch) == 4
        assert got + batch.frames() == frames(5, size=70) + frames(6)
        assert a.stats()["fwd_dropped"] == 0


# ---- the real syscall layer -----------------------------------------------------------------


class DevNullSyscalls(KernelSyscalls):
    """The real ioctl/mmap/close, on a file that is not /dev/netmap."""

    def open(self, path: str) -> int:
        return os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)


def test_real_ioctl_returns_the_errno() -> None:
    fd = os.open("/dev/null", os.O_RDWR)
    try:
        hdr: Any = ffi.new("struct nmreq_header *")
        body: Any = ffi.new("struct nmreq_register *")
        with pytest.raises(OSError, match="Inappropriate ioctl") as info:
            KernelSyscalls().ioctl(fd, lib.NIOCCTRL, hdr, body)
        assert info.value.errno == errno.ENOTTY
        assert hdr.nr_body == int(ffi.cast("uintptr_t", body))  # the body was attached
        with pytest.raises(OSError, match="Inappropriate ioctl"):
            KernelSyscalls().ioctl(fd, lib.NIOCTXSYNC)
        with pytest.raises(ValueError, match="not a netmap ioctl"):
            KernelSyscalls().ioctl(fd, 0x1234)
    finally:
        os.close(fd)


def _memfd(name: str, fill: bytes, size: int = 8192) -> int:
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    os.ftruncate(fd, size)
    os.pwrite(fd, fill * size, 0)
    return fd


def _open_files(name: str) -> int:
    """How many fds of this process refer to the memfd called ``name``."""
    count = 0
    for n in os.listdir("/proc/self/fd"):
        with contextlib.suppress(FileNotFoundError):  # the fd listdir itself used
            count += os.readlink(f"/proc/self/fd/{n}").startswith(f"/memfd:{name} ")
    return count


def test_real_mmap_keeps_no_fd_and_remap_moves_the_mapping_to_another_file() -> None:
    tag = f"anm-remap-{os.getpid()}"
    first, second = _memfd(f"{tag}-a", b"A"), _memfd(f"{tag}-b", b"B")
    region = KernelSyscalls().mmap(first, 8192)
    try:
        assert region[:2] == b"AA"
        region[0:1] = b"Z"
        assert os.pread(first, 1, 0) == b"Z"  # shared, read-write
        assert _open_files(f"{tag}-a") == 1  # Python's mmap(fd) would hold a duplicate
        view: Any = ffi.from_buffer(region)
        address = int(ffi.cast("uintptr_t", view))
        ffi.release(view)
        KernelSyscalls().remap(second, region)
        view = ffi.from_buffer(region)
        assert int(ffi.cast("uintptr_t", view)) == address  # same addresses, other file
        ffi.release(view)
        assert region[:2] == b"BB"
        os.close(first)
        first = -1
        maps = Path("/proc/self/maps").read_text()
        assert f"{tag}-a" not in maps  # nothing holds the first file any more
        assert f"{tag}-b" in maps
        null = os.open("/dev/null", os.O_RDWR)
        try:
            with pytest.raises(OSError, match="No such device") as info:
                KernelSyscalls().remap(null, region)
        finally:
            os.close(null)
        assert info.value.errno == errno.ENODEV
        assert region[:2] == b"BB"  # a refused remap leaves the mapping as it was
    finally:
        region.close()
        for fd in (first, second):
            if fd >= 0:
                os.close(fd)


def test_missing_device_points_at_the_alternatives(monkeypatch: pytest.MonkeyPatch) -> None:
    # The real open(2) on a device node that does not exist, as without the netmap module.
    monkeypatch.setattr(netmap_module, "DEVICE", "/dev/netmap-absent-in-this-test")
    with pytest.raises(FileNotFoundError, match="not loaded") as info:
        open_port("netmap:eth0")
    message = str(info.value)
    assert "netmap:eth0" in message
    assert "'packet:IFNAME'" in message
    assert "'pipe:NAME{0'" in message


def test_register_on_a_non_netmap_fd_names_the_cause() -> None:
    with pytest.raises(OSError, match="not a netmap device") as info:
        NetmapPort.open("netmap:eth0", syscalls=DevNullSyscalls())
    assert info.value.errno == errno.ENOTTY


# ---- open_port dispatch -----------------------------------------------------------------------


class Recorder:
    """Stands in for a backend's ``open`` classmethod: records its arguments."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        self.port: Any = object()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((args, kwargs))
        return self.port


def test_open_port_dispatches_netmap(kernel: FakeKernel) -> None:
    port = open_port("vale1:q-0", syscalls=kernel)
    try:
        assert isinstance(port, NetmapPort)
        assert kernel.requests[0]["name"] == "vale1:q"
    finally:
        port.close()


@pytest.mark.parametrize(
    ("spec", "overrides", "args", "kwargs"),
    [
        ("pipe:demo{0", {}, ("demo.0", "a"), {"slots": None, "buf_size": None}),
        (
            "pipe:x.y}in-1@conf:slots=64,buf-size=4096",
            {},
            ("x.y.in-1", "b"),
            {"slots": 64, "buf_size": 4096},
        ),
        ("pipe:d{1@conf:slots=64", {"slots": 8}, ("d.1", "a"), {"slots": 8, "buf_size": None}),
    ],
)
def test_open_port_dispatches_pipe(
    monkeypatch: pytest.MonkeyPatch,
    spec: str,
    overrides: dict[str, Any],
    args: tuple[str, ...],
    kwargs: dict[str, Any],
) -> None:
    from aionetmap.ports import pipe

    opener = Recorder()
    monkeypatch.setattr(pipe.PipePort, "open", opener)
    assert open_port(spec, **overrides) is opener.port
    assert opener.calls == [(args, kwargs)]


def test_open_port_opens_both_ends_of_a_real_software_pipe() -> None:
    name = f"anmtest{os.getpid()}"
    a = open_port(f"pipe:{name}{{0@conf:slots=16")
    try:
        b = open_port(f"pipe:{name}}}0")
        try:
            assert (a.info.backend, b.info.backend) == ("pipe", "pipe")
            assert a.info.tx_slots == 16
            assert a.send(frames(2)) == 2
            a.flush()
            batch = FrameBatch(4)
            assert b.recv(batch) == 2
            assert batch.frames() == frames(2)
        finally:
            b.close()
    finally:
        a.close()


def test_open_port_dispatches_packet(monkeypatch: pytest.MonkeyPatch) -> None:
    from aionetmap.ports import packet

    opener = Recorder()
    monkeypatch.setattr(packet.PacketPort, "open", opener)
    assert open_port("packet:veth0@conf:rx-frames=256,sndbuf=65536", netns="ns1") is opener.port
    assert opener.calls == [(("veth0",), {"rx_frames": 256, "sndbuf": 65536, "netns": "ns1"})]


def test_open_port_rejects_bad_specs_before_any_backend() -> None:
    with pytest.raises(ValueError, match="invalid portspec"):
        open_port("eth0")


# ---- the real kernel module (skipped where it is not loaded) ---------------------------------

needs_netmap = pytest.mark.skipif(
    not os.path.exists("/dev/netmap"),
    reason="needs /dev/netmap (netmap kernel module not loaded on this machine)",
)


@pytest.mark.netmap
@needs_netmap
def test_real_vale_ports_exchange_frames() -> None:
    tag = f"anm{os.getpid() % 100000}"
    with NetmapPort.open(f"vale{tag}:a") as a, NetmapPort.open(f"vale{tag}:b") as b:
        assert a.info.mem_id
        assert a.info.rx_rings >= 1
        frame = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00" + bytes(46)
        assert a.send([frame]) == 1
        a.flush()
        batch = FrameBatch(8)
        for _ in range(100):
            if b.recv(batch):
                break
        assert batch.frames() == [frame]


@pytest.mark.netmap
@needs_netmap
def test_real_missing_interface_is_enxio() -> None:
    with pytest.raises(OSError, match="interface not found") as info:
        NetmapPort.open("netmap:nosuchif0")
    assert info.value.errno == errno.ENXIO
