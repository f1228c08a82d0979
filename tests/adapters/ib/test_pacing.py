"""The adapter's limits: the message token bucket, the line budget, the historical window."""

from __future__ import annotations

import asyncio
import time

import pytest

from alluse.adapters.ib.pacing import LineBudget, SlidingWindow, TokenBucket


def test_the_bucket_never_lets_more_than_burst_plus_rate_times_t_through():
    """Over any stretch of t seconds at most burst + rate·t tokens: with the 50/s defaults
    (rate 40, burst 5) no 1-second window exceeds 45."""
    bucket = TokenBucket(rate=400.0, burst=20)
    stamps: list[float] = []

    async def drain() -> None:
        for _ in range(120):
            await bucket.take()
            stamps.append(time.monotonic())
    asyncio.run(drain())
    for i in range(len(stamps)):
        for j in range(i, len(stamps)):
            assert j - i + 1 <= bucket.burst + bucket.rate * (stamps[j] - stamps[i]) + 1
    default = TokenBucket.per_second(50)
    assert 45 == default.burst + default.rate


def test_bad_limits_are_refused():
    with pytest.raises(ValueError, match="at least 2"):
        TokenBucket.per_second(1)
    with pytest.raises(ValueError, match="at least 1"):
        LineBudget(0)


def test_the_line_budget_caps_concurrent_lines():
    budget = LineBudget(3)

    async def one() -> None:
        async with budget.line():
            await asyncio.sleep(0.01)

    async def many() -> None:
        await asyncio.gather(*(one() for _ in range(10)))
    asyncio.run(many())
    assert (3, 0) == (budget.peak, budget.in_use)


def test_the_sliding_window_waits_for_the_oldest_request_to_age_out():
    window = SlidingWindow(count=3, window=0.2)
    stamps: list[float] = []

    async def run() -> None:
        for _ in range(4):
            await window.take()
            stamps.append(time.monotonic())
    asyncio.run(run())
    assert stamps[3] - stamps[0] >= 0.19
