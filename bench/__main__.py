"""``python -m bench``: run the benchmarks and print their tables (markdown).

Benchmarks: ``udp-veth`` (UDP echo over a veth pair: aionetmap on AF_PACKET vs asyncio
and uvloop kernel sockets; needs root), ``udp-veth-raw`` (the same servers driven by an
AF_PACKET load generator), ``pipe-frames`` (raw frames into a Python protocol
over the software pipe vs a C reader), ``pipe-udp`` (UDP echo over the software pipe).
With no name: udp-veth, pipe-frames and pipe-udp; ``all`` adds udp-veth-raw. The report
also goes to ``bench/out/latest.md``, and its plots (with matplotlib: ``pip install
aionetmap[bench]``) to ``bench/out/*.png``.

The UDP echo benchmarks run every row under three loads (``--passes``): saturating (the
generator keeps its window full), a fixed rate the same for every row (``--rate``; by
default half the slowest row's saturating rate in this run), reported as the server's CPU
time per echo, and window 1 (one datagram in flight). Every pass reports round-trip
percentiles. ``python -m bench soak --minutes N`` is the long-running check
(``python -m bench soak --help``).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
from pathlib import Path

from bench._build import OUT, BuildError, build_all
from bench._plots import write_plots
from bench._profile import PerfHook, cprofile_summary, perf_available
from bench._report import format_table, machine, render, to_json
from bench._suite import PASSES, Benchmark, Options, Table, run_passes
from bench.pipe_frames import PipeFrames
from bench.pipe_udp import PipeUdp
from bench.udp_veth import UdpVeth, UdpVethRaw

__all__ = ["BENCHMARKS", "main"]

BENCHMARKS: dict[str, type[Benchmark]] = {
    "udp-veth": UdpVeth,
    "udp-veth-raw": UdpVethRaw,
    "pipe-frames": PipeFrames,
    "pipe-udp": PipeUdp,
}

DEFAULT = ["udp-veth", "pipe-frames", "pipe-udp"]
"""What runs without names: the issue's three benchmarks (``all`` adds udp-veth-raw)."""

SMOKE = {"runs": 1, "warmup": 0.2, "duration": 0.3}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # No `choices`: argparse (3.11) rejects an empty list of them; main() checks the names.
    p.add_argument(
        "benchmarks",
        nargs="*",
        metavar="BENCHMARK",
        help=f"one or more of {', '.join(BENCHMARKS)}, or all (default: {', '.join(DEFAULT)})",
    )
    _add_load_arguments(p)
    _add_run_arguments(p)
    return p


def _add_load_arguments(p: argparse.ArgumentParser) -> None:
    """How long, how often and with what load each row is measured."""
    p.add_argument("--runs", type=int, help="runs per row; the median is reported (default 3)")
    p.add_argument("--warmup", type=float, help="seconds before measuring (default 1)")
    p.add_argument("--duration", type=float, help="seconds measured per run (default 3)")
    p.add_argument(
        "--window",
        type=int,
        help="datagrams the UDP generators keep outstanding (default: udp-veth 128, pipe-udp 1024)",
    )
    p.add_argument(
        "--size",
        type=int,
        default=64,
        help="UDP payload bytes; frame bytes for pipe-frames (default 64)",
    )
    p.add_argument(
        "--batch",
        type=int,
        default=64,
        help="datagrams per sendmmsg/recvmmsg of the kernel-socket generator",
    )
    p.add_argument(
        "--passes",
        default=",".join(PASSES),
        help=f"loads the echo benchmarks run, comma-separated (default {','.join(PASSES)})",
    )
    p.add_argument(
        "--rate",
        type=float,
        help="offered datagrams/s of the fixed-rate pass (default: half the slowest row's "
        "saturating rate in this run)",
    )
    p.add_argument("--only", default="", help="comma-separated row keys to run (see --list)")
    p.add_argument(
        "--smoke",
        action="store_true",
        help="a tiny run of everything: 1 run, 0.2 s warm-up, 0.3 s measured",
    )


def _add_run_arguments(p: argparse.ArgumentParser) -> None:
    """Where processes run, what is profiled, and where results go."""
    p.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    p.add_argument(
        "--perf",
        action="store_true",
        help="perf-profile each row's server over its first measured window",
    )
    p.add_argument(
        "--cprofile",
        action="store_true",
        help="run the Python servers under cProfile (first run of each row)",
    )
    p.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each trial wait up to SECONDS for other processes to stop using the CPU",
    )
    p.add_argument("--out", type=Path, default=OUT, help="build/log/report directory")
    p.add_argument("--write", type=Path, help="also write the report to this file")
    p.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    p.add_argument("--no-plots", action="store_true", help="do not draw the PNG plots")
    p.add_argument("--list", action="store_true", help="list benchmarks and row keys, then exit")


def _options(args: argparse.Namespace) -> Options:
    defaults = SMOKE if args.smoke else {}
    opts = Options(
        window=args.window,
        size=args.size,
        batch=args.batch,
        pin=not args.no_pin,
        only=[k for k in args.only.split(",") if k],
        perf=args.perf,
        cprofile=args.cprofile,
        out=args.out,
        quiet_wait=args.wait_quiet,
        passes=[p for p in args.passes.split(",") if p],
        rate=args.rate,
        plots=not args.no_plots,
    )
    bad = [p for p in opts.passes if p not in PASSES]
    if bad or not opts.passes:
        raise SystemExit(f"--passes: choose from {', '.join(PASSES)}")
    if opts.rate is not None and opts.rate <= 0:
        raise SystemExit("--rate must be > 0")
    for key in ("runs", "warmup", "duration"):
        value = getattr(args, key)
        if value is None:
            value = defaults.get(key, getattr(opts, key))
        setattr(opts, key, value)
    if opts.runs < 1 or opts.duration <= 0 or opts.warmup < 0:
        raise SystemExit("--runs must be >= 1, --duration > 0 and --warmup >= 0")
    return opts


def _exit_on_sigterm(signum: int, frame: object) -> None:
    # SystemExit unwinds through the context managers that delete the namespaces and veth
    # pairs; the default action would kill the process and leave them behind.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    given = sys.argv[1:] if argv is None else argv
    if given[:1] == ["soak"]:
        from bench.soak import main as soak_main

        return soak_main(given[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    unknown = [n for n in args.benchmarks if n not in BENCHMARKS and n != "all"]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r} (choose from {', '.join(BENCHMARKS)})")
    names = list(BENCHMARKS) if "all" in args.benchmarks else list(args.benchmarks or DEFAULT)
    opts = _options(args)
    if args.list:
        for name in names:
            rows = ", ".join(r.key for r in BENCHMARKS[name](opts).rows())
            print(f"{name}: {rows}")
        return 0
    if os.geteuid() != 0:
        for name in [n for n in names if n.startswith("udp-veth")]:
            print(f"{name} needs root (network namespaces and veth): skipped", file=sys.stderr)
            names.remove(name)
        if not names:
            return 2
    try:
        build_all()
    except BuildError as exc:
        print(exc, file=sys.stderr)
        return 2
    hook = None
    if opts.perf:
        if not perf_available():
            print("--perf: perf is not installed", file=sys.stderr)
            return 2
        hook = PerfHook(opts.out / "profiles")
    facts = machine()
    tables: list[Table] = []
    for name in names:
        for table in run_passes(BENCHMARKS[name](opts), hook):
            tables.append(table)
            print(format_table(table, opts), flush=True)
    command = shlex.join(["python", "-m", "bench", *(argv if argv is not None else sys.argv[1:])])
    report = render(tables, opts, command, facts)
    opts.out.mkdir(parents=True, exist_ok=True)
    (opts.out / "latest.md").write_text(report)
    if args.write is not None:
        args.write.write_text(report)
    if args.json is not None:
        args.json.write_text(json.dumps(to_json(tables, opts, command, facts), indent=1))
    if opts.plots:
        print(write_plots(tables, opts), flush=True)
    _print_profiles(opts, hook)
    failed = any(not r.trials for t in tables for r in t.results)
    return 1 if failed else 0


def _print_profiles(opts: Options, hook: PerfHook | None) -> None:
    if hook is not None:
        for path in hook.reports:
            print(f"perf summary: {path}")
    if opts.cprofile:
        for path in sorted((opts.out / "profiles").glob("*.pstats")):
            print(f"--- cProfile: {path.name} ---")
            print(cprofile_summary(path))


if __name__ == "__main__":
    sys.exit(main())
