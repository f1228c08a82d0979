"""Indicators reproduce published ATR tables and independent batch RSI/MACD implementations."""

from __future__ import annotations

import csv
import itertools
import math
import random
import re
from pathlib import Path

import pytest

from alluse.engine.errors import DataError
from alluse.engine.indicators import MACD, MACDValue, SimpleMean, WilderATR, WilderRSI


def _stockcharts(path: Path) -> list[dict[str, float]]:
    with path.open(newline="") as fh:
        return [{k: float(v) for k, v in row.items() if k != "Date"} for row in csv.DictReader(fh)]


def _tulip_block(path: Path, name: str) -> tuple[int, list[list[float]]]:
    """The ``name n`` block of a Tulip test file: its period and its ``{...}`` arrays."""
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if re.fullmatch(rf"{name} \d+", line.strip()))
    period = int(lines[start].split()[1])
    arrays: list[list[float]] = []
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            continue
        if not line.startswith("{"):
            break
        arrays.append([float(x) for x in line.strip("{}").split(",")])
    return period, arrays


def _atr_series(
    period: int, highs: list[float], lows: list[float], closes: list[float]
) -> list[float | None]:
    atr = WilderATR(period)
    return [atr.update(h, lo, c) for h, lo, c in zip(highs, lows, closes, strict=True)]


@pytest.mark.parametrize(
    ("filename", "period"), [("stockcharts_cs-atr_w14.csv", 14), ("stockcharts_cs-atr2_w10.csv", 10)]
)
def test_wilder_atr_reproduces_stockcharts_table(shared_data: Path, filename: str, period: int) -> None:
    """ATR matches every row of the StockCharts ChartSchool table (None where the table shows 0)."""
    rows = _stockcharts(shared_data / "reference_atr" / filename)
    got = _atr_series(period, [r["High"] for r in rows], [r["Low"] for r in rows], [r["Close"] for r in rows])
    assert [None] * (period - 1) == got[: period - 1]
    expected = [r["ATR"] for r in rows[period - 1 :]]
    actual = [v for v in got[period - 1 :] if v is not None]
    assert len(expected) == len(actual)
    # The w=14 file prints ATR with 10 significant digits after row 15, hence the looser bound.
    tol = 1e-9 if period == 10 else 5e-9
    assert max(abs(e - a) for e, a in zip(expected, actual, strict=True)) <= tol


def test_wilder_atr_seed_is_mean_of_first_true_ranges(shared_data: Path) -> None:
    """The ATR14 seed on the 14th bar is 0.555, as ChartSchool shows it."""
    rows = _stockcharts(shared_data / "reference_atr" / "stockcharts_cs-atr_w14.csv")
    atr = WilderATR(14)
    for r in rows[:14]:
        atr.update(r["High"], r["Low"], r["Close"])
    assert atr.value == pytest.approx(0.555, abs=1e-12)


def test_wilder_atr_reproduces_achelis_atoz_example(shared_data: Path) -> None:
    """ATR(4) matches Achelis' A-to-Z example (Tulip atoz.txt) to the book's rounding."""
    path = shared_data / "reference_atr" / "tulip_atoz_atr.txt"
    period, (highs, lows, closes, expected) = _tulip_block(path, "atr")
    got = [v for v in _atr_series(period, highs, lows, closes) if v is not None]
    expected_period = 4
    assert expected_period == period
    assert len(expected) == len(got)
    assert max(abs(e - a) for e, a in zip(expected, got, strict=True)) <= 5e-5


def test_wilder_atr_reproduces_tulip_untest_atr5(shared_data: Path) -> None:
    """ATR(5) matches Tulip's untest.txt values (printed with 3 decimals)."""
    path = shared_data / "reference_atr" / "tulip_untest_atr_natr.txt"
    period, (highs, lows, closes, expected) = _tulip_block(path, "atr")
    got = [v for v in _atr_series(period, highs, lows, closes) if v is not None]
    expected_period = 5
    assert expected_period == period
    assert len(expected) == len(got)
    assert max(abs(e - a) for e, a in zip(expected, got, strict=True)) <= 5e-4


def test_wilder_atr_restored_from_state_continues_identically() -> None:
    """An ATR rebuilt from ``state()`` mid-series gives bit-identical later values."""
    rng = random.Random(7)
    bars = []
    close = 100.0
    for _ in range(40):
        close *= math.exp(rng.gauss(0, 0.02))
        bars.append((close * 1.01, close * 0.99, close))
    whole = WilderATR(14)
    expected = [whole.update(*b) for b in bars]
    for cut in (0, 5, 14, 30):
        first = WilderATR(14)
        for b in bars[:cut]:
            first.update(*b)
        resumed = WilderATR.from_state(first.state())
        assert expected[cut:] == [resumed.update(*b) for b in bars[cut:]]


def test_wilder_atr_rejects_high_below_low() -> None:
    """A bar whose high is below its low is a data error naming both values."""
    with pytest.raises(DataError, match=r"high 9\.0 is below low 10\.0"):
        WilderATR(3).update(9.0, 10.0, 9.5)


def test_indicators_reject_non_positive_period() -> None:
    """A zero period is refused with the value in the message."""
    with pytest.raises(DataError, match="period must be an integer >= 1, got 0"):
        WilderRSI(0)


def _batch_rsi(closes: list[float], n: int) -> list[float | None]:
    """Straightforward Wilder RSI over a whole list: SMA seed of n changes, then Wilder smoothing."""
    out: list[float | None] = [None] * len(closes)
    changes = [b - a for a, b in itertools.pairwise(closes)]
    if len(changes) < n:
        return out
    ag = sum(max(c, 0.0) for c in changes[:n]) / n
    al = sum(max(-c, 0.0) for c in changes[:n]) / n

    def rsi(g: float, lo: float) -> float:
        return 100.0 if lo == 0 else 100.0 - 100.0 / (1.0 + g / lo)

    out[n] = rsi(ag, al)
    for i in range(n, len(changes)):
        ag = (ag * (n - 1) + max(changes[i], 0.0)) / n
        al = (al * (n - 1) + max(-changes[i], 0.0)) / n
        out[i + 1] = rsi(ag, al)
    return out


def _random_closes(seed: int, count: int) -> list[float]:
    rng = random.Random(seed)
    closes, price = [], 50.0
    for _ in range(count):
        price *= math.exp(rng.gauss(0.0, 0.015))
        closes.append(price)
    return closes


@pytest.mark.parametrize("period", [2, 5, 14])
def test_wilder_rsi_matches_batch_implementation(period: int) -> None:
    """Incremental RSI equals an independent batch computation on a random walk."""
    closes = _random_closes(period, 120)
    rsi = WilderRSI(period)
    actual = [rsi.update(c) for c in closes]
    expected = _batch_rsi(closes, period)
    assert [e is None for e in expected] == [a is None for a in actual]
    assert all(
        abs(e - a) < 1e-9 for e, a in zip(expected, actual, strict=True) if e is not None and a is not None
    )


def test_wilder_rsi_is_100_on_rising_closes_and_0_on_falling() -> None:
    """Only gains give RSI 100; only losses give RSI 0; the first value arrives on close n+1."""
    up, down = WilderRSI(14), WilderRSI(14)
    ups = [up.update(100.0 + i) for i in range(20)]
    downs = [down.update(100.0 - i) for i in range(20)]
    seeding, rising, falling = [None] * 14, [100.0] * 6, [0.0] * 6
    assert seeding == ups[:14]
    assert rising == ups[14:]
    assert falling == downs[14:]


def test_wilder_rsi_is_50_on_flat_and_balanced_seed() -> None:
    """A flat series gives 50; a seed window of equal gains and losses (+1 -1 +1 -1) gives 50."""
    flat, zigzag = WilderRSI(4), WilderRSI(4)
    for i in range(5):
        flat.update(10.0)
        zigzag.update(10.0 + (i % 2))
    neutral = 50.0
    assert neutral == flat.value
    assert neutral == zigzag.value
    # One more +1 step: avg gain (0.5*3+1)/4 = 0.625, avg loss 0.375 → RSI 62.5.
    after_gain = 62.5
    assert after_gain == pytest.approx(zigzag.update(11.0), abs=1e-12)


def test_wilder_rsi_restored_from_state_continues_identically() -> None:
    """RSI rebuilt from ``state()`` while seeding and after gives identical values."""
    closes = _random_closes(3, 60)
    whole = WilderRSI(14)
    expected = [whole.update(c) for c in closes]
    for cut in (0, 1, 8, 15, 40):
        first = WilderRSI(14)
        for c in closes[:cut]:
            first.update(c)
        resumed = WilderRSI.from_state(first.state())
        assert expected[cut:] == [resumed.update(c) for c in closes[cut:]]


def _batch_ema(values: list[float], n: int) -> list[float | None]:
    out: list[float | None] = [None] * len(values)
    if len(values) < n:
        return out
    ema = sum(values[:n]) / n
    out[n - 1] = ema
    k = 2.0 / (n + 1)
    for i in range(n, len(values)):
        ema = values[i] * k + ema * (1 - k)
        out[i] = ema
    return out


def _batch_macd(
    closes: list[float], fast: int, slow: int, signal: int
) -> list[tuple[float, float, float] | None]:
    ef, es = _batch_ema(closes, fast), _batch_ema(closes, slow)
    line = [f - s for f, s in zip(ef, es, strict=True) if f is not None and s is not None]
    sig = _batch_ema(line, signal)
    out: list[tuple[float, float, float] | None] = [None] * (slow - 1)
    for m, s in zip(line, sig, strict=True):
        out.append(None if s is None else (m, s, m - s))
    return out


def test_macd_matches_batch_implementation() -> None:
    """Incremental MACD(12,26,9) equals a batch EMA computation; first value on bar 34."""
    closes = _random_closes(11, 150)
    macd = MACD()
    actual = [macd.update(c) for c in closes]
    expected = _batch_macd(closes, 12, 26, 9)
    warmup = 26 + 9 - 2
    assert warmup == sum(a is None for a in actual)
    assert [e is None for e in expected] == [a is None for a in actual]
    for e, a in zip(expected, actual, strict=True):
        if e is not None and a is not None:
            assert e == pytest.approx((a.macd, a.signal, a.histogram), abs=1e-9)


def test_macd_is_zero_on_constant_series() -> None:
    """A constant price gives MACD, signal and histogram of exactly 0."""
    macd = MACD(3, 6, 4)
    for _ in range(20):
        macd.update(42.0)
    assert MACDValue(0.0, 0.0, 0.0) == macd.value


def test_macd_is_positive_on_steady_uptrend() -> None:
    """On a linear uptrend the fast EMA leads, so the MACD line is positive."""
    macd = MACD()
    for i in range(60):
        macd.update(100.0 + i)
    assert macd.value is not None
    assert macd.value.macd > 0.0


def test_macd_restored_from_state_continues_identically() -> None:
    """MACD rebuilt from ``state()`` gives identical later readings."""
    closes = _random_closes(5, 80)
    whole = MACD()
    expected = [whole.update(c) for c in closes]
    for cut in (10, 30, 50):
        first = MACD()
        for c in closes[:cut]:
            first.update(c)
        resumed = MACD.from_state(first.state())
        assert expected[cut - 1] == resumed.value
        assert expected[cut:] == [resumed.update(c) for c in closes[cut:]]


def test_macd_rejects_fast_not_shorter_than_slow() -> None:
    """MACD(26, 12) is refused."""
    with pytest.raises(DataError, match="fast period 26 must be shorter than slow period 12"):
        MACD(26, 12)


def test_simple_mean_is_none_until_its_window_fills_then_the_mean_of_the_last_closes():
    """SimpleMean(3): None, None, then the mean of the last three closes; ``last`` the latest."""
    m = SimpleMean(3)
    seen = []
    for c in (1.0, 2.0, 3.0, 10.0):
        m.update(c)
        seen.append(m.value)
    assert ([None, None, 2.0, 5.0], 10.0) == (seen, m.last)
