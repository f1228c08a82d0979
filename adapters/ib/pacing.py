"""IB's limits, kept by the adapter rather than discovered as errors: messages per second (a token
bucket), market-data lines (a budget of concurrent subscriptions), historical requests (a sliding
window). Every request the adapter sends waits here first; ib_async's own throttle (45 messages in
any second) stays underneath as a second guard."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up. In any window of t seconds at most
    ``burst + rate·t`` messages go out, so ``burst + rate <= limit`` keeps every 1-second window
    within ``limit``."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and a burst of at least 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()
        self._lock = asyncio.Lock()

    @classmethod
    def per_second(cls, limit: int) -> TokenBucket:
        """A bucket that stays well inside ``limit`` messages in any second: 80 % of it as the
        steady rate and a tenth as the burst, so timing jitter between us and the gateway (whose
        clock counts arrivals) does not push a window over."""
        if limit < 2:
            raise ValueError(f"message limit must be at least 2 a second, got {limit}")
        burst = max(1, limit // 10)
        return cls(rate=limit * 0.8, burst=burst)

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def take(self) -> None:
        """Wait for a token (callers are served in arrival order)."""
        async with self._lock:
            self._refill()
            while self._tokens < 1:
                await asyncio.sleep((1 - self._tokens) / self.rate)
                self._refill()
            self._tokens -= 1


class LineBudget:
    """At most ``lines`` market-data subscriptions open at once (IB's default is 100)."""

    def __init__(self, lines: int) -> None:
        if lines < 1:
            raise ValueError(f"market-data line budget must be at least 1, got {lines}")
        self.lines = lines
        self.in_use = 0
        self.peak = 0
        self._free = asyncio.Semaphore(lines)

    @asynccontextmanager
    async def line(self) -> AsyncIterator[None]:
        async with self._free:
            self.in_use += 1
            self.peak = max(self.peak, self.in_use)
            try:
                yield
            finally:
                self.in_use -= 1


class SlidingWindow:
    """At most ``count`` events in any ``window`` seconds (historical data: 60 per 10 minutes)."""

    def __init__(self, count: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.count = count
        self.window = window
        self._clock = clock
        self._times: deque[float] = deque()
        self._lock = asyncio.Lock()

    async def take(self) -> None:
        async with self._lock:
            while True:
                now = self._clock()
                while self._times and now - self._times[0] >= self.window:
                    self._times.popleft()
                if len(self._times) < self.count:
                    self._times.append(now)
                    return
                await asyncio.sleep(self.window - (now - self._times[0]))
