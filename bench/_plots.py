"""PNG plots of a run: round-trip time distributions and rate / CPU-per-echo bars.

Drawn from the run's JSON (:func:`bench._report.to_json`), so a saved ``--json`` file can
be plotted again later: ``python -m bench._plots RESULT.json OUTDIR``. matplotlib is an
optional dependency (``pip install aionetmap[bench]``): without it the bench prints its
tables and says the plots were skipped.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

from bench._suite import Options, Table

__all__ = ["cdf_points", "plot_json", "write_plots"]

PASS_LABELS = {"saturate": "saturating", "rate": "fixed rate", "window1": "window 1"}


def cdf_points(buckets: list[list[int]]) -> tuple[list[float], list[float]]:
    """(RTT µs, fraction of round trips at or below it) at each bucket's upper bound."""
    total = sum(count for _, count in buckets)
    xs: list[float] = []
    ys: list[float] = []
    seen = 0
    for upper_ns, count in buckets:
        seen += count
        xs.append(upper_ns / 1e3)
        ys.append(seen / total)
    return xs, ys


def _pyplot() -> Any:
    matplotlib = importlib.import_module("matplotlib")
    matplotlib.use("Agg")  # files only, no display
    return importlib.import_module("matplotlib.pyplot")


def _rows(bench: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in bench["rows"] if r.get("rate")]


def _latency_plot(plt: Any, bench: dict[str, Any], path: Path) -> bool:
    rows = [r for r in _rows(bench) if (r.get("counter") or {}).get("latency", {}).get("buckets")]
    if not rows:
        return False
    fig, (cdf, tail) = plt.subplots(1, 2, figsize=(10, 3.6), dpi=80)
    for row in rows:
        xs, ys = cdf_points(row["counter"]["latency"]["buckets"])
        cdf.step(xs, ys, where="post", label=row["key"])
        # The tail: the fraction of round trips slower than x, on a log scale.
        tail.step(xs, [max(1.0 - y, 1e-7) for y in ys], where="post", label=row["key"])
    label = PASS_LABELS.get(bench.get("pass", ""), "")
    cdf.set(xscale="log", xlabel="round trip (µs)", ylabel="fraction ≤ x",
            title=f"{bench['name']}, {label}: RTT CDF")  # fmt: skip
    tail.set(xscale="log", yscale="log", xlabel="round trip (µs)", ylabel="fraction > x",
             title="tail", ylim=(1e-5, 1.0))  # fmt: skip
    for ax in (cdf, tail):
        ax.grid(True, which="both", alpha=0.3)
    cdf.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def _bars_plot(plt: Any, passes: list[dict[str, Any]], path: Path) -> bool:
    """Saturating rate per row, and CPU ns per echo at the fixed rate (user/sys/softirq)."""
    sat = next((b for b in passes if b.get("pass") == "saturate" and _rows(b)), None)
    fixed = next((b for b in passes if b.get("pass") == "rate" and _rows(b)), None)
    panels = [p for p in (sat, fixed) if p is not None]
    if not panels:
        return False
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), dpi=80,
                             squeeze=False)  # fmt: skip
    name = panels[0]["name"]
    for ax, bench in zip(axes[0], panels, strict=True):
        rows = _rows(bench)
        keys = [r["key"] for r in rows]
        if bench is sat:
            ax.bar(keys, [r["rate"] / 1e3 for r in rows], color="tab:blue")
            ax.set(ylabel="k echoes/s", title=f"{name}: saturating rate")
        else:
            bottom = [0.0] * len(rows)
            for part, color in (("user", "tab:green"), ("sys", "tab:orange"),
                                ("softirq", "tab:red")):  # fmt: skip
                values = [(r.get("cpu_ns_per_echo") or {}).get(part, 0.0) for r in rows]
                ax.bar(keys, values, bottom=bottom, color=color, label=part)
                bottom = [b + v for b, v in zip(bottom, values, strict=True)]
            rate = bench.get("offered_rate") or 0
            ax.set(ylabel="server CPU ns / echo", title=f"{name}: cost at {rate:,.0f}/s")
            ax.legend(fontsize=7)
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)
        ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def plot_json(result: dict[str, Any], out: Path) -> list[Path]:
    """Draw every plot of a run's JSON into ``out``; returns the files written."""
    plt = _pyplot()
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    by_name: dict[str, list[dict[str, Any]]] = {}
    for bench in result["benchmarks"]:
        by_name.setdefault(bench["name"], []).append(bench)
        path = out / f"{bench['name']}-{bench.get('pass', 'saturate')}-rtt.png"
        if _latency_plot(plt, bench, path):
            written.append(path)
    for name, passes in by_name.items():
        path = out / f"{name}-bars.png"
        if _bars_plot(plt, passes, path):
            written.append(path)
    return written


def write_plots(tables: list[Table], opts: Options) -> str:
    """Plot a finished run into ``opts.out``; returns a line saying what was done."""
    from bench._report import to_json

    try:
        _pyplot()
    except ImportError:
        return "plots skipped: matplotlib is not installed (pip install 'aionetmap[bench]')"
    written = plot_json(to_json(tables, opts, "", []), opts.out)
    names = ", ".join(p.name for p in written) or "none (no rows with results)"
    return f"plots in {opts.out}: {names}"


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m bench._plots RESULT.json OUTDIR")
    for written in plot_json(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2])):
        print(written)
