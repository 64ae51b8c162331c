"""Benchmark 1: UDP echo over a veth pair, aionetmap (AF_PACKET) vs kernel UDP sockets.

Every server row runs the same plain ``asyncio.DatagramProtocol`` echo (``bench.servers``)
in its own process in "our" namespace, pinned to the server core; the load generator
(``bench/c/udpgen.c``, a kernel UDP socket) runs in the peer namespace, pinned to the
other core, and is the same program with the same settings for every row.

For the kernel-socket rows the server address is configured on our veth end for the
duration of the trial; for the aionetmap and C rows it is configured nowhere (the
user-space stack owns it) and the kernel of our namespace drops those frames.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from aionetmap.testing.netns import VethLink, ip
from bench._build import build
from bench._measure import Plan, Row, Trial
from bench._proc import Launch
from bench._suite import Benchmark, Options, python_launch_env

__all__ = ["MALLOC_TUNED", "UdpVeth"]

PORT = 7000
MALLOC_TUNED = {"MALLOC_MMAP_THRESHOLD_": "1048576", "MALLOC_TRIM_THRESHOLD_": "16777216"}
_TUNED_TEXT = "MALLOC_MMAP_THRESHOLD_=1048576 MALLOC_TRIM_THRESHOLD_=16777216"


class UdpVeth(Benchmark):
    name = "udp-veth"
    title = "UDP echo over veth: aionetmap (AF_PACKET) vs kernel UDP sockets"
    unit = "echoes/s"
    notes = (
        "Rate: datagrams echoed per second, counted byte-exact by the generator "
        "(`bench/c/udpgen.c`: kernel UDP socket in the peer namespace, sendmmsg/recvmmsg, "
        "a window of outstanding datagrams); each echo is one datagram in and one out at "
        "the server. CPU: the process's own time over the measured window (100 % = one "
        "core). On veth the sending core also runs the receiving namespace's network "
        "processing: the generator's core pays for delivering its datagrams into our "
        "namespace, and the server's core for delivering the echoes into the peer's.",
    )

    # The kernel-socket servers keep the default 208 KiB receive buffer: about 250 of these
    # datagrams. A larger window overflows it and the lost datagrams stall the generator for
    # its loss timeout, which would measure the timeout rather than the server.
    default_window = 128

    def __init__(self, opts: Options) -> None:
        super().__init__(opts)
        self.link: VethLink | None = None

    def rows(self) -> list[Row]:
        default = "glibc malloc defaults"
        return [
            Row("asyncio-socket", f"kernel UDP socket, asyncio, {default}"),
            Row("asyncio-socket-malloc", f"kernel UDP socket, asyncio, {_TUNED_TEXT}"),
            Row("uvloop-socket", f"kernel UDP socket, uvloop, {default}", baseline=True),
            Row("aionetmap-asyncio", f"aionetmap on AF_PACKET, asyncio, {default}"),
            Row("aionetmap-uvloop", f"aionetmap on AF_PACKET, uvloop, {default}"),
            Row("c-reflector", "C reflector on the same AF_PACKET port code, no Python"),
        ]

    def settings(self) -> str:
        return f"{super().settings()}, generator batch {self.opts.batch}"

    @contextlib.contextmanager
    def environment(self) -> Iterator[None]:
        with VethLink() as link:
            link.teach_peer()  # the generator never waits on ARP, whoever serves
            self.link = link
            try:
                yield
            finally:
                self.link = None

    def plan(self, row: Row, run: int) -> Plan:
        link = self.link
        assert link is not None, "plan() outside environment()"
        opts = self.opts
        server_core, gen_core, _ = opts.placement()
        generator = Launch(
            f"{row.key}-udpgen",
            [str(build("udpgen")), "--dst", link.our_ip, "--port", str(PORT),
             "--src", link.peer_ip, "--size", str(opts.size), "--window", str(self.window),
             "--batch", str(opts.batch), "--warmup", str(opts.warmup),
             "--duration", str(opts.duration)],
            core=gen_core,
            netns=link.peer_netns,
        )  # fmt: skip
        prepare = cleanup = None
        address = f"{link.our_ip}/{link.prefixlen}"
        if row.key == "c-reflector":
            argv = [str(build("pktreflect")), "--ifname", link.our_ifname, "--ip", link.our_ip]
            env: dict[str, str] = {}
        else:
            loop = "uvloop" if "uvloop" in row.key else "asyncio"
            argv = [sys.executable, "-m", "bench.servers", "--loop", loop]
            if opts.cprofile and run == 0:
                argv += ["--cprofile", str(opts.out / "profiles" / f"{self.name}-{row.key}.pstats")]
            argv += ["udp-echo", "--bind", f"{link.our_ip}:{PORT}"]
            if row.key.startswith("aionetmap"):
                argv += ["--transport", "aionetmap", "--port", f"packet:{link.our_ifname}",
                         "--address", address]  # fmt: skip
            else:
                argv += ["--transport", "kernel"]

                def prepare() -> None:
                    ip("addr", "add", address, "dev", link.our_ifname, netns=link.our_netns)

                def cleanup() -> None:
                    ip("addr", "del", address, "dev", link.our_ifname, netns=link.our_netns,
                       check=False)  # fmt: skip

            env = python_launch_env(MALLOC_TUNED if row.key.endswith("-malloc") else None)
        server = Launch(row.key, argv, core=server_core, netns=link.our_netns, env=env)
        return Plan(server, generator, "generator", prepare, cleanup)

    def row_notes(self, row: Row, trial: Trial) -> list[str]:
        return echo_notes(trial)


def echo_notes(trial: Trial) -> list[str]:
    """Losses and errors the generator saw, and what the server dropped."""
    c = trial.counter
    notes = [f"lost {c.get('lost', 0)}, corrupt {c.get('corrupt', 0)}"]
    for key in ("late", "dup"):
        if c.get(key):
            notes.append(f"{key} {c[key]}")
    notes.append(f"RTT {c.get('avg_rtt_us', 0):.0f} µs")
    dropped = trial.server_result.get("dropped")
    if dropped:
        notes.append(f"stack dropped {dropped}")
    kernel_drops = trial.server_result.get("rx_kernel_drops")
    if kernel_drops:
        notes.append(f"RX ring drops {kernel_drops}")
    return notes
