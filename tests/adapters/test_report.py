"""The replay report page: files, charts, tables, escaping, determinism and thin results."""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import json
import os
import re
import subprocess
import sys
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from alluse.adapters.report import render_report, write_report
from alluse.adapters.report_charts import date_ticks, nice_ticks
from alluse.adapters.report_returns import spread_labels
from alluse.engine.errors import DataError

SAMPLE = Path(__file__).parents[1] / "fixtures" / "report" / "sample_result.json"
CHART_IDS = ("chart-twr", "chart-units", "chart-tree", "chart-protocol", "chart-premium")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Page(HTMLParser):
    """Parses a page: checks tags balance, collects tables (cell texts) and each chart's elements."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tables: dict[str, list[list[str]]] = {}  # section id -> body rows of its tables
        self.charts: dict[str, Counter[str]] = {}
        self.chart_titles: dict[str, str] = {}
        self.attrs_of: dict[str, dict[str, str | None]] = {}
        self.sections: list[str] = []
        self._section = ""
        self._chart = ""
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._title: list[str] | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in VOID:
            return
        self.stack.append(tag)
        if tag == "section":
            self._section = a.get("id") or ""
            self.sections.append(self._section)
        if tag == "svg" and a.get("id"):
            self._chart = a["id"] or ""
            self.charts[self._chart] = Counter()
            self.attrs_of[self._chart] = a
        elif self._chart:
            self.charts[self._chart][tag + ("." + a["class"] if a.get("class") else "")] += 1
        if tag == "title" and self._chart and self._chart not in self.chart_titles:
            self._title = []
        if tag == "tr" and self.stack.count("tbody"):
            self._row = []
        if tag == "td" and self._row is not None:
            self._cell = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._chart:
            a = dict(attrs)
            self.charts[self._chart][tag + ("." + a["class"] if a.get("class") else "")] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else 'nothing'}>")
            return
        self.stack.pop()
        if tag == "svg":
            self._chart = ""
        if tag == "title" and self._title is not None:
            self.chart_titles[self._chart] = "".join(self._title)
            self._title = None
        if tag == "td" and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        if tag == "tr" and self._row is not None:
            self.tables.setdefault(self._section, []).append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        for part in (self._cell, self._title):
            if part is not None:
                part.append(data)


@pytest.fixture
def sample() -> dict[str, Any]:
    return json.loads(SAMPLE.read_text(encoding="utf-8"))


def minimal(**changes: Any) -> dict[str, Any]:
    """One account, one day, no forks, merges, protocol changes or premium."""
    result: dict[str, Any] = {
        "params": {"from": "2024-03-01", "to": "2024-03-01", "capital": 40000, "bars": "daily",
                   "policies": "bundled", "approve": "all"},
        "policy_hash": "ab" * 32,
        "accounts": [{"id": "GEN-ACC-001", "type": "GEN-ACC", "parent": None, "unit": "U001",
                      "initial_capital": 40000.0, "final_equity": 40000.0, "return_pct": 0.0,
                      "max_drawdown_pct": 0.0, "trades": 0, "win_rate": 0.0, "state": "active",
                      "created": "2024-03-01"}],
        "forks": [], "merges": [],
        "equity": {"dates": ["2024-03-01"], "series": {"GEN-ACC-001": [40000.0]}},
        "twr": {"dates": ["2024-03-01"], "series": {"GEN-ACC-001": [1.0]}, "benchmarks": {}},
        "protocol_levels": [], "escalations": {}, "alerts": {}, "premium_weekly": [],
        "taxes": {"withheld": "0.00", "accrued_by_year": {}}, "trades": 0, "total_pnl": 0.0,
        "policy_summary": {"strategies": []}, "data": {"bars": "daily", "notes": [], "repairs": []},
        "conservation": {"initial_capital": "40000.00", "total_pnl": "0.00", "taxes_withheld": "0.00",
                         "final_equity_sum": "40000.00", "ok": True},
    }
    result.update(changes)
    return result


def test_write_report_creates_the_directory_and_returns_index_html(
        sample: dict[str, Any], tmp_path: Path) -> None:
    """write_report makes missing directories and writes index.html there."""
    target = tmp_path / "runs" / "2024" / "report"
    path = write_report(sample, target)
    assert target / "index.html" == path
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_sample_page_has_every_section_and_balanced_tags(sample: dict[str, Any]) -> None:
    """The page parses with every tag closed in order, and has the report's sections in order."""
    page = Page(render_report(sample))
    assert ([], []) == (page.errors, page.stack)
    expected = ["accounts", "returns", "entries", "tree", "protocol", "premium", "forks", "risk", "taxes",
                "data", "conservation"]
    assert expected == page.sections


def test_each_chart_has_its_id_title_aria_label_and_plotted_elements(sample: dict[str, Any]) -> None:
    """Equity lines, tree lanes, protocol points and premium bars are all drawn for the sample."""
    page = Page(render_report(sample))
    assert list(CHART_IDS) == list(page.charts)
    assert {c: page.attrs_of[c]["aria-label"] for c in CHART_IDS} == {
        c: page.chart_titles[c] for c in CHART_IDS}
    kinds = ("path.series", "path.series bench", "rect.life", "rect.span", "rect.bar")
    drawn = {c: {k: page.charts[c][k] for k in kinds if page.charts[c][k]} for c in CHART_IDS}
    weeks = len(sample["premium_weekly"])
    positions: dict[str, list[dict[str, Any]]] = {}
    for c in sample["protocol_levels"]:
        positions.setdefault(c["position"], []).append(c)
    spans = sum(c["to"] != "L0" for changes in positions.values() for c in changes)  # time at L1-L3
    assert {"chart-twr": {"path.series": 3, "path.series bench": 2}, "chart-units": {"path.series": 4},
            "chart-tree": {"rect.life": 7}, "chart-protocol": {"rect.span": spans},
            "chart-premium": {"rect.bar": weeks}} == drawn


def test_tree_chart_draws_a_link_per_fork_and_merge(sample: dict[str, Any]) -> None:
    """Two forks (hollow dot on the parent lane) and one merge (diamond on COM-ACC-001)."""
    tree = Page(render_report(sample)).charts["chart-tree"]
    assert (3, 2, 2, 4) == (tree["line.link"] + tree["line.link merge"], tree["circle.fork-dot"] - 1,
                            tree["path.merge-dot"], tree["circle.child-dot"])


def test_accounts_table_shows_the_sample_figures(sample: dict[str, Any]) -> None:
    """Each account's row: parent, dates, whole-dollar amounts, net flows, time-weighted return
    (total and a year), drawdown on that index, positions opened and the win rate of n closed;
    then the totals and the two benchmarks."""
    rows = Page(render_report(sample)).tables["accounts"]
    assert [a["id"] for a in sample["accounts"]] + ["All accounts", "SPY buy-and-hold",
                                                    "Mag-6 buy-and-hold"] == [r[0] for r in rows]
    gen = next(a for a in sample["accounts"] if a["id"] == "GEN-ACC-001")
    assert ["GEN-ACC-001", "—", "2022-01-03", "active", "40,000", f"{gen['net_flows']:+,.0f}", "90,123",
            f"{gen['twr_pct']:+,.2f}%", f"{gen['twr_annualised_pct']:+,.2f}%",
            f"{gen['max_drawdown_pct']:.2f}%",
            "358", f"{gen['win_rate'] * 100:.1f}% of 357"] == rows[1]
    assert ["GEN-ACC-003", "GEN-ACC-001", "2024-01-30", "forked", "25,058", "—", "51,069", "+103.80%", "—",
            "12.23%", "101", "65.3% of 101"] == rows[6]
    assert ["All accounts", "", "", "", "100,000", "", "381,844", "", "", "", "1,506", ""] == rows[7]
    spy = sample["benchmarks"]["SPY"]
    assert ["SPY buy-and-hold", "—", "2022-01-03", "benchmark", "", "", "", f"{spy['return_pct']:+,.2f}%",
            f"{spy['annualised_pct']:+,.2f}%", f"{spy['max_drawdown_pct']:.2f}%", "", ""] == rows[8]


def test_forks_merges_and_risk_tables_show_the_sample_events(sample: dict[str, Any]) -> None:
    """Forks and merges in date order; escalations by level; alerts raised, none delivered by a replay."""
    page = Page(render_report(sample))
    assert [["2022-12-08", "fork", "U002", "GEN-ACC-001", "GEN-ACC-002, COM-ACC-002", "—", "50,873.34",
             "29,878.00"],
            ["2024-01-02", "merge", "U002", "—", "GEN-ACC-002, COM-ACC-002", "COM-ACC-001", "90,381.42", "—"],
            ["2024-01-30", "fork", "U003", "GEN-ACC-001", "GEN-ACC-003, COM-ACC-003", "—", "50,115.23",
             "29,432.76"]] == page.tables["forks"]
    replay = "not delivered (replay)"
    assert [["L1", "46"], ["L2", "18"], ["L3", "4"],
            ["ACCOUNT_MANAGEMENT", "3", "0", "3", replay], ["PROTOCOL_BREACH", "68", "3", "65", replay],
            ["SYSTEM_STATUS", "36", "0", "36", replay], ["TECHNICAL_ALERT", "4", "1", "3", replay],
            ["TRADE_OPPORTUNITY", "468", "21", "447", replay]] == page.tables["risk"]
    assert [["2022", "23,793.08"], ["2023", "18,051.38"], ["2024", "12,715.13"]] == page.tables["taxes"]


def test_alerts_a_notifier_delivered_are_counted_as_delivered() -> None:
    """A result that says how many alerts were delivered shows the number, not the replay note."""
    result = minimal(alerts={"PROTOCOL_BREACH": {"total": 5, "suppressed": 1, "delivered": 3}})
    assert [["PROTOCOL_BREACH", "5", "1", "4", "3"]] == Page(render_report(result)).tables["risk"]


def test_header_notes_and_conservation_show_the_sample_values(sample: dict[str, Any]) -> None:
    """Parameters, the first 12 characters of the policy hash, notes, repairs and the balance line."""
    page = render_report(sample)
    for text in ("2022-01-03 → 2024-12-31", "100,000.00", ">9f2c4e7a1b3d<", "341,155.19", ">1,506<",
                 "3,049 fills",
                 "SPY 1min: dropped 898 duplicate timestamps", "bar&#x27;s adverse extreme",
                 "initial capital 100,000.00 + total P&amp;L 341,155.19 − taxes withheld 59,310.76 = "
                 "accounts' final equity 381,844.43", "✓ balanced"):
        assert (text, True) == (text, text in page)


def test_conservation_that_does_not_balance_shows_the_difference() -> None:
    """A failed check is shown with the gap between the sum and initial + P&L − taxes."""
    result = minimal(conservation={"initial_capital": "40000.00", "total_pnl": "120.00",
                                   "taxes_withheld": "0.00", "final_equity_sum": "40100.00", "ok": False})
    assert "✗ does not balance (difference -20.00)" in render_report(result)


def test_text_from_the_result_is_escaped(sample: dict[str, Any]) -> None:
    """An account id, a note and a repair holding markup appear as text, never as tags."""
    evil = '<script>alert("x")</script>'
    sample["accounts"][0]["id"] = evil
    sample["equity"]["series"][evil] = sample["equity"]["series"].pop("COM-ACC-001")
    sample["merges"][0]["into"] = evil
    sample["data"]["notes"].append(f"note {evil}")
    sample["data"]["repairs"].append(f"<img src=x onerror=alert(1)> {evil}")
    sample["params"]["policies"] = evil
    page = render_report(sample)
    assert (None, None) == (re.search(r"<script", page, re.I), re.search(r"<img", page, re.I))
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert ([], []) == (Page(page).errors, Page(page).stack)


def test_page_loads_nothing_from_outside() -> None:
    """No scripts, external references or URLs: the only URL is the SVG namespace."""
    page = render_report(json.loads(SAMPLE.read_text(encoding="utf-8")))
    urls = set(re.findall(r"https?://[^\s\"')]+", page))
    outside = re.search(r"<script|src=|@import|url\(|<link", page)
    assert ({"http://www.w3.org/2000/svg"}, None) == (urls, outside)
    assert "default-src 'none'" in page


def test_same_result_gives_the_same_bytes(sample: dict[str, Any], tmp_path: Path) -> None:
    """Two renders of the same result (one from a copy) write identical files."""
    first = write_report(sample, tmp_path / "a").read_bytes()
    second = write_report(copy.deepcopy(sample), tmp_path / "b").read_bytes()
    assert first == second


def test_one_day_without_forks_renders_every_chart(tmp_path: Path) -> None:
    """A one-day, one-account result: a dot for the index and empty-state messages elsewhere."""
    page = Page(write_report(minimal(), tmp_path).read_text(encoding="utf-8"))
    assert ([], [], list(CHART_IDS)) == (page.errors, page.stack, list(page.charts))
    assert (1, 1, 0) == (page.charts["chart-twr"]["circle"], page.charts["chart-tree"]["rect.life"],
                         page.charts["chart-protocol"]["rect.span"])
    assert [] == page.tables.get("forks", [])


def test_empty_result_renders_with_a_message_in_each_chart() -> None:
    """No accounts, dates or events: the page still renders, each chart saying what is missing."""
    result = minimal(accounts=[], equity={"dates": [], "series": {}}, twr={}, params={})
    page = render_report(result)
    for text in ("No time-weighted series in this result.", "No forked accounts in this replay.",
                 "No accounts in this result.", "No protocol-level changes in this replay.",
                 "No premium captured in this replay."):
        assert (text, True) == (text, text in page)
    assert ([], []) == (Page(page).errors, Page(page).stack)


def test_an_index_with_gaps_draws_only_where_it_has_values() -> None:
    """None values break the line: a run of two values is a path, a lone value a dot."""
    dates = ["2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07", "2024-03-08", "2024-03-11"]
    twr = {"dates": dates, "series": {"GEN-ACC-001": [None, 1.0, 1.1, None, 1.2, None]}}
    page = render_report(minimal(twr=twr))
    paths = re.findall(r'<path class="series" d="([^"]+)" stroke="[^"]+"><title>([^<]+)</title>', page)
    assert [("GEN-ACC-001", 1, 1)] == [(name, d.count("M"), d.count("L")) for d, name in paths]
    assert 1 == len(re.findall(r"<circle [^>]*><title>GEN-ACC-001</title>", page))


def _forked(**changes: Any) -> dict[str, Any]:
    """GEN-ACC-001 forks GEN-ACC-002 on day 2, which merges into it on day 4; SPY alongside."""
    dates = ["2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07", "2024-03-08"]
    child = {"id": "GEN-ACC-002", "type": "GEN-ACC", "parent": "GEN-ACC-001", "unit": "U002",
             "initial_capital": 100.0, "final_equity": 0.0, "return_pct": None, "max_drawdown_pct": 0.0,
             "trades": 1, "win_rate": 1.0, "state": "merged", "created": "2024-03-05"}
    result = minimal(
        params={"from": dates[0], "to": dates[-1], "capital": 40000},
        accounts=[*minimal()["accounts"], child],
        forks=[{"date": dates[1], "parent": "GEN-ACC-001", "unit": "U002", "accounts": ["GEN-ACC-002"],
                "amount": "100.00", "tax_withheld": "20.00"}],
        merges=[{"date": dates[3], "unit": "U002", "accounts": ["GEN-ACC-002"], "into": "GEN-ACC-001",
                 "amount": "120.00"}],
        twr={"dates": dates, "series": {"GEN-ACC-001": [1.0, 1.01, 1.02, 1.03, 1.04],
                                        "GEN-ACC-002": [None, 1.0, 1.1, 1.2, None]},
             "benchmarks": {"SPY": [1.0, 1.01, 1.02, 1.025, 1.03]}},
        benchmarks={"SPY": {"name": "SPY", "label": "SPY buy-and-hold", "return_pct": 3.0,
                            "annualised_pct": None, "max_drawdown_pct": 0.0, "from": dates[0]}})
    result.update(changes)
    return result


def test_forks_and_merges_are_marked_flows_on_the_index_lines() -> None:
    """The parent's line carries a ▼ where money left it and a ▲ where the merge brought it back;
    the child's strip starts with a ▲ (its funding) and ends at the merge (no line after it)."""
    page = render_report(_forked())
    flows = re.findall(r'<path class="flow" d="[^"]+" stroke="[^"]+"><title>([^<]+)</title>', page)
    assert ["2024-03-05: fork U002, GEN-ACC-001 moved out 100.00 + 20.00 tax withheld (a flow, not a loss)",
            "2024-03-07: merge of unit U002 into GEN-ACC-001, 120.00 moved in (a flow, not a gain)",
            "2024-03-05: GEN-ACC-002 funded by the fork"] == flows
    paths = dict((name, d) for d, name in re.findall(
        r'<path class="series[^"]*"[^>]*? d="([^"]+)"[^>]*><title>([^<]+)</title>', page))
    assert (4, 2, 4) == (paths["GEN-ACC-001"].count("L"), paths["GEN-ACC-002"].count("L"),
                         paths["SPY"].count("L"))


def test_end_labels_name_each_line_and_never_overlap_or_leave_the_chart(sample: dict[str, Any]) -> None:
    """Every line of the index charts ends in "<name> <return>%"; labels are ≥ 14 px apart and
    fit in the 1120 px wide drawing (7 px a character)."""
    page = render_report(sample)
    for chart in ("chart-twr", "chart-units"):
        body = page.split(f'<svg id="{chart}"', 1)[1].split("</svg>", 1)[0]
        labels = [(float(x), float(y), text) for x, y, text in re.findall(
            r'<text class="end-label" x="([\d.]+)" y="([\d.]+)" fill="[^"]+">([^<]+)</text>', body)]
        ys = sorted(y for _, y, _ in labels)
        assert (chart, True, True) == (
            chart, all(b - a >= 14 - 1e-6 for a, b in itertools.pairwise(ys)),
            all(x + 7 * len(text) <= 1120 for x, _, text in labels))
    names = {text.rsplit(" ", 1)[0] for text in re.findall(r'class="end-label"[^>]*>([^<]+)<', page)}
    assert {"COM-ACC-001", "GEN-ACC-001", "REV-ACC-001", "SPY", "Mag-6", "GEN-ACC-002", "COM-ACC-002",
            "GEN-ACC-003", "COM-ACC-003"} == names


def test_spread_labels_keeps_a_gap_and_stays_inside() -> None:
    """Three lines ending at one height get labels 14 px apart; a stack past the bottom moves up."""
    assert [100.0, 114.0, 128.0] == spread_labels([100.0, 100.0, 100.0], 0.0, 500.0)
    assert [72.0, 86.0, 100.0] == spread_labels([99.0, 100.0, 100.0], 0.0, 100.0)
    assert ([114.0, 100.0], [130.0, 100.0]) == (spread_labels([105.0, 100.0], 0.0, 500.0),
                                                spread_labels([130.0, 100.0], 0.0, 500.0))


def test_protocol_lanes_name_the_account_and_symbol_of_every_point(sample: dict[str, Any]) -> None:
    """One lane per account and symbol with a protocol change, labelled "<account> · <symbol>"."""
    page = render_report(sample)
    body = page.split('<svg id="chart-protocol"', 1)[1].split("</svg>", 1)[0]
    lanes = re.findall(r'<text class="lane-label small"[^>]*>([^<]+)<tspan class="unit"> · ([^<]+)</tspan>',
                       body)
    assert {(c["account"], c["symbol"]) for c in sample["protocol_levels"]} == set(lanes)
    assert len(lanes) == len(set(lanes))


def test_an_account_that_opened_no_position_says_which_entry_checks_stopped_it() -> None:
    """Entries section: the flat account first, its most frequent failed checks by rule id, and
    the last explanation in words."""
    account = {**minimal()["accounts"][0], "trades": 0, "win_rate": None}
    misses = {"GEN-ACC-001": [
        {"rule": "strategies/gen_acc#rules/premium_floor", "step": "", "count": 44,
         "last": "GEN-ACC-001 NVDA: premium_pct 0.7486 < min_premium_pct 1.5"},
        {"rule": "strategies/gen_acc#entry", "step": "data", "count": 2, "last": "GEN-ACC-001 TSLA: …"}]}
    rows = Page(render_report(minimal(accounts=[account], entry_not_fired=misses))).tables["entries"]
    assert [["GEN-ACC-001", "0", "opened no position strategies/gen_acc#rules/premium_floor ×44, "
             "strategies/gen_acc#entry (data) ×2last time: GEN-ACC-001 NVDA: premium_pct 0.7486 < "
             "min_premium_pct 1.5"]] == rows


def test_a_write_that_fails_midway_leaves_the_previous_report_intact(
        sample: dict[str, Any], tmp_path: Path) -> None:
    """A real failure in the middle of the write (a file-size limit: EFBIG after 64 KiB of a larger
    page) raises, keeps the previous index.html byte for byte, and leaves no temporary file."""
    target = tmp_path / "report"
    previous = write_report(minimal(), target).read_bytes()
    data = tmp_path / "result.json"
    data.write_text(json.dumps(sample), encoding="utf-8")
    code = ("import json, resource, signal, sys, pathlib\n"
            "from alluse.adapters.report import write_report\n"
            "result = json.loads(pathlib.Path(sys.argv[1]).read_text())\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))\n"
            "write_report(result, pathlib.Path(sys.argv[2]))\n")
    done = subprocess.run([sys.executable, "-c", code, str(data), str(target)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert (1, True, previous, ["index.html"]) == (
        done.returncode, "File too large" in done.stderr, (target / "index.html").read_bytes(),
        sorted(p.name for p in target.iterdir()))


def test_a_rename_that_fails_leaves_the_previous_report_and_no_temporary_file(
        sample: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The last step (rename over index.html) failing keeps the old page; the new one is removed."""
    target = tmp_path / "report"
    previous = write_report(minimal(), target).read_bytes()

    def refuse(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="No space left"):
        write_report(sample, target)
    assert (previous, ["index.html"]) == ((target / "index.html").read_bytes(),
                                          sorted(p.name for p in target.iterdir()))


@pytest.mark.parametrize(("change", "message"), [
    (lambda r: r["accounts"][0].update(final_equity="lots"),
     "replay result: accounts[0].final_equity: expected a number, got 'lots'"),
    (lambda r: r["equity"]["dates"].__setitem__(0, "2024-02-30"),
     "replay result: equity.dates[0]: expected a date YYYY-MM-DD, got '2024-02-30'"),
    (lambda r: r.update(premium_weekly=[{"week": "2024-W60", "premium": 1.0}]),
     "replay result: premium_weekly[0].week: expected an ISO week YYYY-Www, got '2024-W60'"),
    (lambda r: r.update(protocol_levels=[{"date": "2024-03-01", "from": "L0", "to": "high"}]),
     "replay result: protocol_levels[0].to: expected a protocol level such as L2, got 'high'"),
    (lambda r: r["equity"]["series"].update({"GEN-ACC-001": [True]}),
     "replay result: equity.series.GEN-ACC-001[0]: expected a number, got True"),
    (lambda r: r.update(forks="none"), "replay result: forks: expected a list, got 'none'"),
    (lambda r: r.update(twr={"dates": ["2024-03-01"], "series": {"GEN-ACC-001": ["x"]}}),
     "replay result: twr.series.GEN-ACC-001[0]: expected a number, got 'x'"),
    (lambda r: r.update(benchmarks={"SPY": {"return_pct": "lots"}}),
     "replay result: benchmarks.SPY.return_pct: expected a number, got 'lots'"),
])
def test_bad_value_error_names_the_field_and_value(change: Any, message: str) -> None:
    """A malformed result raises DataError naming the field and the value, not a traceback."""
    result = minimal()
    change(result)
    with pytest.raises(DataError) as caught:
        render_report(result)
    assert message == str(caught.value)


def test_nice_ticks_cover_the_range_with_round_steps() -> None:
    """Ticks are 1/2/2.5/5 × 10^k steps from below the minimum to above the maximum."""
    assert [0, 50000, 100000, 150000] == nice_ticks(0, 146578.12)
    assert [0, 0.2, 0.4, 0.6, 0.8, 1.0] == nice_ticks(0, 1)
    assert [-250, 0, 250, 500, 750, 1000] == nice_ticks(-120, 910)
    assert [38000, 39000, 40000, 41000, 42000] == nice_ticks(40000, 40000)


def test_date_ticks_pick_quarters_months_or_weeks_by_span() -> None:
    """Three years: year and quarter marks; three months: month marks; two weeks: Mondays."""
    three_years = date_ticks(dt.date(2022, 1, 3), dt.date(2024, 12, 31))
    assert ["Apr", "Jul", "Oct", "2023"] == [label for _, label, _ in three_years[:4]]
    months = date_ticks(dt.date(2024, 3, 15), dt.date(2024, 6, 20))
    weeks = date_ticks(dt.date(2024, 3, 1), dt.date(2024, 3, 14))
    assert ["Apr", "May", "Jun"] == [label for _, label, _ in months]
    assert ["Mar 04", "Mar 11"] == [label for _, label, _ in weeks]
