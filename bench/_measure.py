"""Run one measured trial of a server and a load generator, and aggregate trials into rows.

A trial starts the server (and waits for its ``READY``), then the generator. One of the two
is the *counter*: after its warm-up it prints ``MARK start``, after the measured duration
``MARK end``, then ``RESULT {json}`` with ``count`` (echoes or frames) over ``window_s``.
The harness samples both processes' CPU time and every core's busy time at the two marks,
so every number of a row covers the same window.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bench._build import ROOT
from bench._proc import (
    BenchError,
    Child,
    CoreTimes,
    Launch,
    core_times,
    process_cpu,
    process_user_sys,
    process_wakeups,
)

__all__ = ["Plan", "Row", "Sample", "Trial", "run_trial"]

Counter = Literal["server", "generator"]


@dataclass(frozen=True)
class Row:
    """One line of a benchmark table."""

    key: str
    """Short name, used on the command line (``--only``) and in log file names."""
    configuration: str
    baseline: bool = False


@dataclass
class Plan:
    """What one trial of a row runs."""

    server: Launch
    generator: Launch
    counter: Counter
    prepare: Callable[[], None] | None = None
    """Run before the server starts (e.g. configure an address)."""
    cleanup: Callable[[], None] | None = None
    """Run after both have exited, even on failure."""


@dataclass(frozen=True)
class Sample:
    at: float
    server_cpu: float
    generator_cpu: float
    cores: list[CoreTimes]
    server_user_sys: tuple[float, float] = (0.0, 0.0)
    server_wakeups: int = 0

    @classmethod
    def take(cls, server: Child, generator: Child) -> Sample:
        return cls(time.monotonic(), process_cpu(server.pid), process_cpu(generator.pid),
                   core_times(), process_user_sys(server.pid),
                   process_wakeups(server.pid))  # fmt: skip


@dataclass
class Trial:
    """The outcome of one run of one row."""

    rate: float
    """``count / window_s`` as the counter measured it."""
    server_cpu: float
    """Cores used by the server process over the window (1.0 = one core fully)."""
    generator_cpu: float
    core_busy: list[float]
    core_softirq: list[float]
    counter: dict[str, Any]
    server_result: dict[str, Any] = field(default_factory=dict)
    generator_result: dict[str, Any] = field(default_factory=dict)
    server_user: float = 0.0
    """Of ``server_cpu``, the cores' worth spent in user space (``/proc/PID/stat`` ticks)."""
    server_sys: float = 0.0
    """... and in the kernel on the server's behalf (system calls, and the network
    processing they run inline). Softirq work on the server's core that the kernel does
    not charge to the process is in ``core_softirq``."""
    server_wakeups: int = 0
    """Times the server slept and was woken over the window (voluntary context switches)."""

    def per_echo_ns(self, server_core: int | None) -> dict[str, float]:
        """The server's CPU nanoseconds per echo (``rate`` counts echoes): in total, in user
        space, in the kernel, and the softirq time of the server's core (None when the
        server was not pinned)."""
        if self.rate <= 0:
            return {}
        per = 1e9 / self.rate
        out = {"total": self.server_cpu * per, "user": self.server_user * per,
               "sys": self.server_sys * per}  # fmt: skip
        if server_core is not None and server_core < len(self.core_softirq):
            out["softirq"] = self.core_softirq[server_core] * per
        return out

    @property
    def wakeups_per_echo(self) -> float | None:
        """The server's sleeps per echo over the window (None without echoes)."""
        echoes = float(self.counter.get("count") or 0)
        return self.server_wakeups / echoes if echoes > 0 else None

    @classmethod
    def between(cls, a: Sample, b: Sample, counter: dict[str, Any]) -> Trial:
        wall = max(b.at - a.at, 1e-9)
        window = float(counter.get("window_s") or 0.0)
        if window <= 0:
            raise BenchError(f"counter reported an empty window: {counter}")
        busy, sirq = [], []
        for ca, cb in zip(a.cores, b.cores, strict=True):
            total = max(cb.total - ca.total, 1e-9)
            busy.append((cb.busy - ca.busy) / total)
            sirq.append((cb.softirq - ca.softirq) / total)
        return cls(
            rate=float(counter["count"]) / window,
            server_cpu=(b.server_cpu - a.server_cpu) / wall,
            generator_cpu=(b.generator_cpu - a.generator_cpu) / wall,
            core_busy=busy,
            core_softirq=sirq,
            counter=counter,
            server_user=(b.server_user_sys[0] - a.server_user_sys[0]) / wall,
            server_sys=(b.server_user_sys[1] - a.server_user_sys[1]) / wall,
            server_wakeups=b.server_wakeups - a.server_wakeups,
        )


@contextlib.contextmanager
def _children() -> Iterator[list[Child]]:
    started: list[Child] = []
    try:
        yield started
    finally:
        for child in started:
            child.close()


def run_trial(
    plan: Plan,
    *,
    budget: float,
    log_dir: Path,
    on_window: Callable[[Child], Callable[[], None]] | None = None,
) -> Trial:
    """Run ``plan`` once; ``budget`` bounds the whole trial in seconds. ``on_window`` is
    called with the server at ``MARK start`` and returns what to call at ``MARK end``
    (a profiler, for instance)."""
    deadline = time.monotonic() + budget
    if plan.prepare is not None:
        plan.prepare()
    try:
        with _children() as started:
            server = Child(plan.server, log_dir, ROOT)
            started.append(server)
            server.wait_for("READY", deadline)
            generator = Child(plan.generator, log_dir, ROOT)
            started.append(generator)
            meter = server if plan.counter == "server" else generator
            meter.wait_for("MARK start", deadline)
            a = Sample.take(server, generator)
            finish = on_window(server) if on_window is not None else None
            meter.wait_for("MARK end", deadline)
            b = Sample.take(server, generator)
            if finish is not None:
                finish()
            meter.wait_for("RESULT", deadline)
            trial = Trial.between(a, b, meter.results[-1])
            _finish(server, generator, plan.counter, deadline)
            trial.server_result = server.results[-1] if server.results else {}
            trial.generator_result = generator.results[-1] if generator.results else {}
            return trial
    finally:
        if plan.cleanup is not None:
            plan.cleanup()


def _finish(server: Child, generator: Child, counter: Counter, deadline: float) -> None:
    """Let the counter exit on its own, stop the other one, and check both exit codes."""
    first, second = (generator, server) if counter == "generator" else (server, generator)
    first.drain(deadline)
    code = first.proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    if code != 0:
        raise first.error(f"exited with code {code}")
    code = second.stop()
    if code != 0:
        raise second.error(f"exited with code {code} when asked to stop")


def median_trial(trials: list[Trial]) -> Trial:
    """The trial with the median rate (the lower middle one for an even count)."""
    ordered = sorted(trials, key=lambda t: t.rate)
    return ordered[(len(ordered) - 1) // 2]


def spread(trials: list[Trial]) -> tuple[float, float, float]:
    rates = [t.rate for t in trials]
    return min(rates), statistics.median(rates), max(rates)
