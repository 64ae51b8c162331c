"""``__del__`` warns (ResourceWarning) exactly when a transport is leaked: left open when
its loop went away. Each test drives a loop of its own, so it can let that loop go."""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

import aionetmap
from aionetmap.testing import pipe_pair
from aionetmap.testing.protocols import RecordingProtocol
from tests.loops import LOOP_FACTORIES


async def _udp(port: Any) -> tuple[Any, RecordingProtocol]:
    return await aionetmap.create_datagram_endpoint(
        RecordingProtocol, port=port, local_addr=("10.0.0.1/24", 7)
    )


async def _frame(port: Any) -> tuple[Any, RecordingProtocol]:
    return await aionetmap.create_frame_endpoint(RecordingProtocol, port=port)


OPENERS = {"udp": _udp, "frame": _frame}


def _run(
    loop_name: str,
    opener: str,
    finish: Callable[[Any, RecordingProtocol], Coroutine[Any, Any, None]],
) -> list[warnings.WarningMessage]:
    """Open an endpoint on a fresh loop, run ``finish``, close the loop, drop every
    reference, collect; return the ResourceWarnings raised meanwhile."""
    a, b = pipe_pair(slots=64)
    loop = LOOP_FACTORIES[loop_name]()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")

            async def main() -> None:
                transport, proto = await OPENERS[opener](a)
                await finish(transport, proto)

            loop.run_until_complete(main())
            loop.close()
            del loop
            gc.collect()
    finally:
        a.close()
        b.close()
    return [w for w in caught if issubclass(w.category, ResourceWarning)]


async def _leave_open(transport: Any, proto: RecordingProtocol) -> None:
    await asyncio.sleep(0)


async def _close(transport: Any, proto: RecordingProtocol) -> None:
    transport.close()
    await proto.lost


async def _abort(transport: Any, proto: RecordingProtocol) -> None:
    transport.abort()
    await proto.lost


@pytest.mark.parametrize("opener", list(OPENERS))
@pytest.mark.parametrize("loop_name", list(LOOP_FACTORIES))
def test_a_leaked_transport_warns_once(loop_name: str, opener: str) -> None:
    caught = _run(loop_name, opener, _leave_open)
    messages = [str(w.message) for w in caught]
    assert len([m for m in messages if m.startswith("unclosed transport")]) == 1, messages


@pytest.mark.parametrize("ending", [_close, _abort], ids=["close", "abort"])
@pytest.mark.parametrize("opener", list(OPENERS))
@pytest.mark.parametrize("loop_name", list(LOOP_FACTORIES))
def test_a_closed_transport_never_warns(loop_name: str, opener: str, ending: Any) -> None:
    assert _run(loop_name, opener, ending) == []
