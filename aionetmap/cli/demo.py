"""``python -m aionetmap demo`` (``make demo``): the UDP echo server answering real clients.

No NIC and no flags needed. As root, the server runs on one end of a veth pair in a fresh
network namespace, through the AF_PACKET backend, and the client is the Linux kernel in a
second namespace: ``ping`` and a kernel UDP socket; when the kernel has IPv6, the server is
dual-stack and ``ping -6`` and a kernel UDP6 socket are answered too (else the demo says
why it skipped IPv6). Otherwise it runs on the software pipe
(netmap's ring layout in shared memory) with aionetmap as the client as well. The server is
the same code either way: a plain :class:`asyncio.DatagramProtocol` given to
:func:`aionetmap.create_datagram_endpoint`. Everything is torn down at the end (namespaces
included), also on Ctrl-C, and every step is bounded in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Literal, TextIO

from aionetmap._aio.constants import RX_BATCH
from aionetmap.cli.commands import EchoServer
from aionetmap.cli.errors import EXIT_FAILURE, CliError
from aionetmap.cli.roundtrip import RoundTripClient
from aionetmap.cli.runtime import (
    Stopper,
    close_and_wait,
    drop_counters,
    format_mac,
    format_rate,
)
from aionetmap.endpoints import create_datagram_endpoint
from aionetmap.interface import NetInterface
from aionetmap.ports.base import Port
from aionetmap.testing import VethLink, pipe_pair

__all__ = ["DEMO_TIMEOUT", "Link", "run_demo"]

Link = Literal["auto", "veth", "pipe"]

DEMO_TIMEOUT = 45.0
"""The whole demo, set-up and teardown included, ends within this many seconds."""
ECHO_PORT = 7
PIPE_IPV6 = ("fd00:a1::1", "fd00:a1::2")
"""The server's and the client's IPv6 address on the pipe (a unique local prefix)."""
ROUND_TRIPS = 5
PINGS = 3
CLIENT_RCVBUF = 4 * RX_BATCH * 1024
"""Receive buffer of the kernel client (bytes asked for; the kernel doubles it): room for
the server's whole TX batches of echoes."""
_SO_RCVBUFFORCE = 33  # Linux; past net.core.rmem_max (needs CAP_NET_ADMIN, which veth mode has)


class _Report:
    """Numbered steps and their outcome, printed as they happen."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.step = 0
        self.failures: list[str] = []

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def heading(self, text: str) -> None:
        self.step += 1
        self.say(f"\n{self.step}. {text}")

    def fail(self, text: str) -> None:
        self.failures.append(text)
        self.say(f"   FAILED: {text}")


async def _round_trips(
    report: _Report, client: RoundTripClient, server: tuple[str, int], who: str
) -> None:
    where = f"[{server[0]}]" if ":" in server[0] else server[0]
    report.heading(f"UDP round trips from {who} to {where}:{server[1]}")
    for i in range(1, ROUND_TRIPS + 1):
        text = f"hello #{i} from {who}".encode()
        try:
            rtt = await client.round_trip(text, server)
        except TimeoutError:
            report.fail(f"datagram #{i} to {where} was not echoed within 2 s")
            continue
        report.say(f"   #{i} {text.decode()!r} echoed in {rtt * 1e3:.3f} ms")


async def _udp_steps(
    report: _Report, client: RoundTripClient, server: tuple[str, int], who: str, burst: int
) -> None:
    await _round_trips(report, client, server, who)
    report.heading(f"a burst of {burst} datagrams (at most 256 in flight)")
    result = await client.burst(burst, server)
    report.say(
        f"   {result.echoed} of {result.sent} echoed in {result.elapsed:.3f} s "
        f"({format_rate(result.rate, ' round trips/s')})"
    )
    if result.echoed < burst:
        report.fail(f"only {result.echoed} of {burst} burst datagrams came back")


def _server_counters(report: _Report, iface: NetInterface, server: EchoServer) -> None:
    st = iface.stats()
    drops, ignored, _ = drop_counters(st)
    report.heading("server counters")
    report.say(
        f"   frames rx {st.get('rx_frames', 0)} tx {st.get('tx_frames', 0)}, lost {drops}, "
        f"ignored by the stack {ignored}"
    )
    adverts = st.get("tx_neighbor_adverts", 0)
    ndp = f"neighbour advertisements {adverts}, " if iface.host.ipv6 is not None else ""
    report.say(
        f"   ARP replies {st.get('tx_arp_replies', 0)}, {ndp}ping replies "
        f"{st.get('tx_echo_replies', 0)}, UDP datagrams echoed {server.echoed}"
    )


async def _start_server(
    port: Port, address: str, mac: bytes | None, ipv6: str | None = None
) -> tuple[EchoServer, NetInterface]:
    """The echo server: a plain DatagramProtocol on aionetmap's UDP endpoint; with an
    ``ipv6`` address too, bound to ``::`` (dual-stack: it serves both families)."""
    if ipv6 is None:
        transport, server = await create_datagram_endpoint(
            EchoServer, port=port, local_addr=(address, ECHO_PORT), mac=mac
        )
    else:
        transport, server = await create_datagram_endpoint(
            EchoServer, port=port, local_addr=("::", ECHO_PORT), address=address,
            ipv6=[ipv6], mac=mac,
        )  # fmt: skip
    iface: NetInterface = transport.get_extra_info("netinterface")
    return server, iface


async def _close_server(server: EchoServer) -> None:
    if server.transport is not None:
        await close_and_wait(server.transport, server.lost)


async def _run_pipe(report: _Report, burst: int, why: str) -> None:
    server_ip, client_ip = "10.0.0.1", "10.0.0.2"
    server_ip6, client_ip6 = PIPE_IPV6
    a, b = pipe_pair()
    try:
        # Both hosts run DAD for their IPv6 address at the same time.
        (server, iface), (transport, client) = await asyncio.gather(
            _start_server(a, f"{server_ip}/24", None, f"{server_ip6}/64"),
            create_datagram_endpoint(
                RoundTripClient, port=b, local_addr=(f"{client_ip}/24", 0),
                ipv6=[f"{client_ip6}/64"],
            ),
        )  # fmt: skip
        client_iface: NetInterface = transport.get_extra_info("netinterface")
        report.say("aionetmap demo: a UDP echo server in user space, on the software pipe")
        report.say(f"   ({why})")
        report.say(f"   server: {server_ip}/24 and {server_ip6}/64 (dual-stack) port {ECHO_PORT}")
        report.say(f"           on {a.info.name}: an asyncio DatagramProtocol served by")
        report.say("           aionetmap's ARP/IPv4/ICMP/UDP and NDP/IPv6/ICMPv6 stack")
        report.say(f"   client: aionetmap at {client_ip} and {client_ip6} on {b.info.name}, "
                   "the pipe's other end")  # fmt: skip
        await _pipe_pings(report, client_iface, server_ip, "ARP first, then ICMP echo")
        await _pipe_pings(report, client_iface, server_ip6, "NDP first, then ICMPv6 echo")
        await _udp_steps(report, client, (server_ip, ECHO_PORT), "aionetmap", burst)
        transport6, client6 = await client_iface.create_datagram_endpoint(
            RoundTripClient, local_ip="::"
        )
        await _round_trips(report, client6, (server_ip6, ECHO_PORT), "aionetmap over IPv6")
        _server_counters(report, iface, server)
        transport6.close()
        transport.close()
        await _close_server(server)
    finally:
        a.close()
        b.close()


async def _pipe_pings(report: _Report, client: NetInterface, target: str, how: str) -> None:
    """Pings from the aionetmap client to the server, one line per reply."""
    report.heading(f"ping {target} ({how}, both in user space)")
    for seq in range(1, PINGS + 1):
        start = time.perf_counter()  # ping()'s own figure has uvloop's 1 ms resolution
        try:
            await client.ping(target, timeout=2.0)
        except TimeoutError:
            report.fail(f"no reply to ping #{seq} to {target}")
            continue
        rtt = time.perf_counter() - start
        report.say(f"   reply from {target}: seq={seq} time={rtt * 1e3:.3f} ms")


async def _command(argv: list[str], timeout: float = 10.0) -> tuple[int, list[str]]:
    """Run a program without blocking the loop (the server runs in it); exit code, lines."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out.decode(errors="replace").splitlines()


async def _kernel_ping(report: _Report, link: VethLink, *, ipv6: bool = False) -> None:
    target, six = (link.our_ip6, " -6") if ipv6 else (link.our_ip, "")
    answers = "NDP and ICMPv6" if ipv6 else "ARP and ICMP"
    report.heading(f"ping{six} {target} from the Linux kernel (aionetmap answers {answers})")
    if shutil.which("ping") is None:
        report.say("   skipped: ping is not installed (iputils-ping)")
        return
    argv = ["ip", "netns", "exec", link.peer_netns, "ping", "-6" if ipv6 else "-4", "-n",
            "-c", str(PINGS), "-i", "0.2", "-W", "2", target]  # fmt: skip
    rc, lines = await _command(argv)
    for line in lines:
        if line.strip() and not line.startswith(("PING", "---", "rtt")):
            report.say(f"   {line}")
    if rc != 0:
        report.fail(f"ping{six} exited with status {rc}")
    argv = ["ip", "-6" if ipv6 else "-4", "-n", link.peer_netns, "neigh", "show", target]
    rc, lines = await _command(argv)
    if rc == 0 and lines:
        table = "neighbour table" if ipv6 else "ARP cache"
        report.say(f"   the kernel's {table} now holds: {lines[0].strip()}")


def ipv6_support() -> str | None:
    """None when this machine's kernel (and Python) can do IPv6, else why not."""
    if not socket.has_ipv6:
        return "this Python was built without IPv6"
    if not os.path.exists("/proc/net/if_inet6"):
        return "the kernel has no IPv6 (no /proc/net/if_inet6: booted with ipv6.disable=1?)"
    return None


async def _udp6_steps(report: _Report, link: VethLink) -> None:
    """Round trips from a kernel UDP6 socket to the dual-stack server's IPv6 address."""
    sock = link.peer_socket(socket.AF_INET6, socket.SOCK_DGRAM, track=False)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(RoundTripClient, sock=sock)
    try:
        await _round_trips(report, client, (link.our_ip6, ECHO_PORT), "the kernel over IPv6")
    finally:
        transport.close()


async def _run_veth(report: _Report, burst: int, link: VethLink, no_ipv6: str | None) -> None:
    try:
        port = link.open_port()
        try:
            ip6 = f"{link.our_ip6}/{link.prefixlen6}" if no_ipv6 is None else None
            server, iface = await _start_server(port, f"{link.our_ip}/24", link.our_mac, ip6)
            report.say("aionetmap demo: a UDP echo server in user space, on a veth pair, with")
            report.say("the Linux kernel as the client")
            report.say(f"   server: {link.our_ip}/24 port {ECHO_PORT} on {port.info.name} "
                       f"(AF_PACKET backend), MAC {format_mac(link.our_mac)},")  # fmt: skip
            if ip6 is not None:
                report.say(f"           and {ip6} (dual-stack, bound to ::),")
            report.say(f"           in namespace {link.our_netns}: an asyncio DatagramProtocol")
            stack = "ARP/IPv4/ICMP/UDP" + ("" if ip6 is None else " and NDP/IPv6/ICMPv6")
            report.say(f"           served by aionetmap's {stack} stack")
            peer6 = "" if ip6 is None else f" and {link.peer_ip6}"
            report.say(f"   client: the kernel at {link.peer_ip}{peer6} on {link.peer_ifname}, "
                       f"in namespace {link.peer_netns}")  # fmt: skip
            await _kernel_ping(report, link)
            if ip6 is not None:
                await _kernel_ping(report, link, ipv6=True)
            sock = link.peer_socket(socket.AF_INET, socket.SOCK_DGRAM, track=False)
            # The server answers a burst in TX batches of up to RX_BATCH echoes at once: the
            # kernel client's receive buffer must hold a whole batch (about 1 KiB of skb
            # truesize each), or the default rmem_default (208 KiB) drops the tail of it.
            sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, CLIENT_RCVBUF)
            sock.setblocking(False)
            loop = asyncio.get_running_loop()
            transport, client = await loop.create_datagram_endpoint(RoundTripClient, sock=sock)
            try:
                await _udp_steps(report, client, (link.our_ip, ECHO_PORT), "the kernel", burst)
            finally:
                transport.close()
            if ip6 is not None:
                await _udp6_steps(report, link)
            else:
                report.heading("IPv6")
                report.say(f"   skipped: {no_ipv6}")
            _server_counters(report, iface, server)
            await _close_server(server)
        finally:
            port.close()
    finally:
        link.close()  # deletes both namespaces, and the veth pair with them


def _make_veth(no_ipv6: str | None) -> tuple[VethLink, str | None]:
    """The veth pair, with IPv6 at the kernel's end when it can have it; and why not."""
    if no_ipv6 is None:
        try:
            return VethLink(ipv6=True).create(), None
        except (RuntimeError, OSError) as exc:
            no_ipv6 = f"the kernel refused an IPv6 address on the veth pair ({exc})"
    return VethLink().create(), no_ipv6


def _choose(link: Link) -> tuple[Link, str]:
    if link != "auto":
        return link, "chosen on the command line"
    if os.geteuid() != 0:
        return "pipe", "not root: run as root for a veth pair with the Linux kernel as client"
    if shutil.which("ip") is None:
        return "pipe", "iproute2 (ip) is not installed: no veth pair"
    return "veth", "running as root"


async def _bounded(main: Callable[[], Awaitable[None]], report: _Report) -> bool:
    """Run ``main`` within DEMO_TIMEOUT; Ctrl-C cancels it (its cleanup still runs)."""
    task = asyncio.ensure_future(main())
    with Stopper() as stopper:
        stop = asyncio.ensure_future(stopper.event.wait())
        done, _ = await asyncio.wait({task, stop}, timeout=DEMO_TIMEOUT,
                                     return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        stop.cancel()
        if task not in done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            why = f"interrupted by {stopper.signal_name}" if stopper.signal_name else "timed out"
            report.say(f"\ndemo {why}; everything was closed")
            return False
    task.result()
    return True


async def run_demo(*, link: Link = "auto", burst: int = 2000, out: TextIO | None = None) -> int:
    """Run the demo, printing to ``out`` (default: stdout); return 0 when every step
    worked, 1 otherwise."""
    report = _Report(out or sys.stdout)
    chosen, why = _choose(link)
    if chosen == "veth" and os.geteuid() != 0:
        raise CliError("demo --veth needs root (network namespaces and veth pairs)")
    started = time.monotonic()
    veth = None
    no_ipv6 = ipv6_support()
    if chosen == "veth":
        try:
            veth, no_ipv6 = _make_veth(no_ipv6)
        except (RuntimeError, OSError) as exc:
            if link == "veth":
                raise CliError(f"cannot create the veth pair: {exc}") from exc
            why = f"no veth pair: {exc}"
    if veth is not None:
        finished = await _bounded(lambda: _run_veth(report, burst, veth, no_ipv6), report)
    else:
        finished = await _bounded(lambda: _run_pipe(report, burst, why), report)
    if not finished:
        return EXIT_FAILURE
    elapsed = time.monotonic() - started
    if report.failures:
        report.say(f"\ndemo finished in {elapsed:.1f} s with {len(report.failures)} failures")
        return EXIT_FAILURE
    report.say(f"\ndemo finished in {elapsed:.1f} s: every request answered; all closed")
    return 0
