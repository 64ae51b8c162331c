"""``aionetmap doctor [PORTSPEC] [--json]``: what is wrong with this machine for that port.

Each check is a small function (in :mod:`.doctor_system` and :mod:`.doctor_link`) that
returns :class:`Check` records: a verdict (``ok``, ``warning``, ``problem``), what it found
and, unless all is well, the command or setting that fixes it. Which checks run depends on
the portspec's backend:

* none given: the netmap module and device, ``CAP_NET_RAW`` and ``/dev/shm``, all at most
  warnings (each backend that needs them is optional);
* ``netmap:IF``: the module, its API version, ``/dev/netmap`` permissions, then the
  interface (exists, up, MTU against netmap's buffer size), native or emulated adapter,
  IPv6 on the interface and, for a veth, its peer's TX checksum offload and IPv6;
* ``vale…:``, netmap pipes (``netmap:x{1``): the module, API version and permissions;
* ``packet:IF``: ``CAP_NET_RAW``, then the same interface checks (a veth peer's offload
  is fine here: AF_PACKET flags partial checksums);
* ``pipe:``: ``/dev/shm`` space and permissions for the pipe's region.

Everything the checks read comes through :class:`Env`, so tests can point them at a fake
``/sys`` or ``/dev/netmap`` where the real one is missing (no netmap module on CI).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Sequence
from typing import TextIO

from aionetmap.cli import doctor_link, doctor_system
from aionetmap.cli.doctor_env import Check, Env, Verdict, optional, worst
from aionetmap.portspec import PortSpec, parse_portspec

__all__ = ["Check", "Env", "Verdict", "doctor", "format_checks", "run_checks", "worst"]


def run_checks(spec: PortSpec | None, env: Env | None = None) -> list[Check]:
    """Every check that applies to ``spec`` (``None``: the machine in general)."""
    env = env or Env()
    if spec is None:  # every backend is optional: a problem with one is only a warning
        checks = [
            *doctor_system.netmap_checks(env, required=False),
            doctor_system.cap_net_raw(env, required=False),
            doctor_system.shm_space(env, None),
        ]
        return [optional(c) for c in checks]
    if spec.subsystem in ("netmap", "vale"):
        checks = doctor_system.netmap_checks(env, required=True)
        if spec.subsystem == "netmap" and not spec.is_pipe:
            checks += doctor_link.interface_checks(env, spec)
        return checks
    if spec.subsystem == "packet":
        cap = doctor_system.cap_net_raw(env, required=True)
        return [cap, *doctor_link.interface_checks(env, spec)]
    return [doctor_system.shm_space(env, spec)]


_MARK: dict[Verdict, str] = {"ok": "ok", "warning": "WARNING", "problem": "PROBLEM"}


def format_checks(checks: Sequence[Check], target: str) -> str:
    """The human-readable report: one line per check, its fix indented below it."""
    lines = [f"aionetmap doctor: {target}"]
    width = max((len(c.name) for c in checks), default=0)
    for check in checks:
        lines.append(f"  {_MARK[check.verdict]:<8} {check.name:<{width}}  {check.detail}")
        if check.fix:
            lines.append(f"  {'':<8} {'':<{width}}  fix: {check.fix}")
    verdict = worst(checks)
    problems = sum(c.verdict == "problem" for c in checks)
    warnings = sum(c.verdict == "warning" for c in checks)
    summary = {"ok": "all checks passed", "warning": f"{warnings} warning(s)"}.get(
        verdict, f"{problems} problem(s), {warnings} warning(s)"
    )
    lines.append(f"result: {summary}")
    return "\n".join(lines)


def doctor(
    portspec: str | None,
    *,
    as_json: bool = False,
    out: TextIO | None = None,
    env: Env | None = None,
) -> int:
    """Run the checks for ``portspec`` and print them; 1 if any found a problem, else 0.

    A malformed portspec raises :class:`~aionetmap.portspec.PortSpecError` (the CLI prints
    it as one line)."""
    out = out or sys.stdout
    spec = parse_portspec(portspec) if portspec is not None else None
    checks = run_checks(spec, env)
    verdict = worst(checks)
    if as_json:
        doc = {
            "portspec": portspec,
            "verdict": verdict,
            "checks": [dataclasses.asdict(c) for c in checks],
        }
        out.write(json.dumps(doc, indent=2) + "\n")
    else:
        out.write(format_checks(checks, portspec or "this machine (no portspec given)") + "\n")
    return 1 if verdict == "problem" else 0
