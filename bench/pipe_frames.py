"""Benchmark 2: raw frames into a Python protocol over the software pipe, vs a C reader.

A C blaster (``pipepeer blast``) attaches to end ``b`` of a named pipe and keeps it full of
60-byte frames; on end ``a`` either the C reader (``pipepeer read``: ``anm_pipe_recv``,
the very call ``PipePort.recv`` makes) or a Python :class:`aionetmap.FrameProtocol` behind
``aionetmap.create_frame_endpoint`` counts them: per frame (``frame_received``) or per
batch (``frames_received``). The reader is the counter.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
from collections.abc import Iterator

from bench._build import build
from bench._measure import Plan, Row, Trial
from bench._proc import Launch
from bench._suite import Benchmark, python_launch_env

__all__ = ["PipeBenchmark", "PipeFrames", "pipe_name", "pipe_spec", "remove_pipes"]

_names = itertools.count()


def pipe_name(prefix: str) -> str:
    """A fresh pipe name (``NAME.ID``, as ``PipePort.open`` takes it) for one trial."""
    return f"{prefix}-{os.getpid()}-{next(_names)}.0"


def pipe_spec(name: str, end: str) -> str:
    base, _, ident = name.rpartition(".")
    return f"pipe:{base}{'{' if end == 'a' else '}'}{ident}"


def remove_pipes(prefix: str) -> None:
    """Remove this harness's pipe files a crashed participant may have left behind."""
    for path in glob.glob(f"/dev/shm/aionetmap-pipe.{prefix}-{os.getpid()}-*"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


class PipeBenchmark(Benchmark):
    """A benchmark whose trials each open a fresh named pipe (:func:`pipe_name`)."""

    @contextlib.contextmanager
    def environment(self) -> Iterator[None]:
        try:
            yield
        finally:
            remove_pipes(self.name)  # what a crashed trial left


class PipeFrames(PipeBenchmark):
    name = "pipe-frames"
    title = "Raw frames into a Python protocol over the software pipe, vs a C reader"
    unit = "frames/s"
    notes = (
        "Rate: frames the reader took per second (batches of up to 256). "
        "The blaster (`bench/c/pipepeer.c blast`) spins instead of sleeping when the ring "
        "is full, so the reader never waits for a wake-up; its CPU is therefore always "
        "near 100 % and says nothing. Per-frame: `FrameProtocol.frame_received` once per "
        "frame (the default `frames_received` loop); batch: `frames_received` once per "
        "batch. Every frame reaches Python as a `bytes` copy.",
    )

    def rows(self) -> list[Row]:
        return [
            Row("c-reader", "C reader: anm_pipe_recv (the call PipePort.recv makes)", True),
            Row("per-frame-asyncio", "frame_received per frame, asyncio"),
            Row("per-frame-uvloop", "frame_received per frame, uvloop"),
            Row("batch-asyncio", "frames_received per batch, asyncio"),
            Row("batch-uvloop", "frames_received per batch, uvloop"),
        ]

    def settings(self) -> str:
        return f"{max(60, self.opts.size)}-byte frames"

    def plan(self, row: Row, run: int) -> Plan:
        opts = self.opts
        server_core, gen_core, _ = opts.placement()
        name = pipe_name(self.name)
        size = max(60, opts.size)
        timing = ["--warmup", str(opts.warmup), "--duration", str(opts.duration)]
        if row.key == "c-reader":
            argv = [str(build("pipepeer")), "read", "--pipe", name, *timing]
            env: dict[str, str] = {}
        else:
            mode, loop = row.key.rsplit("-", 1)
            argv = [*self.python_server(row, run, loop), "frame-sink", "--mode", mode,
                    "--port", pipe_spec(name, "a"), *timing]  # fmt: skip
            env = python_launch_env()
        reader = Launch(row.key, argv, core=server_core, env=env)
        blaster = Launch(
            f"{row.key}-blast",
            [str(build("pipepeer")), "blast", "--pipe", name, "--frame-size", str(size),
             "--spin", "1", "--seconds", str(opts.budget)],
            core=gen_core,
        )  # fmt: skip
        return Plan(reader, blaster, "server")

    def row_notes(self, row: Row, trial: Trial) -> list[str]:
        notes = []
        # Frames per reader call: small batches mean per-call costs (the readiness
        # callback, the notification fd) weigh on every frame.
        calls = trial.counter.get("calls") or trial.counter.get("batches")
        total = trial.counter.get("total", trial.counter.get("count"))
        if calls and total:
            notes.append(f"{total / calls:.0f} frames per call")
        blast = trial.generator_result
        if blast.get("bursts"):
            full = blast.get("waits", 0) / (blast.get("waits", 0) + blast["bursts"])
            notes.append(f"blaster found the ring full on {100 * full:.0f} % of its tries")
        return notes
