"""`alluse data check` and `alluse data list` through the real CLI application."""


from __future__ import annotations

import gzip
import json
from pathlib import Path

from typer.testing import CliRunner

from alluse.cli import app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "data"
runner = CliRunner()


def test_check_bundled_exits_1_and_ends_with_a_summary_line() -> None:
    """The bundled files hold known errors: exit 1, one summary line last. The adjusted daily and
    1-minute files keep their 927 errors and 115 warnings; each as-traded file adds the rows and
    the findings of its adjusted twin (the same defective rows, its splits being no finding)."""
    result = runner.invoke(app, ["data", "check", "bundled"])
    checked = json.loads(runner.invoke(app, ["data", "check", "bundled", "--format", "json"]).stdout)
    raw = {f["source"] for f in checked["files"] if f["source"].startswith("daily_raw_")}
    twins = {s.replace("daily_raw_", "daily_") for s in raw}
    rows = sum(f["rows"] for f in checked["files"] if f["source"] in twins)
    found = [f for f in checked["findings"] if f["source"] in twins]
    errors = sum(f["severity"] == "error" for f in found)
    summary = (f"{17 + len(raw)} file(s), {115423 + rows} rows: {927 + errors} error(s), "
               f"{115 + len(found) - errors} warning(s)")
    assert (1, summary) == (result.exit_code, result.stdout.splitlines()[-1].split(" (")[0])
    assert sorted((f["symbol"], f["date_or_ts"], f["code"]) for f in found) == sorted(
        (f["symbol"], f["date_or_ts"], f["code"]) for f in checked["findings"]
        if f["source"] in raw)


def test_check_prints_symbol_date_and_reason_for_each_finding() -> None:
    """A finding line names file:line, symbol, date, severity, code and reason."""
    result = runner.invoke(app, ["data", "check", str(FIXTURES / "duplicate.csv"), "--symbol", "AAPL"])
    line = (f"{FIXTURES / 'duplicate.csv'}:33: AAPL 2023-02-15: error duplicate: timestamp appears 2 times "
            "(lines 32, 33), identical values")
    assert (1, line) == (result.exit_code, result.stdout.splitlines()[0])


def test_a_clean_file_exits_0() -> None:
    """No findings: exit 0 and a zero summary."""
    result = runner.invoke(app, ["data", "check", str(FIXTURES / "clean.csv")])
    assert (0, "1 file(s), 62 rows: 0 error(s), 0 warning(s)") == (result.exit_code, result.stdout.strip())


def test_warnings_alone_exit_0() -> None:
    """A zero-volume last row is a warning: reported, exit 0."""
    result = runner.invoke(app, ["data", "check", str(FIXTURES / "zero_volume_last_row.csv")])
    assert (0, "1 file(s), 62 rows: 0 error(s), 1 warning(s) (partial_last_row 1)") == (
        result.exit_code, result.stdout.splitlines()[-1])


def test_a_missing_file_is_a_usage_error_without_traceback() -> None:
    """A path that does not exist: exit 2 and a one-line message."""
    result = runner.invoke(app, ["data", "check", "no-such-file.csv"])
    assert (2, "error: file 'no-such-file.csv' not found\n", None) == (
        result.exit_code, result.stderr, result.exception if result.exit_code != 2 else None)


def test_an_unreadable_file_is_an_error_finding_not_a_traceback(tmp_path: Path) -> None:
    """A file without a usable header is reported as 'unreadable' with exit 1."""
    path = tmp_path / "junk.csv"
    path.write_bytes(b"hello,world\n1,2\n")
    result = runner.invoke(app, ["data", "check", str(path)])
    assert (1, f"{path}: JUNK: error unreadable: {path}:1: header lacks date or datetime, open, high, low, "
               "close, volume (found: hello, world)") == (result.exit_code, result.stdout.splitlines()[0])


def test_json_format_lists_files_findings_and_summary(tmp_path: Path) -> None:
    """--format json: the NVDA split splice gives one possible_split finding; gzip input is accepted."""
    path = tmp_path / "NVDA.csv.gz"
    path.write_bytes(gzip.compress((FIXTURES / "nvda_kaggle_raw_splice.csv").read_bytes()))
    result = runner.invoke(app, ["data", "check", str(path), "--format", "json"])
    out = json.loads(result.stdout)
    assert (1, [{"source": str(path), "symbol": "NVDA", "frequency": "daily", "rows": 106}],
            [("NVDA", "2021-07-20", "error", "possible_split", 56)],
            {"files": 1, "rows": 106, "errors": 1, "warnings": 0, "by_code": {"possible_split": 1}}) == (
        result.exit_code, out["files"],
        [(f["symbol"], f["date_or_ts"], f["severity"], f["code"], f["line"]) for f in out["findings"]],
        out["summary"])


def test_symbol_option_restricts_bundled_to_one_symbol() -> None:
    """--symbol QQQ with 'bundled' checks the daily and the 1-minute QQQ files only."""
    result = runner.invoke(app, ["data", "check", "bundled", "--symbol", "QQQ", "--format", "json"])
    assert (0, ["1min_QQQ.csv.gz", "daily_QQQ.csv.gz"]) == (
        result.exit_code, sorted(f["source"] for f in json.loads(result.stdout)["files"]))


def test_limit_folds_repeated_findings_into_a_count() -> None:
    """Text output shows --limit findings per file and code, then how many more there are."""
    result = runner.invoke(app, ["data", "check", "bundled", "--symbol", "SPY", "--limit", "1"])
    folded = "1min_SPY.csv.gz: … 897 more duplicate finding(s) (--limit 0 shows all)"
    assert folded in result.stdout.splitlines()


def test_list_shows_each_bundled_file_with_its_price_basis() -> None:
    """`alluse data list` prints one line per bundled file with basis and range (the 17 adjusted
    and 1-minute files, the as-traded daily files), then one per corporate-actions table."""
    result = runner.invoke(app, ["data", "list"])
    lines = result.stdout.splitlines()
    line = next(x for x in lines if x.startswith("daily ") and " NVDA " in x)
    raw = next(x for x in lines if x.startswith("daily_raw ") and " NVDA " in x)
    n_raw = sum(x.startswith("daily_raw ") for x in lines)
    assert (0, 17 + n_raw + 2, ["daily", "NVDA", "daily", "split_div_adjusted", "1313", "rows",
                                "2021-01-04", "…", "2026-03-26", "daily_yf_adjusted_koiwest"],
            ["daily_raw", "NVDA", "daily", "raw", "1313"], ["table", "splits.csv"]) == (
        result.exit_code, len(lines), line.split(), raw.split()[:5], lines[-2].split()[:2])
