"""Where the server's CPU goes: ``perf`` over the measured window, and cProfile summaries.

``--perf`` records the server process (kernel and user space, call graphs) between
``MARK start`` and ``MARK end`` of each row's first run and summarises it by shared object
(kernel, libpython, the cffi modules, uvloop, libc) and by symbol. ``--cprofile`` runs the
Python servers under cProfile; :func:`cprofile_summary` prints their top functions.
"""

from __future__ import annotations

import contextlib
import json
import pstats
import shutil
import signal
import subprocess
from collections.abc import Callable
from io import StringIO
from pathlib import Path

from bench._measure import Row
from bench._proc import Child
from bench._suite import Benchmark

__all__ = ["PerfHook", "cprofile_summary", "perf_available"]

OnWindow = Callable[[Child], Callable[[], None]]


def perf_available() -> bool:
    return shutil.which("perf") is not None


class PerfHook:
    """Profile hook for :func:`bench._suite.run_benchmark`; summaries land in ``out``."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.reports: list[Path] = []

    def __call__(self, bench: Benchmark, row: Row) -> OnWindow:
        data = self.out / f"{bench.name}-{row.key}.perf.data"
        text = self.out / f"{bench.name}-{row.key}.perf.txt"

        def on_window(server: Child) -> Callable[[], None]:
            self.out.mkdir(parents=True, exist_ok=True)
            cmd = ["perf", "record", "-q", "-F", "1999", "-g", "-p", str(server.pid),
                   "-o", str(data)]  # fmt: skip
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

            def finish() -> None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                if data.exists():
                    text.write_text(_summary(data, f"{bench.name} / {row.configuration}"))
                    self.reports.append(text)

            return finish

        return on_window


def _perf_report(data: Path, *args: str) -> str:
    cmd = ["perf", "report", "-i", str(data), "--stdio", "--no-children", "-g", "none",
           "--percent-limit", "0.7", *args]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300)
    lines = [ln for ln in out.stdout.splitlines() if ln.strip() and not ln.startswith("#")]
    return "\n".join(lines)


def _summary(data: Path, title: str) -> str:
    return (
        f"perf profile of the server: {title}\n\n"
        f"By shared object:\n{_perf_report(data, '--sort', 'dso')}\n\n"
        f"By symbol:\n{_perf_report(data, '--sort', 'dso,sym')}\n"
    )


def cprofile_summary(path: Path, limit: int = 20) -> str:
    """The top functions by own time in a cProfile dump, and, when the server left its
    counters beside it (``*.counters.json``), the same per received datagram."""
    buf = StringIO()
    stats = pstats.Stats(str(path), stream=buf)
    stats.strip_dirs().sort_stats("tottime").print_stats(limit)
    counters = path.with_suffix(".counters.json")
    if counters.exists():
        datagrams = json.loads(counters.read_text()).get("rx_datagrams", 0)
        if datagrams:
            buf.write(per_datagram(stats, datagrams, limit))
    return buf.getvalue()


def per_datagram(stats: pstats.Stats, datagrams: int, limit: int = 20) -> str:
    """Calls and own time per received datagram (cProfile's own overhead inflates every
    call; compare call counts, and times only between profiles): all Python and builtin
    calls, readable callbacks (``_read_ready``: wake-ups with frames, or batches), event
    loop iterations (asyncio's ``_run_once``; uvloop's loop is C and not seen), and the
    top functions."""
    table: dict[tuple[str, int, str], tuple[int, int, float, float, object]]
    table = stats.stats  # type: ignore[attr-defined]
    calls = sum(row[1] for row in table.values())
    own = sum(row[2] for row in table.values())

    def count(name: str) -> int:
        return sum(row[1] for key, row in table.items() if key[2] == name)

    callbacks, iterations = count("_read_ready"), count("_run_once")
    lines = [
        f"Per received datagram ({datagrams:,} datagrams): {calls / datagrams:.2f} calls, "
        f"{own / datagrams * 1e9:,.0f} ns profiled own time; "
        f"{callbacks / datagrams:.3f} readable callbacks"
        + (f" ({datagrams / callbacks:.1f} datagrams each)" if callbacks else "")
        + (f", {iterations / datagrams:.3f} loop iterations" if iterations else ""),
        "",
        "   calls/dgram  ns/dgram  ns/call  function",
    ]
    top = sorted(table.items(), key=lambda item: -item[1][2])[:limit]
    for (file, line, name), (_, ncalls, tottime, _, _) in top:
        where = f"{Path(file).name}:{line}({name})" if line else name
        lines.append(
            f"  {ncalls / datagrams:12.3f} {tottime / datagrams * 1e9:9,.0f} "
            f"{tottime / ncalls * 1e9:8,.0f}  {where}"
        )
    return "\n".join(lines) + "\n"
