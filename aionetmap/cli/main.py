"""Command-line entry point (``python -m aionetmap``, or the ``aionetmap`` script).

Argument parsing only: the commands live in :mod:`aionetmap.cli.demo` and
:mod:`aionetmap.cli.commands`. Errors a user can fix (a bad portspec, no ``/dev/netmap``,
no such interface, not root) print one line and exit with status 1; argparse exits with 2
for a bad command line.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from aionetmap.cli.errors import EXIT_FAILURE, user_message
from aionetmap.cli.runtime import LoopName, run

__all__ = ["build_parser", "main"]

_PORTSPECS = """\
portspecs:
  netmap:eth0       all hardware rings of eth0 (netmap:eth0-2 ring 2, netmap:eth0^ host rings)
  vale0:p1          port p1 of VALE switch vale0
  pipe:NAME{ID      end a of aionetmap's software pipe NAME.ID (pipe:NAME}ID: end b)
  packet:eth0       AF_PACKET on eth0 (no netmap needed; root)
"""

_EXAMPLES = """\
examples:
  python -m aionetmap demo
  python -m aionetmap echo netmap:eth0 --ip 192.0.2.10/24 --port 7
  python -m aionetmap echo netmap:eth0 --ip 192.0.2.10/24 --port 7 --join 239.1.2.3
  python -m aionetmap echo netmap:eth0 --ip 192.0.2.10/24 --ip 2001:db8::10/64 --port 7
  python -m aionetmap capture netmap:eth0/r -w eth0.pcap -c 1000
  python -m aionetmap info netmap:eth0-1
  python -m aionetmap doctor netmap:eth0
"""


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _udp_port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a UDP port is 0..65535, got {text}")
    return value


def _vlan_id(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 4094:
        raise argparse.ArgumentTypeError(f"a VLAN id is 1..4094, got {text}")
    return value


def _add_live_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-t", "--duration", type=_positive_float, metavar="SECONDS", help="stop after SECONDS"
    )
    parser.add_argument(
        "-i",
        "--interval",
        type=_positive_float,
        default=1.0,
        metavar="SECONDS",
        help="seconds between counter lines (default: 1)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no live counter lines")
    _add_loop_option(parser)


def _add_loop_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--loop",
        choices=("auto", "asyncio", "uvloop"),
        default="auto",
        help="event loop (default: uvloop when installed)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``aionetmap`` argument parser with its subcommands."""
    parser = argparse.ArgumentParser(
        prog="aionetmap",
        description="netmap packet I/O under asyncio: demo, UDP echo, capture, port info, "
        "set-up checks.",
        epilog=_PORTSPECS + "\n" + _EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="UDP echo server on a built-in virtual link (no NIC, no flags needed)",
        description="Start the UDP echo server on a virtual link and show it answering real "
        "clients over IPv4 and IPv6: as root a veth pair with the Linux kernel as the client "
        "(ping, ping -6, and UDP sockets of both families; IPv6 is skipped, with the reason, "
        "on a machine without it), otherwise the software pipe with aionetmap as the client.",
    )
    link = demo.add_mutually_exclusive_group()
    link.add_argument("--veth", dest="link", action="store_const", const="veth",
                      help="use a veth pair (needs root)")  # fmt: skip
    link.add_argument("--pipe", dest="link", action="store_const", const="pipe",
                      help="use the software pipe")  # fmt: skip
    demo.add_argument("--burst", type=_positive_int, default=2000, metavar="N",
                      help="datagrams in the throughput burst (default: 2000)")  # fmt: skip
    _add_loop_option(demo)

    echo = sub.add_parser(
        "echo",
        help="UDP echo server on a port, IPv4 and IPv6 (answers ARP, NDP and ping too)",
        epilog=_PORTSPECS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    echo.add_argument("portspec", help="the port to open (see portspecs below)")
    echo.add_argument("--ip", required=True, action="append", metavar="ADDRESS/N",
                      help="an address the user-space stack owns, with its prefix: one "
                      "IPv4 (A.B.C.D/N) and, repeated, any IPv6 ones (2001:db8::2/64); "
                      "with IPv6 one dual-stack endpoint serves both families")  # fmt: skip
    echo.add_argument("--port", type=_udp_port, default=7, help="UDP port (default: 7)")
    echo.add_argument("--gateway", metavar="A.B.C.D", help="default gateway")
    echo.add_argument("--mac", metavar="aa:bb:cc:dd:ee:ff",
                      help="MAC address (default: the interface's, or a random one)")  # fmt: skip
    echo.add_argument("--vlan", type=_vlan_id, metavar="ID",
                      help="802.1Q VLAN id: take only frames tagged with it, tag all replies "
                      "(default: untagged; tagged frames are dropped)")  # fmt: skip
    echo.add_argument("--join", action="append", default=[], metavar="GROUP",
                      help="join IPv4 multicast GROUP and echo what it delivers (repeatable; "
                      "binds the wildcard address)")  # fmt: skip
    echo.add_argument("-c", "--count", type=_positive_int, metavar="N",
                      help="stop after echoing N datagrams")  # fmt: skip
    _add_live_options(echo)

    capture = sub.add_parser(
        "capture",
        help="write the frames a port receives to a pcap file (tcpdump -r reads it)",
        description="netmap ports are invisible to tcpdump: this writes a standard pcap "
        "file instead. Capturing netmap:eth0 takes eth0 away from the kernel while it "
        "runs; to watch a port another netmap program uses, capture its monitor "
        "(netmap:eth0/rt).",
        epilog=_PORTSPECS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    capture.add_argument("portspec", help="the port to open (see portspecs below)")
    capture.add_argument("-w", "--write", required=True, metavar="FILE.pcap",
                         help="output file ('-': standard output)")  # fmt: skip
    capture.add_argument("-c", "--count", type=_positive_int, metavar="N",
                         help="stop after N frames")  # fmt: skip
    capture.add_argument("-s", "--snaplen", type=_positive_int, metavar="BYTES",
                         help="keep at most BYTES of each frame (default: 262144)")  # fmt: skip
    capture.add_argument("--nano", action="store_true",
                         help="nanosecond timestamps (pcap's nanosecond variant)")  # fmt: skip
    _add_live_options(capture)

    info = sub.add_parser(
        "info",
        help="rings, slots, buffer size and memory id of a port",
        epilog=_PORTSPECS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    info.add_argument("portspec", help="the port to open (see portspecs below)")
    info.add_argument("--json", action="store_true", help="print JSON")

    doctor = sub.add_parser(
        "doctor",
        help="check the set-up for a port (or the machine): netmap module, permissions, "
        "interface, offloads, IPv6; exits 1 on a problem",
        epilog=_PORTSPECS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    doctor.add_argument("portspec", nargs="?", help="the port to check (default: none)")
    doctor.add_argument("--json", action="store_true", help="print JSON")

    # Listed for --help only: main() hands everything after "bench" to `python -m bench`
    # untouched (argparse cannot pass options through a REMAINDER positional).
    sub.add_parser("bench", help="run the benchmarks: python -m bench ARGS, in a source checkout")
    return parser


def _dispatch(args: argparse.Namespace) -> int:
    from aionetmap.cli import commands

    if args.command == "info":
        return commands.info(args.portspec, as_json=args.json)
    if args.command == "doctor":
        from aionetmap.cli.doctor import doctor

        return doctor(args.portspec, as_json=args.json)
    main: Coroutine[Any, Any, int]
    if args.command == "demo":
        from aionetmap.cli.demo import run_demo

        main = run_demo(link=args.link or "auto", burst=args.burst)
    elif args.command == "echo":
        main = commands.echo(
            args.portspec, args.ip, args.port, gateway=args.gateway, mac=args.mac,
            vlan=args.vlan, count=args.count, duration=args.duration,
            interval=None if args.quiet else args.interval, join=args.join,
        )  # fmt: skip
    else:
        main = commands.capture(
            args.portspec, args.write, count=args.count, snaplen=args.snaplen,
            nanosecond=args.nano, duration=args.duration,
            interval=None if args.quiet else args.interval,
        )  # fmt: skip
    loop: LoopName = args.loop
    return run(main, loop)


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the command, return the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:
        from aionetmap.cli.commands import bench

        return guarded(lambda: bench(argv[1:]), "bench")
    args = build_parser().parse_args(argv)
    return guarded(lambda: _dispatch(args), args.command)


def guarded(command: Callable[[], int], name: str) -> int:
    """Run ``command``; print errors the user can fix as one line, re-raise the rest."""
    try:
        return command()
    except KeyboardInterrupt:
        # Ctrl-C before the command installed its own handler (while starting up).
        print(f"aionetmap {name}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, as other Unix tools do, and
        # keep Python from reporting the failed flush of stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_FAILURE
    except Exception as exc:
        message = user_message(exc)
        if message is None:
            raise
        print(f"aionetmap {name}: error: {message}", file=sys.stderr)
        return EXIT_FAILURE
