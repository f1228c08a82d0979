"""The replay report page: files, charts, tables, escaping, determinism and thin results."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from alluse.adapters.report import render_report, write_report
from alluse.adapters.report_charts import date_ticks, nice_ticks
from alluse.engine.errors import DataError

SAMPLE = Path(__file__).parents[1] / "fixtures" / "report" / "sample_result.json"
CHART_IDS = ("chart-equity", "chart-tree", "chart-protocol", "chart-premium")
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
    expected = ["accounts", "equity", "tree", "protocol", "premium", "forks", "risk", "taxes", "data",
                "conservation"]
    assert expected == page.sections


def test_each_chart_has_its_id_title_aria_label_and_plotted_elements(sample: dict[str, Any]) -> None:
    """Equity lines, tree lanes, protocol points and premium bars are all drawn for the sample."""
    page = Page(render_report(sample))
    assert list(CHART_IDS) == list(page.charts)
    assert {c: page.attrs_of[c]["aria-label"] for c in CHART_IDS} == {
        c: page.chart_titles[c] for c in CHART_IDS}
    drawn = {c: {k: page.charts[c][k] for k in ("path.series", "rect.life", "circle.change", "rect.bar")
                 if page.charts[c][k]} for c in CHART_IDS}
    weeks = len(sample["premium_weekly"])
    points = len({(c["date"], c["to"], c["to"] > c["from"]) for c in sample["protocol_levels"]})
    assert {"chart-equity": {"path.series": 7}, "chart-tree": {"rect.life": 7},
            "chart-protocol": {"circle.change": points}, "chart-premium": {"rect.bar": weeks}} == drawn


def test_tree_chart_draws_a_link_per_fork_and_merge(sample: dict[str, Any]) -> None:
    """Two forks (hollow dot on the parent lane) and one merge (diamond on COM-ACC-001)."""
    tree = Page(render_report(sample)).charts["chart-tree"]
    assert (3, 2, 2, 4) == (tree["line.link"] + tree["line.link merge"], tree["circle.fork-dot"] - 1,
                            tree["path.merge-dot"], tree["circle.child-dot"])


def test_accounts_table_shows_the_sample_figures(sample: dict[str, Any]) -> None:
    """Each account's row carries its figures, formatted with thousands separators."""
    rows = Page(render_report(sample)).tables["accounts"]
    assert [a["id"] for a in sample["accounts"]] + ["All accounts"] == [r[0] for r in rows]
    assert ["GEN-ACC-001", "GEN-ACC", "U001", "—", "2022-01-03", "active", "40,000.00", "90,122.97",
            "125.31%", "66.37%", "358", "70.4%"] == rows[1]
    assert ["GEN-ACC-003", "GEN-ACC", "U003", "GEN-ACC-001", "2024-01-30", "forked", "25,057.62",
            "51,068.59", "103.80%", "12.23%", "101", "65.3%"] == rows[6]
    assert ["All accounts", "", "", "", "", "", "100,000.00", "381,844.43", "", "", "1,506", ""] == rows[-1]


def test_forks_merges_and_risk_tables_show_the_sample_events(sample: dict[str, Any]) -> None:
    """Forks and merges in date order; escalations by level; alerts with suppressed and delivered."""
    page = Page(render_report(sample))
    assert [["2022-12-08", "fork", "U002", "GEN-ACC-001", "GEN-ACC-002, COM-ACC-002", "—", "50,873.34",
             "29,878.00"],
            ["2024-01-02", "merge", "U002", "—", "GEN-ACC-002, COM-ACC-002", "COM-ACC-001", "90,381.42", "—"],
            ["2024-01-30", "fork", "U003", "GEN-ACC-001", "GEN-ACC-003, COM-ACC-003", "—", "50,115.23",
             "29,432.76"]] == page.tables["forks"]
    assert [["L1", "46"], ["L2", "18"], ["L3", "4"],
            ["ACCOUNT_MANAGEMENT", "3", "0", "3"], ["PROTOCOL_BREACH", "68", "3", "65"],
            ["SYSTEM_STATUS", "36", "0", "36"], ["TECHNICAL_ALERT", "4", "1", "3"],
            ["TRADE_OPPORTUNITY", "468", "21", "447"]] == page.tables["risk"]
    assert [["2022", "23,793.08"], ["2023", "18,051.38"], ["2024", "12,715.13"]] == page.tables["taxes"]


def test_header_notes_and_conservation_show_the_sample_values(sample: dict[str, Any]) -> None:
    """Parameters, the first 12 characters of the policy hash, notes, repairs and the balance line."""
    page = render_report(sample)
    for text in ("2022-01-03 → 2024-12-31", "100,000.00", ">9f2c4e7a1b3d<", "341,155.19", "3,049",
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
    """A one-day, one-account result: a dot for the equity and empty-state messages elsewhere."""
    page = Page(write_report(minimal(), tmp_path).read_text(encoding="utf-8"))
    assert ([], [], list(CHART_IDS)) == (page.errors, page.stack, list(page.charts))
    assert (1, 1, 0) == (page.charts["chart-equity"]["circle"], page.charts["chart-tree"]["rect.life"],
                         page.charts["chart-protocol"]["circle.change"])
    assert [] == page.tables.get("forks", [])


def test_empty_result_renders_with_a_message_in_each_chart() -> None:
    """No accounts, dates or events: the page still renders, each chart saying what is missing."""
    result = minimal(accounts=[], equity={"dates": [], "series": {}}, params={})
    page = render_report(result)
    for text in ("No equity series in this result.", "No accounts in this result.",
                 "No protocol-level changes in this replay.", "No premium captured in this replay."):
        assert (text, True) == (text, text in page)
    assert ([], []) == (Page(page).errors, Page(page).stack)


def test_account_that_exists_for_part_of_the_period_draws_only_where_it_has_values() -> None:
    """None values break the line: two runs give two subpaths, a lone value becomes a dot."""
    dates = ["2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07", "2024-03-08", "2024-03-11"]
    series = {"GEN-ACC-001": [40000.0] * 6, "GEN-ACC-002": [None, 100.0, 110.0, None, 120.0, None]}
    page = render_report(minimal(equity={"dates": dates, "series": series}))
    paths = re.findall(r'<path class="series" d="([^"]+)" stroke="[^"]+"><title>([^<]+)</title>', page)
    assert [("GEN-ACC-001", 1), ("GEN-ACC-002", 1)] == [(name, d.count("M")) for d, name in paths]
    assert 1 == len(re.findall(r"<circle [^>]*><title>GEN-ACC-002</title>", page))


def test_merged_account_line_stops_at_its_merge() -> None:
    """After a merge the account holds nothing: its line ends the day before instead of lying on 0."""
    dates = ["2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07", "2024-03-08"]
    series = {"GEN-ACC-001": [40000.0] * 5, "GEN-ACC-002": [100.0, 110.0, 120.0, 0.0, 0.0]}
    merges = [{"date": "2024-03-07", "unit": "U002", "accounts": ["GEN-ACC-002"], "into": "GEN-ACC-001",
               "amount": "120.00"}]
    page = render_report(minimal(equity={"dates": dates, "series": series}, merges=merges))
    paths = dict(re.findall(r'<path class="series" d="([^"]+)" stroke="[^"]+"><title>([^<]+)</title>', page))
    assert {"GEN-ACC-001": 4, "GEN-ACC-002": 2} == {name: d.count("L") for d, name in paths.items()}


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
