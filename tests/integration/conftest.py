"""Fixtures for the tests in this folder."""

from __future__ import annotations

from typing import Any

import pytest

# The veth fixtures (a kernel peer over a veth pair in fresh namespaces); imported rather
# than listed in pytest_plugins, which only a top-level conftest may do.
from aionetmap.testing.pytest_plugin import netns_guard, veth

__all__ = ["netns_guard", "veth"]


@pytest.fixture(autouse=True)
async def _no_loop_errors(loop_errors: list[dict[str, Any]]) -> None:
    """Fail any test that made the loop's exception handler run (checked at teardown)."""
