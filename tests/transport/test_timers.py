"""Timers: ARP retries on ``loop.call_at`` keep time while the loop is busy, and nothing
an interface or its driver scheduled runs after close."""

from __future__ import annotations

import asyncio
import errno
import time
from collections.abc import Sequence

import pytest

import aionetmap
from aionetmap._aio import driver as _driver
from aionetmap.ports.pipe import PipePort
from aionetmap.stack import HostConfig, build_ethernet_frame
from aionetmap.testing.protocols import RecordingProtocol

ADDRESS = "10.0.0.1/24"
ARP_INTERVAL = 0.05
ARP_RETRIES = 3
FAST_ARP = HostConfig(arp_request_interval=ARP_INTERVAL, arp_retries=ARP_RETRIES)
NOBODY = b"\x0a\x00\x00\x63"  # 10.0.0.99


class ArpWatcher(aionetmap.FrameProtocol):
    """The raw far end: counts ARP requests for 10.0.0.99, with their times."""

    def __init__(self) -> None:
        self.requests: list[float] = []

    def frames_received(self, frames: Sequence[bytes]) -> None:
        for frame in frames:
            if (
                frame[12:14] == b"\x08\x06"
                and frame[20:22] == b"\x00\x01"
                and frame[38:42] == NOBODY
            ):
                self.requests.append(time.monotonic())


async def test_arp_retries_keep_time_on_a_busy_loop(
    pipe: tuple[PipePort, PipePort], fast_path: bool
) -> None:
    """The peer floods the port (the reader is ready every iteration) and other work holds
    the loop a few ms at a time; the resolution still retries on schedule and fails."""
    a, b = pipe
    iface = await aionetmap.open_interface(a, address=ADDRESS, config=FAST_ARP, fast_path=fast_path)
    transport, proto = await iface.create_datagram_endpoint(RecordingProtocol, local_port=7)
    raw, watcher = await aionetmap.create_frame_endpoint(ArpWatcher, port=b)
    junk = build_ethernet_frame(iface.host.mac, b"\x02" + bytes(5), 0x88B5, bytes(46))
    busy = True

    async def flood() -> None:
        while busy:
            raw.send_many([junk] * 64)
            await asyncio.sleep(0)

    async def hog() -> None:
        while busy:
            time.sleep(0.003)  # noqa: ASYNC251 -- holds the loop, as a slow callback would
            await asyncio.sleep(0)

    tasks = [asyncio.create_task(flood()), asyncio.create_task(hog())]
    started = time.monotonic()
    transport.sendto(b"to nobody", ("10.0.0.99", 9))
    await proto.wait_for(lambda p: p.errors, timeout=5)
    elapsed = time.monotonic() - started
    busy = False
    await asyncio.gather(*tasks)
    assert [e.errno for e in proto.errors] == [errno.EHOSTUNREACH]
    assert len(watcher.requests) == ARP_RETRIES
    gaps = [
        later - earlier
        for earlier, later in zip(watcher.requests, watcher.requests[1:], strict=False)
    ]
    assert all(gap >= ARP_INTERVAL * 0.8 for gap in gaps), gaps
    assert ARP_RETRIES * ARP_INTERVAL * 0.8 <= elapsed < 2.0
    assert iface.stats()["rx_frames"] > 1000  # the flood really was served meanwhile
    raw.close()
    iface.close()


async def test_no_host_timer_runs_after_close(
    pipe: tuple[PipePort, PipePort], fast_path: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _ = pipe
    iface = await aionetmap.open_interface(a, address=ADDRESS, config=FAST_ARP, fast_path=fast_path)
    transport, proto = await iface.create_datagram_endpoint(RecordingProtocol, local_port=7)
    transport.sendto(b"to nobody", ("10.0.0.99", 9))  # an ARP retry timer is now armed
    await asyncio.sleep(ARP_INTERVAL / 2)
    calls: list[float] = []
    handle_timer = iface.host.handle_timer
    monkeypatch.setattr(iface.host, "handle_timer", lambda now: calls.append(now))
    iface.close()
    await asyncio.sleep(ARP_INTERVAL * (ARP_RETRIES + 2))
    assert calls == []
    assert await proto.lost is None
    assert proto.errors == []  # nothing failed after close either
    handle_timer(asyncio.get_running_loop().time())  # the host itself is still sane


async def test_link_watchdog_stops_on_close(
    pipe: tuple[PipePort, PipePort], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = pipe
    monkeypatch.setattr(_driver, "LINK_WATCH_INTERVAL", 0.005)
    polls = {"a": 0, "b": 0}
    for name, port in (("a", a), ("b", b)):
        original = port.poll_error

        def counting(original: object = original, name: str = name) -> OSError | None:
            polls[name] += 1
            return original()  # type: ignore[operator,no-any-return]

        monkeypatch.setattr(port, "poll_error", counting)
    iface = await aionetmap.open_interface(a, address=ADDRESS)
    frames, frames_p = await aionetmap.create_frame_endpoint(RecordingProtocol, port=b)
    await asyncio.sleep(0.05)
    assert polls["a"] > 0  # the watchdogs run
    assert polls["b"] > 0
    iface.close()
    frames.close()
    await frames_p.lost
    polls.update(a=0, b=0)
    await asyncio.sleep(0.05)
    assert polls == {"a": 0, "b": 0}


async def test_ping_after_close_fails_at_once(pipe: tuple[PipePort, PipePort]) -> None:
    a, _ = pipe
    iface = await aionetmap.open_interface(a, address=ADDRESS)
    iface.close()
    with pytest.raises(OSError, match="closed") as info:
        await asyncio.wait_for(iface.ping("10.0.0.2", timeout=3), 0.5)
    assert info.value.errno == errno.EBADF
