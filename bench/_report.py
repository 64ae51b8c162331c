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

__all__ = ["format_table", "machine", "render", "to_json"]

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


def format_table(table: Table, opts: Options) -> str:
    """The markdown table of one benchmark, with its settings and notes."""
    bench = table.bench
    base = table.baseline()
    lines = [
        f"### {bench.title}",
        "",
        f"Unit: {bench.unit}; {bench.settings()}. {opts.runs} run(s) per row, "
        f"{opts.warmup:g} s warm-up, {opts.duration:g} s measured; {table.placement}.",
        "",
        HEADER,
        RULE,
        *(_line(table, r, base) for r in table.results),
        "",
        *bench.notes,
    ]
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


def to_json(tables: list[Table], opts: Options, command: str, facts: list[str]) -> dict[str, Any]:
    """The same results as :func:`render`, for programs (and the smoke test)."""
    benchmarks = []
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
                )
            rows.append(row)
        benchmarks.append(
            {
                "name": table.bench.name,
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
        },
        "benchmarks": benchmarks,
    }
