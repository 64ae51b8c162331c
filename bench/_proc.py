"""Child processes of a benchmark run and what ``/proc`` says about their CPU use.

Each benchmark participant (server, load generator) is its own process, started through
``taskset`` (pinned to a core) and ``ip netns exec`` (inside a namespace) where asked; both
``exec`` the next command, so the pid we get is the program's own. CPU time comes from
``/proc/PID/task/*/schedstat`` (nanoseconds, all threads) and per-core time from
``/proc/stat``.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = [
    "BenchError",
    "Child",
    "CoreTimes",
    "Launch",
    "core_times",
    "cores",
    "process_cpu",
    "process_user_sys",
    "process_wakeups",
]

_TICK = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    """A benchmark participant failed (its stderr tail is in the message)."""


@dataclass(frozen=True)
class Launch:
    """How to start one participant."""

    label: str
    argv: Sequence[str]
    core: int | None = None
    """Pin to this core (``taskset``); None: leave it to the scheduler."""
    netns: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    """Added to the harness's environment."""

    def command(self) -> list[str]:
        cmd = list(self.argv)
        if self.netns is not None:
            cmd = ["ip", "netns", "exec", self.netns, *cmd]
        if self.core is not None:
            cmd = ["taskset", "-c", str(self.core), *cmd]
        return cmd


class Child:
    """A running participant whose stdout speaks the READY/MARK/RESULT line protocol."""

    def __init__(self, launch: Launch, log_dir: Path, cwd: Path) -> None:
        self.launch = launch
        log_dir.mkdir(parents=True, exist_ok=True)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in launch.label)
        self.log_path = log_dir / f"{safe}.stderr"
        self._log: IO[bytes] = open(self.log_path, "wb")  # noqa: SIM115 (closed in close())
        env = {**os.environ, **launch.env}
        self.proc = subprocess.Popen(
            launch.command(), stdout=subprocess.PIPE, stderr=self._log, cwd=cwd, env=env
        )
        assert self.proc.stdout is not None
        self._fd = self.proc.stdout.fileno()
        os.set_blocking(self._fd, False)
        self._buf = b""
        self.results: list[dict[str, Any]] = []

    @property
    def pid(self) -> int:
        return self.proc.pid

    def __repr__(self) -> str:
        return f"<Child {self.launch.label} pid={self.pid}>"

    def next_line(self, deadline: float) -> str | None:
        """The next stdout line (RESULT lines are also kept in ``results``), or None at
        end of output; raises :class:`BenchError` at the deadline."""
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise self.error(f"no output within the time limit (last: {self._buf[-200:]!r})")
            ready, _, _ = select.select([self._fd], [], [], min(left, 0.5))
            if not ready:
                continue
            chunk = os.read(self._fd, 65536)
            if not chunk:
                if self._buf:
                    line, self._buf = self._buf, b""
                    return self._keep(line.decode(errors="replace"))
                return None
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\n", 1)
        return self._keep(raw.decode(errors="replace"))

    def available_lines(self) -> list[str]:
        """The complete lines already written, without waiting for more."""
        while True:
            try:
                chunk = os.read(self._fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            self._buf += chunk
        *lines, self._buf = self._buf.split(b"\n")
        return [self._keep(raw.decode(errors="replace")) for raw in lines]

    def _keep(self, line: str) -> str:
        if line.startswith("RESULT "):
            try:
                self.results.append(json.loads(line[7:]))
            except json.JSONDecodeError as exc:
                raise self.error(f"bad RESULT line {line!r}: {exc}") from None
        return line

    def wait_for(self, word: str, deadline: float) -> str:
        """Read lines until one starts with ``word``."""
        while True:
            line = self.next_line(deadline)
            if line is None:
                raise self.error(f"exited (code {self.proc.wait()}) before printing {word}")
            if line.startswith(word):
                return line

    def drain(self, deadline: float) -> None:
        """Read what is left of stdout (until EOF or the deadline)."""
        with contextlib.suppress(BenchError):
            while self.next_line(deadline) is not None:
                pass

    def stop(self, timeout: float = 10.0) -> int:
        """Ask politely (SIGTERM), read the rest of the output, then insist (SIGKILL)."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
        self.drain(time.monotonic() + timeout)
        try:
            return self.proc.wait(timeout=max(0.1, timeout / 2))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()

    def stderr_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def error(self, what: str) -> BenchError:
        tail = self.stderr_tail()
        more = f"\n--- stderr of {self.launch.label} ---\n{tail}" if tail else ""
        return BenchError(f"{self.launch.label} (pid {self.pid}): {what}{more}")


def process_cpu(pid: int) -> float:
    """CPU seconds used so far by every thread of ``pid`` (0 once it is gone)."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return 0.0
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
    return total / 1e9


def process_user_sys(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of ``pid`` so far, from ``/proc/PID/stat`` (clock ticks:
    coarser than :func:`process_cpu`, but split the way the kernel accounts them)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0, 0.0
    # The command name (field 2) may hold spaces: count fields after its closing paren.
    fields = text.rsplit(")", 1)[1].split()
    return int(fields[11]) / _TICK, int(fields[12]) / _TICK


def process_wakeups(pid: int) -> int:
    """Voluntary context switches of every thread of ``pid`` so far: the times it slept and
    was woken (an event loop's waits for I/O, mostly)."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return 0
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        total += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total


@dataclass(frozen=True)
class CoreTimes:
    """Seconds one core spent busy (not idle, iowait or stolen), of which in softirq."""

    busy: float
    softirq: float
    total: float


def core_times() -> list[CoreTimes]:
    """Cumulative times of each core, from ``/proc/stat``."""
    out = []
    with open("/proc/stat") as f:
        for line in f:
            name, *fields = line.split()
            if not name.startswith("cpu") or name == "cpu":
                continue
            v = [int(x) / _TICK for x in fields[:8]]
            user, nice, system, idle, iowait, irq, softirq, steal = v + [0.0] * (8 - len(v))
            busy = user + nice + system + irq + softirq
            out.append(CoreTimes(busy, softirq, busy + idle + iowait + steal))
    return out


def cores() -> list[int]:
    """The cores this process may run on."""
    return sorted(os.sched_getaffinity(0))
