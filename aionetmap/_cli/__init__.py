"""The logic behind ``python -m aionetmap`` (argument parsing stays in :mod:`aionetmap.cli`)."""

from __future__ import annotations

__all__: list[str] = []
