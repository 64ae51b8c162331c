"""TokenBucket on the injected clock."""

from __future__ import annotations

import pytest

from aionetmap.stack.ratelimit import TokenBucket


def test_burst_then_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=3)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert not bucket.take(0.4)
    assert bucket.take(0.5)  # 0.5 s at 2/s refills one token
    assert not bucket.take(0.5)
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]  # capped


def test_zero_rate_allows_only_the_burst() -> None:
    bucket = TokenBucket(rate=0.0, burst=1)
    assert bucket.take(0.0)
    assert not bucket.take(1e9)


def test_time_going_backwards_refills_nothing() -> None:
    bucket = TokenBucket(rate=1.0, burst=1)
    assert bucket.take(10.0)
    assert not bucket.take(5.0)
    assert not bucket.take(10.5)
    assert bucket.take(11.0)


def test_rejects_negative_settings() -> None:
    with pytest.raises(ValueError, match="negative"):
        TokenBucket(rate=-1.0, burst=1)
