"""The Python side of the benchmarks, each run as its own process by the harness.

``udp-echo`` serves the same plain :class:`asyncio.DatagramProtocol` echo on a kernel UDP
socket (``loop.create_datagram_endpoint``) or on an aionetmap port
(``aionetmap.create_datagram_endpoint``), or with ``--protocol batch`` on an aionetmap port
the batch API's echo (``datagrams_received`` answered by one ``sendto_many``);
``frame-sink`` counts raw frames from a port with a per-frame or a per-batch
:class:`aionetmap.FrameProtocol`. Each prints ``READY`` once serving; ``frame-sink`` also
measures itself (``MARK``/``RESULT`` lines, see
``bench/c/benchlib.h``); ``udp-echo`` runs until SIGTERM and then prints its counters as
``RESULT`` (with ``--stats-every S`` also every S seconds as ``STATS {json}``: the soak's
drops by reason).

    python -m bench.servers udp-echo --transport kernel --loop uvloop --bind 10.0.0.2:7000
    python -m bench.servers udp-echo --transport aionetmap --loop asyncio \\
        --port packet:veth0 --address 10.0.0.2/24 --bind 10.0.0.2:7000
    python -m bench.servers frame-sink --mode batch --loop uvloop --port 'pipe:demo{0'
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import signal
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import aionetmap
from aionetmap.protocol import FrameProtocol

__all__ = ["BatchEcho", "BatchSink", "Echo", "FrameSink", "main"]

Address = tuple[str, int]


class Echo(asyncio.DatagramProtocol):
    """The echo logic every UDP server row runs: each datagram goes back to its sender."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.transport.sendto(data, addr)  # type: ignore[union-attr]


class BatchEcho(aionetmap.BatchDatagramProtocol):
    """The same echo through the batch API: a batch in, one ``sendto_many`` out."""

    def __init__(self) -> None:
        self.transport: aionetmap.UdpTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagrams_received(self, data: Sequence[bytes], addrs: Sequence[Address]) -> None:
        self.transport.sendto_many(data, addrs=addrs)  # type: ignore[union-attr]


class FrameSink(FrameProtocol):
    """Counts frames through the per-frame callback (the default ``frames_received``)."""

    def __init__(self) -> None:
        self.count = 0

    def frame_received(self, frame: bytes) -> None:
        self.count += 1


class BatchSink(FrameSink):
    """Counts frames through the batch hook: one call per received batch."""

    def __init__(self) -> None:
        super().__init__()
        self.batches = 0

    def frames_received(self, frames: Sequence[bytes]) -> None:
        self.count += len(frames)
        self.batches += 1


def _address(text: str) -> Address:
    host, _, port = text.rpartition(":")
    return host, int(port)


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def _result(fields: dict[str, Any]) -> None:
    print("RESULT " + json.dumps(fields), flush=True)


async def udp_echo(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    stop = _stop_event()
    bind = _address(args.bind)
    if args.transport == "kernel":
        transport, _ = await loop.create_datagram_endpoint(Echo, local_addr=bind)
        stats: Callable[[], dict[str, int]] = dict
    else:
        proto: type[asyncio.DatagramProtocol] = BatchEcho if args.protocol == "batch" else Echo
        udp, _ = await aionetmap.create_datagram_endpoint(
            proto, port=args.port, local_addr=bind, address=args.address, mac=args.mac
        )
        transport = udp
        iface = udp.get_extra_info("netinterface")

        def stats() -> dict[str, int]:
            return {**iface.stats(), **udp.stats()}

    print("READY", flush=True)
    if args.stats_every > 0:
        reporter = asyncio.create_task(_report_stats(stats, args.stats_every))
    await stop.wait()
    if args.stats_every > 0:
        reporter.cancel()
    counters = stats()
    if args.cprofile:  # what the profile's per-datagram figures are divided by
        sidecar = Path(args.cprofile).with_suffix(".counters.json")
        sidecar.parent.mkdir(parents=True, exist_ok=True)
        sidecar.write_text(json.dumps(counters))
    transport.close()
    await asyncio.sleep(0.05)  # let connection_lost and a graceful drain run
    suffix = "-batch" if args.protocol == "batch" else ""
    _result({**counters, "mode": f"udp-echo-{args.transport}{suffix}"})


async def _report_stats(stats: Callable[[], dict[str, int]], every: float) -> None:
    """Print the counters as a ``STATS`` line every ``every`` seconds."""
    while True:
        await asyncio.sleep(every)
        print("STATS " + json.dumps({"at": time.monotonic(), **stats()}), flush=True)


async def frame_sink(args: argparse.Namespace) -> None:
    factory = BatchSink if args.mode == "batch" else FrameSink
    transport, sink = await aionetmap.create_frame_endpoint(factory, port=args.port)
    print("READY", flush=True)
    await asyncio.sleep(args.warmup)
    count_a, cpu_a, wall_a = sink.count, time.process_time(), time.monotonic()
    print("MARK start", flush=True)
    await asyncio.sleep(args.duration)
    count_b, cpu_b, wall_b = sink.count, time.process_time(), time.monotonic()
    print("MARK end", flush=True)
    port_stats = transport.stats()
    transport.close()
    await asyncio.sleep(0.05)
    _result(
        {
            **port_stats,
            "mode": f"frame-sink-{args.mode}",
            "count": count_b - count_a,
            "window_s": wall_b - wall_a,
            "cpu_s": cpu_b - cpu_a,
            "total": sink.count,
            "batches": getattr(sink, "batches", None),
        }
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.servers",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--cprofile", metavar="FILE", help="profile the run into FILE")
    sub = parser.add_subparsers(dest="command", required=True)
    echo = sub.add_parser("udp-echo", help="UDP echo server")
    echo.add_argument("--transport", choices=("kernel", "aionetmap"), required=True)
    echo.add_argument("--bind", required=True, help="IP:PORT to serve on")
    echo.add_argument("--port", help="aionetmap portspec (packet:IF, pipe:NAME{ID ...)")
    echo.add_argument("--address", help="aionetmap interface address IP/PREFIX")
    echo.add_argument("--mac", help="aionetmap interface MAC (default: the port's)")
    echo.add_argument("--stats-every", type=float, default=0.0, metavar="S",
                      help="print the counters as a STATS line every S seconds")  # fmt: skip
    echo.add_argument(
        "--protocol",
        choices=("plain", "batch"),
        default="plain",
        help="plain DatagramProtocol echo, or the batch API's (aionetmap only)",
    )
    sink = sub.add_parser("frame-sink", help="count raw frames from a port")
    sink.add_argument("--mode", choices=("per-frame", "batch"), required=True)
    sink.add_argument("--port", required=True, help="portspec")
    sink.add_argument("--warmup", type=float, default=1.0)
    sink.add_argument("--duration", type=float, default=3.0)
    return parser


def _run(main: Coroutine[Any, Any, None], loop_name: str) -> None:
    if loop_name == "uvloop":
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    else:
        factory = asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    needs_port = args.command == "udp-echo" and args.transport == "aionetmap"
    if needs_port and not (args.port and args.address):
        print("udp-echo --transport aionetmap needs --port and --address", file=sys.stderr)
        return 2
    coro = udp_echo(args) if args.command == "udp-echo" else frame_sink(args)
    if not args.cprofile:
        _run(coro, args.loop)
        return 0
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        _run(coro, args.loop)
    finally:
        profiler.disable()
        path = Path(args.cprofile)
        path.parent.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
