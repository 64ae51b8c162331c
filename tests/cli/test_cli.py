"""``python -m aionetmap``: errors as one line, info, bench, echo and demo end to end, Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

import aionetmap
from aionetmap.cli import commands
from aionetmap.cli import demo as demo_module
from aionetmap.cli import main as cli
from aionetmap.cli.demo import run_demo
from aionetmap.cli.errors import CliError, user_message
from aionetmap.cli.runtime import (
    LoopName,
    Meter,
    Sample,
    Stopper,
    drop_counters,
    format_rate,
    run,
)
from aionetmap.ports import open_port
from aionetmap.portspec import parse_portspec
from aionetmap.stack.addresses import format_mac, parse_mac
from aionetmap.testing.netns import VethLink
from tests.cli.live import until_running
from tests.frame_checksums import partial_checksum

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
IS_ROOT = os.geteuid() == 0
_names = itertools.count()


def _pipe_name() -> str:
    return f"cli{os.getpid()}x{next(_names)}"


def _shm_leftovers(name: str) -> list[str]:
    return [f for f in os.listdir("/dev/shm") if name in f]


def _netns_of(pid: int) -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return [line for line in out.stdout.splitlines() if f"aionetmap-{pid}-" in line]


def _error_line(capsys: pytest.CaptureFixture[str], argv: Sequence[str]) -> str:
    """Run the CLI in-process; it must fail with status 1 and exactly one stderr line."""
    assert cli.main(list(argv)) == 1
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"aionetmap {argv[0]}: error: ")
    return lines[0]


# ---- argument parsing and one-line errors ---------------------------------------------


def test_help_runs_as_a_module_and_lists_every_command() -> None:
    proc = subprocess.run([sys.executable, "-m", "aionetmap", "--help"], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    for command in ("demo", "echo", "capture", "info", "bench"):
        assert f"    {command} " in proc.stdout
    assert "pipe:NAME{ID" in proc.stdout


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param([], id="no-command"),
        pytest.param(["echo", "pipe:x{0"], id="echo-without-ip"),
        pytest.param(["capture", "pipe:x{0"], id="capture-without-file"),
        pytest.param(["capture", "pipe:x{0", "-w", "f", "-c", "0"], id="zero-count"),
        pytest.param(["echo", "pipe:x{0", "--ip", "1.2.3.4/8", "--port", "70000"], id="port"),
        pytest.param(["demo", "--veth", "--pipe"], id="two-links"),
    ],
)
def test_bad_command_lines_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert "usage: aionetmap" in capsys.readouterr().err


def test_bad_portspec_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    line = _error_line(capsys, ["info", "netmap:eth0-x"])
    assert "invalid portspec 'netmap:eth0-x'" in line
    assert "a ring number" in line
    line = _error_line(capsys, ["echo", "eth0", "--ip", "10.0.0.1/24"])
    assert "unknown or missing subsystem" in line


def test_missing_netmap_module_or_interface_is_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = _error_line(capsys, ["info", "netmap:anmnosuch0"])
    if os.path.exists("/dev/netmap"):
        assert "interface not found" in line
    else:
        assert "the netmap kernel module is not loaded" in line
        assert "packet:IFNAME" in line  # and it says what to use instead


def test_missing_interface_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    line = _error_line(capsys, ["capture", "packet:anmnosuch0", "-w", os.devnull])
    if IS_ROOT:
        assert "no interface named 'anmnosuch0'" in line
    else:
        assert "run as root" in line


def test_not_root_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["echo", "packet:lo", "--ip", "10.9.9.9/24"]
    if not IS_ROOT:
        assert "needs CAP_NET_RAW" in _error_line(capsys, argv)
        return
    proc = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
         sys.executable, "-m", "aionetmap", *argv],
        cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "aionetmap echo: error: packet:lo: Operation not permitted: needs CAP_NET_RAW to open "
        "a raw socket (run as root)"
    ]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(["echo", "pipe:x{0", "--ip", "10.0.0.1"], "give the prefix", id="no-prefix"),
        pytest.param(["echo", "pipe:x{0", "--ip", "10.0.0.0/24"], "network", id="network-ip"),
        pytest.param(["echo", "pipe:x{0", "--ip", "10.0.0.1/24", "--mac", "zz"], "MAC", id="mac"),
        pytest.param(
            ["capture", "pipe:x{0", "-w", "/nonexistent/dir/f.pcap"],
            "/nonexistent/dir/f.pcap: No such file",
            id="unwritable",
        ),
    ],
)
def test_bad_values_are_one_line(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv[1] = f"pipe:{_pipe_name()}{{0"
    assert expected in _error_line(capsys, argv)


def test_capture_with_a_bad_port_leaves_no_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "never.pcap"
    assert "invalid portspec" in _error_line(capsys, ["capture", "eth0", "-w", str(path)])
    assert not path.exists()


def test_only_user_errors_lose_their_traceback() -> None:
    with pytest.raises(ValueError, match="empty port name") as spec_error:
        parse_portspec("netmap:")
    message = user_message(spec_error.value)
    assert message is not None
    assert "\n" not in message  # the portspec error's caret diagram is left out
    assert user_message(OSError(2, "netmap:x: gone")) == "netmap:x: gone"
    assert user_message(RuntimeError("a bug")) is None

    def buggy() -> int:
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        cli.guarded(buggy, "info")


def test_errors_leave_the_process_with_status_1_and_no_traceback() -> None:
    argv = [sys.executable, "-m", "aionetmap", "info", "vale0:"]
    proc = subprocess.run(argv, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=60,
                          check=False)  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.startswith("aionetmap info: error: invalid portspec 'vale0:'")
    assert proc.stderr.count("\n") == 1


# ---- info and bench ------------------------------------------------------------------


def test_info_reports_the_port(capsys: pytest.CaptureFixture[str]) -> None:
    name = _pipe_name()
    assert cli.main(["info", f"pipe:{name}{{0@conf:slots=64,buf-size=1024"]) == 0
    out = capsys.readouterr().out
    assert f"port       pipe:{name}{{0\n" in out
    assert "backend    pipe" in out
    assert "rings      1 rx / 1 tx" in out
    assert "slots      64 per rx ring / 64 per tx ring" in out
    assert "buffer     1024 bytes per slot" in out
    assert "memory id  -" in out
    assert not _shm_leftovers(name)  # info closed the pipe it created


def test_info_json(capsys: pytest.CaptureFixture[str]) -> None:
    name = _pipe_name()
    assert cli.main(["info", "--json", f"pipe:{name}}}7"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["backend"] == "pipe"
    assert (data["rx_slots"], data["buf_size"], data["mac"]) == (1024, 2048, None)


@pytest.mark.netns
def test_info_on_a_veth_interface(veth: VethLink) -> None:
    proc = subprocess.run(
        ["ip", "netns", "exec", veth.our_netns, sys.executable, "-m", "aionetmap", "info",
         f"packet:{veth.our_ifname}"],
        cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "backend    packet" in proc.stdout
    assert f"interface  {veth.our_ifname}" in proc.stdout
    assert "mtu        1500" in proc.stdout
    assert f"mac        {':'.join(f'{b:02x}' for b in veth.our_mac)}" in proc.stdout


def test_bench_runs_python_m_bench_in_the_checkout(tmp_path: Path) -> None:
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "__main__.py").write_text(
        "import sys\nprint('bench args', sys.argv[1:])\nsys.exit(3)\n"
    )
    out = tmp_path / "out.txt"
    with out.open("w") as stream:
        # The child writes to the inherited fd 1: point it at a file for the assertion.
        saved = os.dup(1)
        os.dup2(stream.fileno(), 1)
        try:
            rc = commands.bench(["--quick", "x"], root=tmp_path)
        finally:
            os.dup2(saved, 1)
            os.close(saved)
    assert rc == 3
    assert out.read_text() == "bench args ['--quick', 'x']\n"


def test_bench_without_a_runner_says_how_to_run_them(tmp_path: Path) -> None:
    err = io.StringIO()
    assert commands.bench([], root=tmp_path, err=err) == 1
    assert "make bench" in err.getvalue()
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "udp_echo.py").write_text("")
    err = io.StringIO()
    assert commands.bench([], root=tmp_path, err=err) == 1
    assert "python bench/udp_echo.py" in err.getvalue()


# ---- the live meter and signals -------------------------------------------------------


def test_format_rate_uses_pktgen_units() -> None:
    assert format_rate(999) == "999 pps"
    assert format_rate(12_345) == "12.35 Kpps"
    assert format_rate(1_234_567) == "1.23 Mpps"
    assert format_rate(2.5e9, "bps") == "2.50 Gbps"


def test_drop_counters_separate_lost_from_ignored_frames() -> None:
    stats = {"rx_frames": 10, "rx_dropped_kernel": 2, "fwd_dropped": 1, "tx_dropped_peer_closed": 0,
             "drop_udp_no_listener": 3, "drop_arp_not_for_us": 1, "dropped": 4}  # fmt: skip
    drops, ignored, reasons = drop_counters(stats)
    assert (drops, ignored) == (3, 4)
    assert reasons == {"rx_dropped_kernel": 2, "fwd_dropped": 1, "drop_udp_no_listener": 3,
                       "drop_arp_not_for_us": 1}  # fmt: skip


def test_checksum_drops_count_as_drops_not_as_ignored() -> None:
    stats = {"drop_udp_bad_checksum": 5, "drop_ip_bad_checksum": 1, "drop_udp_no_listener": 2,
             "dropped": 8}  # fmt: skip
    drops, ignored, reasons = drop_counters(stats)
    assert (drops, ignored) == (6, 2)
    assert reasons == {"drop_udp_bad_checksum": 5, "drop_ip_bad_checksum": 1,
                       "drop_udp_no_listener": 2}  # fmt: skip


def test_meter_prints_each_hint_once(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    samples = [Sample(0, 0), Sample(1, 0, 2, 0, {"drop_x": 2}), Sample(2, 0, 3, 0, {"drop_x": 3})]
    current = [samples[0]]
    out = io.StringIO()
    meter = Meter(lambda: current[0], out, hints={"drop_x": "hint: {count} x", "other": "never"})
    prev, at = samples[0], 100.0
    for sample in samples:
        current[0] = sample
        now[0] += 1
        prev, at = meter.tick(prev, at)
    meter.print_summary("done")
    hints = [line for line in out.getvalue().splitlines() if "hint" in line or "never" in line]
    assert hints == ["hint: 2 x"]


def test_meter_prints_rates_and_a_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    counts = [Sample(0, 0), Sample(5000, 4000, 10, 2, {"rx_dropped_kernel": 10})]
    out = io.StringIO()
    meter = Meter(lambda: counts[-1] if now[0] > 100 else counts[0], out, interval=1.0)
    now[0] = 102.0
    meter.tick(counts[0], 100.0)
    meter.print_summary("test summary")
    lines = out.getvalue().splitlines()
    assert lines[0] == (
        "[    2.0 s] rx   2.50 Kpps  tx   2.00 Kpps  drops     5 /s  "
        "(total rx 5000 tx 4000 drops 10 ignored 2)"
    )
    assert lines[1] == (
        "--- test summary: 2.0 s, rx 5000 (2.50 Kpps avg), tx 4000 (2.00 Kpps avg), "
        "drops 10, ignored 2"
    )
    assert lines[2] == "    by reason: rx_dropped_kernel 10"


async def test_stopper_turns_sigint_into_an_event() -> None:
    with Stopper() as stopper:
        assert not await stopper.wait(0.01)
        os.kill(os.getpid(), signal.SIGINT)
        assert await stopper.wait(5)
    assert stopper.signal_name == "SIGINT"


@pytest.mark.parametrize(("name", "module"), [("asyncio", "asyncio"), ("uvloop", "uvloop")])
def test_run_uses_the_chosen_loop(name: str, module: str) -> None:
    async def loop_module() -> int:
        return int(type(asyncio.get_running_loop()).__module__.startswith(module))

    assert run(loop_module(), name) == 1  # type: ignore[arg-type]


# ---- echo ---------------------------------------------------------------------------


async def test_echo_serves_until_count_with_live_counters() -> None:
    name = _pipe_name()
    err = io.StringIO()
    server = asyncio.create_task(
        commands.echo(f"pipe:{name}{{0", "10.7.0.1/24", 7, count=3, interval=0.05, err=err)
    )
    async with asyncio.timeout(10):
        await until_running(err, server)
        sock = await aionetmap.open_udp(port=f"pipe:{name}}}0", local_addr=("10.7.0.2/24", 4000))
        iface = sock.transport.get_extra_info("netinterface")
        await iface.ping("10.7.0.1")
        for i in range(3):
            await sock.sendto(b"echo %d" % i, ("10.7.0.1", 7))
            assert await sock.recvfrom() == (b"echo %d" % i, ("10.7.0.1", 7))
            await asyncio.sleep(0.06)  # let a counter line go by
        assert await server == 0
    await sock.aclose()
    iface.close()
    text = err.getvalue()
    assert f"echo: UDP 10.7.0.1:7 on pipe:{name}{{0 (pipe backend" in text
    assert "total rx 3 tx 3 drops 0" in text or "total rx 2 tx 2" in text
    assert "--- echo summary (done)" in text
    assert "rx 3 (" in text
    assert not _shm_leftovers(name)


async def test_echo_joins_groups_and_echoes_them_from_the_unicast_address() -> None:
    name = _pipe_name()
    err = io.StringIO()
    server = asyncio.create_task(
        commands.echo(
            f"pipe:{name}{{0",
            "10.7.0.1/24",
            7,
            count=2,
            interval=None,
            err=err,
            join=["239.1.2.3", "239.9.9.9"],
        )
    )
    async with asyncio.timeout(10):
        await until_running(err, server)
        sock = await aionetmap.open_udp(port=f"pipe:{name}}}0", local_addr=("10.7.0.2/24", 4000))
        iface = sock.transport.get_extra_info("netinterface")
        await iface.ping("10.7.0.1")
        await sock.sendto(b"not joined", ("239.4.4.4", 7))
        for group in ("239.1.2.3", "239.9.9.9"):
            await sock.sendto(group.encode(), (group, 7))
            assert await sock.recvfrom() == (group.encode(), ("10.7.0.1", 7))
        assert await server == 0
    await sock.aclose()
    iface.close()
    assert "echo: UDP 10.7.0.1:7, group 239.1.2.3, group 239.9.9.9 on" in err.getvalue()


def test_echo_join_refuses_a_non_group(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["echo", f"pipe:{_pipe_name()}{{0", "--ip", "10.7.0.1/24", "--join", "10.1.1.1"]
    line = _error_line(capsys, argv)
    assert "--join 10.1.1.1" in line
    assert "not a multicast group" in line


async def test_echo_reports_checksum_drops_as_drops_with_a_hint() -> None:
    """Datagrams whose UDP checksum holds only the pseudo-header sum (a sender with TX
    offload on) are dropped on a pipe: echo counts them as drops and says once what to do."""
    name = _pipe_name()
    err = io.StringIO()
    server = asyncio.create_task(
        commands.echo(f"pipe:{name}{{0", "10.7.0.1/24", 7, count=1, interval=0.02, err=err)
    )
    async with asyncio.timeout(10):
        await until_running(err, server)
        mac = parse_mac(err.getvalue().split(", mac ")[1][:17])
        with contextlib.closing(open_port(f"pipe:{name}}}0")) as peer:
            frames = [_udp_to(mac, b"partial %d" % i, partial=True) for i in range(3)]
            assert peer.send(frames) == 3
            peer.flush()
            while "hint:" not in err.getvalue():
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)  # several more counter lines: no second hint
            assert peer.send([_udp_to(mac, b"complete", partial=False)]) == 1  # ends the echo
            peer.flush()
            assert await server == 0
    text = err.getvalue()
    assert text.count("hint:") == 1
    assert "hint: 3 UDP datagrams dropped for a bad checksum" in text
    assert "ethtool -K <interface> tx off" in text
    assert "packet:<interface>" in text
    assert "drops 3, ignored 0" in text
    assert "drop_udp_bad_checksum 3" in text


def _udp_to(mac: bytes, payload: bytes, *, partial: bool) -> bytes:
    """A datagram from 10.7.0.2:4000 to 10.7.0.1:7 at ``mac``, with a complete checksum
    or only the partial one TX offload leaves."""
    frame = bytearray(
        bytes(
            Ether(dst=format_mac(mac), src="02:00:00:00:07:02")
            / IP(src="10.7.0.2", dst="10.7.0.1")
            / UDP(sport=4000, dport=7)
            / payload
        )
    )
    if partial:
        partial_checksum(frame)
    return bytes(frame)


@pytest.mark.netns
@pytest.mark.parametrize("offload", [True, False], ids=["default-offloads", "offloads-off"])
async def test_capture_notes_partial_checksums_once(
    offload: bool, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Captured frames from a kernel with TX offload on hold partial checksums, which
    packet analysers call bad: capture says so, once; with offload off there is nothing
    to say."""
    link: VethLink = request.getfixturevalue("veth" if offload else "veth_no_offload")
    monkeypatch.setattr(commands, "open_port", lambda spec: link.open_port())
    link.teach_peer()
    sock = link.peer_socket()
    err = io.StringIO()
    task = asyncio.create_task(
        commands.capture("packet:x", str(tmp_path / "c.pcap"), count=3, interval=0.02, err=err)
    )
    async with asyncio.timeout(10):
        await until_running(err, task)
        for i in range(3):
            sock.sendto(b"to capture %d" % i, (link.our_ip, 9))
        assert await task == 0
    text = err.getvalue()
    if offload:
        assert text.count("note:") == 1
        assert "captured frames carry a partial checksum" in text
    else:
        assert "note:" not in text


async def _expect(stream: asyncio.StreamReader, text: str, seen: list[str]) -> None:
    async with asyncio.timeout(20):
        while not seen or text not in seen[-1]:
            line = await stream.readline()
            assert line, f"end of output before {text!r}: {seen}"
            seen.append(line.decode())


def _loop_name() -> str:
    return "uvloop" if "uvloop" in type(asyncio.get_running_loop()).__module__ else "asyncio"


async def test_echo_process_exits_cleanly_on_sigint_with_a_summary() -> None:
    name = _pipe_name()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aionetmap", "echo", f"pipe:{name}{{0", "--ip", "10.8.0.1/24",
        "-i", "0.1", "--loop", _loop_name(), cwd=ROOT, env=ENV, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    seen: list[str] = []
    try:
        await _expect(proc.stderr, "Ctrl-C to stop", seen)
        sock = await aionetmap.open_udp(port=f"pipe:{name}}}0", local_addr=("10.8.0.2/24", 0))
        iface = sock.transport.get_extra_info("netinterface")
        await sock.sendto(b"before ctrl-c", ("10.8.0.1", 7))
        assert await asyncio.wait_for(sock.recv(), 10) == b"before ctrl-c"
        await _expect(proc.stderr, "total rx 1 tx 1", seen)
        await sock.aclose()
        iface.close()
        proc.send_signal(signal.SIGINT)
        rest = await asyncio.wait_for(proc.stderr.read(), 20)
        assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = rest.decode()
    assert text.startswith("--- echo summary (SIGINT)")
    assert "rx 1 (" in text
    assert "Traceback" not in text
    assert not _shm_leftovers(name)


# ---- demo ---------------------------------------------------------------------------


async def test_demo_on_the_pipe_answers_everything() -> None:
    out = io.StringIO()
    assert await run_demo(link="pipe", burst=300, out=out) == 0
    text = out.getvalue()
    assert text.count("reply from 10.0.0.1: seq=") == 3
    assert text.count("reply from fd00:a1::1: seq=") == 3
    assert "ping fd00:a1::1 (NDP first, then ICMPv6 echo" in text
    assert text.count("from aionetmap' echoed in") == 5
    assert text.count("from aionetmap over IPv6' echoed in") == 5
    assert "300 of 300 echoed" in text
    assert "ping replies 6, UDP datagrams echoed 310" in text
    assert "FAILED" not in text
    assert "every request answered" in text


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_demo_picks_the_pipe_when_not_root(monkeypatch: pytest.MonkeyPatch, loop: LoopName) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    out = io.StringIO()
    assert run(run_demo(burst=50, out=out), loop) == 0
    assert "not root: run as root for a veth pair" in out.getvalue()
    with pytest.raises(CliError, match="needs root"):
        run(run_demo(link="veth", out=out), loop)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_demo_falls_back_to_the_pipe_without_a_veth_pair(
    monkeypatch: pytest.MonkeyPatch, loop: LoopName
) -> None:
    def no_veth(self: VethLink) -> VethLink:
        raise RuntimeError("`ip netns add` failed: Operation not permitted")

    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(demo_module, "VethLink", type("NoVeth", (VethLink,), {"create": no_veth}))
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    out = io.StringIO()
    assert run(run_demo(burst=50, out=out), loop) == 0
    assert "(no veth pair: `ip netns add` failed: Operation not permitted)" in out.getvalue()
    assert "on the software pipe" in out.getvalue()
    with pytest.raises(CliError, match="cannot create the veth pair"):
        run(run_demo(link="veth", out=out), loop)


@pytest.mark.parametrize("loop", [None, "asyncio", "uvloop"], ids=["default", "asyncio", "uvloop"])
def test_make_demo_command_works_with_no_flags(loop: LoopName | None) -> None:
    """What `make demo` runs: as root the kernel is the client, otherwise the pipe. The
    burst must come back whole on both loops (with a kernel client whose receive buffer is
    too small for the server's TX batches, 62 of 2,000 were lost under asyncio)."""
    started = time.monotonic()
    argv = [sys.executable, "-m", "aionetmap", "demo", *(("--loop", loop) if loop else ())]
    proc = subprocess.Popen(argv, cwd=ROOT, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, out + err
    assert time.monotonic() - started < 60
    assert "every request answered" in out
    assert "2000 of 2000 echoed" in out
    assert err == ""
    if IS_ROOT:
        assert "on a veth pair, with\nthe Linux kernel as the client" in out
        assert "3 packets transmitted, 3 received" in out
        assert "the kernel's ARP cache now holds" in out
        assert not _netns_of(proc.pid)
        if demo_module.ipv6_support() is None:  # this machine has IPv6: it is shown
            assert "(dual-stack, bound to ::)" in out
            assert out.count("3 packets transmitted, 3 received") == 2  # ping and ping -6
            assert "(aionetmap answers NDP and ICMPv6)" in out
            assert "the kernel's neighbour table now holds" in out
            assert out.count("from the kernel over IPv6' echoed in") == 5
        else:
            assert "IPv6\n   skipped: " in out
    else:
        assert "on the software pipe" in out


@pytest.mark.netns
async def test_demo_shows_ipv6_with_the_kernel() -> None:
    out = io.StringIO()
    assert await run_demo(link="veth", burst=50, out=out) == 0
    text = out.getvalue()
    assert demo_module.ipv6_support() is None, "this machine has no IPv6 to show"
    assert "ping -6 fd00:a1:" in text
    assert text.count("3 packets transmitted, 3 received") == 2
    assert "the kernel's neighbour table now holds: fd00:a1:" in text
    assert text.count("from the kernel over IPv6' echoed in") == 5
    assert "ping replies 6, UDP datagrams echoed 60" in text
    assert "FAILED" not in text
    assert "every request answered" in text


@pytest.mark.netns
@pytest.mark.parametrize("where", ["machine", "veth"])
async def test_demo_without_ipv6_says_why_and_passes(
    monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """No IPv6 on the machine (or none the kernel takes on the veth pair): the demo
    says so in an IPv6 step and runs the IPv4 steps as before."""
    if where == "machine":
        monkeypatch.setattr(demo_module, "ipv6_support", lambda: "the kernel has no IPv6 (test)")
    else:

        class NoIpv6(VethLink):
            def create(self) -> NoIpv6:
                if self.ipv6:
                    raise RuntimeError("`ip addr add fd00:…` failed: Permission denied")
                return super().create()

        monkeypatch.setattr(demo_module, "VethLink", NoIpv6)
    out = io.StringIO()
    assert await run_demo(link="veth", burst=50, out=out) == 0
    text = out.getvalue()
    reason = (
        "the kernel has no IPv6 (test)"
        if where == "machine"
        else "the kernel refused an IPv6 address on the veth pair (`ip addr add fd00:…` failed"
    )
    assert f"IPv6\n   skipped: {reason}" in text
    assert "ping -6" not in text
    assert text.count("3 packets transmitted, 3 received") == 1
    assert "every request answered" in text


async def test_demo_process_cleans_up_on_sigint() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aionetmap", "demo", "--burst", "100000000", "--loop",
        _loop_name(), cwd=ROOT, env=ENV, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        await _expect(proc.stdout, "a burst of 100000000 datagrams", seen)
        proc.send_signal(signal.SIGINT)
        rest = await asyncio.wait_for(proc.stdout.read(), 20)
        assert await proc.wait() == 1
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert "demo interrupted by SIGINT; everything was closed" in rest.decode()
    if IS_ROOT:
        assert not _netns_of(proc.pid)


async def test_echo_on_a_vlan_talks_tagged() -> None:
    name = _pipe_name()
    err = io.StringIO()
    server = asyncio.create_task(
        commands.echo(f"pipe:{name}{{0", "10.7.0.1/24", 7, vlan=9, count=1, interval=None, err=err)
    )
    async with asyncio.timeout(10):
        await until_running(err, server)
        sock = await aionetmap.open_udp(
            port=f"pipe:{name}}}0", local_addr=("10.7.0.2/24", 4000), vlan=9
        )
        await sock.sendto(b"tagged", ("10.7.0.1", 7))
        assert await sock.recvfrom() == (b"tagged", ("10.7.0.1", 7))
        assert await server == 0
    await sock.aclose()
    sock.transport.get_extra_info("netinterface").close()
    assert f"echo: UDP 10.7.0.1:7 on pipe:{name}{{0 vlan 9 (pipe backend" in err.getvalue()
    assert not _shm_leftovers(name)


@pytest.mark.parametrize("vlan", ["0", "4095", "x"])
def test_echo_vlan_must_be_a_vlan_id(vlan: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.build_parser().parse_args(["echo", "pipe:x{0", "--ip", "10.0.0.1/24", "--vlan", vlan])
    assert exit_info.value.code == 2
    assert "--vlan" in capsys.readouterr().err
