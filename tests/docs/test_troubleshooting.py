"""The error table of docs/troubleshooting.md shows messages aionetmap really prints.

Each row's message is provoked here (the netmap ones through :func:`netmap_error`, the
converter the netmap port uses, since the build machines have no netmap module) and
compared with the page, where ``...`` stands for text left out and a pid for any pid.
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
import subprocess
import sys
from collections.abc import Callable

import aionetmap
from aionetmap.ports import open_port
from aionetmap.ports.errors import netmap_error
from aionetmap.stack import HostConfig
from tests.docs.pages import DOCS

_ROW = re.compile(r"^\| `(?P<message>[^`]+)`")


def _page_messages() -> list[str]:
    lines = (DOCS / "troubleshooting.md").read_text().splitlines()
    return [m["message"] for m in map(_ROW.match, lines) if m]


def _pattern(shown: str) -> re.Pattern[str]:
    parts = [re.escape(part) for part in shown.split("...")]
    text = ".*".join(parts).replace(re.escape("pid 15147"), r"pid\ \d+")
    return re.compile(text, re.DOTALL)


def _text(exc: BaseException) -> str:
    """What a user reads: an OSError's message without ``[Errno N]``; the first line of a
    PortSpecError (the next two point at the character)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc).splitlines()[0]


def _raised(call: Callable[[], object]) -> str:
    try:
        call()
    except (OSError, ValueError) as exc:
        return _text(exc)
    raise AssertionError(f"{call} raised nothing")


def _netmap(err: int, operation: str) -> str:
    return _text(netmap_error(err, "netmap:eth0", operation))  # type: ignore[arg-type]


_BAD_SPECS = ("netmap:eth0&", "netmap:eth0@extmem:file=/x", "pipe:x", "pipe:a{0@conf:slots=3")


def _cli_error(spec: str) -> str:
    """The one line ``aionetmap info SPEC`` prints for a spec it cannot open."""
    argv = [sys.executable, "-m", "aionetmap", "info", spec]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    return proc.stderr.strip().removeprefix("aionetmap info: error: ")


def _pipe_end_busy() -> str:
    port = open_port("pipe:docs-busy{0")
    try:
        return _raised(lambda: open_port("pipe:docs-busy{0"))
    finally:
        port.close()


def _without_raw_sockets() -> str:
    """Open a packet port in a process that lacks CAP_NET_RAW."""
    code = (
        "import os, aionetmap.ports as p\n"
        "if os.geteuid() == 0:\n"
        "    os.setgid(65534); os.setuid(65534)\n"
        "try:\n    p.open_port('packet:lo')\n"
        "except OSError as exc:\n    print(exc.strerror)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return out.stdout.strip().replace("packet:lo", "packet:eth0")


async def _endpoint_errors() -> list[str]:
    config = HostConfig(arp_request_interval=0.05)  # the ARP failure comes sooner
    found = []
    sock = await aionetmap.open_udp(
        port="pipe:docs-ep{0", local_addr=("10.0.0.1/24", 9), config=config
    )
    async with sock:
        for other in (("10.0.0.1/24", 9), ("10.0.0.2/24", 9)):
            try:
                await aionetmap.open_udp(port="pipe:docs-ep{0", local_addr=other)
            except (OSError, ValueError) as exc:
                found.append(_text(exc))
        for dest in (("example.com", 9), ("10.0.0.255", 9), None):
            try:
                await sock.sendto(b"x", dest)
            except OSError as exc:
                found.append(_text(exc))
        await sock.sendto(b"x", ("10.0.0.5", 9))
        try:
            await sock.recvfrom()
        except OSError as exc:
            found.append(_text(exc))
    return found


def _provoke_all() -> list[str]:
    found = [
        _netmap(errno.ENOENT, "open"),
        _netmap(errno.EACCES, "open"),
        _netmap(errno.ENXIO, "register"),
        _netmap(errno.EBUSY, "register"),
        _netmap(errno.EINVAL, "register"),
        _netmap(errno.EOPNOTSUPP, "register"),
        *(_cli_error(spec) for spec in _BAD_SPECS),
        _pipe_end_busy().replace("docs-busy", "t1"),
        _without_raw_sockets(),
    ]
    if os.geteuid() == 0:  # without CAP_NET_RAW the socket fails before the name lookup
        found.append(_raised(lambda: open_port("packet:nosuch0")))
    found.append(
        _raised(
            lambda: asyncio.run(
                aionetmap.open_udp(port="pipe:docs-na{0", local_addr=("10.0.0.2", 9))
            )
        )
    )
    found += [msg.replace("docs-ep", "t2") for msg in asyncio.run(_endpoint_errors())]
    return found


def test_every_message_in_the_table_is_real() -> None:
    shown = _page_messages()
    assert len(shown) >= 15
    found = _provoke_all()
    for message in shown:
        if message.startswith("packet:nosuch0") and os.geteuid() != 0:
            continue
        pattern = _pattern(message)
        assert any(pattern.fullmatch(real) for real in found), (message, found)
