"""The bundled data, the loader and its repair policy, and user CSV layouts."""


from __future__ import annotations

import dataclasses
import hashlib
import math
import subprocess
import sys
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from alluse.adapters import marketdata
from alluse.adapters.marketdata import DailyBar, MinuteBar
from alluse.engine.errors import DataError

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "adapters" / "data"
FIXTURES = ROOT / "tests" / "fixtures" / "data"
DAILY = ("AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "TSLA", "SPY", "QQQ", "VIX")
MINUTE_ROWS = {"AAPL": 20804, "TSLA": 20829, "GOOG": 16441, "SPY": 13435, "QQQ": 1940, "VIX": 15822,
               "GSPC": 9052}


def test_available_lists_every_bundled_file_with_its_price_basis() -> None:
    """Nine adjusted daily files, seven as-traded (raw) ones, the raw long VIX and seven raw
    1-minute files."""
    got = {(i.dataset, i.symbol): (i.frequency, i.price_basis, i.rows) for i in marketdata.available()}
    expected = {("daily", s): ("daily", "split_div_adjusted", 1313) for s in DAILY}
    expected |= {("daily_raw", s): ("daily", "raw", 1313)
                 for s in ("AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "TSLA", "SPY")}
    expected[("daily_long", "VIX")] = ("daily", "raw", 5283)
    expected |= {("1min", s): ("1min", "raw", n) for s, n in MINUTE_ROWS.items()}
    assert expected == got


def test_manifest_hashes_match_the_bundled_files() -> None:
    """Each MANIFEST.json sha256 is the hash of the file as shipped."""
    infos = marketdata.available()
    assert [i.sha256 for i in infos] == [
        hashlib.sha256((DATA / i.file).read_bytes()).hexdigest() for i in infos]


@pytest.mark.parametrize("symbol", DAILY)
def test_bundled_daily_files_keep_every_row_from_2021_01_04_to_2026_03_26(symbol: str) -> None:
    """Loaded as they are, each daily file has its 1313 rows over the documented range."""
    bars = marketdata.load_daily(symbol, repair="keep")
    assert (1313, date(2021, 1, 4), date(2026, 3, 26)) == (len(bars), bars[0].date, bars[-1].date)


@pytest.mark.parametrize(("symbol", "rows"), sorted(MINUTE_ROWS.items()))
def test_bundled_minute_files_keep_every_source_row(symbol: str, rows: int) -> None:
    """Loaded as they are, each 1-minute file has the source's row count."""
    assert rows == len(marketdata.load_intraday(symbol, repair="keep"))


def test_long_vix_history_runs_from_2004_to_2025() -> None:
    """The long VIX file loads whole: 5283 rows, 2004-11-19 … 2025-11-18."""
    bars = marketdata.load_daily("VIX", dataset="daily_long")
    assert (5283, date(2004, 11, 19), date(2025, 11, 18)) == (len(bars), bars[0].date, bars[-1].date)


def test_koiwest_close_first_columns_are_mapped_by_name() -> None:
    """AAPL 2021-01-04 from the Close-first file: open 129.85, high 129.94, low 123.28, close 125.86."""
    bar = marketdata.load_daily("AAPL", end=date(2021, 1, 4))[0]
    assert DailyBar(date(2021, 1, 4), 129.85384635373498, 129.94137159533847, 123.27945861661561,
                    125.85669708251953, 143301900.0) == bar


def test_bars_are_frozen_slotted_dataclasses() -> None:
    """A bar cannot be changed after loading and carries no __dict__."""
    bar = marketdata.load_daily("SPY", end=date(2021, 1, 5))[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        bar.close = 1.0  # type: ignore[misc]
    assert (False, True) == (hasattr(bar, "__dict__"), hasattr(MinuteBar, "__slots__"))


def test_start_and_end_select_an_inclusive_date_range() -> None:
    """start/end keep the sessions between them, both ends included."""
    bars = marketdata.load_daily("TSLA", start=date(2024, 6, 3), end=date(2024, 6, 7))
    assert [date(2024, 6, d) for d in (3, 4, 5, 6, 7)] == [b.date for b in bars]


def test_minute_bars_are_new_york_aware_and_regular_hours_can_be_kept_alone() -> None:
    """AAPL 2022-03-14: bars from 04:00 ET; regular_only keeps the 390 bars 09:30-15:59."""
    day = date(2022, 3, 14)
    every = marketdata.load_intraday("AAPL", start=day, end=day)
    regular = marketdata.load_intraday("AAPL", start=day, end=day, regular_only=True)
    assert (ZoneInfo("America/New_York"), time(4, 0), 390, time(9, 30), time(15, 59)) == (
        every[0].ts.tzinfo, every[0].ts.time(), len(regular), regular[0].ts.time(), regular[-1].ts.time())


def test_regular_hours_respects_an_early_close() -> None:
    """QQQ on 2019-12-24 (close 13:00): no bar at or after 13:00 survives regular_hours."""
    day = date(2019, 12, 24)
    bars = marketdata.regular_hours(marketdata.load_intraday("QQQ", start=day, end=day))
    assert all(b.ts.time() < time(13) for b in bars) and bars


def test_repair_mode_dedupes_and_drops_the_empty_spy_row_and_says_so() -> None:
    """SPY 1-minute: 13435 rows in, 5074 duplicates and 1 empty row dropped, 8360 unique sorted bars out."""
    loaded = marketdata.read_intraday("SPY", repair="repair")
    stamps = [b.ts for b in loaded.bars]
    assert (8360, (("duplicate", 5074), ("empty_field", 1)), True) == (
        len(loaded.bars), loaded.report.dropped, stamps == sorted(set(stamps)))
    assert ("1min_SPY.csv.gz: 13435 rows read, 8360 returned; dropped 5074 duplicate-timestamp rows, "
            "dropped 1 rows with empty fields") == loaded.report.summary()


def test_repair_keeps_the_duplicate_with_the_largest_volume() -> None:
    """2020-01-14 11:00 appears 13 times; the one kept is the complete bar (volume 70973), not a 0."""
    ts = datetime(2020, 1, 14, 11, 0, tzinfo=ZoneInfo("America/New_York"))
    bar = next(b for b in marketdata.load_intraday("SPY", start=ts.date(), end=ts.date()) if b.ts == ts)
    assert 70973.0 == bar.volume


def test_refuse_mode_raises_a_data_error_listing_the_findings() -> None:
    """MSFT's empty last row stops a refusing load; the message names file, line, date and fields."""
    with pytest.raises(DataError) as err:
        marketdata.load_daily("MSFT", repair="refuse")
    assert ("daily_MSFT.csv.gz:1314: MSFT 2026-03-26: error empty_field: open, high, low, close are empty"
            in str(err.value))


def test_keep_mode_returns_rows_as_they_are_with_nan_for_empty_fields() -> None:
    """keep: MSFT's last row is returned, its empty prices as NaN, and reported as unresolved."""
    loaded = marketdata.read_daily("MSFT", repair="keep")
    last = loaded.bars[-1]
    assert (1313, True, 6238632.0, ["empty_field"]) == (
        len(loaded.bars), math.isnan(last.close), last.volume, [f.code for f in loaded.report.unresolved])


def test_repair_drops_the_corrupt_vix_row_but_not_real_spikes() -> None:
    """VIX 2026-03-25 (close 154.96) is dropped; the real 2024-08-05 spike (38.57) stays."""
    loaded = marketdata.read_daily("VIX")
    closes = {b.date: b.close for b in loaded.bars}
    assert (None, 38.56999969482422, (("corrupt_row", 1),)) == (
        closes.get(date(2026, 3, 25)), closes[date(2024, 8, 5)], loaded.report.dropped)


def test_repair_reports_what_it_cannot_fix() -> None:
    """An unapplied split cannot be repaired by dropping rows: it stays in report.unresolved."""
    loaded = marketdata.read_csv(FIXTURES / "split_not_applied.csv", symbol="NVDA", repair="repair")
    assert (85, [("2024-06-10", "possible_split")]) == (
        len(loaded.bars), [(f.date_or_ts, f.code) for f in loaded.report.unresolved])


@pytest.mark.parametrize(("name", "rows", "dropped", "resorted"), [
    ("duplicate.csv", 62, (("duplicate", 1),), False),
    ("unsorted.csv", 62, (), True),
    ("ohlc_inconsistent.csv", 61, (("ohlc_inconsistent", 1),), False),
    ("empty_field.csv", 61, (("empty_field", 1),), False),
    ("corrupt_spike.csv", 61, (("corrupt_row", 1),), False),
    ("truncated_last_row.csv", 61, (("truncated_row", 1),), False),
])
def test_repair_mode_on_each_broken_fixture(name: str, rows: int, dropped: tuple[tuple[str, int], ...],
                                            resorted: bool) -> None:
    """repair drops/sorts exactly what the fixture broke and leaves a clean, sorted series."""
    loaded = marketdata.read_csv(FIXTURES / name, symbol="AAPL", repair="repair")
    dates = [b.date for b in loaded.bars]
    assert (rows, dropped, resorted, (), True) == (
        len(loaded.bars), loaded.report.dropped, loaded.report.resorted, loaded.report.unresolved,
        dates == sorted(set(dates)))


def test_user_csv_refuses_bad_data_by_default() -> None:
    """load_csv defaults to refuse: the empty low of 2023-02-15 is named with its line."""
    expected = r"empty_field.csv:32: AAPL 2023-02-15: error empty_field: low is empty"
    with pytest.raises(DataError, match=expected):
        marketdata.load_csv(FIXTURES / "empty_field.csv", symbol="AAPL")


def test_kaggle_layout_uses_close_not_adj_close() -> None:
    """The Kaggle layout maps Open..Close by name; Adj Close is ignored (a different price basis)."""
    bars = marketdata.load_csv(FIXTURES / "nvda_kaggle_raw_splice.csv", symbol="NVDA", repair="keep")
    assert DailyBar(date(2021, 7, 20), 187.300003, 188.380005, 181.639999, 186.119995, 43468700.0) == bars[54]


def test_intraday_layout_is_detected_from_the_header(tmp_path: Path) -> None:
    """A yfinance 1-minute file (also gzip-compressed) loads as New York minute bars."""
    import gzip

    path = tmp_path / "AAPL.csv.gz"
    path.write_bytes(gzip.compress((FIXTURES / "aapl_1min_morning.csv").read_bytes()))
    bars = marketdata.load_csv(path)
    assert (120, MinuteBar(datetime(2022, 3, 15, 9, 0, tzinfo=ZoneInfo("America/New_York")),
                           150.98, 151.09, 150.96, 151.08, 0.0)) == (len(bars), bars[0])


def test_a_header_without_the_needed_columns_is_a_data_error(tmp_path: Path) -> None:
    """A file whose header lacks close/volume is refused, naming file:1 and what is missing."""
    path = tmp_path / "bad.csv"
    path.write_text("Date,Open,High,Low\n2023-01-03,1,2,0.5\n", encoding="utf-8")
    expected = r"bad.csv:1: header lacks close, volume \(found: Date, Open, High, Low\)"
    with pytest.raises(DataError, match=expected):
        marketdata.load_csv(path)


def test_an_unknown_bundled_symbol_lists_the_available_ones() -> None:
    """Asking for MSFT 1-minute data names the symbols that exist."""
    expected = r"no bundled 1min data for 'MSFT' \(have: AAPL, GOOG, GSPC, QQQ, SPY, TSLA, VIX\)"
    with pytest.raises(DataError, match=expected):
        marketdata.load_intraday("MSFT")


def test_rebuilding_the_bundle_is_byte_identical(shared_data: Path, tmp_path: Path) -> None:
    """scripts/bundle_data.py run again produces the same bytes, MANIFEST.json included."""
    script = ROOT / "scripts" / "bundle_data.py"
    done = subprocess.run([sys.executable, str(script), "--source", str(shared_data), "--out", str(tmp_path)],
                          capture_output=True, text=True, check=False)
    assert (0, "") == (done.returncode, done.stderr)

    def hashes(folder: Path) -> dict[str, str]:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}

    assert hashes(DATA) == hashes(tmp_path)
