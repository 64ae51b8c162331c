"""Transport tests: real event loops (asyncio and uvloop) over the software pipe."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from aionetmap._aio import constants
from aionetmap.ports.pipe import PipePort
from aionetmap.testing import pipe_pair

CLOSE_STALL = 0.5
"""The close-stall period in these tests (the default is longer): tests whose peer stops
reading end their close sooner; a peer that reads at all, even once a loop iteration,
never looks stalled."""


@pytest.fixture(autouse=True)
async def _no_loop_errors(loop_errors: list[dict[str, Any]]) -> None:
    """Every transport test fails if the loop's exception handler was called (the check
    is in ``loop_errors``'s teardown)."""


@pytest.fixture(autouse=True)
def _short_close_stall(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(constants, "CLOSE_STALL_TIMEOUT", CLOSE_STALL)


@pytest.fixture
def pipe() -> Iterator[tuple[PipePort, PipePort]]:
    """Both ends of a fresh anonymous software pipe; closed after the test."""
    a, b = pipe_pair(slots=256)
    try:
        yield a, b
    finally:
        a.close()
        b.close()
