"""Fixtures for the tests in this folder."""

from __future__ import annotations

# The veth fixtures (a kernel peer over a veth pair in fresh namespaces); imported rather
# than listed in pytest_plugins, which only a top-level conftest may do.
from aionetmap.testing.pytest_plugin import netns_guard, veth

__all__ = ["netns_guard", "veth"]
