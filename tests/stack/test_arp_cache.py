"""ArpCache: expiry, request pacing, retries and failure, bounds."""

from __future__ import annotations

import pytest

from aionetmap.stack.arp_cache import ArpCache, Enqueued

MAC1, MAC2 = b"\x02" + bytes(5), b"\x04" + bytes(5)


def make(**kwargs: float) -> ArpCache[str]:
    return ArpCache(**kwargs)  # type: ignore[arg-type]


def test_learn_and_expire() -> None:
    cache = make(ttl=10.0)
    assert cache.learn(1, MAC1, 0.0) == []
    assert cache.lookup(1, 9.99) == MAC1
    assert cache.knows(1, 9.99)
    assert cache.lookup(1, 10.0) is None
    assert not cache.knows(1, 10.0)
    assert len(cache) == 0


def test_relearning_refreshes_and_updates() -> None:
    cache = make(ttl=10.0)
    cache.learn(1, MAC1, 0.0)
    cache.learn(1, MAC2, 8.0)
    assert cache.lookup(1, 17.0) == MAC2


def test_enqueue_then_resolve_returns_items_in_order() -> None:
    cache = make()
    assert cache.enqueue(1, "a", 0.0) is Enqueued.REQUEST
    assert cache.enqueue(1, "b", 0.1) is Enqueued.WAITING
    assert cache.is_pending(1)
    assert cache.knows(1, 0.1)
    assert cache.learn(1, MAC1, 0.5) == ["a", "b"]
    assert not cache.is_pending(1)
    assert cache.next_deadline() is None


def test_requests_are_paced_and_resolution_fails_after_retries() -> None:
    cache = make(request_interval=1.0, retries=3)
    cache.enqueue(7, "x", 100.0)
    assert cache.next_deadline() == 101.0
    assert cache.handle_timer(100.99) == ([], [])
    assert cache.handle_timer(101.0) == ([7], [])
    assert cache.handle_timer(101.5) == ([], [])
    assert cache.handle_timer(102.0) == ([7], [])
    assert cache.handle_timer(103.0) == ([], [(7, ["x"])])
    assert not cache.is_pending(7)
    assert cache.next_deadline() is None


def test_single_retry_fails_one_interval_after_the_first_request() -> None:
    cache = make(request_interval=2.0, retries=1)
    cache.enqueue(7, "x", 0.0)
    assert cache.handle_timer(2.0) == ([], [(7, ["x"])])


def test_queue_limit() -> None:
    cache = make(queue_limit=2)
    assert cache.enqueue(1, "a", 0.0) is Enqueued.REQUEST
    assert cache.enqueue(1, "b", 0.0) is Enqueued.WAITING
    assert cache.enqueue(1, "c", 0.0) is Enqueued.QUEUE_FULL
    assert cache.learn(1, MAC1, 0.0) == ["a", "b"]


def test_pending_limit() -> None:
    cache = make(max_pending=2)
    assert cache.enqueue(1, "a", 0.0) is Enqueued.REQUEST
    assert cache.enqueue(2, "b", 0.0) is Enqueued.REQUEST
    assert cache.enqueue(3, "c", 0.0) is Enqueued.TABLE_FULL
    assert cache.enqueue(2, "d", 0.0) is Enqueued.WAITING


def test_entry_limit_evicts_least_recently_confirmed() -> None:
    cache = make(max_entries=2)
    cache.learn(1, MAC1, 0.0)
    cache.learn(2, MAC1, 1.0)
    cache.learn(1, MAC2, 2.0)  # confirms 1 again: 2 is now the oldest
    cache.learn(3, MAC1, 3.0)
    assert cache.lookup(2, 3.0) is None
    assert cache.lookup(1, 3.0) == MAC2
    assert cache.lookup(3, 3.0) == MAC1
    assert len(cache) == 2


def test_deadline_is_the_earliest_pending() -> None:
    cache = make(request_interval=1.0, retries=5)
    cache.enqueue(1, "a", 0.0)
    cache.enqueue(2, "b", 0.5)
    cache.handle_timer(1.0)  # 1 -> next at 2.0; 2 still due at 1.5
    assert cache.next_deadline() == 1.5


@pytest.mark.parametrize(
    "kwargs",
    [{"ttl": 0}, {"request_interval": -1}, {"retries": 0}, {"queue_limit": 0}, {"max_pending": 0}],
)
def test_rejects_bad_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="ARP"):
        make(**kwargs)
