"""Suite-wide configuration: every async test runs once on asyncio's loop and once on uvloop;
``fast_path`` runs a test once on each receive/send path."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import pytest

from tests.loops import LOOP_FACTORIES, LoopFactory, catch_loop_errors

# The veth fixtures (a kernel peer over a veth pair in fresh namespaces), for every folder.
pytest_plugins = ["aionetmap.testing.pytest_plugin"]


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, LoopFactory]:
    return LOOP_FACTORIES


@pytest.fixture(params=[True, False], ids=["fast", "python"])
def fast_path(request: pytest.FixtureRequest) -> bool:
    """Run the test on the C UDP fast path and on the pure-Python stack path."""
    return bool(request.param)


@pytest.fixture
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """Collect everything passed to the running loop's exception handler; fail if any.

    A transport that hits a broken invariant reports it there instead of raising, so a
    test that only looks at its protocol would otherwise pass over it.
    """
    with catch_loop_errors() as seen:
        yield seen
    assert not seen, f"loop exception handler was called: {seen!r}"


_HOME_NETNS = os.stat("/proc/thread-self/ns/net").st_ino

# A suite started in the background by a shell without job control inherits SIGINT as
# ignored, and so would every program a test starts and then stops with SIGINT (Ctrl-C),
# which would never stop. Python's own handler here is reset to the default by exec, so
# those programs get their KeyboardInterrupt as from a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _stays_in_its_namespace() -> Iterator[None]:
    """Fail the test that leaves the test thread in another network namespace.

    Every namespace switch (``netns_socket``) must switch back; a test that did not would
    make every later test run inside some test's namespace, where checks about "our own"
    namespace (which addresses exist, what binds) no longer mean what they say.
    """
    yield
    now = os.stat("/proc/thread-self/ns/net").st_ino
    assert now == _HOME_NETNS, "the test left its thread in another network namespace"
