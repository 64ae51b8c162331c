"""PortDriver's readiness rules, checked CPython-style: a mocked loop and port, callbacks
called directly, so every branch is reached without I/O or timing."""

from __future__ import annotations

import asyncio
import errno
from typing import Any
from unittest import mock

import pytest

from aionetmap._aio.driver import PortDriver
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
    """A PortOwner that records what the driver asks of it; `backlog` frames wait to be
    sent."""

    def __init__(self, port: Any) -> None:
        self.port = port
        self.backlog = 0
        self.batches: list[int] = []
        self.errors: list[tuple[BaseException, str]] = []
        self.link_downs: list[OSError] = []
        self.drained: list[int] = []

    def batch_received(self, batch: FrameBatch) -> None:
        self.batches.append(batch.count)

    def fill_tx(self) -> bool:
        taken = min(self.backlog, self.port.tx_space())
        self.backlog -= taken
        return self.backlog > 0

    def tx_backlog(self) -> int:
        return self.backlog

    def port_failed(self, exc: BaseException, message: str) -> None:
        self.errors.append((exc, message))

    def link_down(self, exc: OSError) -> None:
        self.link_downs.append(exc)

    def tx_drained(self, left: int) -> None:
        self.drained.append(left)


def make(tx_wakeup: str) -> tuple[PortDriver, Any, Any, Owner]:
    loop = mock.Mock(spec=asyncio.AbstractEventLoop)
    loop.time.return_value = 0.0
    port = mock.Mock(spec=Port)
    port.info = INFO
    port.tx_wakeup = tx_wakeup
    port.fileno.return_value = 42
    port.closed = False
    port.recv.return_value = 0
    port.tx_space.return_value = 8
    port.tx_pending.return_value = 0
    port.tx_in_flight.return_value = 0
    port.poll_error.return_value = None
    owner = Owner(port)
    driver = PortDriver(loop, port, owner, batch_size=4)
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


def _replying(driver: PortDriver, port: Any, owner: Owner, error: BaseException | None) -> None:
    """The owner answers each batch: it queues a frame and asks for a flush (then raises
    ``error``, if given)."""

    def fill(batch: FrameBatch, max_frames: int | None = None) -> int:
        batch.count = 1
        return 1

    def reply(batch: FrameBatch) -> None:
        owner.backlog += batch.count
        driver.request_flush()
        if error is not None:
            raise error

    port.recv.side_effect = fill
    driver._on_batch = reply  # bound at construction: replaced there


def test_replies_to_a_batch_leave_in_the_same_callback(
    writable: tuple[PortDriver, Any, Any, Owner],
) -> None:
    # Window-1 latency: a reply built while a batch is delivered is flushed before the
    # readable callback returns, and no soon-callback is left behind (on asyncio it would
    # cost one more loop iteration and one more epoll_wait per wake-up).
    driver, loop, port, owner = writable
    _replying(driver, port, owner, None)
    for _ in range(3):
        driver._read_ready()
        assert owner.backlog == 0
    assert port.flush.call_count == 3
    loop.call_soon.assert_not_called()
    driver.request_flush()  # outside a batch: scheduled as before
    loop.call_soon.assert_called_once_with(driver._scheduled_flush)


def test_a_flush_asked_for_by_a_failing_batch_is_still_scheduled(
    writable: tuple[PortDriver, Any, Any, Owner],
) -> None:
    driver, loop, port, owner = writable
    _replying(driver, port, owner, RuntimeError("owner bug"))
    with pytest.raises(RuntimeError):
        driver._read_ready()
    loop.call_soon.assert_called_once_with(driver._scheduled_flush)
    driver._scheduled_flush()
    assert owner.backlog == 0


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
    driver, loop, port, owner = writable
    done = owner.drained
    port.tx_pending.return_value = 2
    driver.drain(5.0)
    assert not done
    assert loop.call_later.call_count == 2  # the stall check, and a poll while in flight
    port.tx_pending.return_value = 0
    driver._drain_tick()
    assert done == [0]


class Timers:
    """The mocked loop's call_later, run by hand: a fake clock for the drain."""

    def __init__(self, loop: Any) -> None:
        self.pending: list[tuple[float, Any]] = []
        loop.call_later.side_effect = self.call_later

    def call_later(self, delay: float, callback: Any, *args: Any) -> Any:
        handle = mock.Mock()
        entry = (delay, callback)
        self.pending.append(entry)

        def cancel() -> None:
            if entry in self.pending:
                self.pending.remove(entry)

        handle.cancel.side_effect = cancel
        return handle

    def fire(self, delay: float) -> None:
        """Run the (first) pending callback scheduled ``delay`` seconds ahead."""
        entry = next(e for e in self.pending if e[0] == delay)
        self.pending.remove(entry)
        entry[1]()


def test_drain_keeps_going_while_frames_leave(
    writable: tuple[PortDriver, Any, Any, Owner],
) -> None:
    """No deadline: a peer that keeps taking frames, however slowly, gets all of them."""
    driver, loop, port, owner = writable
    timers = Timers(loop)
    done = owner.drained
    port.tx_space.return_value = 0  # the peer takes one slot per stall period
    owner.backlog = 30
    driver.drain(5.0)
    for _ in range(29):  # 29 periods of 5 s: far past any fixed deadline
        owner.backlog -= 1
        timers.fire(5.0)
        assert not done
    owner.backlog = 0
    timers.fire(5.0)
    assert done == [0]


def test_drain_counts_in_flight_frames_until_the_nic_takes_them(
    writable: tuple[PortDriver, Any, Any, Owner],
) -> None:
    driver, loop, port, owner = writable
    timers = Timers(loop)
    done = owner.drained
    port.tx_in_flight.return_value = 3  # handed to a NIC that has not sent them yet
    driver.drain(5.0)
    port.tx_in_flight.return_value = 1
    timers.fire(5.0)
    assert not done
    port.tx_in_flight.return_value = 0
    timers.fire(5.0)
    assert done == [0]


def test_drain_gives_up_after_a_stall_and_says_how_many_are_left(
    writable: tuple[PortDriver, Any, Any, Owner],
) -> None:
    driver, loop, port, owner = writable
    timers = Timers(loop)
    done = owner.drained
    port.tx_space.return_value = 0
    port.tx_pending.return_value = 2
    owner.backlog = 7
    driver.drain(5.0)
    owner.backlog = 6  # one left during the first period...
    timers.fire(5.0)
    assert not done
    timers.fire(5.0)  # ...none during the second
    assert done == [8]
    assert not timers.pending  # the poll timer went with it


def test_drain_poll_backs_off_while_nothing_moves(
    writable: tuple[PortDriver, Any, Any, Owner],
) -> None:
    driver, loop, port, _ = writable
    timers = Timers(loop)
    port.tx_in_flight.return_value = 4
    driver.drain(8.0)
    delays = []
    for _ in range(12):
        delay = min(e[0] for e in timers.pending)
        delays.append(delay)
        timers.fire(delay)
    assert delays == sorted(delays)
    assert max(delays) == 1.0  # an eighth of the stall period at most
    port.tx_in_flight.return_value = 3  # progress: poll quickly again
    timers.fire(1.0)
    assert min(e[0] for e in timers.pending) == 0.001


def test_paused_reader_leaves_the_loop_and_comes_back(
    writable: tuple[PortDriver, Any, Any, Owner],
) -> None:
    driver, loop, _, _ = writable
    driver.pause_reading()  # before start: start must not add it
    driver.start()
    loop.add_reader.assert_not_called()
    driver.resume_reading()
    loop.add_reader.assert_called_once_with(42, driver._read_ready)
    driver.pause_reading()
    loop.remove_reader.assert_called_once_with(42)


def test_paused_read_woken_port_retries_tx_on_a_timer() -> None:
    driver, loop, port, owner = make("readable")
    timers = Timers(loop)
    driver.start()
    timers.pending.clear()  # the link watchdog
    owner.backlog = 100
    port.tx_space.return_value = 0
    driver.flush_now()
    assert driver.tx_waiting
    assert not timers.pending
    driver.pause_reading()
    assert [e[0] for e in timers.pending] == [0.005]
    port.tx_space.return_value = 200
    timers.fire(0.005)
    assert owner.backlog == 0
    assert not driver.tx_waiting
    assert not timers.pending


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
