"""The event loops every async test runs on, and a way to see what reaches a loop's
exception handler."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import uvloop

__all__ = ["LOOP_FACTORIES", "LoopFactory", "catch_loop_errors"]

LoopFactory = Callable[[], asyncio.AbstractEventLoop]

LOOP_FACTORIES: Mapping[str, LoopFactory] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}
"""By test id: the conftest runs each async test on both; sync tests that make their own
loops parametrize over these names."""


@contextlib.contextmanager
def catch_loop_errors() -> Iterator[list[dict[str, Any]]]:
    """Collect what reaches the running loop's exception handler inside the block, then put
    the previous handler back."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    try:
        yield seen
    finally:
        loop.set_exception_handler(previous)
