"""The watchdog: the broken-fixture corpus, every real bundled file, and the jump rules."""


from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import date, datetime
from pathlib import Path

import pytest

from alluse.adapters import datacheck, marketdata
from alluse.adapters.datacheck import Finding, Row, Series

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "data"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))


def _check(series: list[Series]) -> list[Finding]:
    days = [r.when.date() if isinstance(r.when, datetime) else r.when
            for s in series for r in s.rows if r.when is not None]
    return datacheck.check_many(series, calendar=datacheck.XnysSessions(min(days), max(days)))


@pytest.fixture(scope="module")
def bundled_findings() -> list[Finding]:
    return _check([marketdata.bundled_series(i) for i in marketdata.available()])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_broken_fixture_gives_exactly_its_expected_finding(name: str) -> None:
    """Every fixture file yields exactly the findings listed for it in expected.json."""
    case = EXPECTED[name]
    found = _check([marketdata.read_series(FIXTURES / name, case["symbol"])])
    actual = [{k: v for k, v in f.as_dict().items() if k != "source"} for f in found]
    assert case["findings"] == actual


def test_fixture_corpus_covers_every_file_in_the_folder() -> None:
    """No fixture CSV lacks an expectation."""
    assert sorted(p.name for p in FIXTURES.glob("*.csv")) == sorted(EXPECTED)


def test_kaggle_nvda_with_raw_prices_before_the_2021_split_is_detected_as_a_4_to_1_split() -> None:
    """The spliced 1b NVDA file (751.19 → 186.12 on 2021-07-20) is reported as an unapplied 4:1 split."""
    found = _check([marketdata.read_series(FIXTURES / "nvda_kaggle_raw_splice.csv", "NVDA")])
    assert [("2021-07-20", "error", "possible_split")] == [(f.date_or_ts, f.severity, f.code) for f in found]
    assert "looks like a 4:1 split not applied to the rows before" in found[0].reason


def test_every_bundled_file_gets_its_known_findings(bundled_findings: list[Finding]) -> None:
    """The real bundled files: exactly these finding counts per file and code."""
    expected = {
        "1min_AAPL.csv.gz": {"warning missing_minutes": 11},
        "1min_GOOG.csv.gz": {"warning missing_minutes": 25},
        "1min_GSPC.csv.gz": {"error missing_session": 3, "warning missing_minutes": 7},
        "1min_QQQ.csv.gz": {"warning missing_minutes": 4, "warning partial_session": 2},
        "1min_SPY.csv.gz": {"error duplicate": 898, "error empty_field": 1, "error unsorted": 18,
                            "warning missing_minutes": 18, "warning partial_session": 1},
        "1min_TSLA.csv.gz": {"warning missing_minutes": 10},
        "1min_VIX.csv.gz": {"error missing_session": 3, "warning corrupt_row": 1, "warning large_jump": 3,
                            "warning missing_minutes": 22},
        "daily_AAPL.csv.gz": {"warning partial_last_row": 1},
        "daily_AMZN.csv.gz": {"error empty_field": 1},
        "daily_GOOGL.csv.gz": {"warning partial_last_row": 1},
        "daily_MSFT.csv.gz": {"error empty_field": 1, "warning large_jump": 1},
        "daily_NVDA.csv.gz": {"warning large_jump": 1, "warning partial_last_row": 1},
        "daily_QQQ.csv.gz": {"warning partial_last_row": 1},
        "daily_SPY.csv.gz": {"error ohlc_inconsistent": 1, "warning partial_last_row": 1},
        "daily_TSLA.csv.gz": {"warning partial_last_row": 1},
        "daily_VIX.csv.gz": {"error corrupt_row": 1},
        "daily_long_VIX.csv.gz": {"warning large_jump": 2, "warning source_mismatch": 1},
        # as traded: the same findings as the adjusted files; their splits are not findings
        "daily_raw_AAPL.csv.gz": {"warning partial_last_row": 1},
        "daily_raw_AMZN.csv.gz": {"error empty_field": 1},
        "daily_raw_GOOGL.csv.gz": {"warning partial_last_row": 1},
        "daily_raw_MSFT.csv.gz": {"error empty_field": 1, "warning large_jump": 1},
        "daily_raw_NVDA.csv.gz": {"warning large_jump": 1, "warning partial_last_row": 1},
        "daily_raw_SPY.csv.gz": {"error ohlc_inconsistent": 1, "warning partial_last_row": 1},
        "daily_raw_TSLA.csv.gz": {"warning partial_last_row": 1},
    }
    actual: dict[str, Counter[str]] = defaultdict(Counter)
    for f in bundled_findings:
        actual[f.source][f"{f.severity} {f.code}"] += 1
    assert expected == {k: dict(v) for k, v in actual.items()}


def test_spy_minute_file_has_898_duplicated_timestamps(bundled_findings: list[Finding]) -> None:
    """SOURCES.md's 898 duplicated SPY timestamps are found, 2020-01-14 11:00 thirteen times."""
    dups = [f for f in bundled_findings if f.source == "1min_SPY.csv.gz" and f.code == "duplicate"]
    first = next(f for f in dups if f.date_or_ts == "2020-01-14 11:00:00-05:00")
    reason = "timestamp appears 13 times (lines 7286, 7584, 7882, 8180, 8478, …), conflicting values"
    assert (898, reason) == (len(dups), first.reason)


def test_known_bad_rows_of_the_daily_files_are_named(bundled_findings: list[Finding]) -> None:
    """VIX 2026-03-25 is corrupt; AMZN/MSFT/SPY last rows are broken (adjusted and as traded);
    long VIX's last row disagrees."""
    picked = {(f.source, f.date_or_ts, f.severity, f.code) for f in bundled_findings
              if f.source.startswith("daily") and f.code != "partial_last_row" and f.code != "large_jump"}
    assert {
        ("daily_VIX.csv.gz", "2026-03-25", "error", "corrupt_row"),
        ("daily_AMZN.csv.gz", "2026-03-26", "error", "empty_field"),
        ("daily_MSFT.csv.gz", "2026-03-26", "error", "empty_field"),
        ("daily_SPY.csv.gz", "2026-03-26", "error", "ohlc_inconsistent"),
        ("daily_long_VIX.csv.gz", "2025-11-18", "warning", "source_mismatch"),
        ("daily_raw_AMZN.csv.gz", "2026-03-26", "error", "empty_field"),
        ("daily_raw_MSFT.csv.gz", "2026-03-26", "error", "empty_field"),
        ("daily_raw_SPY.csv.gz", "2026-03-26", "error", "ohlc_inconsistent"),
    } == picked


def test_minute_vix_and_gspc_miss_the_same_three_sessions(bundled_findings: list[Finding]) -> None:
    """Both index files lack bars for 2022-03-21, 2022-03-29 and 2022-04-06."""
    missing = {(f.symbol, f.date_or_ts) for f in bundled_findings if f.code == "missing_session"}
    assert {(s, d) for s in ("VIX", "GSPC") for d in ("2022-03-21", "2022-03-29", "2022-04-06")} == missing


def test_a_market_wide_move_is_not_a_finding_but_the_same_move_alone_is_a_warning() -> None:
    """SPY's +10.5 % on 2025-04-09 is shared by the other symbols; checked alone it is only a warning."""
    infos = [i for i in marketdata.available() if i.dataset == "daily"]
    together = datacheck.check_many([marketdata.bundled_series(i) for i in infos])
    alone = datacheck.check_series(marketdata.bundled_series(next(i for i in infos if i.symbol == "SPY")))
    assert ([], [("warning", "large_jump")]) == (
        [f for f in together if f.date_or_ts == "2025-04-09"],
        [(f.severity, f.code) for f in alone if f.date_or_ts == "2025-04-09"])


def test_an_index_jump_is_never_called_a_split() -> None:
    """VIX +115.6 % on 2018-02-05 is a large_jump warning: an index does not split."""
    info = next(i for i in marketdata.available() if i.dataset == "daily_long")
    found = [f for f in datacheck.check_series(marketdata.bundled_series(info))
             if f.date_or_ts == "2018-02-05"]
    assert [("warning", "large_jump")] == [(f.severity, f.code) for f in found]
    assert "an index does not split" in found[0].reason


def test_zero_volume_throughout_is_not_a_finding() -> None:
    """A series whose volume is always 0 (an index) gets no volume finding, even on its last row."""
    rows = tuple(Row(i + 2, f"2023-01-{i + 3:02d}", date(2023, 1, i + 3), 20.0, 21.0, 19.0, 20.5, 0.0)
                 for i in range(6))
    assert [] == datacheck.check_series(Series("VIX", "daily", rows, "vix.csv"))


@pytest.mark.parametrize(("values", "reason"), [
    ((10.0, 9.0, 9.5, 9.8), "high 9 < low 9.5; high 9 < max(open 10, close 9.8)"),
    ((10.0, 10.5, 10.2, 9.9), "low 10.2 > min(open 10, close 9.9)"),
    ((0.0, 1.0, 0.0, 1.0), "non-positive price (open 0, high 1, low 0, close 1)"),
])
def test_ohlc_inconsistencies_are_errors_with_the_values(values: tuple[float, ...], reason: str) -> None:
    """Each OHLC rule names the values that break it."""
    row = Row(2, "2023-01-03", date(2023, 1, 3), *values, 100.0)
    found = datacheck.check_series(Series("X", "daily", (row,), "x.csv"))
    assert [("error", "ohlc_inconsistent", reason, 2)] == [
        (f.severity, f.code, f.reason, f.line) for f in found]
