"""Helpers for tests that run a live CLI command (``echo``, ``capture``) as a task."""

from __future__ import annotations

import asyncio
import io
from typing import Any


async def until_running(err: io.StringIO, task: asyncio.Task[Any]) -> None:
    """Wait until the command ``task`` runs says it serves (its "Ctrl-C to stop" line on
    ``err``); fail at once, with what it wrote, if it ended before that."""
    while "Ctrl-C to stop" not in err.getvalue():
        assert not task.done(), err.getvalue()
        await asyncio.sleep(0.01)
