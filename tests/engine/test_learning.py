"""The learning loop's pure arithmetic: scores, scoreboards, targets, weekly returns, the names a
prediction reads, the weekly table."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from alluse.adapters.policy_files import default_policy_dir, load_policy_dir
from alluse.engine import learning
from alluse.engine.learning import NONE, WeekHistory, WeekRecord
from alluse.engine.market import SymbolState
from alluse.engine.policy import PolicySet


@pytest.fixture(scope="module")
def ps() -> PolicySet:
    return load_policy_dir(default_policy_dir())


def test_score_counts_the_matrix_hits_over_predicted_weeks_and_the_base_rate():
    """Hits over predicted weeks only; a week without a prediction is in the matrix as 'none';
    the base rate is the most frequent actual mode's share of the predicted weeks."""
    s = learning.score([("green", "green"), ("green", "red"), ("red", "red"), ("", "green"),
                        ("blue", "green")])
    assert (5, 4, 2, 0.5, 0.5) == (s.weeks, s.predicted, s.hits, s.hit_rate, s.base_rate)
    assert {("blue", "green"): 1, ("green", "green"): 1, ("green", "red"): 1,
            (NONE, "green"): 1, ("red", "red"): 1} == dict(s.matrix)


def test_score_of_counts_equals_score_of_the_pairs_they_count():
    """A mapping of (predicted, actual) → weeks scores like the pairs written out."""
    pairs = [("green", "green")] * 3 + [("red", "blue")] * 2
    assert learning.score(pairs) == learning.score({("green", "green"): 3, ("red", "blue"): 2})


def test_score_without_predictions_has_no_rates():
    assert (None, None) == (learning.score([("", "red")]).hit_rate,
                            learning.score([]).base_rate)


def _history(weeks: list[tuple[str, str, str, str]]) -> WeekHistory:
    h = WeekHistory()
    for week, sym, p, a in weeks:
        h.weeks.append(WeekRecord(week, sym, p, "r" if p else "", a))
        h.mode_counts[(sym, p, a)] = h.mode_counts.get((sym, p, a), 0) + 1
    return h


def test_scoreboard_rolls_over_the_last_weeks_and_sums_all_symbols():
    """Rolling: the last N classified weeks; cumulative: every count; ALL sums the symbols."""
    h = _history([("2024-W01", "A", "green", "red"), ("2024-W01", "B", "red", "red"),
                  ("2024-W02", "A", "green", "green"), ("2024-W02", "B", "red", "green"),
                  ("2024-W03", "A", "green", "green")])
    board = learning.scoreboard(h, 2)
    assert {"A": (2, 2, 3, 2), "B": (0, 1, 2, 1), "ALL": (2, 3, 5, 3)} == {
        k: (v["rolling"].hits, v["rolling"].weeks, v["cumulative"].weeks, v["cumulative"].hits)
        for k, v in board.items()}


def test_cumulative_counts_outlive_pruned_records():
    """Pruning keeps the last weeks' records; the cumulative score still counts every week."""
    h = _history([(f"2024-W{w:02d}", "A", "green", "green") for w in range(1, 11)])
    learning.prune(h, 3)
    board = learning.scoreboard(h, 13)["A"]
    assert (["2024-W08", "2024-W09", "2024-W10"], 3, 10) == (
        [r.week for r in h.weeks], board["rolling"].weeks, board["cumulative"].weeks)


def test_weekly_targets_come_from_the_strategies_and_a_yearly_one_is_compounded(ps):
    """GEN 2% with the 1.5% floor, REV 1.5% with 1%, COM 15-20% a year as weekly rates."""
    got = {n: learning.target_pct(st.premium) for n, st in ps.strategies.items()}
    com_target, com_floor = got["com_acc"]
    assert ((2.0, 1.5), (1.5, 1.0)) == (got["gen_acc"], got["rev_acc"])
    assert (1.20, 1.15) == (round((1 + com_target / 100) ** 52, 10),
                            round((1 + com_floor / 100) ** 52, 10))


@pytest.mark.parametrize(("ret", "floor", "status"), [
    (2.0, 1.5, "on_target"), (1.6, 1.5, "above_floor"), (1.4, 1.5, "below_floor"),
    (1.4, None, "below_target")])
def test_target_status(ret, floor, status):
    assert status == learning.target_status(ret, 2.0, floor)


def test_weekly_return_leaves_out_money_moved_in_or_out():
    """40,000 → 35,200 after 5,000 left by a fork: a +0.5% week, not −12%."""
    assert 0.5 == learning.weekly_return_pct(Decimal(40_000), Decimal(35_200), Decimal(-5_000))
    assert learning.weekly_return_pct(Decimal(0), Decimal(10), Decimal(0)) is None


def test_prediction_names_read_completed_bars_only(ps):
    """close is the last bar's close whatever the latest price; unknown values are None."""
    st = SymbolState.new(ps.data.indicators)
    for i in range(30):
        st.atr.update(101.0 + i, 99.0 + i, 100.0 + i)
        st.rsi.update(100.0 + i)
        st.macd.update(100.0 + i)
        st.mean.update(100.0 + i)
    st.price = 500.0  # Monday's open, already seen in replay before the 08:00 job
    last = WeekRecord("2024-W01", "X", "green", "r", "red", -2.5)
    names = learning.prediction_names("X", st, None, last)
    assert (129.0, round((129.0 / 119.5 - 1) * 100, 6), None, None, "red", -2.5) == (
        names["close"], round(names["trend_pct"], 6), names["vix"], names["vix_term_pct"],
        names["last_mode"], names["last_return_pct"])
    assert {"last_mode": "", "close": None} == {
        k: v for k, v in learning.prediction_names("Y", None, None, None).items()
        if k in ("last_mode", "close")}


def test_week_table_has_one_row_per_week_in_order():
    h = _history([("2024-W02", "B", "red", "red"), ("2024-W01", "A", "green", "red"),
                  ("2024-W02", "A", "", "green")])
    table = learning.week_table(h.weeks)
    assert [("2024-W01", ["A"]), ("2024-W02", ["A", "B"])] == [(w, list(row)) for w, row in table]


def test_iso_week_of_a_day_at_a_year_boundary():
    """2025-12-29 (a Monday) belongs to 2026-W01, as does the Saturday after it."""
    assert ["2026-W01", "2026-W01", "2025-W52"] == [
        learning.iso_week(dt.date(2025, 12, 29)), learning.iso_week(dt.date(2026, 1, 3)),
        learning.iso_week(dt.date(2025, 12, 27))]
