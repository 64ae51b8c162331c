"""What every benchmark shares: options, the row/trial loop, and the result table.

A benchmark names its rows and says, for each row, what one trial runs (a :class:`Plan`).
The loop runs the rows round-robin ``runs`` times (so slow drift of the machine spreads
over all rows rather than hitting one), then reports each row's median.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._build import OUT, ROOT
from bench._measure import Plan, Row, Trial, median_trial, run_trial, spread
from bench._proc import BenchError, core_times, cores

__all__ = [
    "PASSES",
    "Benchmark",
    "Load",
    "Options",
    "RowResult",
    "Table",
    "python_launch_env",
    "run_benchmark",
    "run_passes",
]

PASSES = ("saturate", "rate", "window1")
"""The loads an echo benchmark runs each row under: the generator keeping its window full
(throughput), a fixed offered rate the same for every row (CPU per echo, latency under a
moderate load), and one datagram in flight (latency)."""


@dataclass(frozen=True)
class Load:
    """How the load generator offers its load in one pass of a benchmark."""

    kind: str = "saturate"
    """One of :data:`PASSES`."""
    rate: float = 0.0
    """Datagrams/s offered (``rate`` pass only)."""
    source: str = ""
    """Where ``rate`` came from, for the report."""

    def describe(self, window: int) -> str:
        if self.kind == "rate":
            return f"fixed rate {self.rate:,.0f}/s ({self.source}), window {window}"
        if self.kind == "window1":
            return "one datagram in flight (window 1)"
        return f"saturating, window {window} datagrams"


@dataclass
class Options:
    """Command-line settings shared by every benchmark."""

    runs: int = 3
    warmup: float = 1.0
    duration: float = 3.0
    window: int | None = None
    """Datagrams a UDP load generator keeps outstanding (None: the benchmark's default)."""
    size: int = 64
    """UDP payload bytes (echo benchmarks) or frame bytes (frame benchmark: 60 at least)."""
    batch: int = 64
    """Datagrams per sendmmsg/recvmmsg call of the kernel-socket generator."""
    pin: bool = True
    only: list[str] = field(default_factory=list)
    perf: bool = False
    cprofile: bool = False
    out: Path = OUT
    quiet_wait: float = 0.0
    """Before each trial, wait up to this many seconds for the machine to go quiet."""
    quiet_load: float = 0.15
    """Quiet means: all cores together busier than this many cores for less than 1 s."""
    passes: list[str] = field(default_factory=lambda: list(PASSES))
    """Which loads the echo benchmarks run (the others have just the one)."""
    rate: float | None = None
    """The ``rate`` pass's offered load (None: half the slowest row's saturating rate
    measured in this run, or the benchmark's default without a saturating pass)."""
    plots: bool = True

    @property
    def budget(self) -> float:
        """Time limit of one trial: start-up, priming, warm-up, window and shutdown."""
        return self.warmup + self.duration + 40.0

    def placement(self) -> tuple[int | None, int | None, str]:
        """(server core, generator core, description) for this machine."""
        usable = cores()
        if not self.pin or len(usable) < 2:
            why = "pinning off" if not self.pin else f"only {len(usable)} core(s)"
            return None, None, f"not pinned ({why})"
        server, generator = usable[0], usable[1]
        return server, generator, f"server on core {server}, generator on core {generator}"


def python_launch_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a Python participant: the project importable, nothing buffered."""
    env = {"PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    env.update(extra or {})
    return env


class Benchmark:
    """Base class: subclasses set the class attributes and implement :meth:`plan`."""

    name = ""
    title = ""
    unit = ""
    """What the rate counts, e.g. ``echoes/s``."""
    notes: tuple[str, ...] = ()
    """Paragraphs printed under the table."""
    default_window = 1024
    """Outstanding datagrams of a UDP load generator unless ``--window`` says otherwise."""
    echo = False
    """A UDP echo benchmark: it runs every pass of ``opts.passes`` (the generator takes
    ``--rate`` and reports round-trip percentiles); the others run one saturating pass."""
    default_rate = 50_000.0
    """The ``rate`` pass's load when neither ``--rate`` nor a saturating pass sets it."""

    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.load = Load()

    @property
    def window(self) -> int:
        if self.load.kind == "window1":
            return 1
        return self.opts.window or self.default_window

    def passes(self) -> list[str]:
        return [p for p in self.opts.passes if p in PASSES] if self.echo else ["saturate"]

    def load_args(self) -> list[str]:
        """The generator's options for the current load."""
        args = ["--window", str(self.window)]
        if self.load.kind == "rate":
            args += ["--rate", str(round(self.load.rate))]
        return args

    def rows(self) -> list[Row]:
        raise NotImplementedError

    def settings(self) -> str:
        """The load settings, for the report."""
        return f"UDP payload {self.opts.size} B, {self.load.describe(self.window)}"

    @contextlib.contextmanager
    def environment(self) -> Iterator[None]:
        """Set up what every trial shares (a veth link, say) for the whole benchmark."""
        yield

    def plan(self, row: Row, run: int) -> Plan:
        raise NotImplementedError

    def row_notes(self, row: Row, trial: Trial) -> list[str]:
        """Benchmark-specific notes for a row (losses, drops...)."""
        return []

    def python_server(self, row: Row, run: int, loop: str) -> list[str]:
        """The start of a ``bench.servers`` command line for ``row`` on ``loop``, under
        cProfile on the first run when ``--cprofile`` asked for it."""
        argv = [sys.executable, "-m", "bench.servers", "--loop", loop]
        if self.opts.cprofile and run == 0:
            argv += [
                "--cprofile",
                str(self.opts.out / "profiles" / f"{self.name}-{row.key}.pstats"),
            ]
        return argv


@dataclass
class RowResult:
    row: Row
    trials: list[Trial]
    notes: list[str]

    @property
    def median(self) -> Trial:
        return median_trial(self.trials)


@dataclass
class Table:
    bench: Benchmark
    placement: str
    results: list[RowResult]
    errors: list[str]
    load: Load = field(default_factory=Load)
    settings: str = ""
    """The benchmark's settings while this table was measured."""

    def baseline(self) -> RowResult | None:
        return next((r for r in self.results if r.row.baseline and r.trials), None)


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_benchmark(bench: Benchmark, profile_hook: Callable[..., Any] | None = None) -> Table:
    """Run every selected row ``opts.runs`` times, round-robin; failures become notes."""
    opts = bench.opts
    rows = [r for r in bench.rows() if not opts.only or r.key in opts.only]
    trials: dict[str, list[Trial]] = {r.key: [] for r in rows}
    errors: list[str] = []
    log_dir = opts.out / "logs" / bench.name
    placement = opts.placement()[2]
    with bench.environment():
        for run in range(opts.runs):
            for row in rows:
                _log(f"[{bench.name}] run {run + 1}/{opts.runs}: {row.key} ...")
                on_window = None
                if profile_hook is not None and run == 0:
                    on_window = profile_hook(bench, row)
                _wait_quiet(opts)
                started = time.monotonic()
                try:
                    trial = run_trial(
                        bench.plan(row, run),
                        budget=opts.budget,
                        log_dir=log_dir / f"run{run}",
                        on_window=on_window,
                    )
                except BenchError as exc:
                    errors.append(f"{row.key} (run {run + 1}): {exc}")
                    _log(f"[{bench.name}]   FAILED: {exc}")
                    continue
                trials[row.key].append(trial)
                _log(f"[{bench.name}]   {trial.rate:,.0f} {bench.unit} "
                           f"({time.monotonic() - started:.1f} s)")  # fmt: skip
    results = []
    for row in rows:
        got = trials[row.key]
        notes = _common_notes(got, opts) + (bench.row_notes(row, median_trial(got)) if got else [])
        results.append(RowResult(row, got, notes))
    return Table(bench, placement, results, errors, bench.load, bench.settings())


def run_passes(bench: Benchmark, profile_hook: Callable[..., Any] | None = None) -> list[Table]:
    """One table per pass of ``bench`` (see :data:`PASSES`); ``profile_hook`` profiles the
    first pass only."""
    tables: list[Table] = []
    for kind in bench.passes():
        bench.load = _load(bench, kind, tables)
        tables.append(run_benchmark(bench, profile_hook if not tables else None))
    return tables


def _load(bench: Benchmark, kind: str, done: list[Table]) -> Load:
    if kind != "rate":
        return Load(kind)
    if bench.opts.rate is not None:
        return Load(kind, bench.opts.rate, "--rate")
    rates = [r.median.rate for t in done if t.load.kind == "saturate" for r in t.results
             if r.trials]  # fmt: skip
    if not rates:
        return Load(kind, bench.default_rate, "the benchmark's default")
    return Load(kind, round_down(min(rates) / 2), "half the slowest row's saturating rate")


def round_down(rate: float) -> float:
    """``rate`` rounded down to two significant digits (a readable offered load)."""
    if rate < 100:
        return max(1.0, float(int(rate)))
    scale = 10 ** (len(str(int(rate))) - 2)
    return float(int(rate) // scale * scale)


def machine_load(seconds: float = 1.0) -> float:
    """Cores' worth of CPU the whole machine used over the next ``seconds``."""
    a, t0 = core_times(), time.monotonic()
    time.sleep(seconds)
    b, t1 = core_times(), time.monotonic()
    return sum(cb.busy - ca.busy for ca, cb in zip(a, b, strict=True)) / (t1 - t0)


def _wait_quiet(opts: Options) -> None:
    """On a shared machine, wait (bounded) until other work has stopped."""
    if opts.quiet_wait <= 0:
        return
    give_up = time.monotonic() + opts.quiet_wait
    while (load := machine_load()) > opts.quiet_load:
        if time.monotonic() >= give_up:
            _log(f"machine still busy ({load:.2f} cores in use): measuring anyway")
            return
        _log(f"waiting for the machine to go quiet ({load:.2f} cores in use)")


def _common_notes(trials: list[Trial], opts: Options) -> list[str]:
    if not trials:
        return ["no successful run"]
    lo, _, hi = spread(trials)
    notes = []
    if len(trials) > 1:
        notes.append(f"{len(trials)} runs: {fmt_rate(lo)} to {fmt_rate(hi)}")
    server_core, gen_core, _ = opts.placement()
    t = median_trial(trials)
    for label, core, own in (
        ("server", server_core, t.server_cpu),
        ("gen.", gen_core, t.generator_cpu),
    ):
        if core is None or core >= len(t.core_busy):
            continue
        text = f"{label} core {100 * t.core_busy[core]:.0f} % busy"
        if t.core_softirq[core] >= 0.01:
            text += f" ({100 * t.core_softirq[core]:.0f} % softirq)"
        # Busy time on the pinned core that is not the pinned process: another process
        # (or ksoftirqd) took it, and the row was measured on a shared core.
        other = t.core_busy[core] - own
        if other >= 0.05:
            text += f", {100 * other:.0f} % not ours"
        notes.append(text)
    return notes


def fmt_rate(rate: float) -> str:
    if rate >= 1e6:
        return f"{rate / 1e6:.2f} M"
    if rate >= 1e3:
        return f"{rate / 1e3:.1f} k"
    return f"{rate:.0f}"
