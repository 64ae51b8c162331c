"""Fixtures for the tests in this folder."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from aionetmap.interface import NetInterface
from aionetmap.ports.packet import PacketPort
from aionetmap.testing.netns import VethLink
from tests.integration.kernel_peer import open_dual_stack

__all__: list[str] = []


@pytest.fixture(autouse=True)
async def _no_loop_errors(loop_errors: list[dict[str, Any]]) -> None:
    """Fail any test that made the loop's exception handler run (checked at teardown)."""


@pytest.fixture
def port(veth6: VethLink) -> Iterator[PacketPort]:
    """The AF_PACKET port on our end of ``veth6``."""
    opened = veth6.open_port()
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
async def iface(veth6: VethLink, port: PacketPort, fast_path: bool) -> AsyncIterator[NetInterface]:
    """A dual-stack interface on ``port``: our IPv4 and IPv6 addresses of ``veth6``, on
    either path (``fast_path``)."""
    opened = await open_dual_stack(port, veth6, fast_path=fast_path)
    try:
        yield opened
    finally:
        opened.close()
