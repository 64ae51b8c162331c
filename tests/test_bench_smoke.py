"""Smoke runs of the benchmarks (``python -m bench BENCH --smoke``), and proof that the load
generator's own bookkeeping can tell a wrong echo and a missing one from a good one.

The benchmarks are not timed here: a smoke run only shows that every row still runs end to
end and reports consistent numbers.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import aionetmap
from aionetmap.testing.pytest_plugin import require_root
from bench._build import ROOT, build

HEADER = (
    "| benchmark | configuration | pps (median) | ratio vs baseline | server CPU "
    "| generator CPU | notes |"
)


def run_bench(tmp_path: Path, name: str) -> dict[str, Any]:
    """Run one benchmark in smoke mode; return its JSON results after checking the table."""
    result = tmp_path / "result.json"
    cmd = [sys.executable, "-m", "bench", name, "--smoke", "--out", str(tmp_path / "out"),
           "--json", str(result)]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=100, check=False)
    assert proc.returncode == 0, f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    assert HEADER in proc.stdout
    assert (tmp_path / "out" / "latest.md").read_text().count(f"| {name} |") >= 3
    (bench,) = json.loads(result.read_text())["benchmarks"]
    assert bench["name"] == name
    assert bench["errors"] == []
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
