"""Helpers for testing code built on aionetmap (public, like ``trio.testing``)."""

from __future__ import annotations

from aionetmap.ports.pipe import pipe_pair
from aionetmap.testing.netns import VethLink, cleanup_leftovers

__all__ = ["VethLink", "cleanup_leftovers", "pipe_pair"]
