"""Reproducible benchmarks for aionetmap: ``python -m bench`` prints tables of packets/s,
server CPU per echo, round-trip percentiles and ratios measured in the same run, and
``python -m bench soak`` a long run's stability (see ``bench/RESULTS.md`` for the latest)."""

from __future__ import annotations

__all__: list[str] = []
