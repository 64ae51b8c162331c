"""Result tables (markdown) and the description of the machine they were measured on."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from importlib import metadata
from typing import Any

from bench._build import ROOT
from bench._suite import Options, RowResult, Table, fmt_rate

__all__ = ["format_costs", "format_table", "machine", "render", "to_json"]

HEADER = (
    "| benchmark | configuration | pps (median) | ratio vs baseline | server CPU "
    "| generator CPU | notes |"
)
RULE = "|---|---|---:|---:|---:|---:|---|"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "?"
    return (out.stdout or out.stderr).splitlines()[0].strip() if (out.stdout or out.stderr) else "?"


def _package(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _virtualization() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((ln for ln in f if ln.startswith("flags")), "")
    except OSError:
        return ""
    return "virtual machine" if " hypervisor" in flags else "bare metal"


def _source_state() -> str:
    """The commit measured, and whether the library had uncommitted changes."""
    root = str(ROOT)
    head = _version(["git", "-C", root, "log", "-1", "--format=%h %cd", "--date=short"])
    status = subprocess.run(
        ["git", "-C", root, "status", "--porcelain", "--", "aionetmap"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    dirty = len(status.stdout.splitlines()) if status.returncode == 0 else 0
    return f"aionetmap at commit {head}" + (
        f", plus uncommitted changes to {dirty} file(s) under aionetmap/" if dirty else ""
    )


def machine() -> list[str]:
    """One line per fact about this machine and software."""
    load = os.getloadavg()
    return [
        _source_state(),
        f"date: {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        f"CPU: {_cpu_model()}, {os.cpu_count()} cores ({_virtualization()})",
        f"kernel: {platform.system()} {platform.release()}",
        f"Python {platform.python_version()} ({sys.executable}), "
        f"uvloop {_package('uvloop')}, cffi {_package('cffi')}",
        f"libc: {_version(['ldd', '--version'])}; compiler: {_version(['cc', '--version'])}",
        f"load average before the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
    ]


def _cpu(value: float) -> str:
    return f"{100 * value:.0f} %"


def _line(table: Table, result: RowResult, base: RowResult | None) -> str:
    name = table.bench.name
    if not result.trials:
        return f"| {name} | {result.row.configuration} | failed | | | | {'; '.join(result.notes)} |"
    t = result.median
    if base is None:
        ratio = "n/a"
    elif result is base:
        ratio = "1.00 (baseline)"
    else:
        ratio = f"{t.rate / base.median.rate:.2f}"
    return (
        f"| {name} | {result.row.configuration} | {fmt_rate(t.rate)} | {ratio} "
        f"| {_cpu(t.server_cpu)} | {_cpu(t.generator_cpu)} | {'; '.join(result.notes)} |"
    )


PASS_TITLES = {"saturate": "", "rate": " (fixed rate)", "window1": " (window 1)"}

COST_HEADER = (
    "| configuration | echoes/s | server CPU ns/echo | user | sys | softirq (server core) "
    "| wake-ups/echo | RTT p50 µs | p99 µs | p99.9 µs | max µs "
    "| vs baseline: CPU/echo, p50, p99 |"
)
COST_RULE = "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
COST_NOTE = (
    "Cost per echo: the server process's CPU time over the measured window divided by the "
    "echoes in it (`/proc/PID/task/*/schedstat`), split into user space (the library's own "
    "share, and the Python interpreter's) and system time (the kernel on the server's "
    "behalf: system calls and the network processing they run inline, such as veth "
    "delivering the echoes into the peer namespace, which the sending core pays); `softirq` "
    "is the server core's softirq time per echo from `/proc/stat`, kernel work charged to no "
    "process. Wake-ups: the server's voluntary context switches (times it slept and was "
    "woken) per echo. The C reflector row is the floor of the path: what the same port code costs "
    "with no Python. RTT: every round trip the generator timed in the window (log-bucket "
    "histogram, buckets 3 % wide, values are bucket upper bounds). The last column divides "
    "each row's CPU per echo, median and 99th percentile RTT by the baseline row's (the "
    "issue's targets: CPU per echo at the fixed rate, p50 and p99 at window 1)."
)


def _ns(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f}"


def _per(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _us(latency: dict[str, Any], key: str) -> str:
    value = latency.get(key)
    return "" if value is None else f"{value:,.1f}"


def baseline_ratios(table: Table, result: RowResult, opts: Options) -> dict[str, float]:
    """This row's CPU per echo, median and p99 RTT over the baseline row's (when both have
    them)."""
    base = table.baseline()
    if base is None or not result.trials:
        return {}
    server_core = opts.placement()[0]
    mine, theirs = result.median, base.median
    pairs = {
        "cpu_per_echo": (mine.per_echo_ns(server_core).get("total"),
                         theirs.per_echo_ns(server_core).get("total")),
        "p50": (mine.counter.get("latency", {}).get("p50_us"),
                theirs.counter.get("latency", {}).get("p50_us")),
        "p99": (mine.counter.get("latency", {}).get("p99_us"),
                theirs.counter.get("latency", {}).get("p99_us")),
    }  # fmt: skip
    return {k: a / b for k, (a, b) in pairs.items() if a is not None and b}


def format_costs(table: Table, opts: Options) -> str:
    """Cost per echo and round-trip percentiles of an echo benchmark's table."""
    server_core = opts.placement()[0]
    lines = [COST_HEADER, COST_RULE]
    for result in table.results:
        if not result.trials:
            lines.append(f"| {result.row.configuration} | failed | | | | | | | | | | |")
            continue
        t = result.median
        cost = t.per_echo_ns(server_core)
        lat = t.counter.get("latency", {})
        ratios = baseline_ratios(table, result, opts)
        vs = ", ".join(f"{ratios[k]:.2f}" if k in ratios else "?"
                       for k in ("cpu_per_echo", "p50", "p99"))  # fmt: skip
        lines.append(
            f"| {result.row.configuration} | {fmt_rate(t.rate)} | {_ns(cost.get('total'))} "
            f"| {_ns(cost.get('user'))} | {_ns(cost.get('sys'))} | {_ns(cost.get('softirq'))} "
            f"| {_per(t.wakeups_per_echo)} | {_us(lat, 'p50_us')} | {_us(lat, 'p99_us')} "
            f"| {_us(lat, 'p999_us')} | {_us(lat, 'max_us')} | {vs} |"
        )
    return "\n".join([*lines, "", COST_NOTE]) + "\n"


def format_table(table: Table, opts: Options) -> str:
    """The markdown table of one benchmark, with its settings and notes."""
    bench = table.bench
    base = table.baseline()
    lines = [
        f"### {bench.title}{PASS_TITLES.get(table.load.kind, '')}",
        "",
        f"Unit: {bench.unit}; {table.settings}. {opts.runs} run(s) per row, "
        f"{opts.warmup:g} s warm-up, {opts.duration:g} s measured; {table.placement}.",
        "",
        HEADER,
        RULE,
        *(_line(table, r, base) for r in table.results),
        "",
        *bench.notes,
    ]
    if bench.echo:
        lines += ["", format_costs(table, opts)]
    if table.errors:
        lines += ["", "Failures:", *(f"- {e.splitlines()[0]}" for e in table.errors)]
    return "\n".join(lines) + "\n"


def render(tables: list[Table], opts: Options, command: str, facts: list[str]) -> str:
    """A whole report: the machine (``facts`` from :func:`machine`), command, every table."""
    parts = [
        "## Latest run",
        "",
        "Machine:",
        "",
        *(f"- {fact}" for fact in facts),
        "",
        f"Command: `{command}`",
        "",
    ]
    for table in tables:
        parts.append(format_table(table, opts))
    return "\n".join(parts)


def _percentiles(counter: dict[str, Any]) -> dict[str, Any] | None:
    """The generator's round-trip summary without its buckets (those stay in ``counter``)."""
    latency = counter.get("latency")
    if not isinstance(latency, dict):
        return None
    return {k: v for k, v in latency.items() if k != "buckets"}


def to_json(tables: list[Table], opts: Options, command: str, facts: list[str]) -> dict[str, Any]:
    """The same results as :func:`render`, for programs (and the smoke test)."""
    benchmarks = []
    server_core = opts.placement()[0]
    for table in tables:
        base = table.baseline()
        rows = []
        for result in table.results:
            row: dict[str, Any] = {
                "key": result.row.key,
                "configuration": result.row.configuration,
                "baseline": result.row.baseline,
                "rates": [t.rate for t in result.trials],
                "notes": result.notes,
            }
            if result.trials:
                t = result.median
                row.update(
                    rate=t.rate,
                    ratio=t.rate / base.median.rate if base is not None else None,
                    server_cpu=t.server_cpu,
                    generator_cpu=t.generator_cpu,
                    core_busy=t.core_busy,
                    counter=t.counter,
                    server_result=t.server_result,
                    generator_result=t.generator_result,
                    server_user=t.server_user,
                    server_sys=t.server_sys,
                    core_softirq=t.core_softirq,
                    cpu_ns_per_echo=t.per_echo_ns(server_core) if table.bench.echo else None,
                    server_wakeups=t.server_wakeups,
                    wakeups_per_echo=t.wakeups_per_echo,
                    latency=_percentiles(t.counter),
                    vs_baseline=baseline_ratios(table, result, opts) if table.bench.echo else None,
                )
            rows.append(row)
        benchmarks.append(
            {
                "name": table.bench.name,
                "pass": table.load.kind,
                "offered_rate": table.load.rate or None,
                "rate_source": table.load.source or None,
                "settings": table.settings,
                "unit": table.bench.unit,
                "rows": rows,
                "errors": table.errors,
                "placement": table.placement,
            }
        )
    return {
        "machine": facts,
        "command": command,
        "options": {
            "runs": opts.runs,
            "warmup": opts.warmup,
            "duration": opts.duration,
            "size": opts.size,
            "window": opts.window,
            "batch": opts.batch,
            "passes": opts.passes,
            "rate": opts.rate,
        },
        "benchmarks": benchmarks,
    }
