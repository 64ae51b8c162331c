"""Fakes for the port tests: FakeKernel, the open/register/mmap/sync/close calls of
:class:`~aionetmap.ports.netmap.KernelSyscalls` answered from memory, rings included; and
NoRings, a port with its ring access hidden."""

from __future__ import annotations

import errno
import mmap
import os
from typing import Any

from aionetmap._native._netmap import ffi, lib
from aionetmap.ports import Port

NIFP = 1024  # the first netmap_if sits inside the if pool, not at offset 0
IF_SIZE = 1024
RING_POOL = 4096
MAX_PORTS = 3  # netmap_ifs the fake's if pool holds per allocator


class FakeAllocator:
    """One memory region of the fake kernel, laid out the way netmap_mem2.c does (if pool,
    ring pool, buffer pool) with room for MAX_PORTS ports. It lives in a memfd, so every
    mapping of it (the ports' and the fake's own) sees the same memory, at its own address.
    """

    def __init__(self, mem_id: int, nic_rings: int, slots: int, buf_size: int) -> None:
        self.mem_id, self.slots, self.buf_size = mem_id, slots, buf_size
        self.per_dir = nic_rings + 1
        self.ring_size = (256 + 16 * slots + 127) // 128 * 128
        rings = MAX_PORTS * 2 * self.per_dir
        self.buf_pool = RING_POOL + (rings * self.ring_size + 4095) // 4096 * 4096
        self.nbufs = 2 + rings * slots
        self.size = self.buf_pool + self.nbufs * buf_size
        self.fd = os.memfd_create(f"fake-netmap-{mem_id}", os.MFD_CLOEXEC)
        os.ftruncate(self.fd, self.size)
        self.mem = mmap.mmap(self.fd, self.size)  # the kernel's own view
        self.free_bufs = list(range(2, self.nbufs))
        self.ports: dict[int, int] = {}  # if-pool slot -> fd registered there

    def close(self) -> None:
        self.mem.close()
        os.close(self.fd)


class FakeBinding:
    """What the fake kernel keeps for one registered fd."""

    def __init__(self, alloc: FakeAllocator, k: int, nifp: int) -> None:
        self.alloc, self.k, self.nifp = alloc, k, nifp
        self.rings: dict[str, list[int]] = {"tx": [], "rx": []}  # bound ring offsets
        self.hwcur: dict[int, int] = {}
        self.known: dict[int, list[int]] = {}  # buffer the kernel believes each slot holds
        self.marks: dict[int, list[int]] = {}  # TX: head after each TXSYNC, oldest first
        self.inbox: list[bytes] = []  # frames its next RXSYNC delivers


class FakeKernel:
    """Stands in for /dev/netmap: answers NIOCCTRL like the kernel, with one region per
    memory id shared by every port registered on it (default id 3), and remembers which fd
    each mapping goes through, so ``bound()`` tells which ports the kernel still holds
    (netmap releases a port once its fd is closed and no mapping goes through it).
    TXSYNC loops the sent frames back to the same port; its next RXSYNC delivers them (as
    does ``deliver``). Buffers a port swapped without NS_BUF_CHANGED are counted in
    ``unflagged``. ``fail`` maps an operation (open, register, port_info, mmap, remap,
    txsync, rxsync) to an errno. ``tx_lag`` is how many further TXSYNCs pass before the
    slots one TXSYNC took are reclaimed (``tail`` catches up), as a NIC still sending
    them would have it; 0 reclaims at once.
    """

    def __init__(self, nic_rings: int = 2, slots: int = 8, buf_size: int = 2048) -> None:
        self.nic_rings, self.slots, self.buf_size = nic_rings, slots, buf_size
        self.fail: dict[str, int] = {}
        self.tx_lag = 0
        self.fds: set[int] = set()
        self.requests: list[dict[str, Any]] = []
        self.mem_ids = {"eth1": 5}  # PORT_INFO_GET answers
        self.memsize_override: int | None = None
        self.allocators: dict[int, FakeAllocator] = {}
        self.bindings: dict[int, FakeBinding] = {}
        self.maps: list[list[Any]] = []  # [mapping, fd it goes through]
        self.region: mmap.mmap | None = None  # the last mapping handed out
        self.syncs = {"tx": 0, "rx": 0}
        self.mmaps = self.remaps = self.unflagged = 0

    def _maybe_fail(self, op: str) -> None:
        if op in self.fail:
            raise OSError(self.fail[op], os.strerror(self.fail[op]))

    def shutdown(self) -> None:
        """Free the fake's memory (the test's ports must be closed already)."""
        for alloc in self.allocators.values():
            alloc.close()

    # ---- what the kernel holds ----

    def bound(self) -> set[int]:
        """fds whose registration the kernel still holds."""
        mapped = {via for region, via in self.maps if not region.closed}
        return {fd for fd in self.bindings if fd in self.fds or fd in mapped}

    def _reap(self) -> None:
        """Release the registrations nothing holds any more, as netmap_dtor would."""
        live = self.bound()
        for fd in [fd for fd in self.bindings if fd not in live]:
            b = self.bindings.pop(fd)
            with ffi.from_buffer(b.alloc.mem) as base:
                for off in b.rings["tx"] + b.rings["rx"]:
                    ring: Any = ffi.cast("struct netmap_ring *", base + off)
                    b.alloc.free_bufs += [ring.slot[i].buf_idx for i in range(ring.num_slots)]
            del b.alloc.ports[b.k]

    def buffers(self, mem_id: int = 3) -> list[int]:
        """Every buffer index in a slot of a live port of memory ``mem_id``."""
        out: list[int] = []
        for b in self.bindings.values():
            if b.alloc.mem_id != mem_id:
                continue
            with ffi.from_buffer(b.alloc.mem) as base:
                for off in b.rings["tx"] + b.rings["rx"]:
                    ring: Any = ffi.cast("struct netmap_ring *", base + off)
                    out += [ring.slot[i].buf_idx for i in range(ring.num_slots)]
        return out

    def deliver(self, fd: int, frames: list[bytes]) -> None:
        """Frames that arrive on the port of ``fd`` (shown at its next RXSYNC)."""
        self.bindings[fd].inbox += frames

    # ---- the NetmapSyscalls interface ----

    def open(self, path: str) -> int:
        assert path == "/dev/netmap"
        self._maybe_fail("open")
        self._reap()
        fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        # A closed fd whose registration lives on (a mapping still goes through it) must
        # never have its number handed out again in these tests.
        assert fd not in self.bindings, f"fd {fd} reused while the kernel still holds it"
        self.fds.add(fd)
        return fd

    def ioctl(self, fd: int, request: int, hdr: Any = None, body: Any = None) -> None:
        assert fd in self.fds
        if request == lib.NIOCCTRL:
            self._ctrl(fd, hdr, body)
        elif request in (lib.NIOCTXSYNC, lib.NIOCRXSYNC):
            tx = request == lib.NIOCTXSYNC
            self._maybe_fail("txsync" if tx else "rxsync")
            self.syncs["tx" if tx else "rx"] += 1
            self._sync(self.bindings[fd], tx)
        else:
            raise OSError(errno.EOPNOTSUPP, "unknown ioctl")

    def remap(self, fd: int, region: mmap.mmap) -> None:
        assert fd in self.fds
        self._maybe_fail("remap")
        entry = next(e for e in self.maps if e[0] is region and not region.closed)
        assert self.bindings[fd].alloc is self.bindings[entry[1]].alloc
        entry[1] = fd
        self.remaps += 1

    def mmap(self, fd: int, size: int) -> mmap.mmap:
        assert fd in self.fds
        self._maybe_fail("mmap")
        alloc = self.bindings[fd].alloc
        if size > alloc.size:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        self.region = mmap.mmap(alloc.fd, size)
        self.maps.append([self.region, fd])
        self.mmaps += 1
        return self.region

    def close(self, fd: int) -> None:
        self.fds.remove(fd)
        os.close(fd)

    # ---- NIOCCTRL ----

    def _ctrl(self, fd: int, hdr: Any, body: Any) -> None:
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
        mem_id = req["mem_id"] or 3
        if mem_id not in self.allocators:
            self.allocators[mem_id] = FakeAllocator(
                mem_id, self.nic_rings, self.slots, self.buf_size
            )
        alloc = self.allocators[mem_id]
        binding = self._layout(fd, alloc, req)
        body.nr_offset, body.nr_memsize = binding.nifp, self.memsize_override or alloc.size
        body.nr_tx_slots = body.nr_rx_slots = alloc.slots
        body.nr_tx_rings = body.nr_rx_rings = self.nic_rings
        body.nr_host_tx_rings = body.nr_host_rx_rings = 1
        body.nr_mem_id = mem_id

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

    def _layout(self, fd: int, alloc: FakeAllocator, req: dict[str, Any]) -> FakeBinding:
        """Write the port's netmap_if and rings into a free part of the allocator."""
        self._reap()
        k = next((k for k in range(MAX_PORTS) if k not in alloc.ports), None)
        if k is None:
            raise OSError(errno.ENOMEM, os.strerror(errno.ENOMEM))
        alloc.ports[k] = fd
        binding = self.bindings[fd] = FakeBinding(alloc, k, NIFP + k * IF_SIZE)
        per_dir, bound = alloc.per_dir, self._bound(req)
        with ffi.from_buffer(alloc.mem) as base:
            ffi.memmove(base + binding.nifp, bytes(IF_SIZE), IF_SIZE)
            nifp: Any = ffi.cast("struct netmap_if *", base + binding.nifp)
            nifp.ni_name = b"fake0"
            nifp.ni_tx_rings = nifp.ni_rx_rings = self.nic_rings
            nifp.ni_host_tx_rings = nifp.ni_host_rx_rings = 1
            for n in range(2 * per_dir):
                tx, idx = n < per_dir, n % per_dir
                if (
                    (tx and req["flags"] & lib.NR_RX_RINGS_ONLY)
                    or (not tx and req["flags"] & lib.NR_TX_RINGS_ONLY)
                    or idx not in bound
                ):
                    continue  # ring_ofs stays 0: not bound to this fd
                off = RING_POOL + (k * 2 * per_dir + n) * alloc.ring_size
                ring: Any = ffi.cast("struct netmap_ring *", base + off)
                ring.buf_ofs, ring.num_slots = alloc.buf_pool - off, alloc.slots
                ring.nr_buf_size, ring.ringid, ring.dir = alloc.buf_size, idx, 0 if tx else 1
                ring.head = ring.cur = 0
                ring.tail = alloc.slots - 1 if tx else 0  # TX: all free but one; RX: empty
                bufs = [alloc.free_bufs.pop() for _ in range(alloc.slots)]
                for i, buf in enumerate(bufs):
                    ring.slot[i].buf_idx, ring.slot[i].len, ring.slot[i].flags = buf, 0, 0
                nifp.ring_ofs[n] = off - binding.nifp
                binding.rings["tx" if tx else "rx"].append(off)
                binding.hwcur[off] = 0
                binding.known[off] = bufs
                binding.marks[off] = [0]
        return binding

    # ---- syncs ----

    def _take_back(self, binding: FakeBinding, off: int, slot: Any, i: int) -> None:
        """A slot comes back from the user: a new buffer must carry NS_BUF_CHANGED."""
        if slot.buf_idx != binding.known[off][i]:
            if not slot.flags & lib.NS_BUF_CHANGED:
                self.unflagged += 1
            binding.known[off][i] = slot.buf_idx
        slot.flags &= ~lib.NS_BUF_CHANGED

    def _sync(self, b: FakeBinding, tx: bool) -> None:
        alloc = b.alloc
        with ffi.from_buffer(alloc.mem) as base:
            pool = base + alloc.buf_pool
            for off in b.rings["tx" if tx else "rx"]:
                ring: Any = ffi.cast("struct netmap_ring *", base + off)
                n, head = ring.num_slots, ring.head
                assert 0 <= head < n
                assert 0 <= ring.cur < n
                i = b.hwcur[off]
                if tx:  # take [hwcur, head); reclaim what was taken tx_lag syncs ago
                    while i != head:
                        s = ring.slot[i]
                        self._take_back(b, off, s, i)
                        b.inbox.append(ffi.buffer(pool + s.buf_idx * alloc.buf_size, s.len)[:])
                        i = (i + 1) % n
                    marks = b.marks[off]
                    marks.append(head)
                    del marks[: max(0, len(marks) - 1 - self.tx_lag)]
                    ring.tail = (marks[0] - 1) % n
                else:  # give back [hwcur, head), then fill from tail
                    while i != head:
                        self._take_back(b, off, ring.slot[i], i)
                        i = (i + 1) % n
                    tail = ring.tail
                    while b.inbox and (tail + 1) % n != head:
                        frame, s = b.inbox.pop(0), ring.slot[tail]
                        ffi.memmove(pool + s.buf_idx * alloc.buf_size, frame, len(frame))
                        s.len, s.flags = len(frame), 0
                        tail = (tail + 1) % n
                    ring.tail = tail
                b.hwcur[off] = head


class NoRings:
    """A port without netmap rings (as AF_PACKET): ``port`` with its ring access hidden."""

    def __init__(self, port: Port) -> None:
        self._port = port

    def __getattr__(self, name: str) -> Any:
        if name in ("_ring_set", "forward_to"):
            raise AttributeError(name)
        return getattr(self._port, name)
