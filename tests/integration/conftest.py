"""Fixtures for the tests in this folder."""

from __future__ import annotations

from typing import Any

import pytest

__all__: list[str] = []


@pytest.fixture(autouse=True)
async def _no_loop_errors(loop_errors: list[dict[str, Any]]) -> None:
    """Fail any test that made the loop's exception handler run (checked at teardown)."""
