"""Fixtures for the example tests: run an example as a program, and unique software-pipe
names (the veth fixtures come from the suite's plugin, loaded in tests/conftest.py)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

__all__ = [
    "Example",
    "StartExample",
    "example",
    "pipe_name",
    "shm_leftovers",
]

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
_names = itertools.count()


class Example:
    """A running ``examples/NAME.py``: read its output line by line, stop it with SIGINT."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def expect(self, text: str, timeout: float = 20.0) -> str:
        """Read until a line containing ``text``; return that line."""
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.proc.stdout.readline()
                assert raw, f"the example ended before printing {text!r}: {self.lines}"
                line = raw.decode().rstrip("\n")
                self.lines.append(line)
                if text in line:
                    return line

    async def interrupt(self, timeout: float = 20.0) -> tuple[int, list[str]]:
        """Ctrl-C: send SIGINT, return the exit status and the lines printed after it."""
        assert self.proc.stdout is not None
        self.proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(timeout):
            rest = (await self.proc.stdout.read()).decode().splitlines()
            status = await self.proc.wait()
        self.lines.extend(rest)
        return status, rest

    async def kill(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()


StartExample = Callable[..., Awaitable[Example]]


@pytest.fixture
async def example() -> AsyncIterator[StartExample]:
    """``await example("udp_echo", *args, netns=None)`` starts ``examples/udp_echo.py``
    (inside network namespace ``netns`` when given); whatever still runs is killed after
    the test."""
    started: list[Example] = []

    async def start(name: str, *args: str, netns: str | None = None) -> Example:
        prefix = ["ip", "netns", "exec", netns] if netns else []
        proc = await asyncio.create_subprocess_exec(
            *prefix, sys.executable, str(ROOT / "examples" / f"{name}.py"), *args,
            cwd=ROOT, env=ENV, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        started.append(Example(proc))
        return started[-1]

    yield start
    for program in started:
        await program.kill()


@pytest.fixture
def pipe_name() -> str:
    """A software-pipe name no other test uses."""
    return f"ex{os.getpid()}x{next(_names)}"


def shm_leftovers(name: str) -> list[str]:
    """Files a named software pipe left in /dev/shm (none once both ends closed)."""
    return [f for f in os.listdir("/dev/shm") if name in f]
