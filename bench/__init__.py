"""Reproducible benchmarks for aionetmap: ``python -m bench`` prints tables of packets/s and
ratios measured in the same run (see ``bench/RESULTS.md`` for the latest)."""

from __future__ import annotations

__all__: list[str] = []
