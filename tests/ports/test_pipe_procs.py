"""A million frames through a pipe between two processes, checked by sequence number.

Once with a forked child that took over an anonymous pair's end (detach/attach), once with
an unrelated program that opens a named pipe by name, and once with a forked child that
opens by name. The receiver sleeps on the fd (select) whenever the ring is empty and the
sender whenever it is full, so a lost wake-up fails the test as a stall.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

import aionetmap
from aionetmap.ports.pipe import SHM_DIR, PipePort, pipe_pair

PEER = Path(__file__).with_name("pipe_peer.py")
MILLION = 1_000_000


def _load_peer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pipe_peer", PEER)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


peer = _load_peer()


def in_child(body: Callable[[], None]) -> int:
    """Fork; run body in the child and leave with os._exit (no pytest teardown there)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 0
        try:
            body()
        except BaseException:
            traceback.print_exc()
            code = 1
        os._exit(code)
    return pid


def reap(pid: int, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    raise TimeoutError(f"child {pid} did not finish")


@pytest.fixture
def name() -> Iterator[str]:
    n = f"procs-{os.getpid()}-{uuid.uuid4().hex[:8]}.0"
    yield n
    leftovers = [f for f in os.listdir(SHM_DIR) if n in f]
    for f in leftovers:
        os.unlink(os.path.join(SHM_DIR, f))
    assert not leftovers, f"files left behind: {leftovers}"


@pytest.mark.slow
def test_a_million_frames_from_a_forked_child() -> None:
    a, b = pipe_pair(slots=1024)
    handle = b.detach()

    def child() -> None:
        with PipePort.attach(handle) as port:
            peer.send_sequence(port, MILLION)

    pid = in_child(child)
    handle.close()
    try:
        with a:
            assert peer.recv_sequence(a, MILLION) == MILLION
            assert a.stats()["rx_frames"] == MILLION
    finally:
        assert reap(pid) == 0


def spawn_peer(*args: str, pass_fds: tuple[int, ...] = ()) -> subprocess.Popen[str]:
    env = dict(os.environ)
    root = str(Path(aionetmap.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, str(PEER), *args],
        env=env,
        pass_fds=pass_fds,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_a_million_frames_to_a_program_that_opens_the_pipe_by_name(name: str) -> None:
    with PipePort.open(name, "a") as a:
        proc = spawn_peer(name, "b", "recv", str(MILLION))
        try:
            peer.send_sequence(a, MILLION)
            assert a.stats()["tx_frames"] == MILLION
        finally:
            a.close()  # the receiver waits for this close before it reports
            out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    report = json.loads(out)
    assert report["frames"] == MILLION
    assert report["stats"]["rx_frames"] == MILLION
    assert report["stats"]["ring_resets"] == 0


def test_a_forked_child_opens_a_named_pipe(name: str) -> None:
    count = 50_000
    with PipePort.open(name, "a") as a:
        pid = in_child(lambda: peer.main([name, "b", "send", str(count)]))
        try:
            assert peer.recv_sequence(a, count) == count
        finally:
            assert reap(pid) == 0


def test_a_spawned_program_attaches_an_inherited_end() -> None:
    count = 100_000
    a, b = pipe_pair(slots=256)
    handle = b.detach()
    proc = spawn_peer("handle", handle.encode(), "recv", str(count), pass_fds=handle.fds())
    handle.close()
    with a:
        peer.send_sequence(a, count)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert json.loads(out)["frames"] == count
