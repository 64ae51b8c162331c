"""Benchmark 3: UDP echo over the software pipe: the library's own overhead.

The load generator (``pipepeer echo``) attaches to end ``b`` of a named pipe and speaks
Ethernet/IPv4/UDP itself (both checksums, ARP answers), keeping a window of datagrams
outstanding and checking every echo byte for byte. On end ``a`` the same plain asyncio
echo protocol as in the veth benchmark runs behind ``aionetmap.create_datagram_endpoint``;
the C reflector row (``pipepeer reflect``) shows what the pipe and the generator carry
with no Python at all. No kernel network code is involved.
"""

from __future__ import annotations

from bench._build import build
from bench._measure import Plan, Row, Trial
from bench._proc import Launch
from bench._suite import python_launch_env
from bench.pipe_frames import PipeBenchmark, pipe_name, pipe_spec
from bench.udp_veth import echo_notes

__all__ = ["PipeUdp"]

SERVER_IP, SERVER_MAC = "10.77.0.1", "02:00:00:77:00:01"
CLIENT_IP, CLIENT_MAC = "10.77.0.2", "02:00:00:77:00:02"
PORT = 7


class PipeUdp(PipeBenchmark):
    name = "pipe-udp"
    title = "UDP echo over the software pipe (library overhead, no kernel networking)"
    unit = "echoes/s"
    notes = (
        "Rate: datagrams echoed per second, counted byte-exact by the generator "
        "(`bench/c/pipepeer.c echo`), which also verifies both checksums of every echo. "
        "Server CPU at 100 % means the rate is what one core of the library sustains.",
    )

    echo = True
    default_rate = 200_000.0

    def rows(self) -> list[Row]:
        return [
            Row("c-reflector", "C reflector on the pipe (pipe_*.c + ring_*.c), no Python", True),
            Row("aionetmap-asyncio", "aionetmap UDP echo, asyncio, glibc malloc defaults"),
            Row("aionetmap-uvloop", "aionetmap UDP echo, uvloop, glibc malloc defaults"),
            Row(
                "aionetmap-batch-uvloop",
                "aionetmap UDP echo through the batch API (datagrams_received + sendto_many), "
                "uvloop",
            ),
        ]

    def plan(self, row: Row, run: int) -> Plan:
        opts = self.opts
        server_core, gen_core, _ = opts.placement()
        name = pipe_name(self.name)
        if row.key == "c-reflector":
            argv = [str(build("pipepeer")), "reflect", "--pipe", name, "--ip", SERVER_IP,
                    "--mac", SERVER_MAC]  # fmt: skip
            env: dict[str, str] = {}
        else:
            loop = row.key.rsplit("-", 1)[1]
            argv = [*self.python_server(row, run, loop), "udp-echo", "--transport", "aionetmap",
                    "--port", pipe_spec(name, "a"), "--address", f"{SERVER_IP}/24",
                    "--mac", SERVER_MAC, "--bind", f"{SERVER_IP}:{PORT}"]  # fmt: skip
            if "-batch-" in row.key:
                argv += ["--protocol", "batch"]
            env = python_launch_env()
        server = Launch(row.key, argv, core=server_core, env=env)
        generator = Launch(
            f"{row.key}-echo",
            [str(build("pipepeer")), "echo", "--pipe", name, "--ip", CLIENT_IP,
             "--mac", CLIENT_MAC, "--server-ip", SERVER_IP, "--server-mac", SERVER_MAC,
             "--port", str(PORT), "--size", str(opts.size), *self.load_args(),
             "--warmup", str(opts.warmup), "--duration", str(opts.duration)],
            core=gen_core,
        )  # fmt: skip
        return Plan(server, generator, "generator")

    def row_notes(self, row: Row, trial: Trial) -> list[str]:
        return echo_notes(trial)
