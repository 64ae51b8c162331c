"""NetmapPort against a fake kernel (the whole open/register/mmap/sync/close path, through the
real RingSet), the real syscall layer on a non-netmap fd, open_port dispatch, and, where
/dev/netmap exists, the real kernel."""

from __future__ import annotations

import errno
import mmap
import os
from typing import Any

import pytest

from aionetmap._native._netmap import ffi, lib
from aionetmap._native.batch import FrameBatch
from aionetmap.ports import Port, PortClosedError, open_port
from aionetmap.ports import netmap as netmap_module
from aionetmap.ports.netmap import KernelSyscalls, NetmapPort

NIFP = 1024  # the netmap_if sits inside the if pool, not at offset 0
RING_POOL = 4096


class FakeKernel:
    """Stands in for /dev/netmap: answers NIOCCTRL like the kernel and lays out a region
    (one netmap_if, NIC + host rings, a buffer pool) the way netmap_mem2.c does. TXSYNC
    loops the sent frames back; the next RXSYNC delivers them to the first bound RX ring.
    ``fail`` maps an operation (open, register, port_info, mmap, txsync, rxsync) to an errno.
    """

    def __init__(self, nic_rings: int = 2, slots: int = 8, buf_size: int = 2048) -> None:
        self.nic_rings, self.slots, self.buf_size = nic_rings, slots, buf_size
        self.fail: dict[str, int] = {}
        self.fds: set[int] = set()
        self.requests: list[dict[str, Any]] = []
        self.mem_ids = {"eth1": 5}  # PORT_INFO_GET answers
        self.memsize_override: int | None = None
        self.region: mmap.mmap | None = None
        self.rings: dict[str, list[int]] = {"tx": [], "rx": []}  # ring offsets bound
        self.hwcur: dict[int, int] = {}
        self.pending: list[bytes] = []
        self.syncs = {"tx": 0, "rx": 0}

    def _maybe_fail(self, op: str) -> None:
        if op in self.fail:
            raise OSError(self.fail[op], os.strerror(self.fail[op]))

    # ---- the NetmapSyscalls interface ----

    def open(self, path: str) -> int:
        assert path == "/dev/netmap"
        self._maybe_fail("open")
        fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        self.fds.add(fd)
        return fd

    def ioctl(self, fd: int, request: int, hdr: Any = None, body: Any = None) -> None:
        assert fd in self.fds
        if request == lib.NIOCCTRL:
            self._ctrl(hdr, body)
        elif request in (lib.NIOCTXSYNC, lib.NIOCRXSYNC):
            tx = request == lib.NIOCTXSYNC
            self._maybe_fail("txsync" if tx else "rxsync")
            self.syncs["tx" if tx else "rx"] += 1
            self._sync(tx)
        else:
            raise OSError(errno.EOPNOTSUPP, "unknown ioctl")

    def mmap(self, fd: int, size: int) -> mmap.mmap:
        assert fd in self.fds
        self._maybe_fail("mmap")
        self.region = mmap.mmap(-1, size)
        self.region[: len(self.image)] = self.image
        return self.region

    def close(self, fd: int) -> None:
        self.fds.remove(fd)
        os.close(fd)

    # ---- NIOCCTRL ----

    def _ctrl(self, hdr: Any, body: Any) -> None:
        assert body is not None
        req = {
            "version": hdr.nr_version,
            "reqtype": hdr.nr_reqtype,
            "reserved": hdr.nr_reserved,
            "options": hdr.nr_options,
            "name": bytes(ffi.buffer(hdr.nr_name)).split(b"\0")[0].decode(),
        }
        if req["reqtype"] == lib.NETMAP_REQ_PORT_INFO_GET:
            self._maybe_fail("port_info")
            body.nr_mem_id = self.mem_ids[req["name"]]
            return
        self._maybe_fail("register")
        for field in (
            "mode",
            "ringid",
            "flags",
            "mem_id",
            "tx_slots",
            "rx_slots",
            "tx_rings",
            "rx_rings",
            "host_tx_rings",
            "host_rx_rings",
        ):
            req[field] = getattr(body, f"nr_{field}")
        self.requests.append(req)
        size = self._layout(req)
        body.nr_offset, body.nr_memsize = NIFP, self.memsize_override or size
        body.nr_tx_slots = body.nr_rx_slots = self.slots
        body.nr_tx_rings = body.nr_rx_rings = self.nic_rings
        body.nr_host_tx_rings = body.nr_host_rx_rings = 1
        body.nr_mem_id = req["mem_id"] or 3

    def _bound(self, req: dict[str, Any]) -> list[int]:
        """Ring indices per direction (NIC rings, then the host ring) that the mode binds."""
        nic, host = list(range(self.nic_rings)), [self.nic_rings]
        return {
            lib.NR_REG_ALL_NIC: nic,
            lib.NR_REG_SW: host,
            lib.NR_REG_NIC_SW: nic + host,
            lib.NR_REG_ONE_NIC: [req["ringid"]],
            lib.NR_REG_ONE_SW: host,
        }[req["mode"]]

    def _layout(self, req: dict[str, Any]) -> int:
        per_dir = self.nic_rings + 1
        ring_size = (256 + 16 * self.slots + 127) // 128 * 128
        buf_pool = RING_POOL + (2 * per_dir * ring_size + 4095) // 4096 * 4096
        size = buf_pool + (2 + 2 * per_dir * self.slots) * self.buf_size
        self.image = bytearray(size)
        base: Any = ffi.from_buffer(self.image)
        nifp: Any = ffi.cast("struct netmap_if *", base + NIFP)
        nifp.ni_name = b"fake0"
        nifp.ni_tx_rings = nifp.ni_rx_rings = self.nic_rings
        nifp.ni_host_tx_rings = nifp.ni_host_rx_rings = 1
        bound = self._bound(req)
        self.rings = {"tx": [], "rx": []}
        for n in range(2 * per_dir):
            tx, idx = n < per_dir, n % per_dir
            if (
                (tx and req["flags"] & lib.NR_RX_RINGS_ONLY)
                or (not tx and req["flags"] & lib.NR_TX_RINGS_ONLY)
                or idx not in bound
            ):
                continue  # ring_ofs stays 0: not bound to this fd
            off = RING_POOL + n * ring_size
            ring: Any = ffi.cast("struct netmap_ring *", base + off)
            ring.buf_ofs, ring.num_slots, ring.nr_buf_size = (
                buf_pool - off,
                self.slots,
                self.buf_size,
            )
            ring.ringid, ring.dir = idx, 0 if tx else 1
            ring.tail = self.slots - 1 if tx else 0  # TX: all free but one; RX: empty
            for i in range(self.slots):
                ring.slot[i].buf_idx = 2 + n * self.slots + i
            nifp.ring_ofs[n] = off - NIFP
            self.rings["tx" if tx else "rx"].append(off)
            self.hwcur[off] = 0
        return size

    # ---- syncs ----

    def _sync(self, tx: bool) -> None:
        assert self.region is not None
        with ffi.from_buffer(self.region) as base:
            for off in self.rings["tx" if tx else "rx"]:
                ring: Any = ffi.cast("struct netmap_ring *", base + off)
                pool = base + off + ring.buf_ofs
                n, head = ring.num_slots, ring.head
                assert 0 <= head < n
                assert 0 <= ring.cur < n
                if tx:  # take [hwcur, head) and reclaim it at once
                    i = self.hwcur[off]
                    while i != head:
                        s = ring.slot[i]
                        self.pending.append(ffi.buffer(pool + s.buf_idx * self.buf_size, s.len)[:])
                        i = (i + 1) % n
                    ring.tail = (head - 1) % n
                else:  # give back [hwcur, head), then fill from tail
                    tail = ring.tail
                    while self.pending and (tail + 1) % n != head:
                        frame, s = self.pending.pop(0), ring.slot[tail]
                        ffi.memmove(pool + s.buf_idx * self.buf_size, frame, len(frame))
                        s.len, s.flags = len(frame), 0
                        tail = (tail + 1) % n
                    ring.tail = tail
                self.hwcur[off] = head


@pytest.fixture
def kernel() -> FakeKernel:
    return FakeKernel()


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
