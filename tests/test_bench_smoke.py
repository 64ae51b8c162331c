"""Smoke runs of the benchmarks (``python -m bench BENCH --smoke``), and proof that the load
generator's own bookkeeping can tell a wrong echo and a missing one from a good one.

The benchmarks are not timed here: a smoke run only shows that every row still runs end to
end and reports consistent numbers.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import aionetmap
from aionetmap.testing.pytest_plugin import require_root
from bench._build import ROOT, build
from bench._measure import Trial

HEADER = (
    "| benchmark | configuration | pps (median) | ratio vs baseline | server CPU "
    "| generator CPU | notes |"
)


def run_json(tmp_path: Path, name: str, *extra: str) -> tuple[list[dict[str, Any]], str]:
    """Run one benchmark in smoke mode; return its JSON tables (one per pass) and stdout."""
    result = tmp_path / "result.json"
    cmd = [sys.executable, "-m", "bench", name, "--smoke", "--out", str(tmp_path / "out"),
           "--json", str(result), "--no-plots", *extra]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=100, check=False)
    assert proc.returncode == 0, f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    assert HEADER in proc.stdout
    assert (tmp_path / "out" / "latest.md").read_text().count(f"| {name} |") >= 2
    benches = json.loads(result.read_text())["benchmarks"]
    for bench in benches:
        assert bench["name"] == name
        assert bench["errors"] == []
    return benches, proc.stdout


def run_bench(tmp_path: Path, name: str) -> dict[str, Any]:
    """The saturating pass of one benchmark in smoke mode, its JSON checked."""
    (bench,), _ = run_json(tmp_path, name, "--passes", "saturate")
    assert bench["pass"] == "saturate"
    return dict(bench)


def rows_by_key(bench: dict[str, Any]) -> dict[str, dict[str, Any]]:
    rows = {row["key"]: row for row in bench["rows"]}
    for row in rows.values():
        assert row["rate"] > 0, row
        assert row["rate"] == pytest.approx(row["counter"]["count"] / row["counter"]["window_s"])
        assert 0 <= row["server_cpu"] <= 1.5
        assert 0 <= row["generator_cpu"] <= 1.5
    (baseline,) = [row for row in rows.values() if row["baseline"]]
    for row in rows.values():
        assert row["ratio"] == pytest.approx(row["rate"] / baseline["rate"])
    return rows


def check_echoes(row: dict[str, Any]) -> None:
    counter = row["counter"]
    assert counter["echoed"] == counter["count"] > 0
    assert counter["corrupt"] == 0, row
    assert counter["dup"] == 0, row


def test_pipe_frames_smoke(tmp_path: Path) -> None:
    rows = rows_by_key(run_bench(tmp_path, "pipe-frames"))
    assert set(rows) == {
        "c-reader",
        "per-frame-asyncio",
        "per-frame-uvloop",
        "batch-asyncio",
        "batch-uvloop",
    }
    assert rows["c-reader"]["baseline"]
    for key, row in rows.items():
        # The blaster sent at least what the reader counted in its window.
        assert row["generator_result"]["count"] >= row["counter"]["count"], key
        if key != "c-reader":
            assert row["counter"]["total"] >= row["counter"]["count"]
            assert row["counter"]["rx_frames"] == row["counter"]["total"], key


def test_pipe_udp_smoke(tmp_path: Path) -> None:
    rows = rows_by_key(run_bench(tmp_path, "pipe-udp"))
    assert set(rows) == {
        "c-reflector",
        "aionetmap-asyncio",
        "aionetmap-uvloop",
        "aionetmap-batch-uvloop",
    }
    for key, row in rows.items():
        check_echoes(row)
        assert row["counter"]["lost"] == 0, key  # nothing can drop inside the pipe
        if key != "c-reflector":
            server = row["server_result"]
            assert server["rx_datagrams"] >= row["counter"]["echoed"]
            assert server["dropped"] == 0, key


@pytest.mark.netns
@pytest.mark.parametrize("name", ["udp-veth", "udp-veth-raw"])
def test_udp_veth_smoke(tmp_path: Path, name: str) -> None:
    require_root()
    rows = rows_by_key(run_bench(tmp_path, name))
    assert set(rows) == {
        "asyncio-socket",
        "asyncio-socket-malloc",
        "uvloop-socket",
        "aionetmap-asyncio",
        "aionetmap-uvloop",
        "c-reflector",
    }
    assert rows["uvloop-socket"]["baseline"]
    for row in rows.values():
        check_echoes(row)
    for key in ("aionetmap-asyncio", "aionetmap-uvloop"):
        assert rows[key]["server_result"]["rx_datagrams"] >= rows[key]["counter"]["echoed"]


class FaultyEcho(asyncio.DatagramProtocol):
    """Echoes, except that every 10th datagram is dropped and every 10th (offset 5) has
    one byte flipped."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.seen = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.DatagramTransport)
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.seen += 1
        if self.seen % 10 == 0:
            return
        if self.seen % 10 == 5:
            data = data[:-1] + bytes([data[-1] ^ 0x01])
        self.transport.sendto(data, addr)


async def test_generator_counts_corrupt_and_lost_echoes() -> None:
    """The byte-exact check and the loss timeout of the C generator both fire, and its
    books balance: every datagram sent was echoed intact, counted lost, or is in flight."""
    program = build("pipepeer")
    name = f"benchtest-{os.getpid()}-{id(asyncio.get_running_loop()):x}.0"
    base, _, ident = name.rpartition(".")
    transport, server = await aionetmap.create_datagram_endpoint(
        FaultyEcho, port=f"pipe:{base}{{{ident}", local_addr=("10.77.0.1", 7),
        address="10.77.0.1/24", mac="02:00:00:77:00:01",
    )  # fmt: skip
    try:
        proc = await asyncio.create_subprocess_exec(
            str(program), "echo", "--pipe", name, "--ip", "10.77.0.2",
            "--mac", "02:00:00:77:00:02", "--server-ip", "10.77.0.1",
            "--server-mac", "02:00:00:77:00:01", "--port", "7", "--window", "64",
            "--timeout-ms", "20", "--warmup", "0.1", "--duration", "0.4",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    finally:
        transport.close()
    assert proc.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert lines[:2] == ["MARK start", "MARK end"]
    result = json.loads(lines[2].removeprefix("RESULT "))
    assert result["echoed"] > 0
    assert result["corrupt"] > 0
    assert result["lost"] > 0
    # The server saw every datagram; a tenth were dropped and a tenth came back damaged.
    assert result["total_corrupt"] == pytest.approx(result["total_sent"] / 10, rel=0.2, abs=3)
    assert (
        result["total_sent"] == result["total_echoed"] + result["total_lost"] + result["in_flight"]
    )
    assert server.seen >= result["total_echoed"] + result["total_corrupt"]


# === fixed rate, latency, plots and soak =====================================================

COST_HEADER = "| configuration | echoes/s | server CPU ns/echo | user | sys |"


def check_latency(latency: dict[str, Any], echoed: int) -> None:
    assert latency["n"] == echoed > 0
    keys = ("min_us", "p50_us", "p90_us", "p99_us", "p999_us", "max_us")
    values = [latency[k] for k in keys]
    assert values == sorted(values), latency
    assert values[0] > 0


def test_pipe_udp_rate_and_window1_passes(tmp_path: Path) -> None:
    """Every row of the fixed-rate pass is offered the same load and reports its CPU per echo;
    both passes report round-trip percentiles over the echoes of the window."""
    benches, stdout = run_json(
        tmp_path, "pipe-udp", "--passes", "rate,window1", "--rate", "20000",
        "--only", "c-reflector,aionetmap-uvloop",
    )  # fmt: skip
    assert [b["pass"] for b in benches] == ["rate", "window1"]
    assert stdout.count(COST_HEADER) == 2
    rate, window1 = benches
    assert rate["offered_rate"] == 20000
    assert rate["rate_source"] == "--rate"
    for row in rate["rows"]:
        check_echoes(row)
        # Paced: the echoes keep to the schedule (a wide band: no timing is asserted).
        assert 0.5 * 20000 < row["rate"] < 1.5 * 20000, row["key"]
        # The server's sleeps (voluntary context switches) over the window, per echo.
        assert row["wakeups_per_echo"] == pytest.approx(
            row["server_wakeups"] / row["counter"]["count"]
        )
        assert row["server_wakeups"] > 0
        cost = row["cpu_ns_per_echo"]
        assert cost["total"] == pytest.approx(row["server_cpu"] * 1e9 / row["rate"])
        assert cost["user"] >= 0
        assert cost["sys"] >= 0
        check_latency(row["latency"], row["counter"]["echoed"])
        buckets = row["counter"]["latency"]["buckets"]
        assert sum(n for _, n in buckets) == row["counter"]["echoed"]
    for bench in benches:  # the target ratios, against the baseline row
        base, other = bench["rows"]
        assert base["vs_baseline"] == {"cpu_per_echo": 1.0, "p50": 1.0, "p99": 1.0}
        assert other["vs_baseline"]["p50"] == pytest.approx(
            other["latency"]["p50_us"] / base["latency"]["p50_us"]
        )
        assert other["vs_baseline"]["cpu_per_echo"] == pytest.approx(
            other["cpu_ns_per_echo"]["total"] / base["cpu_ns_per_echo"]["total"]
        )
    for row in window1["rows"]:
        check_echoes(row)
        assert row["counter"]["in_flight"] <= 1
        check_latency(row["latency"], row["counter"]["echoed"])


def test_rate_pass_defaults_to_half_the_slowest_saturating_row() -> None:
    from bench._suite import Load, Options, RowResult, Table, _load, round_down
    from bench.pipe_udp import PipeUdp

    bench = PipeUdp(Options())
    trial = Trial(rate=123_456.0, server_cpu=0.5, generator_cpu=0.5, core_busy=[],
                  core_softirq=[], counter={})  # fmt: skip
    fast = Trial(**{**trial.__dict__, "rate": 999_999.0})
    rows = bench.rows()
    done = [Table(bench, "", [RowResult(rows[0], [trial], []), RowResult(rows[1], [fast], [])],
                  [], Load("saturate"))]  # fmt: skip
    assert _load(bench, "rate", done) == Load(
        "rate", 61_000.0, "half the slowest row's saturating rate"
    )
    assert _load(bench, "rate", []).rate == bench.default_rate
    assert _load(bench, "window1", done) == Load("window1")
    bench.opts.rate = 5000.0
    assert _load(bench, "rate", done) == Load("rate", 5000.0, "--rate")
    assert [round_down(x) for x in (7.9, 123.0, 98_765.0)] == [7.0, 120.0, 98_000.0]


def run_hist(values: list[int]) -> dict[str, Any]:
    proc = subprocess.run([str(build("pipepeer")), "hist"], input="\n".join(map(str, values)),
                          capture_output=True, text=True, timeout=30, check=True)  # fmt: skip
    result: dict[str, Any] = json.loads(proc.stdout.removeprefix("RESULT "))["latency"]
    return result


def test_histogram_percentiles_on_known_inputs() -> None:
    """The generators' RTT histogram: exact below 64 ns, within a bucket (3 %) above, never
    below the true percentile, and nothing lost (the counts add up)."""
    small = run_hist(list(range(1, 11)))  # 1..10 ns: one bucket each
    assert small["n"] == 10
    assert small["p50_us"] * 1e3 == pytest.approx(5)
    assert small["p90_us"] * 1e3 == pytest.approx(9)
    assert small["max_us"] * 1e3 == pytest.approx(10)
    assert small["buckets"] == [[v, 1] for v in range(1, 11)]

    values = list(range(1000, 1_001_000, 1000))  # 1 µs .. 1 ms, 1000 values
    big = run_hist(values)
    assert big["n"] == 1000
    assert sum(n for _, n in big["buckets"]) == 1000
    for key, q in (("p50_us", 50), ("p90_us", 90), ("p99_us", 99), ("p999_us", 99.9)):
        true = values[math.ceil(q / 100 * len(values)) - 1] / 1e3  # the ceil(q% * n)-th
        assert true <= big[key] <= true * (1 + 1 / 32), key
    assert big["min_us"] == 1.0
    assert big["max_us"] == 1000.0

    huge = run_hist([5, 2**45])  # past the last bucket: counted there, max kept exact
    assert huge["n"] == 2
    assert huge["max_us"] == 2**45 / 1e3
    assert huge["p999_us"] == huge["max_us"]
    assert run_hist([])["n"] == 0


def test_generator_holds_its_rate(tmp_path: Path) -> None:
    """pipepeer echo --rate against the C reflector: the datagrams sent over a 0.5 s window
    are about what was asked (a wide band), each echoed, none behind schedule."""
    program = str(build("pipepeer"))
    name = f"benchrate-{os.getpid()}.0"
    reflector = [program, "reflect", "--pipe", name, "--ip", "10.77.0.1",
                 "--mac", "02:00:00:77:00:01"]  # fmt: skip
    with subprocess.Popen(reflector, stdout=subprocess.PIPE) as reflect:
        try:
            assert reflect.stdout is not None
            assert reflect.stdout.readline() == b"READY\n"
            proc = subprocess.run(
                [program, "echo", "--pipe", name, "--ip", "10.77.0.2",
                 "--mac", "02:00:00:77:00:02", "--server-ip", "10.77.0.1",
                 "--server-mac", "02:00:00:77:00:01", "--rate", "10000",
                 "--warmup", "0.1", "--duration", "0.5", "--report", "0.25"],
                capture_output=True, text=True, timeout=30, check=True,
            )  # fmt: skip
        finally:
            reflect.terminate()
            reflect.communicate(timeout=10)
    lines = proc.stdout.splitlines()
    intervals = [json.loads(ln.split(" ", 1)[1]) for ln in lines if ln.startswith("INTERVAL ")]
    result = json.loads(lines[-1].removeprefix("RESULT "))
    assert 2500 <= result["sent"] <= 7500, result
    assert result["behind"] == 0
    assert result["lost"] == 0
    assert len(intervals) == 2
    assert sum(i["sent"] for i in intervals) == result["sent"]


def test_plots_skipped_without_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    import bench._plots as plots
    from bench._suite import Options

    def missing() -> None:
        raise ImportError("No module named 'matplotlib'")

    monkeypatch.setattr(plots, "_pyplot", missing)
    assert plots.write_plots([], Options()).startswith("plots skipped: matplotlib")
    assert plots.cdf_points([[10, 1], [20, 2], [40, 1]]) == ([0.01, 0.02, 0.04],
                                                            [0.25, 0.75, 1.0])  # fmt: skip


@pytest.mark.netns
def test_soak_smoke(tmp_path: Path) -> None:
    """A three-second soak: per-interval rows, the side traffic answered, the malformed
    frames all dropped and counted by the server."""
    require_root()
    result = tmp_path / "soak.json"
    cmd = [sys.executable, "-m", "bench", "soak", "--minutes", "0.05", "--interval", "1",
           "--rate", "5000", "--out", str(tmp_path / "out"), "--json", str(result)]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=100, check=False)
    assert proc.returncode == 0, f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    assert "| minute | echoes/s | lost |" in proc.stdout
    soak = json.loads(result.read_text())
    assert len(soak["intervals"]) == 3
    for interval in soak["intervals"]:
        assert interval["rss_kib"] > 0
        assert interval["fds"] > 0
        assert interval["echoed"] > 0
        assert interval["lost"] == 0
        assert interval["latency"]["n"] == interval["echoed"]
    assert soak["generator"]["lost"] == 0
    assert soak["generator"]["corrupt"] == 0
    ping = soak["side"]["ping"]
    assert ping["received"] == ping["sent"] > 0
    assert soak["side"]["arping"]["received"] == soak["side"]["arping"]["sent"] > 0
    malformed = soak["side"]["malformed"]["count"]
    assert malformed > 0
    # Every malformed frame is a counted drop (an ARP or ping is not).
    assert soak["server"]["dropped"] == malformed
    assert sum(sum(i["drops"].values()) for i in soak["intervals"]) <= malformed


def test_cprofile_summary_per_received_datagram(tmp_path: Path) -> None:
    """``--cprofile`` leaves the server's counters beside its profile and the summary divides
    calls and own time by the datagrams received (readable callbacks, loop iterations)."""
    _, out = run_json(
        tmp_path,
        "pipe-udp",
        "--passes",
        "saturate",
        "--only",
        "c-reflector,aionetmap-asyncio",
        "--cprofile",
    )
    profiles = tmp_path / "out" / "profiles"
    counters = json.loads((profiles / "pipe-udp-aionetmap-asyncio.counters.json").read_text())
    assert counters["rx_datagrams"] > 0
    assert f"Per received datagram ({counters['rx_datagrams']:,} datagrams):" in out
    assert "readable callbacks" in out
    assert "loop iterations" in out  # asyncio's _run_once
    assert "udp.py" in out.split("Per received datagram")[1]  # sendto, once per echo
