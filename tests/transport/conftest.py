"""Transport tests: real event loops (asyncio and uvloop) over the software pipe."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from aionetmap.ports.pipe import PipePort
from aionetmap.testing import pipe_pair


@pytest.fixture(autouse=True)
async def _no_loop_errors(loop_errors: list[dict[str, Any]]) -> None:
    """Every transport test fails if the loop's exception handler was called (the check
    is in ``loop_errors``'s teardown)."""


@pytest.fixture
def pipe() -> Iterator[tuple[PipePort, PipePort]]:
    """Both ends of a fresh anonymous software pipe; closed after the test."""
    a, b = pipe_pair(slots=256)
    try:
        yield a, b
    finally:
        a.close()
        b.close()
