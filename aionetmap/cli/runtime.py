"""What every long-running command shares: the event loop, Ctrl-C, and live counters.

Live counters follow pkt-gen: one line per interval with the rates since the last line,
then a summary when the command ends. Ctrl-C (SIGINT) and SIGTERM end a command cleanly:
they set an event the command waits on, instead of raising ``KeyboardInterrupt`` in the
middle of a callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Self, TextIO

from aionetmap.stack.addresses import format_mac as stack_format_mac

__all__ = [
    "CHECKSUM_HINT",
    "CHECKSUM_HINT_PACKET",
    "PARTIAL_CAPTURE_HINT",
    "LoopName",
    "Meter",
    "Sample",
    "Stopper",
    "close_and_wait",
    "drop_counters",
    "format_mac",
    "format_rate",
    "metering",
    "run",
]

LoopName = Literal["auto", "asyncio", "uvloop"]

CLOSE_TIMEOUT = 3.0
"""Seconds a command waits for its transport's ``connection_lost`` after closing it."""


async def close_and_wait(transport: asyncio.BaseTransport, lost: asyncio.Future[Any]) -> None:
    """Close ``transport`` and wait (at most :data:`CLOSE_TIMEOUT`) for ``lost``, the future
    its protocol completes in ``connection_lost``."""
    transport.close()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(lost, CLOSE_TIMEOUT)


def _loop_factory(name: LoopName) -> Callable[[], asyncio.AbstractEventLoop]:
    if name == "asyncio":
        return asyncio.new_event_loop
    try:
        import uvloop
    except ImportError:
        if name == "uvloop":
            from aionetmap.cli.errors import CliError

            raise CliError("uvloop is not installed (pip install uvloop)") from None
        return asyncio.new_event_loop
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run(main: Coroutine[Any, Any, int], loop: LoopName = "auto") -> int:
    """Run ``main`` on a fresh loop (uvloop when installed, for ``"auto"``); its result."""
    try:
        factory = _loop_factory(loop)
    except BaseException:
        main.close()
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


class Stopper:
    """Turns SIGINT and SIGTERM into an event while installed (``with Stopper() as s``).

    ``signal_name`` says which signal arrived. Only the running loop's thread may use it.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.signal_name: str | None = None
        self._loop = asyncio.get_running_loop()

    def _on_signal(self, signum: int) -> None:
        if self.signal_name is None:
            self.signal_name = signal.Signals(signum).name
        self.event.set()

    def __enter__(self) -> Self:
        for signum in self.SIGNALS:
            self._loop.add_signal_handler(signum, self._on_signal, signum)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum in self.SIGNALS:
            self._loop.remove_signal_handler(signum)

    async def wait(self, timeout: float | None = None) -> bool:
        """Wait for a signal, at most ``timeout`` seconds; True if one arrived."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.event.wait()
        return self.event.is_set()


@dataclass(frozen=True, slots=True)
class Sample:
    """Counters read at one instant. ``drops`` are frames lost by the port or the
    transports, or refused by the stack as damaged (a bad checksum); ``ignored`` are
    frames the stack refused otherwise (not for us, malformed)."""

    rx: int
    tx: int
    drops: int = 0
    ignored: int = 0
    reasons: Mapping[str, int] = field(default_factory=dict)
    """Every non-zero drop counter by name, for the summary."""
    notes: Mapping[str, int] = field(default_factory=dict)
    """Other non-zero counters a :class:`Meter` hint may be about."""


CHECKSUM_HINT = (
    "hint: {count} UDP datagrams dropped for a bad checksum. A sender on this machine "
    "(the other end of a veth, a container) with TX checksum offload on sends only a "
    "partial checksum, which this port cannot tell from a corrupt one. Turn the offload "
    "off on the sender's interface (`ethtool -K <interface> tx off`), or open the "
    "interface as packet:<interface>, whose kernel flags such datagrams."
)
"""What ``echo`` prints once when UDP checksum drops appear (netmap and pipe ports)."""

CHECKSUM_HINT_PACKET = (
    "hint: {count} UDP datagrams dropped for a bad checksum. This packet: port already "
    "accepts the partial checksums the kernel flags (a local sender with TX offload on), "
    "so these arrived damaged, or from a sender whose offloaded checksums nothing "
    "completed (a bridge or tunnel in between: try `ethtool -K <sender interface> tx off`)."
)
"""What ``echo`` prints once when UDP checksum drops appear on an AF_PACKET port."""

PARTIAL_CAPTURE_HINT = (
    "note: {count} captured frames carry a partial checksum (the sender left it to TX "
    "offload; the kernel flagged them): tcpdump and Wireshark will call them bad, but "
    "they are intact. `ethtool -K <sender interface> tx off` makes the sender complete them."
)
"""What ``capture`` prints once when the port saw partial checksums."""


def drop_counters(stats: Mapping[str, int]) -> tuple[int, int, dict[str, int]]:
    """Split a stats dict into (drops, ignored frames, non-zero reasons).

    Port and transport counters carry ``dropped`` in their name (``rx_dropped_kernel``,
    ``tx_dropped_peer_closed``, ``fwd_dropped``); the stack's are ``drop_<reason>``, with
    their total in ``dropped``. Stack drops for a bad checksum (damaged frames, or
    partial checksums the port could not recognise) are drops; the others are ignored.
    """
    drops = ignored = 0
    reasons: dict[str, int] = {}
    for name, value in stats.items():
        if name == "dropped" or not value:
            continue
        if name.startswith("drop_") and not name.endswith("_bad_checksum"):
            ignored += value
        elif "dropped" in name or name.startswith("drop_"):
            drops += value
        else:
            continue
        reasons[name] = value
    return drops, ignored, reasons


def format_rate(per_second: float, unit: str = "pps") -> str:
    """``999 pps``, ``12.35 Kpps``, ``1.23 Mpps``: pkt-gen's way of printing rates."""
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if per_second >= scale:
            return f"{per_second / scale:.2f} {prefix}{unit}"
    return f"{per_second:.0f} {unit}"


def format_mac(mac: bytes | None) -> str:
    return stack_format_mac(mac) if mac else "unknown"


class Meter:
    """Prints a line of rates every ``interval`` seconds while :meth:`run` runs, and a
    summary at the end. ``sample`` reads the counters; the labels name what rx and tx
    count (``tx_label=None`` leaves tx out, for a capture)."""

    def __init__(
        self,
        sample: Callable[[], Sample],
        out: TextIO,
        *,
        interval: float = 1.0,
        rx_label: str = "rx",
        tx_label: str | None = "tx",
        hints: Mapping[str, str] | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"the counter interval must be positive, got {interval}")
        self._sample = sample
        self._out = out
        self._hints = dict(hints or {})
        """Counter name -> a text (``{count}`` filled in) printed once, the first time the
        counter is non-zero in a sample (in ``reasons`` or ``notes``)."""
        self.interval = interval
        self._labels: tuple[str, str | None] = (rx_label, tx_label)
        self._start = time.monotonic()
        self._first = sample()

    def tick(self, prev: Sample, prev_at: float) -> tuple[Sample, float]:
        """Print one line with the rates since ``prev``; return the new sample and time."""
        now, cur = time.monotonic(), self._sample()
        dt = max(now - prev_at, 1e-9)
        rates, totals = [], []
        for label, count, before in zip(
            self._labels, (cur.rx, cur.tx), (prev.rx, prev.tx), strict=True
        ):
            if label:
                rates.append(f"{label} {format_rate((count - before) / dt):>11}")
                totals.append(f"{label} {count}")
        drops = format_rate((cur.drops - prev.drops) / dt, "/s")
        print(
            f"[{now - self._start:7.1f} s] {'  '.join(rates)}  drops {drops:>8}  "
            f"(total {' '.join(totals)} drops {cur.drops} ignored {cur.ignored})",
            file=self._out,
            flush=True,
        )
        self._hint(cur)
        return cur, now

    def _hint(self, cur: Sample) -> None:
        """Print, once each, the hints whose counter has become non-zero."""
        for name, text in list(self._hints.items()):
            count = cur.reasons.get(name) or cur.notes.get(name)
            if count:
                del self._hints[name]
                print(text.format(count=count), file=self._out, flush=True)

    async def run(self) -> None:
        """Print a line per interval until cancelled."""
        prev, prev_at = self._first, self._start
        while True:
            await asyncio.sleep(self.interval - (time.monotonic() - prev_at) % self.interval)
            prev, prev_at = self.tick(prev, prev_at)

    def summary(self, title: str) -> Iterator[str]:
        """The closing lines: totals, average rates, and every non-zero drop reason."""
        elapsed = max(time.monotonic() - self._start, 1e-9)
        cur = self._sample()
        parts = []
        for label, count, first in zip(
            self._labels, (cur.rx, cur.tx), (self._first.rx, self._first.tx), strict=True
        ):
            if label:
                done = count - first
                parts.append(f"{label} {done} ({format_rate(done / elapsed)} avg)")
        yield (
            f"--- {title}: {elapsed:.1f} s, {', '.join(parts)}, drops {cur.drops}, "
            f"ignored {cur.ignored}"
        )
        if cur.reasons:
            shown = ", ".join(f"{name} {value}" for name, value in sorted(cur.reasons.items()))
            yield f"    by reason: {shown}"

    def print_summary(self, title: str) -> None:
        for line in self.summary(title):
            print(line, file=self._out, flush=True)
        self._hint(self._sample())  # a run shorter than one interval still gets its hints


@contextlib.asynccontextmanager
async def metering(meter: Meter | None) -> AsyncIterator[Meter | None]:
    """Run ``meter`` in the background for the body of an ``async with``."""
    task = asyncio.create_task(meter.run()) if meter is not None else None
    try:
        yield meter
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
