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

__all__ = ["Benchmark", "Options", "RowResult", "Table", "python_launch_env", "run_benchmark"]


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

    def __init__(self, opts: Options) -> None:
        self.opts = opts

    @property
    def window(self) -> int:
        return self.opts.window or self.default_window

    def rows(self) -> list[Row]:
        raise NotImplementedError

    def settings(self) -> str:
        """The load settings, for the report."""
        return f"UDP payload {self.opts.size} B, window {self.window} datagrams"

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
    return Table(bench, placement, results, errors)


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
