"""What the doctor's checks share: the :class:`Check` record, the :class:`Env` they read
the machine through (so tests can point it at a fake ``/sys``), and small readers."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

__all__ = ["Check", "Env", "Links", "Verdict", "optional", "read_int", "read_text", "worst"]

Verdict = Literal["ok", "warning", "problem"]
_RANK: dict[Verdict, int] = {"ok": 0, "warning": 1, "problem": 2}


@dataclass(frozen=True, slots=True)
class Check:
    """The result of one check."""

    name: str
    verdict: Verdict
    detail: str
    """What was found, in one or two sentences."""
    fix: str | None = None
    """What to do about it (``None`` when the verdict is ``ok``)."""


class Links(Protocol):
    """The ethtool probes the interface checks use (:class:`~aionetmap.ports.probe.LinkProbe`)."""

    def driver(self, ifname: str) -> str | None: ...

    def tx_csum(self, ifname: str, netns: str | None = None) -> bool | None: ...


def _ip_json(args: Sequence[str]) -> Any:
    """``ip -j ARGS`` parsed, or ``None`` when ``ip`` is missing or fails."""
    try:
        proc = subprocess.run(
            ["ip", "-j", *args], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0 or not proc.stdout.strip():
        return None
    try:
        return json.loads(proc.stdout)
    except ValueError:
        return None


def _read_in(netns: str, path: str) -> str | None:
    """``path`` read in network namespace ``netns`` (through ``ip netns exec``, which needs
    root), stripped; ``None`` when it cannot be read."""
    try:
        proc = subprocess.run(["ip", "netns", "exec", netns, "cat", path],
                              capture_output=True, text=True, timeout=10, check=False)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def _effective_access(path: str | Path, mode: int) -> bool:
    return os.access(path, mode, effective_ids=os.access in os.supports_effective_ids)


def _default_links() -> Links:
    from aionetmap.ports.probe import LinkProbe

    return LinkProbe()


@dataclass
class Env:
    """Where the checks look: the real system by default."""

    sys: Path = Path("/sys")
    proc: Path = Path("/proc")
    device: Path = Path("/dev/netmap")
    shm: Path = Path("/dev/shm")
    netmap_syscalls: Any = None
    """A :class:`~aionetmap.ports._netmap_sys.NetmapSyscalls` (``None``: the kernel's)."""
    links: Links = field(default_factory=_default_links)
    access: Callable[[str | Path, int], bool] = field(default=_effective_access)
    """``access(2)`` as the effective user (what ``open`` will be checked against)."""
    ip: Callable[[Sequence[str]], Any] = _ip_json
    """Runs ``ip -j ARGS`` and returns the parsed JSON (``None`` on failure)."""
    read_in: Callable[[str, str], str | None] = _read_in
    """Reads a (procfs) file as seen from another, named network namespace."""


def read_text(path: Path) -> str | None:
    """The stripped contents of a small (sysfs, procfs) file, or ``None``."""
    try:
        return path.read_text().strip()
    except (OSError, ValueError):
        return None


def read_int(path: Path, base: int = 10) -> int | None:
    text = read_text(path)
    try:
        return int(text, base) if text is not None else None
    except ValueError:
        return None


def worst(checks: Sequence[Check]) -> Verdict:
    """The most serious verdict among ``checks`` (``ok`` for none)."""
    verdicts: list[Verdict] = [c.verdict for c in checks] or ["ok"]
    return max(verdicts, key=_RANK.__getitem__)


def optional(check: Check) -> Check:
    """``check`` with a problem turned into a warning (for optional backends)."""
    return dataclasses.replace(check, verdict="warning") if check.verdict == "problem" else check
