"""pytest fixtures for tests against the Linux kernel over a veth pair (pyroute2 style).

Load with ``pytest_plugins = ["aionetmap.testing.pytest_plugin"]`` in a top-level
conftest, or import the fixtures into a conftest (``from aionetmap.testing.pytest_plugin
import netns_guard, veth``). They need root; without it every test using them is skipped
with the reason. As root (CI) they never skip: a missing ``ip`` is an error.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from aionetmap.testing.netns import VethLink, cleanup_leftovers

__all__ = ["netns_guard", "require_root", "veth", "veth6", "veth_no_offload"]


def require_root() -> None:
    """Skip the calling test unless it runs as root (network namespaces need
    CAP_SYS_ADMIN, veth pairs CAP_NET_ADMIN, packet sockets CAP_NET_RAW)."""
    if os.geteuid() != 0:
        pytest.skip("needs root: creates network namespaces and veth pairs (CI runs as root)")


@pytest.fixture(scope="session")
def netns_guard() -> Iterator[None]:
    """Remove the namespaces of crashed runs before the first veth test, and ours at the end.

    Name: netns_guard. Scope: session. Depends: nothing.
    Only namespaces named with the aionetmap prefix whose creating process is gone are
    removed at the start, so a test run going on in parallel keeps its own.
    """
    require_root()
    cleanup_leftovers()
    yield
    cleanup_leftovers(include_own=True)


@pytest.fixture
def veth(netns_guard: None) -> Iterator[VethLink]:
    """A fresh :class:`~aionetmap.testing.netns.VethLink`, deleted at teardown even when
    the test fails.

    Name: veth. Scope: function. Depends: netns_guard.
    The kernel end keeps the kernel's default offloads (TX checksum offload on).
    """
    with VethLink() as link:
        yield link


@pytest.fixture
def veth_no_offload(netns_guard: None) -> Iterator[VethLink]:
    """As :func:`veth`, with checksum offload off on the kernel end: it sends complete UDP
    checksums and verifies ours in software (``VethLink(checksum_offload=False)``).

    Name: veth_no_offload. Scope: function. Depends: netns_guard.
    """
    with VethLink(checksum_offload=False) as link:
        yield link


@pytest.fixture
def veth6(netns_guard: None) -> Iterator[VethLink]:
    """As :func:`veth`, with IPv6 on in both namespaces: the kernel end also holds
    ``peer_ip6`` and ``our_ip6`` is free for the user-space stack (``VethLink(ipv6=True)``).

    Name: veth6. Scope: function. Depends: netns_guard.
    """
    with VethLink(ipv6=True) as link:
        yield link
