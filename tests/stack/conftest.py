"""Fixtures for the stack tests: golden frames from tests/data/frames."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

FRAMES_DIR = Path(__file__).resolve().parent.parent / "data" / "frames"


def load_golden(name: str) -> bytes:
    """The frame stored in ``tests/data/frames/<name>.hex`` (``#`` lines are comments)."""
    text = (FRAMES_DIR / f"{name}.hex").read_text()
    return bytes.fromhex(" ".join(ln for ln in text.splitlines() if not ln.startswith("#")))


@pytest.fixture
def golden() -> Callable[[str], bytes]:
    """Load a golden frame by name."""
    return load_golden
