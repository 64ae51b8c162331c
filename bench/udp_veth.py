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
from collections.abc import Iterator

from aionetmap.stack.addresses import format_mac
from aionetmap.testing.netns import VethLink, ip
from bench._build import build
from bench._measure import Plan, Row, Trial
from bench._proc import Launch
from bench._suite import Benchmark, Options, python_launch_env

__all__ = ["MALLOC_TUNED", "UdpVeth", "UdpVethRaw"]

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
        "namespace, and the server's core for delivering the echoes into the peer's. "
        "Both veth ends keep the kernel's default offloads: kernel senders leave their UDP "
        "checksums to TX offload (a partial checksum the receiving kernel, and aionetmap "
        "on AF_PACKET through the kernel's flag, accept unverified), while aionetmap "
        "computes every checksum it sends in software.",
    )

    # The kernel-socket servers keep the default 208 KiB receive buffer: about 250 of these
    # datagrams. A larger window overflows it and the lost datagrams stall the generator for
    # its loss timeout, which would measure the timeout rather than the server.
    default_window = 128
    echo = True

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

    def generator_args(self, link: VethLink) -> list[str]:
        """How the generator reaches the server (here: from the peer's own address)."""
        return ["--src", link.peer_ip]

    def plan(self, row: Row, run: int) -> Plan:
        link = self.link
        assert link is not None, "plan() outside environment()"
        opts = self.opts
        server_core, gen_core, _ = opts.placement()
        generator = Launch(
            f"{row.key}-udpgen",
            [str(build("udpgen")), "--dst", link.our_ip, "--port", str(PORT),
             *self.generator_args(link), "--size", str(opts.size),
             *self.load_args(), "--batch", str(opts.batch),
             "--warmup", str(opts.warmup), "--duration", str(opts.duration)],
            core=gen_core,
            netns=link.peer_netns,
        )  # fmt: skip
        argv, env = self._server_command(link, row, run)
        server = Launch(row.key, argv, core=server_core, netns=link.our_netns, env=env)
        if row.key.startswith(("asyncio-socket", "uvloop-socket")):
            # The kernel serves: it owns the address for this trial only.
            address = f"{link.our_ip}/{link.prefixlen}"

            def prepare() -> None:
                ip("addr", "add", address, "dev", link.our_ifname, netns=link.our_netns)

            def cleanup() -> None:
                ip("addr", "del", address, "dev", link.our_ifname, netns=link.our_netns,
                   check=False)  # fmt: skip

            return Plan(server, generator, "generator", prepare, cleanup)
        return Plan(server, generator, "generator")

    def _server_command(
        self, link: VethLink, row: Row, run: int
    ) -> tuple[list[str], dict[str, str]]:
        if row.key == "c-reflector":
            return [str(build("pktreflect")), "--ifname", link.our_ifname, "--ip", link.our_ip], {}
        loop = "uvloop" if "uvloop" in row.key else "asyncio"
        argv = [*self.python_server(row, run, loop), "udp-echo", "--bind", f"{link.our_ip}:{PORT}"]
        if row.key.startswith("aionetmap"):
            argv += ["--transport", "aionetmap", "--port", f"packet:{link.our_ifname}",
                     "--address", f"{link.our_ip}/{link.prefixlen}"]  # fmt: skip
        else:
            argv += ["--transport", "kernel"]
        return argv, python_launch_env(MALLOC_TUNED if row.key.endswith("-malloc") else None)

    def row_notes(self, row: Row, trial: Trial) -> list[str]:
        return echo_notes(trial)


def echo_notes(trial: Trial) -> list[str]:
    """Losses and errors the generator saw, and what the server dropped."""
    c = trial.counter
    notes = [f"lost {c.get('lost', 0)}, corrupt {c.get('corrupt', 0)}"]
    for key in ("late", "dup"):
        if c.get(key):
            notes.append(f"{key} {c[key]}")
    if c.get("behind"):
        notes.append(f"behind schedule {c['behind']}")
    notes.append(f"RTT {c.get('avg_rtt_us', 0):.0f} µs")
    dropped = trial.server_result.get("dropped")
    if dropped:
        notes.append(f"stack dropped {dropped}")
    kernel_drops = trial.server_result.get("rx_kernel_drops")
    if kernel_drops:
        notes.append(f"RX ring drops {kernel_drops}")
    return notes


class UdpVethRaw(UdpVeth):
    """The same rows, with the generator on an AF_PACKET socket (``udpgen --mode packet``)."""

    name = "udp-veth-raw"
    title = "UDP echo over veth, the same servers driven by an AF_PACKET load generator"
    notes = (
        "As udp-veth, but the generator builds its frames itself and sends and receives them "
        "on an AF_PACKET socket (the project's packet_*.c), from an IP and MAC address that no "
        "interface has (it answers ARP itself), so the peer kernel drops the echoes as frames "
        "for another host before IP. This takes the UDP socket cost off the generator's core, "
        "but the echoes now land in the generator's TPACKET ring, which costs the server's "
        "core a copy and a wake-up per frame (tpacket_rcv) instead of a UDP socket enqueue: "
        "measured, that is not cheaper for the servers. Read this table for the generator's "
        "headroom (C reflector row), not for the ratios.",
    )

    def generator_ip(self, link: VethLink) -> str:
        return link.peer_ip.rsplit(".", 1)[0] + ".3"

    def generator_mac(self, link: VethLink) -> str:
        # Not the peer interface's own address: the peer kernel sees the echoes as frames
        # for another host and drops them before IP, instead of routing them (and failing).
        return format_mac(link.peer_mac[:5] + b"\x03")

    @contextlib.contextmanager
    def environment(self) -> Iterator[None]:
        with super().environment():
            link = self.link
            assert link is not None
            # The kernel-socket servers reply without asking ARP first (the generator would
            # answer, but not before the first datagrams wait).
            ip("neigh", "replace", self.generator_ip(link), "lladdr", self.generator_mac(link),
               "dev", link.our_ifname, "nud", "permanent", netns=link.our_netns)  # fmt: skip
            yield

    def generator_args(self, link: VethLink) -> list[str]:
        return ["--src", self.generator_ip(link), "--mode", "packet",
                "--ifname", link.peer_ifname, "--dst-mac", format_mac(link.our_mac),
                "--src-mac", self.generator_mac(link)]  # fmt: skip
