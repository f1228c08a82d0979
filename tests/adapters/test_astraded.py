"""The as-traded daily set and the corporate-actions tables, held to the shared data."""

from __future__ import annotations

import importlib.util
import sys
from datetime import date
from pathlib import Path
from types import ModuleType

import pytest

from alluse.adapters import corporate_actions, marketdata

ROOT = Path(__file__).resolve().parents[2]


def _astraded() -> ModuleType:
    spec = importlib.util.spec_from_file_location("astraded", ROOT / "scripts" / "astraded.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["astraded"] = module
    spec.loader.exec_module(module)
    return module


def test_every_check_against_the_shared_data_passes(shared_data: Path) -> None:
    """Seams, 2021-2022 dividends from Adj Close/Close, split jumps, prints and witnesses."""
    a = _astraded()
    splits = a.read_splits(ROOT / "scripts" / "data" / "splits.csv")
    dividends = a.read_dividends(ROOT / "scripts" / "data" / "dividends.csv")
    rebuilt = {s: a.rebuild(shared_data, s, splits, dividends) for s in a.SYMBOLS}
    findings = a.verify(shared_data, splits, dividends, rebuilt)
    assert ([], 25) == ([f"{f.symbol} {f.check}: {f.detail}" for f in findings if not f.ok],
                        len(findings))


@pytest.mark.parametrize(("symbol", "ex_date", "ratio"), [
    ("NVDA", date(2021, 7, 20), 4), ("AMZN", date(2022, 6, 6), 20), ("GOOGL", date(2022, 7, 18), 20),
    ("TSLA", date(2022, 8, 25), 3), ("NVDA", date(2024, 6, 10), 10)])
def test_each_split_of_the_window_is_bundled_and_shows_in_the_as_traded_closes(
        symbol: str, ex_date: date, ratio: int) -> None:
    """The splits table has it, and the close falls by the ratio (within the day's move)."""
    bars = {b.date: b for b in marketdata.load_daily(symbol, dataset="daily_raw", repair="keep")}
    days = sorted(bars)
    i = days.index(ex_date)
    jump = bars[days[i - 1]].close / bars[ex_date].close
    assert ((symbol, ex_date, ratio) in {(s.symbol, s.ex_date, s.ratio)
                                         for s in corporate_actions.splits()},
            True) == (True, abs(jump / ratio - 1) < 0.1)


def test_as_traded_prices_are_the_prices_that_printed() -> None:
    """NVDA closed at 524.54 on 2021-01-04 (not 13), AMZN at 3186.63; SPY's 368.79 is the raw
    close of alimuqeem/overnight-intraday-edge data/SPY.csv (dividend-unadjusted), 368.7900085."""
    closes = {s: marketdata.load_daily(s, start=date(2021, 1, 4), end=date(2021, 1, 4),
                                       dataset="daily_raw")[0].close for s in ("NVDA", "AMZN", "SPY")}
    assert {"NVDA": 524.54, "AMZN": 3186.63, "SPY": 368.79} == pytest.approx(closes, abs=0.01)


def test_the_adjusted_set_is_still_bundled_beside_the_as_traded_one() -> None:
    """Same days, and adjusted ≤ as traded (dividends and later splits only lower the past)."""
    for symbol in ("AAPL", "NVDA", "SPY"):
        raw = marketdata.load_daily(symbol, dataset="daily_raw")
        adj = marketdata.load_daily(symbol)
        below = all(a.close <= r.close * (1 + 1e-6) for a, r in zip(adj, raw, strict=True))
        assert ([b.date for b in adj], True) == ([b.date for b in raw], below)


def test_dividends_table_covers_the_payers_with_sources_and_trading_ex_dates() -> None:
    """AAPL, MSFT, NVDA quarterly from 2021, GOOGL from 2024-06, SPY; every source is documented
    and every ex-date is a trading day of the bundled bars."""
    rows = corporate_actions.dividends()
    sources = (ROOT / "scripts" / "data" / "SOURCES.md").read_text(encoding="utf-8")
    by_symbol: dict[str, int] = {}
    for d in rows:
        by_symbol[d.symbol] = by_symbol.get(d.symbol, 0) + 1
    days = {s: {b.date for b in marketdata.load_daily(s, dataset="daily_raw", repair="keep")}
            for s in by_symbol}
    assert ({"AAPL": 21, "MSFT": 21, "NVDA": 21, "GOOGL": 8, "SPY": 21}, [], []) == (
        by_symbol, sorted({d.source for d in rows if f"`{d.source}`" not in sources}),
        [d for d in rows if d.ex_date not in days[d.symbol] or d.amount <= 0])


def test_actions_can_be_selected_by_symbol_and_window() -> None:
    """AAPL's 2024 dividends: four, 0.24 then 0.25."""
    got = corporate_actions.dividends({"AAPL"}, start=date(2024, 1, 1), end=date(2024, 12, 31))
    assert [(date(2024, 2, 9), 0.24), (date(2024, 5, 10), 0.25), (date(2024, 8, 12), 0.25),
            (date(2024, 11, 8), 0.25)] == [(d.ex_date, d.amount) for d in got]
