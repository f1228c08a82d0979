"""`alluse replay` through the real CLI: five years at 100K and 10M, 1-minute bars, errors, report.

The three five-year runs start together in subprocesses (two cores: they overlap), each with its
own hash seed, so set ordering cannot hide behind a shared process; the tests reading them are
marked slow (the fixture takes ~30 s).
"""

from __future__ import annotations

import io
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from alluse.adapters import marketdata
from alluse.adapters.policy_files import default_policy_dir, load_policy_dir
from alluse.cli import app
from alluse.cli.replay_cmd import print_summary

CLI = [sys.executable, "-c", "from alluse.cli import main; main()", "replay"]
FIVE_YEARS = ["--from", "2021-01-04", "--to", "2025-12-31", "--format", "json", "--db", "none"]
runner = CliRunner()
ACCOUNT = re.compile(r"[A-Z]{3}-ACC-\d{3}")


def _start(capital: str, hash_seed: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*CLI, *FIVE_YEARS, "--capital", capital], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONHASHSEED": hash_seed})


@pytest.fixture(scope="module")
def five_years() -> Iterator[dict[str, tuple[int, str, str]]]:
    """(exit code, stdout, stderr) of: 100K twice (hash seeds 1 and 2) and 10M, run side by side."""
    procs = {"100K": _start("100000", "1"), "100K again": _start("100000", "2"),
             "10M": _start("10000000", "3")}
    try:
        out = {}
        for name, proc in procs.items():
            stdout, stderr = proc.communicate(timeout=300)
            out[name] = (proc.returncode, stdout, stderr)
        yield out
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _conservation(result: dict[str, Any]) -> tuple[Decimal, Decimal, bool]:
    """Re-check the capital identity from the JSON: (sum of final equity, initial + P&L +
    dividends − taxes, ok); the dividends summed over the accounts that received them."""
    c = result["conservation"]
    final_sum = sum((Decimal(str(a["final_equity"])) for a in result["accounts"]), Decimal(0))
    dividends = sum((Decimal(v) for v in result["dividends"]["by_account"].values()), Decimal(0))
    expected = (Decimal(c["initial_capital"]) + Decimal(c["total_pnl"]) + dividends
                - Decimal(c["taxes_withheld"]))
    return final_sum, expected, c["ok"]


def _tree_parents(text: str) -> dict[str, str | None]:
    """Each account in the Rich 'Account tree' mapped to the account it is drawn under."""
    lines = text.split("Account tree\n", 1)[1].splitlines()
    parents: dict[str, str | None] = {}
    stack: list[str] = []  # the path of ids to the last line, one per depth
    for line in lines:
        found = ACCOUNT.search(line)
        if found is None or not line.lstrip("│├└─ ").startswith(found.group()):
            break  # the tree has ended
        depth = found.start() // 4 - 1  # every level indents by four columns ("│   ", "├── ")
        del stack[depth:]
        parents[found.group()] = stack[-1] if stack else None
        stack.append(found.group())
    return parents


def _table_parents(text: str) -> dict[str, str | None]:
    """The accounts table's parent column, read from its rows."""
    out: dict[str, str | None] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) > 4 and ACCOUNT.fullmatch(cells[1]):
            out[cells[1]] = None if cells[3] == "—" else cells[3]
    return out


@pytest.mark.slow  # shares the ~30 s five-year fixture
def test_five_years_at_100k_conserve_capital_to_the_cent(five_years: dict[str, tuple[int, str, str]]) -> None:
    """conservation.ok, and the sum of final equity equals initial + P&L − taxes withheld (Decimal)."""
    code, stdout, stderr = five_years["100K"]
    result = json.loads(stdout)
    final_sum, expected, ok = _conservation(result)
    assert (0, "", True, expected, Decimal(result["conservation"]["final_equity_sum"])) == (
        code, stderr, ok, final_sum, final_sum)


@pytest.mark.slow  # shares the ~30 s five-year fixture
def test_five_years_at_100k_give_byte_identical_output_twice(
        five_years: dict[str, tuple[int, str, str]]) -> None:
    """Two processes with different hash seeds print the same JSON, byte for byte."""
    first, again = five_years["100K"], five_years["100K again"]
    assert (0, first[1]) == (again[0], again[1])


@pytest.mark.slow  # shares the ~30 s five-year fixture
def test_five_years_at_100k_echo_the_params_and_split_the_capital_40_30_30(
        five_years: dict[str, tuple[int, str, str]]) -> None:
    """The params echo the range; the three initial accounts split 40/30/30 of the capital."""
    result = json.loads(five_years["100K"][1])
    roots = {a["type"]: a["initial_capital"] for a in result["accounts"] if a["parent"] is None}
    assert ({"from": "2021-01-04", "to": "2025-12-31", "capital": 100000.0, "bars": "daily",
             "approve": "all", "policies": "bundled"},
            {"GEN-ACC": 40000.0, "REV-ACC": 30000.0, "COM-ACC": 30000.0}) == (result["params"], roots)


@pytest.mark.slow  # shares the ~30 s five-year fixture
def test_five_years_at_10m_fork_into_accounts_listed_under_their_parent(
        five_years: dict[str, tuple[int, str, str]]) -> None:
    """Forks happen; every fork's accounts are in `accounts` with that fork's parent and unit."""
    code, stdout, _ = five_years["10M"]
    result = json.loads(stdout)
    accounts = {a["id"]: a for a in result["accounts"]}
    wanted = [(acc, f["parent"]) for f in result["forks"] for acc in f["accounts"]]
    got = [(acc, accounts[acc]["parent"] if acc in accounts else "missing") for acc, _ in wanted]
    assert (0, True, wanted) == (code, len(result["forks"]) > 0, got)


@pytest.mark.slow  # shares the ~30 s five-year fixture
def test_five_years_at_10m_withhold_the_forks_taxes_and_conserve_capital(
        five_years: dict[str, tuple[int, str, str]]) -> None:
    """Taxes withheld = the sum over forks; the capital identity holds with forks and merges."""
    result = json.loads(five_years["10M"][1])
    final_sum, expected, ok = _conservation(result)
    fork_taxes = sum((Decimal(f["tax_withheld"]) for f in result["forks"]), Decimal(0))
    assert (True, expected, fork_taxes, fork_taxes) == (
        ok, final_sum, Decimal(result["conservation"]["taxes_withheld"]),
        Decimal(result["taxes"]["withheld"]))


def _unit_check(result: dict[str, Any]) -> dict[str, tuple[bool, ...]]:
    """Per account, what must hold whatever the figures: a win rate within [0, 1], no more closed
    positions than opened, a drawdown within [0, 100], a TWR exactly where there is a drawdown."""
    return {a["id"]: (a["win_rate"] is None or 0 <= a["win_rate"] <= 1,
                      a["closed_positions"] <= a["trades"],
                      a["max_drawdown_pct"] is None or 0 <= a["max_drawdown_pct"] <= 100,
                      (a["twr_pct"] is None) == (a["max_drawdown_pct"] is None))
            for a in result["accounts"]}


@pytest.mark.slow  # shares the ~30 s five-year fixture
@pytest.mark.parametrize("run", ["100K", "10M"])
def test_five_years_give_every_account_consistent_performance_figures(
        five_years: dict[str, tuple[int, str, str]], run: str) -> None:
    """Per-account TWR, drawdown, trades and win rate hold together; the top-level trades are the
    accounts' positions opened, and fills are at least as many."""
    result = json.loads(five_years[run][1])
    checks = _unit_check(result)
    assert ({a: (True,) * 4 for a in checks}, sum(a["trades"] for a in result["accounts"]), True) == (
        checks, result["trades"], result["fills"] >= result["trades"] > 0)


@pytest.mark.slow  # shares the ~30 s five-year fixture
def test_five_years_at_10m_gen_acc_001_twr_counts_the_money_forked_away_as_flows(
        five_years: dict[str, tuple[int, str, str]]) -> None:
    """GEN-ACC-001 forks at 10M: its net flows are minus what the forks moved out (amounts and tax
    withheld), and its TWR is not its return on initial capital (which counts them as a loss)."""
    result = json.loads(five_years["10M"][1])
    gen = next(a for a in result["accounts"] if a["id"] == "GEN-ACC-001")
    moved = sum(Decimal(f["amount"]) + Decimal(f["tax_withheld"]) for f in result["forks"]
                if f["parent"] == "GEN-ACC-001")
    merged_in = sum(Decimal(m["amount"]) for m in result["merges"] if m["into"] == "GEN-ACC-001")
    assert (-(moved - merged_in), True) == (
        Decimal(str(gen["net_flows"])), abs(gen["twr_pct"] - gen["return_pct"]) > 5)


def _buy_and_hold(symbols: list[str], start: str, end: str) -> tuple[float, float]:
    """(return, max drawdown) in % of equal dollars bought at the first open and held to the last
    close, from the bundled adjusted bars: computed here from the raw rows."""
    bars = {s: [b for b in marketdata.load_daily(s) if start <= b.date.isoformat() <= end]
            for s in symbols}
    first = {s: bars[s][0].open for s in symbols}
    days = sorted({b.date for s in symbols for b in bars[s]})
    close = {s: {b.date: b.close for b in bars[s]} for s in symbols}
    last = dict(first)
    peak, worst, value = 1.0, 0.0, 1.0
    for d in days:
        for s in symbols:
            last[s] = close[s].get(d, last[s])
        value = sum(last[s] / first[s] for s in symbols) / len(symbols)
        peak = max(peak, value)
        worst = max(worst, 1 - value / peak)
    return round((value - 1) * 100, 2), round(worst * 100, 2)


@pytest.mark.slow  # shares the ~30 s five-year fixture
def test_five_years_show_spy_and_mag6_buy_and_hold_over_the_same_window(
        five_years: dict[str, tuple[int, str, str]]) -> None:
    """benchmarks: SPY and the data.yaml Mag-6 in equal dollars, bought at the first open of the
    window and held to its last close, return and max drawdown computed here from the bars."""
    result = json.loads(five_years["100K"][1])
    mag6 = load_policy_dir(default_policy_dir()).data.mag6
    expected = {"SPY": _buy_and_hold(["SPY"], "2021-01-04", "2025-12-31"),
                "MAG6": _buy_and_hold(list(mag6), "2021-01-04", "2025-12-31")}
    got = {k: (b["return_pct"], b["max_drawdown_pct"]) for k, b in result["benchmarks"].items()}
    assert expected == got


@pytest.mark.slow  # shares the ~30 s five-year fixture
def test_the_text_summary_shows_twr_benchmarks_and_why_an_account_stayed_flat(
        five_years: dict[str, tuple[int, str, str]]) -> None:
    """The text summary of the 10M result: a TWR column, both benchmarks, and a line per account
    that opened no position naming its most frequent failed entry check."""
    result = json.loads(five_years["10M"][1])
    console = Console(file=io.StringIO(), width=140, highlight=False)
    print_summary(console, result, 0.0)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    flat = [a["id"] for a in result["accounts"] if not a["trades"] and a["state"] != "merged"]
    said = [line.split(" ", 1)[0] for line in text.splitlines() if "opened no position" in line]
    top = {a: result["entry_not_fired"][a][0]["rule"] for a in flat}
    assert (True, True, True, flat, True) == (
        "TWR p.a." in text, "SPY buy-and-hold" in text, "Mag-6 equal-weight buy-and-hold" in text, said,
        all(top[a] in next(line for line in text.splitlines() if line.startswith(a + " opened"))
            for a in flat))


@pytest.mark.slow  # shares the ~30 s five-year fixture
def test_the_text_account_tree_draws_forked_accounts_under_their_parent(
        five_years: dict[str, tuple[int, str, str]]) -> None:
    """The text summary of the 10M result indents each child under its parent in the tree."""
    result = json.loads(five_years["10M"][1])
    console = Console(file=io.StringIO(), width=140, highlight=False)
    print_summary(console, result, 0.0)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert {a["id"]: a["parent"] for a in result["accounts"]} == _tree_parents(text)


def test_text_output_shows_the_same_parents_in_the_table_and_the_tree() -> None:
    """A year at 10M in text: forked children appear indented under the parent the table names."""
    result = runner.invoke(app, ["replay", "--from", "2021-01-04", "--to", "2021-12-31",
                                 "--capital", "10000000", "--db", "none"])
    table, tree = _table_parents(result.stdout), _tree_parents(result.stdout)
    assert (0, table, True) == (result.exit_code, tree, any(p is not None for p in tree.values()))


def test_text_output_ends_with_the_capital_check_and_the_data_note() -> None:
    """The summary names the range and capital, and says the capital check is ok."""
    result = runner.invoke(app, ["replay", "--from", "2021-03-01", "--to", "2021-03-31", "--db", "none"])
    lines = result.stdout.splitlines()
    assert (0, True, True, True) == (
        result.exit_code, lines[0].startswith("Replay 2021-03-01 → 2021-03-31, capital 100,000, daily bars"),
        any(line.startswith("Capital check: ") and line.endswith(": ok") for line in lines),
        lines[-1].startswith("data: ") or lines[-2].startswith("data: "))


def test_one_minute_replay_uses_the_bundled_window_and_conserves_capital() -> None:
    """--bars 1min: the default window, conservation holds, and the notes say 1-minute bars were used."""
    result = runner.invoke(app, ["replay", "--bars", "1min", "--db", "none", "--format", "json"])
    out = json.loads(result.stdout)
    final_sum, expected, ok = _conservation(out)
    assert (0, "1min", ("2022-03-14", "2022-04-18"), True, expected, True) == (
        result.exit_code, out["data"]["bars"], (out["params"]["from"], out["params"]["to"]), ok,
        final_sum, any("1-minute close" in note for note in out["data"]["notes"]))


def test_one_minute_and_daily_bars_differ_over_the_same_days() -> None:
    """The 1-minute replay is not the daily one under another name: its notes and params differ."""
    args = ["replay", "--from", "2022-03-14", "--to", "2022-04-14", "--db", "none", "--format", "json"]
    minute = json.loads(runner.invoke(app, [*args, "--bars", "1min"]).stdout)
    daily = json.loads(runner.invoke(app, [*args, "--bars", "daily"]).stdout)
    assert (False, True) == (minute["data"]["notes"] == daily["data"]["notes"],
                             minute["run_id"] != daily["run_id"])


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "2021-13-01"], "error: --from: '2021-13-01' is not a date (YYYY-MM-DD)\n"),
    (["--to", "yesterday"], "error: --to: 'yesterday' is not a date (YYYY-MM-DD)\n"),
    (["--from", "2022-01-05", "--to", "2022-01-04"], "error: --from 2022-01-05 is after --to 2022-01-04\n"),
    (["--from", "2019-01-02", "--to", "2019-02-01"],
     "error: the bundled daily bars cover 2021-01-04 to 2026-03-25; got --from 2019-01-02 --to 2019-02-01\n"),
    (["--from", "2021-01-04", "--to", "2026-12-31"],
     "error: the bundled daily bars cover 2021-01-04 to 2026-03-25; got --from 2021-01-04 --to 2026-12-31\n"),
    (["--from", "2021-01-04", "--to", "2021-01-08", "--capital", "5"],
     "error: --capital: 5.00 is outside 10,000-10,000,000 (accounts.yaml capital)\n"),
])
def test_bad_arguments_exit_2_with_a_one_line_message(args: list[str], message: str) -> None:
    """Usage errors: exit 2, the flag and the value named on stderr, nothing on stdout."""
    result = runner.invoke(app, ["replay", "--db", "none", *args])
    assert (2, message, "") == (result.exit_code, result.stderr, result.stdout)


def test_a_broken_policy_directory_exits_1_with_file_line_and_column(tmp_path: Path) -> None:
    """A policy error stops the replay before it starts and names file:line:col."""
    policies = tmp_path / "policies"
    shutil.copytree(default_policy_dir(), policies,
                    ignore=shutil.ignore_patterns("__init__.py", "__pycache__"))
    risk = policies / "risk.yaml"
    lines = risk.read_text().splitlines(keepends=True)
    row = next(i for i, line in enumerate(lines) if line.strip().startswith("max_pct_of_account:"))
    col = lines[row].index(":") + 3  # 1-based column of the value after "key: "
    lines[row] = lines[row].split(":")[0] + ": five\n"
    risk.write_text("".join(lines))
    result = runner.invoke(app, ["replay", "--from", "2021-01-04", "--to", "2021-01-08", "--db", "none",
                                 "--policies", str(policies)])
    first = (result.stdout + result.stderr).splitlines()[0]
    assert (1, f"{risk}:{row + 1}:{col}:", True) == (
        result.exit_code, first.split(" ")[0], "'five'" in first)


def test_a_db_in_a_missing_directory_exits_1_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    """--db sqlite:///<missing dir>/a.db: exit 1, one 'error:' line naming the directory."""
    missing = tmp_path / "no-such-dir"
    result = subprocess.run([*CLI, "--from", "2021-01-04", "--to", "2021-01-08",
                             "--db", f"sqlite:///{missing / 'a.db'}"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert (1, [f"error: cannot open sqlite:///{missing / 'a.db'}: directory {missing} does not exist"],
            "") == (result.returncode, result.stderr.splitlines(), result.stdout)


def test_report_writes_index_html_and_says_where(tmp_path: Path) -> None:
    """--report DIR writes DIR/index.html; text output ends with 'report: <path>'."""
    pytest.importorskip("alluse.adapters.report", reason="adapters/report.py (write_report) is not there yet")
    target = tmp_path / "report"
    result = runner.invoke(app, ["replay", "--from", "2021-03-01", "--to", "2021-03-31", "--db", "none",
                                 "--report", str(target)])
    page = (target / "index.html").read_text(encoding="utf-8")
    assert (0, f"report: {target / 'index.html'}", True) == (
        result.exit_code, result.stdout.splitlines()[-1], page.lstrip().lower().startswith("<!doctype html"))


def test_report_with_json_output_keeps_stdout_pure_json(tmp_path: Path) -> None:
    """--format json --report: stdout parses as JSON, the report line goes to stderr."""
    pytest.importorskip("alluse.adapters.report", reason="adapters/report.py (write_report) is not there yet")
    target = tmp_path / "r"
    result = runner.invoke(app, ["replay", "--from", "2021-03-01", "--to", "2021-03-31", "--db", "none",
                                 "--format", "json", "--report", str(target)])
    assert (0, "2021-03-31", f"report: {target / 'index.html'}\n", True) == (
        result.exit_code, json.loads(result.stdout)["params"]["to"], result.stderr,
        (target / "index.html").is_file())


def test_a_report_path_that_is_a_file_exits_2_before_replaying(tmp_path: Path) -> None:
    """--report naming an existing file: a usage error up front, no summary printed."""
    target = tmp_path / "taken"
    target.write_text("not a directory")
    result = runner.invoke(app, ["replay", "--from", "2021-03-01", "--to", "2021-03-05", "--db", "none",
                                 "--report", str(target)])
    assert (2, f"error: --report: {target} exists and is not a directory\n", "") == (
        result.exit_code, result.stderr, result.stdout)


def test_a_report_that_cannot_be_written_exits_1_after_the_summary(tmp_path: Path) -> None:
    """--report under a file: the JSON summary is still printed, then one error line, exit 1."""
    pytest.importorskip("alluse.adapters.report", reason="adapters/report.py (write_report) is not there yet")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    target = blocker / "report"
    result = runner.invoke(app, ["replay", "--from", "2021-03-01", "--to", "2021-03-05", "--db", "none",
                                 "--format", "json", "--report", str(target)])
    assert (1, "2021-03-05", f"error: --report: cannot write {target / 'index.html'}: Not a directory\n") == (
        result.exit_code, json.loads(result.stdout)["params"]["to"], result.stderr)


def _file_size_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:  # in the child: writes past ``limit`` bytes fail with EFBIG (no signal)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_report_write_that_fails_midway_keeps_the_previous_report(tmp_path: Path) -> None:
    """The disk fills (a 16 KiB file-size limit) halfway through the page: exit 1 with one error
    line after the summary, and the previous index.html is still there, byte for byte."""
    target = tmp_path / "report"
    target.mkdir()
    previous = b"<!DOCTYPE html><title>the previous good report</title>\n"
    (target / "index.html").write_bytes(previous)
    done = subprocess.run([*CLI, "--from", "2021-03-01", "--to", "2021-03-05", "--db", "none",
                           "--format", "json", "--report", str(target)], capture_output=True, text=True,
                          timeout=120, check=False, preexec_fn=_file_size_limit(16 * 1024))
    assert (1, "2021-03-05", f"error: --report: cannot write {target / 'index.html'}: File too large\n",
            previous, ["index.html"]) == (
        done.returncode, json.loads(done.stdout)["params"]["to"], done.stderr,
        (target / "index.html").read_bytes(), sorted(p.name for p in target.iterdir()))

