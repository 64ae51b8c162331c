"""``echo --ip A.B.C.D/N --ip IPV6/N --join GROUP``: one dual-stack server for kernel UDP4
and UDP6 clients and a joined group, over veth, in-process (both paths) and as a real
``python -m aionetmap echo`` process (both loops); and its usage errors."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

import aionetmap
from aionetmap.cli import commands
from aionetmap.cli import main as cli
from aionetmap.ports.packet import PacketPort
from aionetmap.stack.addresses import format_mac
from aionetmap.testing.netns import VethLink
from tests.cli.live import until_running
from tests.integration.kernel_peer import recv_polled

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
GROUP = "239.1.2.3"


def _addresses(link: VethLink) -> list[str]:
    return [f"{link.our_ip}/{link.prefixlen}", f"{link.our_ip6}/{link.prefixlen6}"]


def _kernel_clients(link: VethLink) -> tuple[socket.socket, socket.socket, socket.socket]:
    """A kernel UDP4 socket, a UDP6 one, and a UDP4 one that sends to the group (out of
    the veth: the peer namespace has no route for 224/4)."""
    udp4 = link.peer_socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp4.bind((link.peer_ip, 0))
    udp6 = link.peer_socket(socket.AF_INET6, socket.SOCK_DGRAM)
    udp6.bind((link.peer_ip6, 0))
    sender = link.peer_socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.bind((link.peer_ip, 0))
    sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(link.peer_ip))
    for sock in (udp4, udp6, sender):
        sock.setblocking(False)
    return udp4, udp6, sender


async def _exchange(link: VethLink) -> None:
    """Each kernel client sends once and gets its datagram back byte-exact, from the
    address it sent to (the group's echo from the unicast address)."""
    udp4, udp6, sender = _kernel_clients(link)
    data4, data6, data_mc = os.urandom(3000), os.urandom(3000), os.urandom(100)
    udp4.sendto(data4, (link.our_ip, 7))
    assert await recv_polled(udp4) == (data4, (link.our_ip, 7))
    udp6.sendto(data6, (link.our_ip6, 7))
    got, src = await recv_polled(udp6)
    assert (got, src[:2]) == (data6, (link.our_ip6, 7))
    sender.sendto(data_mc, (GROUP, 7))
    assert await recv_polled(sender) == (data_mc, (link.our_ip, 7))


@pytest.mark.netns
async def test_echo_serves_kernel_udp4_udp6_and_a_group(
    veth6: VethLink, fast_path: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    ports: list[PacketPort] = []

    async def on_veth(spec: str, **kwargs: Any) -> aionetmap.NetInterface:
        ports.append(veth6.open_port())
        kwargs["mac"] = veth6.our_mac
        return await aionetmap.open_interface(ports[-1], fast_path=fast_path, **kwargs)

    monkeypatch.setattr(commands, "open_interface", on_veth)
    err = io.StringIO()
    server = asyncio.create_task(
        commands.echo(
            "packet:veth", _addresses(veth6), 7, count=3, interval=None, err=err, join=[GROUP]
        )
    )
    try:
        async with asyncio.timeout(20):
            await until_running(err, server)
            await _exchange(veth6)
            assert await server == 0
    finally:
        server.cancel()
        with contextlib.suppress(BaseException):
            await server
        for port in ports:
            port.close()
    first = err.getvalue().splitlines()[0]
    assert first.startswith(
        f"echo: UDP {veth6.our_ip}:7, [{veth6.our_ip6}]:7, group {GROUP} on "
    ), first
    assert "answers ARP, NDP and ping" in first


@pytest.mark.netns
async def test_echo_process_serves_both_families(veth6: VethLink) -> None:
    """The real command line, run in our end's namespace (on the loop this test runs
    on), for kernel UDP4 and UDP6 clients and a group sender in the peer's."""
    loop = "uvloop" if "uvloop" in type(asyncio.get_running_loop()).__module__ else "asyncio"
    argv = [
        "ip", "netns", "exec", veth6.our_netns, sys.executable, "-m", "aionetmap", "echo",
        f"packet:{veth6.our_ifname}", *(a for ip in _addresses(veth6) for a in ("--ip", ip)),
        "--port", "7", "--join", GROUP, "--mac", format_mac(veth6.our_mac), "-c", "3", "-q",
        "--loop", loop,
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=ROOT, env=ENV, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stderr is not None
    try:
        async with asyncio.timeout(30):
            first = (await proc.stderr.readline()).decode()
            assert "Ctrl-C to stop" in first, first + (await proc.stderr.read()).decode()
            await _exchange(veth6)
            rest = (await proc.stderr.read()).decode()
            assert await proc.wait() == 0, rest
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert f"[{veth6.our_ip6}]:7, group {GROUP}" in first
    assert "rx 3 (" in rest
    assert "Traceback" not in rest


def _error_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert cli.main(argv) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("aionetmap echo: error: --ip ")
    return lines[0]


def test_echo_takes_one_ipv4_address(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["echo", "pipe:x{0", "--ip", "10.0.0.2/24", "--ip", "10.0.1.2/24"]
    line = _error_line(capsys, argv)
    assert "--ip 10.0.1.2/24: one IPv4 address per interface (already 10.0.0.2/24)" in line


def test_echo_needs_an_ipv4_address_beside_ipv6(capsys: pytest.CaptureFixture[str]) -> None:
    line = _error_line(capsys, ["echo", "pipe:x{0", "--ip", "2001:db8::2/64"])
    assert "the interface needs an IPv4 address too" in line


@pytest.mark.parametrize("value", ["2001:db8::2", "2001:db8::zz/64", "10.0.0.300/24"])
def test_echo_refuses_a_malformed_address(capsys: pytest.CaptureFixture[str], value: str) -> None:
    line = _error_line(capsys, ["echo", "pipe:x{0", "--ip", "10.0.0.2/24", "--ip", value])
    assert f"--ip {value}: " in line
