"""PortDriver's readiness rules, checked CPython-style: a mocked loop and port, callbacks
called directly, so every branch is reached without I/O or timing."""

from __future__ import annotations

import asyncio
import errno
from typing import Any
from unittest import mock

import pytest

from aionetmap._driver import PortDriver
from aionetmap.ports.base import FrameBatch, Port, PortInfo

INFO = PortInfo(
    name="pipe:unit{0",
    backend="pipe",
    rx_rings=1,
    tx_rings=1,
    rx_slots=8,
    tx_slots=8,
    buf_size=2048,
    max_frame=2048,
)


class Owner:
    """Records what the driver asks of its owner; `backlog` frames wait to be sent."""

    def __init__(self, port: Any) -> None:
        self.port = port
        self.backlog = 0
        self.batches: list[int] = []
        self.errors: list[tuple[BaseException, str]] = []
        self.link_downs: list[OSError] = []

    def on_batch(self, batch: FrameBatch) -> None:
        self.batches.append(batch.count)

    def fill_tx(self) -> bool:
        taken = min(self.backlog, self.port.tx_space())
        self.backlog -= taken
        return self.backlog > 0

    def has_backlog(self) -> bool:
        return self.backlog > 0

    def on_error(self, exc: BaseException, message: str) -> None:
        self.errors.append((exc, message))

    def on_link_down(self, exc: OSError) -> None:
        self.link_downs.append(exc)


def make(tx_wakeup: str) -> tuple[PortDriver, Any, Any, Owner]:
    loop = mock.Mock(spec=asyncio.AbstractEventLoop)
    loop.time.return_value = 0.0
    port = mock.Mock(spec=Port)
    port.info = INFO
    port.tx_wakeup = tx_wakeup
    port.fileno.return_value = 42
    port.recv.return_value = 0
    port.tx_space.return_value = 8
    port.tx_pending.return_value = 0
    port.poll_error.return_value = None
    owner = Owner(port)
    driver = PortDriver(
        loop,
        port,
        on_batch=owner.on_batch,
        fill_tx=owner.fill_tx,
        has_backlog=owner.has_backlog,
        on_error=owner.on_error,
        on_link_down=owner.on_link_down,
        batch_size=4,
    )
    return driver, loop, port, owner


@pytest.fixture
def writable() -> tuple[PortDriver, Any, Any, Owner]:
    return make("writable")


def test_reader_added_on_start_only(writable: tuple[PortDriver, Any, Any, Owner]) -> None:
    driver, loop, _, _ = writable
    loop.add_reader.assert_not_called()
    driver.start()
    driver.start()
    loop.add_reader.assert_called_once_with(42, driver._read_ready)


def test_batches_delivered_and_empty_reads_ignored(
    writable: tuple[PortDriver, Any, Any, Owner],
) -> None:
    driver, _, port, owner = writable

    def fill(batch: FrameBatch, max_frames: int | None = None) -> int:
        batch.count = 3
        return 3

    port.recv.side_effect = fill
    driver._read_ready()
    port.recv.side_effect = None
    port.recv.return_value = 0
    driver._read_ready()
    assert owner.batches == [3]


def test_writer_only_while_ring_full(writable: tuple[PortDriver, Any, Any, Owner]) -> None:
    driver, loop, port, owner = writable
    owner.backlog = 5  # fits: never watch for writability
    driver.flush_now()
    loop.add_writer.assert_not_called()
    port.flush.assert_called()
    owner.backlog = 100  # ring full with backlog left: watch once
    port.tx_space.return_value = 0
    driver.flush_now()
    driver.flush_now()
    loop.add_writer.assert_called_once_with(42, driver._write_ready)
    port.tx_space.return_value = 200  # room again: the writer drains and is removed
    driver._write_ready()
    assert owner.backlog == 0
    loop.remove_writer.assert_called_once_with(42)


def test_frames_held_by_the_port_wait_for_writability(
    writable: tuple[PortDriver, Any, Any, Owner],
) -> None:
    # The owner's queue is empty, but the kernel refused part of the port's batch: those
    # frames need another flush once the fd turns writable.
    driver, loop, port, _ = writable
    port.tx_pending.return_value = 5
    driver.flush_now()
    loop.add_writer.assert_called_once_with(42, driver._write_ready)
    assert driver.tx_waiting
    port.tx_pending.return_value = 0
    driver._write_ready()
    loop.remove_writer.assert_called_once_with(42)
    assert not driver.tx_waiting


def test_read_woken_port_never_uses_the_writer() -> None:
    driver, loop, port, owner = make("readable")
    owner.backlog = 100
    port.tx_space.return_value = 0
    driver.flush_now()
    loop.add_writer.assert_not_called()
    assert driver.tx_waiting
    # The peer drained: our fd turned readable, and the reader retries TX.
    port.tx_space.return_value = 200
    driver._read_ready()
    assert owner.backlog == 0
    assert not driver.tx_waiting


def test_read_woken_port_retries_frames_left_in_its_ring() -> None:
    driver, _, port, _ = make("readable")
    port.tx_pending.return_value = 3  # the peer had no room for them yet
    driver.flush_now()
    assert driver.tx_waiting
    flushes = port.flush.call_count
    port.tx_pending.return_value = 0
    driver._read_ready()
    assert port.flush.call_count == flushes + 1
    assert not driver.tx_waiting


def test_flush_requests_coalesce_per_iteration(
    writable: tuple[PortDriver, Any, Any, Owner],
) -> None:
    driver, loop, _, _ = writable
    driver.request_flush()
    driver.request_flush()
    loop.call_soon.assert_called_once_with(driver._scheduled_flush)


@pytest.mark.parametrize("exc", [OSError(5, "io"), RuntimeError("bug")])
def test_port_errors_stop_the_driver_and_reach_the_owner(
    writable: tuple[PortDriver, Any, Any, Owner], exc: BaseException
) -> None:
    driver, loop, port, owner = writable
    driver.start()
    port.recv.side_effect = exc
    driver._read_ready()
    assert owner.errors[0][0] is exc
    assert "read error" in owner.errors[0][1]
    assert driver.closed
    loop.remove_reader.assert_called_once_with(42)


def test_drain_waits_for_backlog_and_port(writable: tuple[PortDriver, Any, Any, Owner]) -> None:
    driver, loop, port, _owner = writable
    done: list[bool] = []
    port.tx_pending.return_value = 2
    driver.drain(lambda: done.append(True), timeout=1.0)
    assert not done
    loop.call_later.assert_called_once()  # polls while frames are in flight
    port.tx_pending.return_value = 0
    driver._drain_tick()
    assert done == [True]


def test_drain_gives_up_at_the_deadline(writable: tuple[PortDriver, Any, Any, Owner]) -> None:
    driver, loop, port, _ = writable
    done: list[bool] = []
    port.tx_pending.return_value = 2
    driver.drain(lambda: done.append(True), timeout=1.0)
    loop.time.return_value = 1.5
    driver._drain_tick()
    assert done == [True]


def test_link_down_is_reported_and_the_reader_re_registered(
    writable: tuple[PortDriver, Any, Any, Owner],
) -> None:
    driver, loop, port, owner = writable
    driver.start()
    down = OSError(errno.ENETDOWN, "down")
    port.poll_error.return_value = down
    driver._read_ready()  # readable, nothing to read: the fd reports an error
    assert owner.link_downs == [down]
    assert not driver.closed
    loop.remove_reader.assert_called_once_with(42)
    assert loop.add_reader.call_count == 2  # registered afresh: libuv dropped it


def test_watchdog_finds_an_error_the_loop_never_reported(
    writable: tuple[PortDriver, Any, Any, Owner],
) -> None:
    driver, loop, port, owner = writable
    driver.start()
    ((delay, callback), _) = loop.call_later.call_args
    assert delay > 0
    assert callback == driver._watch
    gone = OSError(errno.ENODEV, "gone")
    port.poll_error.return_value = gone
    driver._watch()
    assert owner.errors[0][0] is gone
    assert driver.closed


def test_enetdown_on_flush_is_a_link_error_not_fatal(
    writable: tuple[PortDriver, Any, Any, Owner],
) -> None:
    driver, _, port, owner = writable
    port.flush.side_effect = OSError(errno.ENETDOWN, "down")
    owner.backlog = 3
    driver.flush_now()
    assert [e.errno for e in owner.link_downs] == [errno.ENETDOWN]
    assert not driver.closed
