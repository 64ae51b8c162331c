"""``python -m bench soak --minutes N``: the veth echo at a high fixed rate for N minutes, with
ARP, ping and a trickle of malformed frames mixed in, reported interval by interval.

The server is the udp-veth benchmark's aionetmap row (AF_PACKET, uvloop, the plain
``DatagramProtocol`` echo) in our namespace; in the peer namespace run ``udpgen --rate``
(the echo load, round trips timed), ``arping`` (one ARP request a second), ``ping`` (five
echo requests a second) and ``bench._malformed`` (frames the stack must drop and count).
Each interval (a minute by default) reports the server's RSS and open file descriptors
(read from ``/proc``), its CPU, its drops by reason (from ``NetInterface.stats()``, which
the server prints as ``STATS`` lines), and the echo rate, losses and RTT percentiles of the
interval. At the end: what each side-traffic source sent and got back.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aionetmap.stack.addresses import format_mac
from aionetmap.testing.netns import VethLink
from bench._build import OUT, ROOT, BuildError, build
from bench._proc import BenchError, Child, Launch, cores, process_cpu
from bench._report import machine
from bench._suite import python_launch_env

__all__ = ["Interval", "SoakResult", "format_soak", "main", "run_soak"]

PORT = 7000
PING_INTERVAL = 0.2


@dataclass
class Interval:
    """One reporting interval of the soak."""

    end_s: float
    """Seconds since the measured window began."""
    echoes_per_s: float
    sent: int
    echoed: int
    lost: int
    late: int
    behind: int
    latency: dict[str, float]
    rss_kib: int
    fds: int
    server_cpu: float
    """Cores' worth of CPU the server used over the interval."""
    drops: dict[str, int]
    """Server drops by reason over the interval (non-zero ones)."""


@dataclass
class SoakResult:
    rate: float
    minutes: float
    interval_s: float
    intervals: list[Interval] = field(default_factory=list)
    generator: dict[str, Any] = field(default_factory=dict)
    server: dict[str, Any] = field(default_factory=dict)
    side: dict[str, Any] = field(default_factory=dict)
    """What ping, arping and the malformed-frame sender sent and got back."""


def _rss_fds(pid: int) -> tuple[int, int]:
    rss = 0
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    try:
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        fds = 0
    return rss, fds


def _drop_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    out = {}
    for key, value in after.items():
        if key.startswith("drop_") and isinstance(value, int):
            delta = value - before.get(key, 0)
            if delta:
                out[key.removeprefix("drop_")] = delta
    return out


def _latest_stats(server: Child, last: dict[str, int]) -> dict[str, int]:
    for line in server.available_lines():
        if line.startswith("STATS "):
            last = json.loads(line[6:])
    return last


@contextlib.contextmanager
def _children() -> Iterator[list[Child]]:
    started: list[Child] = []
    try:
        yield started
    finally:
        for child in reversed(started):
            child.close()


def _side_traffic(link: VethLink, seconds: float, malformed_rate: float) -> list[Launch]:
    """ping, arping and the malformed frames, in the peer namespace, for ``seconds``."""
    pings = max(1, int(seconds / PING_INTERVAL))
    arping = ["arping", "-c", str(max(1, int(seconds))), "-I", link.peer_ifname, link.our_ip]
    ping = ["ping", "-q", "-c", str(pings), "-i", str(PING_INTERVAL), "-W", "1", link.our_ip]
    malformed = [sys.executable, "-m", "bench._malformed", "--ifname", link.peer_ifname,
                 "--src-mac", format_mac(link.peer_mac), "--dst-mac", format_mac(link.our_mac),
                 "--src-ip", link.peer_ip, "--dst-ip", link.our_ip, "--port", str(PORT),
                 "--rate", str(malformed_rate), "--seconds", str(seconds)]  # fmt: skip
    return [
        Launch("soak-arping", arping, netns=link.peer_netns),
        Launch("soak-ping", ping, netns=link.peer_netns),
        Launch("soak-malformed", malformed, netns=link.peer_netns, env=python_launch_env()),
    ]


def _side_results(children: list[Child], deadline: float) -> dict[str, Any]:
    """Let the side-traffic programs finish and read their summaries."""
    out: dict[str, Any] = {}
    for child in children:
        text: list[str] = []
        with contextlib.suppress(BenchError):
            while (line := child.next_line(deadline)) is not None:
                text.append(line)
        code = child.stop(timeout=max(1.0, deadline - time.monotonic()))
        joined = "\n".join(text)
        label = child.launch.label.removeprefix("soak-")
        if label == "ping":
            m = re.search(r"(\d+) packets transmitted, (\d+) received", joined)
            out[label] = {"sent": int(m[1]), "received": int(m[2])} if m else {"raw": joined}
        elif label == "arping":
            # iputils' summary ("Sent 5 probes ... Received 5 response(s)") or Habets'
            # ("5 packets transmitted, 5 packets received")
            sent = re.search(r"Sent (\d+) probe|(\d+) packets transmitted", joined)
            got = re.search(r"Received (\d+) response|(\d+) packets received", joined)
            out[label] = (
                {"sent": int(sent[1] or sent[2]), "received": int(got[1] or got[2])}
                if sent and got
                else {"raw": joined}
            )
        else:
            out[label] = child.results[-1] if child.results else {"raw": joined}
        out[label]["exit_code"] = code
    return out


def run_soak(
    minutes: float, rate: float, interval_s: float, out: Path, pin: bool = True
) -> SoakResult:
    seconds = minutes * 60
    result = SoakResult(rate, minutes, interval_s)
    usable = cores()
    server_core, gen_core = (usable[0], usable[1]) if pin and len(usable) >= 2 else (None, None)
    log_dir = out / "logs" / "soak"
    budget = time.monotonic() + seconds + 60
    with VethLink() as link, _children() as started:
        link.teach_peer()
        server = Child(
            Launch("soak-server",
                   [sys.executable, "-m", "bench.servers", "--loop", "uvloop", "udp-echo",
                    "--transport", "aionetmap", "--port", f"packet:{link.our_ifname}",
                    "--address", f"{link.our_ip}/{link.prefixlen}",
                    "--bind", f"{link.our_ip}:{PORT}", "--stats-every", str(interval_s)],
                   core=server_core, netns=link.our_netns, env=python_launch_env()),
            log_dir, ROOT,
        )  # fmt: skip
        started.append(server)
        server.wait_for("READY", budget)
        gen = Child(
            Launch("soak-udpgen",
                   [str(build("udpgen")), "--dst", link.our_ip, "--port", str(PORT),
                    "--src", link.peer_ip, "--rate", str(round(rate)), "--window", "1024",
                    "--warmup", "1", "--duration", str(seconds), "--report", str(interval_s)],
                   core=gen_core, netns=link.peer_netns),
            log_dir, ROOT,
        )  # fmt: skip
        started.append(gen)
        gen.wait_for("MARK start", budget)
        side = [Child(launch, log_dir, ROOT) for launch in _side_traffic(link, seconds, 10.0)]
        started.extend(side)
        stats = _latest_stats(server, {})
        cpu = process_cpu(server.pid)
        while True:
            line = gen.next_line(budget)
            if line is None:
                raise gen.error("exited before the end of the soak")
            if line.startswith("MARK end"):
                break
            if not line.startswith("INTERVAL "):
                continue
            report = json.loads(line[9:])
            time.sleep(min(0.2, interval_s / 4))  # the server's STATS line of this interval
            now_stats = _latest_stats(server, stats)
            now_cpu = process_cpu(server.pid)
            rss, fds = _rss_fds(server.pid)
            lat = {k: v for k, v in report["latency"].items() if k != "buckets"}
            result.intervals.append(Interval(
                end_s=(len(result.intervals) + 1) * interval_s,
                echoes_per_s=report["count"] / report["window_s"], sent=report["sent"],
                echoed=report["echoed"], lost=report["lost"], late=report["late"],
                behind=report["behind"], latency=lat, rss_kib=rss, fds=fds,
                server_cpu=(now_cpu - cpu) / report["window_s"],
                drops=_drop_delta(stats, now_stats),
            ))  # fmt: skip
            print(format_interval(result.intervals[-1]), file=sys.stderr, flush=True)
            stats, cpu = now_stats, now_cpu
        gen.wait_for("RESULT", budget)
        result.generator = gen.results[-1]
        result.side = _side_results(side, time.monotonic() + 15)
        server.stop()
        result.server = server.results[-1] if server.results else {}
    return result


SOAK_HEADER = (
    "| minute | echoes/s | lost | late | RTT p50 µs | p99 µs | p99.9 µs | max µs | RSS MiB "
    "| fds | server CPU | drops by reason |"
)
SOAK_RULE = "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"


def format_interval(iv: Interval) -> str:
    lat = iv.latency
    drops = ", ".join(f"{k} {v}" for k, v in sorted(iv.drops.items())) or "none"
    return (
        f"| {iv.end_s / 60:.2f} | {iv.echoes_per_s:,.0f} | {iv.lost} | {iv.late} "
        f"| {lat.get('p50_us', 0):,.1f} | {lat.get('p99_us', 0):,.1f} "
        f"| {lat.get('p999_us', 0):,.1f} | {lat.get('max_us', 0):,.1f} "
        f"| {iv.rss_kib / 1024:.1f} | {iv.fds} | {100 * iv.server_cpu:.0f} % | {drops} |"
    )


def format_soak(r: SoakResult) -> str:
    g = r.generator
    lines = [
        f"### Soak: UDP echo over veth at {r.rate:,.0f}/s for {r.minutes:g} min "
        "(aionetmap on AF_PACKET, uvloop)",
        "",
        "Side traffic from the peer namespace: arping 1/s, ping 5/s, malformed frames 10/s "
        f"(`bench/_malformed.py`). One row per {r.interval_s:g} s.",
        "",
        SOAK_HEADER,
        SOAK_RULE,
        *(format_interval(iv) for iv in r.intervals),
        "",
        f"Echo load over the whole window: sent {g.get('sent', 0)}, echoed "
        f"{g.get('echoed', 0)}, lost {g.get('lost', 0)}, late {g.get('late', 0)}, corrupt "
        f"{g.get('corrupt', 0)}, behind schedule {g.get('behind', 0)}.",
    ]
    for name in ("ping", "arping"):
        side = r.side.get(name, {})
        lines.append(f"{name}: sent {side.get('sent', '?')}, answered {side.get('received', '?')}.")
    bad = r.side.get("malformed", {})
    sent = bad.get("sent", {})
    lines.append(
        f"malformed frames sent: {bad.get('count', '?')} ("
        + ", ".join(f"{k} {v}" for k, v in sent.items())
        + ")."
    )
    drops = {k.removeprefix("drop_"): v for k, v in r.server.items()
             if k.startswith("drop_") and v}  # fmt: skip
    lines.append(
        "server drops over its whole life: "
        + (", ".join(f"{k} {v}" for k, v in sorted(drops.items())) or "none")
        + f" (total {r.server.get('dropped', '?')})."
    )
    return "\n".join(lines) + "\n"


def soak_json(r: SoakResult) -> dict[str, Any]:
    return {
        "rate": r.rate,
        "minutes": r.minutes,
        "interval_s": r.interval_s,
        "intervals": [iv.__dict__ for iv in r.intervals],
        "generator": {k: v for k, v in r.generator.items() if k != "latency"},
        "latency": {k: v for k, v in r.generator.get("latency", {}).items()},
        "server": r.server,
        "side": r.side,
    }


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench soak", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--minutes", type=float, required=True, help="length (fractions allowed)")
    p.add_argument("--rate", type=float, default=100_000.0, help="echo datagrams/s offered")
    p.add_argument("--interval", type=float, default=60.0, help="seconds per reported row")
    p.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    p.add_argument("--out", type=Path, default=OUT, help="log and report directory")
    p.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.minutes <= 0 or args.rate <= 0 or args.interval <= 0:
        raise SystemExit("--minutes, --rate and --interval must be > 0")
    if os.geteuid() != 0:
        print("soak needs root (network namespaces and veth)", file=sys.stderr)
        return 2
    interval = min(args.interval, args.minutes * 60)
    try:
        result = run_soak(args.minutes, args.rate, interval, args.out, pin=not args.no_pin)
    except (BenchError, BuildError) as exc:
        print(exc, file=sys.stderr)
        return 1
    facts = "\n".join(f"- {fact}" for fact in machine())
    report = f"Machine:\n\n{facts}\n\n{format_soak(result)}"
    print(report, flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "soak.md").write_text(report)
    if args.json is not None:
        args.json.write_text(json.dumps(soak_json(result), indent=1))
    return 0
