"""Every Python example of the documentation runs, on asyncio and on uvloop, over pipes.

See :mod:`tests.docs.pages` for how a page marks the way an example runs.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shlex
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import aionetmap
from aionetmap.cli.main import build_parser
from tests.docs.pages import Example, examples, on_pipes, shell_lines

# Runs an example's code (a file) on the loop named by argv[2] and reports the loops that
# asyncio.run() and friends created, so the test can see the example ran on that loop.
_RUNNER = textwrap.dedent(
    """
    import asyncio, atexit, sys
    if sys.argv[2] == "uvloop":
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    policy = asyncio.get_event_loop_policy()
    made = []
    def new_event_loop(_new=policy.new_event_loop):
        loop = _new()
        made.append(type(loop).__module__)
        return loop
    policy.new_event_loop = new_event_loop
    atexit.register(lambda: print("\\nloops made:", *sorted(set(made)), flush=True))
    path, name = sys.argv[1], sys.argv[3]
    code = compile(open(path).read(), name, "exec")
    exec(code, {"__name__": "__main__"})
    """
)
_LOOP_MODULE = {"asyncio": "asyncio.unix_events", "uvloop": "uvloop"}
_TIMEOUT = 90.0  # a bound on a hung example, not a speed check
_MAX_SKIPPED = 4
_names = itertools.count()

ALL = examples()
RUNNABLE = [ex for ex in ALL if ex.mode in ("run", "as-is", "serve")]


def _pipe_name() -> str:
    return f"docs{os.getpid()}x{next(_names)}"


def _start(example: Example, loop: str, tmp_path: Path, pipe: str) -> subprocess.Popen[str]:
    code = example.code
    if example.mode != "as-is":
        code = on_pipes(code, pipe)
        assert "netmap:" not in code, "examples must run on pipes"
        assert "vale" not in code, "examples must run on pipes"
    source = tmp_path / "example.py"
    source.write_text(code)
    runner = tmp_path / "runner.py"
    runner.write_text(_RUNNER)
    argv = [sys.executable, str(runner), str(source), loop, f"docs/{example.id}"]
    return subprocess.Popen(
        argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


@pytest.mark.parametrize("example", [ex for ex in ALL if ex.mode == "pytest"], ids=lambda ex: ex.id)
def test_pytest_example_passes(example: Example, tmp_path: Path) -> None:
    """A test module shown on a page passes under pytest (it picks its loops itself)."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_example.py").write_text(example.code)
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs"]
    proc = subprocess.run(
        [*argv, "test_example.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if os.geteuid() == 0:  # without root the veth example skips, as the page says
        assert " passed" in proc.stdout, proc.stdout


def test_pages_have_examples() -> None:
    pages = {ex.page for ex in RUNNABLE}
    assert {"getting-started.md", "asyncio-api.md", "await-api.md", "frames.md"} <= pages


def test_few_examples_are_not_run() -> None:
    skipped = [ex for ex in ALL if ex.mode == "skip"]
    assert all(ex.arg for ex in skipped), "every skipped example needs a reason"
    assert len(skipped) <= _MAX_SKIPPED, [ex.id for ex in skipped]


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
@pytest.mark.parametrize("example", RUNNABLE, ids=lambda ex: ex.id)
def test_example_runs(example: Example, loop: str, tmp_path: Path) -> None:
    pipe = _pipe_name()
    proc = _start(example, loop, tmp_path, pipe)
    try:
        if example.mode == "serve":
            ip, port = example.arg.rsplit(":", 1)
            asyncio.run(_talk_to(f"pipe:{pipe}}}0", (ip, int(port))))
            proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    made = out.rpartition("loops made:")[2].split()
    if example.mode == "serve":
        assert made == [_LOOP_MODULE[loop]], out
    else:  # a program may not need a loop at all
        assert made in ([], [_LOOP_MODULE[loop]]), out
    if example.mode != "serve":
        assert proc.returncode == 0, out


async def _talk_to(spec: str, server: tuple[str, int]) -> None:
    """Send datagrams to ``server`` through ``spec`` until one comes back, then two more."""
    host_ip = server[0].rsplit(".", 1)[0] + ".99/24"
    async with asyncio.timeout(_TIMEOUT):
        sock = await aionetmap.open_udp(port=spec, local_addr=(host_ip, 0))
        async with sock:
            for payload in (b"first", b"second", b"third"):
                assert await _round_trip(sock, payload, server) == server


async def _round_trip(sock: aionetmap.UdpSocket, payload: bytes, server: tuple[str, int]) -> object:
    """Send ``payload`` until it comes back (the server may not be up yet); where from."""
    while True:
        await sock.sendto(payload, server)
        try:
            async with asyncio.timeout(0.5):
                while True:  # copies of an earlier payload, sent again before its echo came
                    data, addr = await sock.recvfrom()
                    if data == payload:
                        return addr
        except TimeoutError:
            continue


def test_cli_page_commands_parse() -> None:
    """Every ``python -m aionetmap`` line of the CLI page is a valid command line."""
    parser = build_parser()
    lines = [ln for ln in shell_lines("cli.md") if ln.startswith("python -m aionetmap ")]
    assert len(lines) >= 10
    for line in lines:
        argv = shlex.split(line.split("|", 1)[0])[3:]
        if argv[0] == "bench":  # everything after it goes to python -m bench
            continue
        parser.parse_args(argv)  # exits (a test failure) on anything it does not know
