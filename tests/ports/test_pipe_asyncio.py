"""The pipe's readiness contract under a real event loop (epoll: asyncio and uvloop).

Only ``loop.add_reader`` is used, as a transport would: the receiver's fd says frames wait,
and the sender's own fd says TX room came back (``tx_wakeup == "readable"``).
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

from aionetmap._native.batch import FrameBatch
from aionetmap.ports.pipe import pipe_pair


async def test_a_stream_flows_on_reader_callbacks_alone(loop_errors: list[dict[str, Any]]) -> None:
    loop = asyncio.get_running_loop()
    a, b = pipe_pair(slots=64, buf_size=128)
    assert a.tx_wakeup == "readable"
    total = 20_000
    frames = [struct.pack("<I", i) for i in range(total)]
    got: list[bytes] = []
    done: asyncio.Future[None] = loop.create_future()
    calls = {"a": 0, "b": 0}
    pos = 0
    rx_batch, a_batch = FrameBatch(32), FrameBatch(4)

    def pump() -> None:
        nonlocal pos
        while pos < total:
            pos += a.send(frames[pos : pos + 64])
            a.flush()
            if a.tx_space() == 0:
                return  # full: a's fd turns readable when b makes room

    def on_a() -> None:
        calls["a"] += 1
        assert a.recv(a_batch) == 0
        pump()

    def on_b() -> None:
        calls["b"] += 1
        b.recv(rx_batch)
        got.extend(rx_batch.frames())
        if len(got) >= total and not done.done():
            done.set_result(None)

    loop.add_reader(a.fileno(), on_a)
    loop.add_reader(b.fileno(), on_b)
    try:
        pump()
        await asyncio.wait_for(done, 30)
        assert got == frames
        assert a.stats()["tx_waits"] > 0  # the sender really slept and was woken
        assert calls["a"] > 0
        before = dict(calls)
        await asyncio.sleep(0.05)
        assert calls == before, "callbacks kept firing with nothing to do"
    finally:
        loop.remove_reader(a.fileno())
        loop.remove_reader(b.fileno())
        a.close()
        b.close()


async def test_level_triggered_until_the_backlog_is_gone(loop_errors: list[dict[str, Any]]) -> None:
    loop = asyncio.get_running_loop()
    a, b = pipe_pair(slots=64, buf_size=128)
    batch = FrameBatch(1)  # one frame per callback: the fd must stay readable
    got: list[bytes] = []
    done: asyncio.Future[None] = loop.create_future()

    def on_b() -> None:
        b.recv(batch)
        got.extend(batch.frames())
        if len(got) == 40 and not done.done():
            done.set_result(None)

    a.send([bytes([i]) for i in range(40)])
    a.flush()
    loop.add_reader(b.fileno(), on_b)
    try:
        await asyncio.wait_for(done, 10)
        assert got == [bytes([i]) for i in range(40)]
    finally:
        loop.remove_reader(b.fileno())
        a.close()
        b.close()


async def test_peer_close_wakes_the_reader(loop_errors: list[dict[str, Any]]) -> None:
    loop = asyncio.get_running_loop()
    a, b = pipe_pair(slots=8, buf_size=64)
    seen: asyncio.Future[bool] = loop.create_future()

    def on_a() -> None:
        a.recv(FrameBatch(4))
        if not seen.done():
            seen.set_result(a.peer_closed)

    loop.add_reader(a.fileno(), on_a)
    try:
        loop.call_soon(b.close)
        assert await asyncio.wait_for(seen, 10) is True
    finally:
        loop.remove_reader(a.fileno())
        a.close()
        b.close()
