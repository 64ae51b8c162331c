"""Helpers for the integration tests: the Linux kernel as a real peer over a veth pair.

* :class:`KernelUdp`: a kernel UDP socket in the peer namespace, driven by the running loop
  (``add_reader``), that records what it receives and can echo it back.
* :class:`FrameInjector`: a raw AF_PACKET socket on the kernel's end, for frames no kernel
  stack would send (the malformed-frame tables).
* :func:`serve`: an aionetmap UDP endpoint on our end of the link, torn down afterwards.
* :func:`open_dual_stack`: an interface with both addresses of an ``ipv6=True`` link.
* :func:`recv_polled`: the next datagram on a plain non-blocking kernel socket;
  :func:`expect_echo`: one datagram from such a socket, echoed back byte-exact.
* :func:`peer_run`, :func:`arping_command`, :func:`kernel_snmp`: the kernel's own tools.

Every wait is bounded with ``asyncio.timeout``; the timeouts are generous because a loaded
2-core CI machine can stall a test for a second or two.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final

import aionetmap
from aionetmap.interface import NetInterface
from aionetmap.ports.closing import ClosingContext
from aionetmap.ports.packet import PacketPort
from aionetmap.testing.netns import VethLink
from aionetmap.testing.protocols import EchoProtocol

__all__ = [
    "FrameInjector",
    "KernelUdp",
    "Served",
    "arping_command",
    "delta",
    "expect_echo",
    "kernel_snmp",
    "open_dual_stack",
    "peer_run",
    "recv_polled",
    "serve",
    "wait_until",
]

Address = tuple[str, int]

# Linux values the socket module of Python 3.11 does not export.
SO_RCVBUFFORCE: Final = 33  # like SO_RCVBUF, but root may exceed net.core.rmem_max
IP_MTU_DISCOVER: Final = 10
IP_PMTUDISC_DONT: Final = 0
KERNEL_RCVBUF: Final = 16 << 20
"""Receive buffer of the kernel sockets: a burst of echoes must never overflow it (the
kernel would drop silently and the test would blame aionetmap)."""
DRAIN_LIMIT: Final = 512
"""Datagrams one readiness callback reads, so the loop keeps serving our port too."""


class KernelUdp(ClosingContext):
    """A kernel UDP socket living in the peer namespace, read by the running loop.

    Everything received is appended to :attr:`received` (``(data, (ip, port))``); errors
    the kernel reports on the socket (``ConnectionRefusedError`` on a connected socket
    after an ICMP port unreachable) go to :attr:`errors`. With ``echo=True`` every datagram
    is sent straight back, as a kernel-side echo server. Use as a context manager (the
    reader is removed and the socket closed on exit).

    ``watch=False`` registers no reader; :meth:`wait_for` then polls the socket. Use it for
    a socket expected to get an ICMP error: libuv (under uvloop) takes the ``POLLERR`` that
    the error raises for a fatal error of the poll handle and stops watching the fd.
    """

    def __init__(
        self,
        link: VethLink,
        *,
        port: int = 0,
        connect: Address | None = None,
        echo: bool = False,
        watch: bool = True,
        rcvbuf: int = KERNEL_RCVBUF,
        bind_ip: str | None = None,
        broadcast: bool = False,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self.sock = link.peer_socket(track=False)
        try:
            self.sock.setblocking(False)
            self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)
            # Fragment locally rather than fail with EMSGSIZE (large-datagram tests).
            self.sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT)
            if broadcast:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            self.sock.bind((bind_ip or link.peer_ip, port))
            if connect is not None:
                self.sock.connect(connect)
            if watch:
                self._loop.add_reader(self.sock.fileno(), self._readable)
        except BaseException:
            self.sock.close()
            raise
        self.address: Address = self.sock.getsockname()
        self.echo = echo
        self.received: list[tuple[bytes, Address]] = []
        self.errors: list[OSError] = []
        self._progress = asyncio.Event()
        self._watched = watch
        self._closed = False

    def close(self) -> None:
        """Stop reading and close the socket. Idempotent."""
        if not self._closed:
            self._closed = True
            if self._watched:
                self._loop.remove_reader(self.sock.fileno())
            self.sock.close()

    def _readable(self) -> None:
        for _ in range(DRAIN_LIMIT):
            try:
                data, addr = self.sock.recvfrom(65535)
            except BlockingIOError:
                break
            except OSError as exc:  # a pending ICMP error on a connected socket
                self.errors.append(exc)
                break
            self.received.append((data, addr))
            if self.echo:
                self.sock.sendto(data, addr)
        self._progress.set()

    def sendto(self, data: bytes, addr: Address) -> None:
        """Send one datagram (never blocks: a veth peer takes frames at once)."""
        self.sock.sendto(data, addr)

    def send(self, data: bytes) -> None:
        """Send on a connected socket."""
        self.sock.send(data)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until ``predicate()`` holds, re-checking after every readiness callback."""
        async with asyncio.timeout(timeout):
            while not predicate():
                self._progress.clear()
                if self._watched:
                    await self._progress.wait()
                else:
                    await asyncio.sleep(0.005)
                    self._readable()

    async def wait_received(self, count: int, timeout: float = 10.0) -> None:
        """Wait until ``count`` datagrams in all have arrived."""
        await self.wait_for(lambda: len(self.received) >= count, timeout)

    async def wait_errors(self, count: int, timeout: float = 10.0) -> None:
        """Wait until the socket has reported ``count`` errors in all."""
        await self.wait_for(lambda: len(self.errors) >= count, timeout)

    async def expect(self, data: bytes, src: Address, timeout: float = 10.0) -> None:
        """Wait until ``data`` has arrived from ``src`` (byte for byte)."""
        item = (data, src)
        seen = 0

        def arrived() -> bool:
            nonlocal seen
            new, seen = self.received[seen:], len(self.received)
            return item in new

        try:
            await self.wait_for(arrived, timeout)
        except TimeoutError:
            raise AssertionError(
                f"no datagram {data[:40]!r}... from {src} within {timeout} s; the kernel "
                f"socket {self.address} got {len(self.received)} datagrams, errors {self.errors}"
            ) from None


class FrameInjector(ClosingContext):
    """A raw packet socket on the kernel's end of the link: sends frames as they are."""

    def __init__(self, link: VethLink) -> None:
        # Protocol 0: this socket receives nothing, it only sends.
        self.sock = link.peer_socket(socket.AF_PACKET, socket.SOCK_RAW, 0, track=False)
        try:
            self.sock.bind((link.peer_ifname, 0))
        except BaseException:
            self.sock.close()
            raise

    def close(self) -> None:
        self.sock.close()

    def send(self, *frames: bytes) -> None:
        for frame in frames:
            sent = self.sock.send(frame)
            assert sent == len(frame), f"injector sent {sent} of {len(frame)} bytes"


@dataclass
class Served:
    """What :func:`serve` started: the endpoint, its protocol, the shared interface and
    the AF_PACKET port under it."""

    transport: aionetmap.UdpTransport
    protocol: Any
    iface: NetInterface
    port: PacketPort

    @property
    def address(self) -> Address:
        sockname: Address = self.transport.get_extra_info("sockname")
        return sockname

    def stats(self) -> dict[str, int]:
        return self.iface.stats()


@asynccontextmanager
async def serve(
    link: VethLink,
    protocol_factory: Callable[[], Any] = EchoProtocol,
    *,
    udp_port: int = 7,
    port_options: Mapping[str, Any] | None = None,
    fast_path: bool | None = None,
    address: str | None = None,
    wildcard: bool = False,
    **endpoint_options: Any,
) -> AsyncIterator[Served]:
    """Serve ``protocol_factory`` on UDP ``udp_port`` of our end of ``link`` (our IP, or
    ``address`` with its prefix), bound to that address or, with ``wildcard``, to 0.0.0.0.

    ``port_options`` go to :meth:`PacketPort.open`, ``endpoint_options`` (``config``,
    ``mtu``...) to :func:`aionetmap.create_datagram_endpoint`. ``fast_path`` chooses the
    receive path explicitly, through :func:`aionetmap.open_interface` (``None``: the
    default, through the one-call entry point). On exit the endpoint and its interface
    are closed, then the port.
    """
    port = link.open_port(**(port_options or {}))
    address = address or f"{link.our_ip}/{link.prefixlen}"
    try:
        if fast_path is None:
            local = ("0.0.0.0", udp_port) if wildcard else (address, udp_port)
            transport, protocol = await aionetmap.create_datagram_endpoint(
                protocol_factory, port=port, local_addr=local, address=address,
                **endpoint_options,
            )  # fmt: skip
        else:
            opened = await aionetmap.open_interface(
                port, address=address, fast_path=fast_path, **endpoint_options
            )
            try:
                transport, protocol = await opened.create_datagram_endpoint(
                    protocol_factory, local_port=udp_port, local_ip="0.0.0.0" if wildcard else None
                )
            except BaseException:
                opened.close()
                raise
        iface = transport.get_extra_info("netinterface")
        assert isinstance(iface, NetInterface)
        try:
            yield Served(transport, protocol, iface, port)
        finally:
            transport.abort()
            iface.close()
            await asyncio.sleep(0)  # let connection_lost run while the loop is alive
    finally:
        port.close()


async def open_dual_stack(port: PacketPort, link: VethLink, *, fast_path: bool) -> NetInterface:
    """An interface on ``port`` (our end of an ``ipv6=True`` link) with our IPv4 and IPv6
    addresses and our MAC. The caller closes it."""
    return await aionetmap.open_interface(
        port,
        address=f"{link.our_ip}/{link.prefixlen}",
        ipv6=[f"{link.our_ip6}/{link.prefixlen6}"],
        mac=link.our_mac,
        fast_path=fast_path,
    )


async def recv_polled(sock: socket.socket, timeout: float = 10.0) -> tuple[bytes, Any]:
    """The next datagram on a non-blocking kernel socket (polled: its errors come as
    exceptions from recvfrom, which a reader callback would not always see)."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                return sock.recvfrom(70000)
            except BlockingIOError:
                await asyncio.sleep(0.005)


async def expect_echo(sock: socket.socket, data: bytes, dst: tuple[str, int]) -> None:
    """Send ``data`` from a non-blocking kernel socket to the echo server at ``dst``; fail
    unless it comes back byte-exact, from ``dst``."""
    sock.sendto(data, dst)
    echoed, src = await recv_polled(sock)
    assert echoed == data, f"sent {len(data)} bytes, {len(echoed)} came back, not the same"
    assert src[:2] == dst, f"the echo came from {src}, not {dst}"


def delta(after: Mapping[str, int], before: Mapping[str, int]) -> dict[str, int]:
    """The counters that changed, by how much."""
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


async def wait_until(
    predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition"
) -> None:
    """Poll ``predicate`` (for counters that have no event of their own), bounded."""
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"{what}: not reached within {timeout} s") from None


async def peer_run(
    link: VethLink, *cmd: str, timeout: float = 30.0
) -> subprocess.CompletedProcess[str]:
    """Run a tool in the kernel's namespace without blocking the loop (it must keep
    answering the tool meanwhile). The exit status is not checked."""
    return await asyncio.to_thread(link.peer_exec, *cmd, check=False, timeout=timeout)


def arping_command(ifname: str, target: str, count: int, *, answered: bool = True) -> list[str]:
    """An ``arping`` command line sending ``count`` requests, for whichever arping is
    installed: Debian's ``arping`` package is Thomas Habets' (interface ``-i``),
    ``iputils-arping`` uses ``-I``. ``answered=False`` when no reply is expected: iputils
    with a deadline keeps asking until it has ``count`` replies."""
    if shutil.which("arping") is None:
        raise RuntimeError("arping not found: install it (scripts/system-deps.sh)")
    probe = subprocess.run(["arping", "--help"], capture_output=True, text=True, timeout=10)
    if "Habets" in probe.stdout + probe.stderr:
        return ["arping", "-c", str(count), "-W", "0.2", "-w", "10", "-i", ifname, target]
    deadline = ["-w", "10"] if answered else []
    return ["arping", "-c", str(count), *deadline, "-I", ifname, target]


async def kernel_snmp(link: VethLink) -> dict[str, int]:
    """The peer namespace's IP/ICMP/UDP MIB counters (``/proc/net/snmp``), as
    ``"Udp.InCsumErrors"`` and so on."""
    proc = await peer_run(link, "cat", "/proc/net/snmp")
    counters: dict[str, int] = {}
    lines = proc.stdout.splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        proto, _, fields = names.partition(":")
        for name, value in zip(fields.split(), values.partition(":")[2].split(), strict=True):
            counters[f"{proto}.{name}"] = int(value)
    return counters
