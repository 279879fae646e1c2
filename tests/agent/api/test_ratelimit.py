"""Token buckets: burst, refill, Retry-After, bounded memory (time is a parameter)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.api.ratelimit import RateLimiter


def test_burst_then_refill() -> None:
    limiter = RateLimiter(rate=2.0, burst=3)
    assert [limiter.take("a", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a", 0.0) == pytest.approx(0.5)  # one token back in 1/rate s
    assert limiter.take("b", 0.0) == 0.0  # other keys have their own bucket
    assert limiter.take("a", 0.5) == 0.0
    assert limiter.take("a", 0.5) == pytest.approx(0.5)
    assert limiter.take("a", 100.0) == 0.0  # refilled, but never beyond the burst
    assert [limiter.take("a", 100.0) for _ in range(3)][-1] == pytest.approx(0.5)
    assert limiter.limited == 3


def test_a_clock_going_backwards_gives_nothing_back() -> None:
    limiter = RateLimiter(rate=1.0, burst=1)
    assert limiter.take("a", 10.0) == 0.0
    assert limiter.take("a", 5.0) > 0.0


def test_bounded_keys_forget_the_longest_idle() -> None:
    limiter = RateLimiter(rate=1.0, burst=1, max_keys=2)
    limiter.take("a", 0.0)
    limiter.take("b", 0.0)
    limiter.take("a", 0.0)  # "a" used last, "b" idles longest
    limiter.take("c", 0.0)  # evicts "b"
    assert limiter.take("b", 0.0) == 0.0  # a fresh bucket
    assert limiter.take("c", 0.0) > 0.0


def test_bad_parameters() -> None:
    with pytest.raises(ValueError, match="rate"):
        RateLimiter(rate=0, burst=1)
    with pytest.raises(ValueError, match="burst"):
        RateLimiter(rate=1, burst=0)


@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), max_size=200))
def test_never_more_than_burst_plus_rate_times_elapsed(times: list[float]) -> None:
    limiter = RateLimiter(rate=5.0, burst=4)
    times = sorted(times)
    allowed = sum(limiter.take("k", t) == 0.0 for t in times)
    if times:
        assert allowed <= 4 + 5.0 * (times[-1] - times[0]) + 1e-6
