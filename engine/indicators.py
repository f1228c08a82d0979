"""Incremental technical indicators: Wilder ATR, Wilder RSI, MACD and a simple moving mean.

Each indicator consumes one bar at a time (``update``) in O(1) with plain floats, so an engine can
keep one per symbol and feed it bars as they close. ``state()`` returns a small tuple of plain
values and ``from_state()`` rebuilds an identical indicator, which is how an engine snapshots and
restores them deterministically. ``split_adjust(ratio)`` puts an indicator on a split's new price
basis (its price-denominated state ÷ ratio), so it runs on across the split as if the history had
been split-adjusted: ATR and the MACD lines scale, RSI is unchanged. Nothing here reads a clock or
does I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from alluse.engine.errors import DataError

__all__ = ["MACD", "MACDValue", "SimpleMean", "WilderATR", "WilderRSI"]


def _check_period(name: str, period: int) -> int:
    # bool is an int subclass; a period of True is a bug, not 1.
    if isinstance(period, bool) or not isinstance(period, int) or period < 1:
        raise DataError(f"{name}: period must be an integer >= 1, got {period!r}")
    return period


def _check_price(name: str, field: str, value: float) -> float:
    if not math.isfinite(value):
        raise DataError(f"{name}: {field} must be a finite number, got {value!r}")
    return value


class WilderATR:
    """Average True Range with Wilder smoothing, StockCharts conventions.

    - The first bar's true range is ``high - low`` (there is no previous close).
    - Later bars: ``TR = max(high - low, |high - prev_close|, |low - prev_close|)``.
    - The value is ``None`` until ``period`` true ranges have been seen; the seed (on bar ``period``)
      is their arithmetic mean, then ``ATR = (prev_ATR * (period - 1) + TR) / period``.

    These reproduce the StockCharts ChartSchool table (ATR14 seed 0.555 on the 14th bar) and
    Achelis' *Technical Analysis from A to Z* example.
    """

    __slots__ = ("_count", "_period", "_prev_close", "_sum", "_value")

    def __init__(self, period: int = 14) -> None:
        self._period = _check_period("WilderATR", period)
        self._count = 0
        self._sum = 0.0
        self._prev_close: float | None = None
        self._value: float | None = None

    @property
    def period(self) -> int:
        return self._period

    @property
    def value(self) -> float | None:
        """The current ATR, or None while fewer than ``period`` bars have been seen."""
        return self._value

    @property
    def last_close(self) -> float | None:
        return self._prev_close

    def update(self, high: float, low: float, close: float) -> float | None:
        _check_price("WilderATR", "high", high)
        _check_price("WilderATR", "low", low)
        _check_price("WilderATR", "close", close)
        if high < low:
            raise DataError(f"WilderATR: high {high!r} is below low {low!r}")
        prev = self._prev_close
        # The first bar has no previous close: its true range is just its range.
        tr = high - low if prev is None else max(high - low, abs(high - prev), abs(low - prev))
        self._prev_close = close
        n = self._period
        if self._value is None:
            self._count += 1
            self._sum += tr
            if self._count == n:
                self._value = self._sum / n
        else:
            self._value = (self._value * (n - 1) + tr) / n
        return self._value

    def split_adjust(self, ratio: float) -> None:
        """Divide the price-denominated state by a split's ``ratio`` (new shares per old)."""
        self._sum /= ratio
        self._prev_close = None if self._prev_close is None else self._prev_close / ratio
        self._value = None if self._value is None else self._value / ratio

    def state(self) -> tuple[int, int, float, float | None, float | None]:
        """``(period, count, seed_sum, prev_close, value)``: plain values, safe to store as JSON."""
        return (self._period, self._count, self._sum, self._prev_close, self._value)

    @classmethod
    def from_state(cls, state: tuple[int, int, float, float | None, float | None]) -> WilderATR:
        period, count, seed_sum, prev_close, value = state
        atr = cls(period)
        if not 0 <= count <= period:
            raise DataError(f"WilderATR state: count must be in 0..{period}, got {count!r}")
        atr._count = count
        atr._sum = float(seed_sum)
        atr._prev_close = None if prev_close is None else float(prev_close)
        atr._value = None if value is None else float(value)
        return atr


class WilderRSI:
    """Relative Strength Index with Wilder's smoothing (Wilder 1978, as StockCharts shows it).

    - The first close only primes the series; each later close gives a change ``d``:
      gain ``max(d, 0)``, loss ``max(-d, 0)``.
    - The value is ``None`` until ``period`` changes (``period + 1`` closes) have been seen; the
      seed averages are the arithmetic means of those gains and losses, then
      ``avg = (prev_avg * (period - 1) + x) / period``.
    - ``RSI = 100 - 100 / (1 + avg_gain / avg_loss)``; it is 100 when ``avg_loss`` is 0 (only
      rises) and 50 when both averages are 0 (a flat series).
    """

    __slots__ = ("_avg_gain", "_avg_loss", "_count", "_period", "_prev_close", "_value")

    def __init__(self, period: int = 14) -> None:
        self._period = _check_period("WilderRSI", period)
        self._count = 0
        self._avg_gain = 0.0
        self._avg_loss = 0.0
        self._prev_close: float | None = None
        self._value: float | None = None

    @property
    def period(self) -> int:
        return self._period

    @property
    def value(self) -> float | None:
        return self._value

    def update(self, close: float) -> float | None:
        _check_price("WilderRSI", "close", close)
        prev = self._prev_close
        self._prev_close = close
        if prev is None:
            return None
        change = close - prev
        gain = change if change > 0.0 else 0.0
        loss = -change if change < 0.0 else 0.0
        n = self._period
        if self._count < n:
            # Seeding: accumulate sums in the average slots, divide once the window is full.
            self._count += 1
            self._avg_gain += gain
            self._avg_loss += loss
            if self._count < n:
                return None
            self._avg_gain /= n
            self._avg_loss /= n
        else:
            self._avg_gain = (self._avg_gain * (n - 1) + gain) / n
            self._avg_loss = (self._avg_loss * (n - 1) + loss) / n
        self._value = _rsi(self._avg_gain, self._avg_loss)
        return self._value

    def split_adjust(self, ratio: float) -> None:
        """Divide the price-denominated state by a split's ``ratio``; the RSI value is unchanged
        (a ratio of gains to losses)."""
        self._avg_gain /= ratio
        self._avg_loss /= ratio
        self._prev_close = None if self._prev_close is None else self._prev_close / ratio

    def state(self) -> tuple[int, int, float, float, float | None, float | None]:
        """``(period, count, avg_gain, avg_loss, prev_close, value)``; while seeding the two
        averages hold running sums."""
        return (self._period, self._count, self._avg_gain, self._avg_loss, self._prev_close, self._value)

    @classmethod
    def from_state(cls, state: tuple[int, int, float, float, float | None, float | None]) -> WilderRSI:
        period, count, avg_gain, avg_loss, prev_close, value = state
        rsi = cls(period)
        if not 0 <= count <= period:
            raise DataError(f"WilderRSI state: count must be in 0..{period}, got {count!r}")
        rsi._count = count
        rsi._avg_gain = float(avg_gain)
        rsi._avg_loss = float(avg_loss)
        rsi._prev_close = None if prev_close is None else float(prev_close)
        rsi._value = None if value is None else float(value)
        return rsi


def _rsi(avg_gain: float, avg_loss: float) -> float:
    if avg_loss == 0.0:
        return 50.0 if avg_gain == 0.0 else 100.0
    return 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)


@dataclass(frozen=True, slots=True)
class MACDValue:
    """One MACD reading: ``macd = EMA_fast - EMA_slow``, ``signal = EMA_signal(macd)``,
    ``histogram = macd - signal``."""

    macd: float
    signal: float
    histogram: float


class _EMA:
    """EMA with ``alpha = 2 / (n + 1)`` seeded by the simple mean of the first ``n`` inputs."""

    __slots__ = ("alpha", "count", "n", "total", "value")

    def __init__(self, n: int) -> None:
        self.n = n
        self.alpha = 2.0 / (n + 1.0)
        self.count = 0
        self.total = 0.0
        self.value: float | None = None

    def update(self, x: float) -> float | None:
        if self.value is None:
            self.count += 1
            self.total += x
            if self.count == self.n:
                self.value = self.total / self.n
        else:
            self.value += self.alpha * (x - self.value)
        return self.value


class MACD:
    """Moving Average Convergence/Divergence (Appel), StockCharts-style seeding.

    - Each EMA uses ``alpha = 2 / (n + 1)`` and is seeded with the simple mean of its first ``n``
      inputs (so EMA_fast and EMA_slow both start from an SMA; their first values appear on bars
      ``fast`` and ``slow``).
    - The MACD line exists from bar ``slow`` on; the signal line is an EMA of the MACD line seeded
      with the mean of its first ``signal`` values, so the first full reading arrives on bar
      ``slow + signal - 1`` (bar 34 for 12/26/9). Until then ``update`` returns None.
    - TA-Lib differs slightly: it seeds the fast EMA over bars ``slow - fast + 1 .. slow``; the two
      converge after a few dozen bars.
    """

    __slots__ = ("_fast", "_signal", "_slow", "_value")

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        _check_period("MACD fast", fast)
        _check_period("MACD slow", slow)
        _check_period("MACD signal", signal)
        if fast >= slow:
            raise DataError(f"MACD: fast period {fast} must be shorter than slow period {slow}")
        self._fast = _EMA(fast)
        self._slow = _EMA(slow)
        self._signal = _EMA(signal)
        self._value: MACDValue | None = None

    @property
    def periods(self) -> tuple[int, int, int]:
        return (self._fast.n, self._slow.n, self._signal.n)

    @property
    def value(self) -> MACDValue | None:
        return self._value

    def update(self, close: float) -> MACDValue | None:
        _check_price("MACD", "close", close)
        fast = self._fast.update(close)
        slow = self._slow.update(close)
        if fast is None or slow is None:
            return None
        line = fast - slow
        signal = self._signal.update(line)
        if signal is None:
            return None
        self._value = MACDValue(line, signal, line - signal)
        return self._value

    def split_adjust(self, ratio: float) -> None:
        """Divide every EMA (and the last reading) by a split's ``ratio``."""
        for ema in (self._fast, self._slow, self._signal):
            ema.total /= ratio
            ema.value = None if ema.value is None else ema.value / ratio
        v = self._value
        if v is not None:
            self._value = MACDValue(v.macd / ratio, v.signal / ratio, v.histogram / ratio)

    def state(self) -> tuple[tuple[int, int, float, float | None], ...]:
        """One ``(n, count, seed_sum, value)`` tuple per EMA: fast, slow, signal."""
        return tuple((e.n, e.count, e.total, e.value) for e in (self._fast, self._slow, self._signal))

    @classmethod
    def from_state(cls, state: tuple[tuple[int, int, float, float | None], ...]) -> MACD:
        if len(state) != 3:
            raise DataError(f"MACD state: expected 3 EMA states, got {len(state)}")
        (fn, fc, ft, fv), (sn, sc, st, sv), (gn, gc, gt, gv) = state
        macd = cls(fn, sn, gn)
        saved = ((macd._fast, fc, ft, fv), (macd._slow, sc, st, sv), (macd._signal, gc, gt, gv))
        for ema, count, total, value in saved:
            if not 0 <= count <= ema.n:
                raise DataError(f"MACD state: EMA({ema.n}) count must be in 0..{ema.n}, got {count!r}")
            ema.count = count
            ema.total = float(total)
            ema.value = None if value is None else float(value)
        fast, slow, signal = fv, sv, gv
        if fast is not None and slow is not None and signal is not None:
            line = fast - slow
            # The last MACD line value is not stored; recompute it from the EMAs it came from.
            macd._value = MACDValue(line, signal, line - signal)
        return macd


class SimpleMean:
    """The arithmetic mean of the last ``period`` closes (None until ``period`` were seen), and
    the last close. Keeps the window (``period`` floats); the mean is summed when read
    (``math.fsum``: no running sum to drift over years of bars)."""

    __slots__ = ("_period", "_window")

    def __init__(self, period: int = 20) -> None:
        self._period = _check_period("SimpleMean", period)
        self._window: list[float] = []

    @property
    def period(self) -> int:
        return self._period

    @property
    def value(self) -> float | None:
        if len(self._window) < self._period:
            return None
        return math.fsum(self._window) / self._period

    @property
    def last(self) -> float | None:
        return self._window[-1] if self._window else None

    def update(self, close: float) -> None:
        self._window.append(_check_price("SimpleMean", "close", close))
        if len(self._window) > self._period:
            del self._window[0]
