"""``echo``, ``capture``, ``info`` and ``bench``: the commands for real ports.

Each takes its options as plain arguments and the streams to print to, so tests can call
them in-process; :mod:`aionetmap.cli` parses the command line and handles errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, TextIO, cast

from aionetmap.cli.errors import EXIT_FAILURE, CliError
from aionetmap.cli.pcap import PcapWriter
from aionetmap.cli.runtime import (
    CHECKSUM_HINT,
    CHECKSUM_HINT_PACKET,
    PARTIAL_CAPTURE_HINT,
    Meter,
    Sample,
    Stopper,
    close_and_wait,
    drop_counters,
    format_mac,
    metering,
)
from aionetmap.endpoints import create_frame_endpoint, open_interface
from aionetmap.interface import NetInterface
from aionetmap.ports import open_port
from aionetmap.ports.base import PortInfo
from aionetmap.protocol import FrameProtocol
from aionetmap.transport import FrameTransport, UdpTransport

__all__ = [
    "EchoServer",
    "bench",
    "capture",
    "echo",
    "find_bench",
    "info",
    "port_info_lines",
    "split_addresses",
]

Address = tuple[str, int] | tuple[str, int, int, int]


class EchoServer(asyncio.DatagramProtocol):
    """Sends every datagram back to its sender; sets ``done`` after ``limit`` of them."""

    def __init__(self, limit: int | None = None, done: asyncio.Event | None = None) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.echoed = 0
        self.errors = 0
        self.limit = limit
        self.done = done or asyncio.Event()
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's UDP transport is not an asyncio.DatagramTransport subclass: no isinstance.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        assert self.transport is not None
        self.transport.sendto(data, addr)
        self.echoed += 1
        if self.limit is not None and self.echoed >= self.limit:
            self.done.set()

    def error_received(self, exc: Exception) -> None:
        # A reply that could not go out (no ARP answer from the sender): count and go on.
        self.errors += 1

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)
        self.done.set()


async def _until(stopper: Stopper, done: asyncio.Event, duration: float | None) -> None:
    """Wait for a signal, for ``done``, or for ``duration`` seconds, whichever comes first."""
    waits = [asyncio.ensure_future(stopper.event.wait()), asyncio.ensure_future(done.wait())]
    try:
        await asyncio.wait(waits, timeout=duration, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for fut in waits:
            fut.cancel()
        await asyncio.gather(*waits, return_exceptions=True)


def _echo_sample(iface: NetInterface, transport: UdpTransport) -> Sample:
    counters = transport.stats()
    drops, ignored, reasons = drop_counters({**iface.stats(), **counters})
    return Sample(counters["rx_datagrams"], counters["tx_datagrams"], drops, ignored, reasons)


def _checksum_hint(info: PortInfo) -> str:
    """The hint ``echo`` prints on UDP checksum drops: what to do depends on the backend."""
    return CHECKSUM_HINT_PACKET if info.backend == "packet" else CHECKSUM_HINT


async def echo(
    spec: str,
    address: str | Sequence[str],
    udp_port: int,
    *,
    gateway: str | None = None,
    mac: str | None = None,
    vlan: int | None = None,
    count: int | None = None,
    duration: float | None = None,
    interval: float | None = 1.0,
    err: TextIO | None = None,
    join: Sequence[str] = (),
) -> int:
    """UDP echo server on ``spec`` at ``address`` (``A.B.C.D/N``, or a list of addresses
    with prefixes: one IPv4 and any IPv6 ones, see :func:`split_addresses`), port
    ``udp_port``, on 802.1Q VLAN ``vlan`` if given.

    With IPv6 addresses, one endpoint bound to ``::`` serves both families (dual-stack, as
    an AF_INET6 kernel socket with ``IPV6_V6ONLY`` off; it starts once DAD has cleared the
    IPv6 addresses). With groups to ``join`` it binds the wildcard (as a kernel socket
    must, to receive them), joins each and echoes what they deliver, from the unicast
    address.

    It answers ARP, NDP and ping (``ping -6`` too). Runs until Ctrl-C/SIGTERM, ``count``
    datagrams or ``duration`` seconds; prints live counters every ``interval`` seconds
    (None: never).
    """
    err = err or sys.stderr
    ipv4, ipv6 = split_addresses([address] if isinstance(address, str) else address)
    with Stopper() as stopper:
        iface = await open_interface(
            spec, address=ipv4, gateway=gateway, mac=mac, vlan=vlan, ipv6=ipv6 or None
        )
        try:
            transport, server = await iface.create_datagram_endpoint(
                lambda: EchoServer(count),
                local_port=udp_port,
                local_ip="::" if ipv6 else "0.0.0.0" if join else None,
            )
            _join_all(transport, join)
            info = iface.port.info
            port = transport.local_port
            bound = [f"{iface.interface.ip}:{port}", *(f"[{i.split('/')[0]}]:{port}" for i in ipv6)]
            groups = "".join(f", group {group}" for group in join)
            print(
                f"echo: UDP {', '.join(bound)}{groups} on {info.name}"
                f"{'' if vlan is None else f' vlan {vlan}'} "
                f"({info.backend} backend, mac {format_mac(iface.host.mac)}); "
                f"answers ARP{', NDP' if ipv6 else ''} and ping; Ctrl-C to stop",
                file=err,
                flush=True,
            )
            meter = Meter(
                lambda: _echo_sample(iface, transport),
                err,
                interval=interval or 1.0,
                hints={"drop_udp_bad_checksum": _checksum_hint(info)},
            )
            async with metering(meter if interval else None):
                await _until(stopper, server.done, duration)
            meter.print_summary(f"echo summary ({stopper.signal_name or 'done'})")
            if server.errors:
                print(f"    {server.errors} replies could not be sent", file=err, flush=True)
            await close_and_wait(transport, server.lost)
        finally:
            iface.close()
    return 0


def split_addresses(addresses: Sequence[str]) -> tuple[str, list[str]]:
    """``echo --ip`` values as ``(ipv4, [ipv6, ...])``, each with its prefix length.

    The host needs exactly one IPv4 address (its ARP, ICMP and IPv4 UDP side), and may own
    any number of IPv6 ones beside its EUI-64 link-local address; anything else is a
    :class:`CliError` naming the value at fault.
    """
    ipv4: list[str] = []
    ipv6: list[str] = []
    for text in addresses:
        if "/" not in text:
            raise CliError(f"--ip {text}: give the prefix length too, e.g. {text}/24")
        try:
            parsed = ipaddress.ip_interface(text)
        except ValueError:
            raise CliError(
                f"--ip {text}: not an IPv4 or IPv6 address with a prefix length"
            ) from None
        (ipv6 if parsed.version == 6 else ipv4).append(text)
    if len(ipv4) > 1:
        raise CliError(
            f"--ip {ipv4[1]}: one IPv4 address per interface (already {ipv4[0]}); "
            "more --ip values may be IPv6"
        )
    if not ipv4:
        raise CliError(
            f"--ip {ipv6[0] if ipv6 else ''}: the interface needs an IPv4 address too "
            "(e.g. --ip 10.0.0.2/24); IPv6 addresses come beside it"
        )
    return ipv4[0], ipv6


def _join_all(transport: UdpTransport, groups: Sequence[str]) -> None:
    """Join every group, or stop with a one-line error naming the one refused."""
    for group in groups:
        try:
            transport.join_group(group)
        except OSError as exc:
            raise CliError(f"--join {group}: {exc.strerror or exc}") from None


class _Capture(FrameProtocol):
    """Writes every received frame to a pcap file, up to ``limit`` frames."""

    def __init__(self, writer: PcapWriter, limit: int | None) -> None:
        self.writer = writer
        self.limit = limit
        self.done = asyncio.Event()
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()

    def frames_received(self, frames: Sequence[bytes]) -> None:
        if self.done.is_set():
            return
        if self.limit is not None:
            frames = frames[: self.limit - self.writer.count]
        # One timestamp per batch: the frames arrived in the same readiness callback.
        self.writer.write_many(frames, time.time_ns())
        self.writer.flush()  # so `capture -w - | tcpdump -r -` shows frames as they come
        if self.limit is not None and self.writer.count >= self.limit:
            self.done.set()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)
        self.done.set()


def _capture_sample(transport: FrameTransport, writer: PcapWriter) -> Sample:
    stats = transport.stats()
    drops, ignored, reasons = drop_counters(stats)
    notes = {"rx_csum_not_ready": stats.get("rx_csum_not_ready", 0)}
    return Sample(writer.count, 0, drops, ignored, reasons, notes)


async def capture(
    spec: str,
    output: str,
    *,
    count: int | None = None,
    snaplen: int | None = None,
    nanosecond: bool = False,
    duration: float | None = None,
    interval: float | None = 1.0,
    err: TextIO | None = None,
    stdout: BinaryIO | None = None,
) -> int:
    """Write the frames ``spec`` receives to the pcap file ``output`` (``-``: stdout)."""
    err = err or sys.stderr
    target: str | BinaryIO = (stdout or sys.stdout.buffer) if output == "-" else output
    where = "standard output" if output == "-" else output
    kwargs = {"snaplen": snaplen} if snaplen is not None else {}
    # The port first, so that a bad portspec leaves no empty file behind.
    with (
        contextlib.closing(open_port(spec)) as port,
        Stopper() as stopper,
        PcapWriter(target, nanosecond=nanosecond, **kwargs) as writer,
    ):
        transport, proto = await create_frame_endpoint(lambda: _Capture(writer, count), port=port)
        try:
            limit = f", stopping after {count} frames" if count is not None else ""
            print(f"capture: {port.info.name} -> {where}{limit}; Ctrl-C to stop", file=err,
                  flush=True)  # fmt: skip
            meter = Meter(
                lambda: _capture_sample(transport, writer),
                err,
                interval=interval or 1.0,
                rx_label="captured",
                tx_label=None,
                hints={"rx_csum_not_ready": PARTIAL_CAPTURE_HINT},
            )
            async with metering(meter if interval else None):
                await _until(stopper, proto.done, duration)
            meter.print_summary(f"capture summary ({stopper.signal_name or 'done'})")
        finally:
            await close_and_wait(transport, proto.lost)
    print(f"{writer.count} frames written to {where}", file=err, flush=True)
    return 0


def port_info_lines(info: PortInfo) -> list[str]:
    """What ``info`` prints for one port, one ``name  value`` line per fact."""
    rows = [
        ("port", info.name),
        ("backend", info.backend),
        ("interface", info.ifname or "-"),
        ("rings", f"{info.rx_rings} rx / {info.tx_rings} tx"),
        ("slots", f"{info.rx_slots} per rx ring / {info.tx_slots} per tx ring"),
        ("buffer", f"{info.buf_size} bytes per slot"),
        ("max frame", f"{info.max_frame} bytes"),
        ("memory id", "-" if info.mem_id is None else str(info.mem_id)),
        ("mtu", "-" if info.mtu is None else str(info.mtu)),
        ("mac", format_mac(info.mac) if info.mac else "-"),
    ]
    return [f"{name:<10} {value}" for name, value in rows]


def info(spec: str, *, as_json: bool = False, out: TextIO | None = None) -> int:
    """Open ``spec``, print its rings, slots, buffer size and memory id, close it."""
    out = out or sys.stdout
    with contextlib.closing(open_port(spec)) as port:
        facts = port.info
    if as_json:
        data = dataclasses.asdict(facts)
        data["mac"] = format_mac(facts.mac) if facts.mac else None
        print(json.dumps(data, indent=2), file=out)
    else:
        print("\n".join(port_info_lines(facts)), file=out)
    return 0


def find_bench(root: Path | None = None) -> Path:
    """The ``bench/`` folder of the source checkout this aionetmap runs from (it may not
    exist: benchmarks are not installed with the package)."""
    base = root if root is not None else Path(__file__).resolve().parents[2]
    return base / "bench"


def bench(args: Sequence[str], *, root: Path | None = None, err: TextIO | None = None) -> int:
    """Run ``python -m bench ARGS`` in the source checkout; say how to when it cannot."""
    err = err or sys.stderr
    folder = find_bench(root)
    if (folder / "__main__.py").is_file():
        return subprocess.call([sys.executable, "-m", "bench", *args], cwd=folder.parent)
    if folder.is_dir():
        scripts = sorted(f"bench/{p.name}" for p in folder.glob("[!_]*.py")) or ["bench/X.py"]
        print(
            f"aionetmap bench: {folder} has no __main__.py yet; run its scripts directly "
            f"from {folder.parent}, e.g. python {scripts[0]} (all: {', '.join(scripts)})",
            file=err,
        )
    else:
        print(
            "aionetmap bench: the benchmarks live in bench/ of a source checkout, which is "
            "not installed with the package: run `make bench` (or python -m bench) there",
            file=err,
        )
    return EXIT_FAILURE
