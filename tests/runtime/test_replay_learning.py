"""Predicted vs actual week modes over the 2021-2025 replay (100K): the weekly table is
well-formed, its counts add up to the weeks, and its hit rates equal a count made independently
from the decision log (Monday's fired prediction rules against Saturday's fired week modes)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from alluse.adapters.policy_files import default_policy_dir, load_policy_dir
from alluse.engine import learning
from alluse.engine.calendar import NY
from alluse.engine.decisions import Decision
from alluse.engine.events import Event
from alluse.runtime.replay import Replay, ReplayParams

PARAMS = ReplayParams(dt.date(2021, 1, 4), dt.date(2025, 12, 31), 100_000.0)


@pytest.fixture(scope="module")
def replayed() -> dict[str, Any]:
    ps = load_policy_dir(default_policy_dir())
    assert ps.week_types.predictions is not None
    rule_mode = {n: r.mode for n, r in ps.week_types.predictions.rules.items()}
    predicted: dict[tuple[str, str], str] = {}
    actual: dict[tuple[str, str], str] = {}

    def observe(ev: Event, d: Decision) -> None:
        week = learning.iso_week(ev.ts.astimezone(NY).date())
        for f in d.fired:
            symbol = f.explanation.split(" ")[0]
            if f.rule.startswith("week_types#predictions/") and not f.step:
                key = (week, symbol)
                assert key not in predicted, f"{key} predicted twice"
                predicted[key] = rule_mode[f.rule.rsplit("/", 1)[1]]
            elif f.rule.startswith("week_types#modes/"):
                actual[(week, symbol)] = f.rule.rsplit("/", 1)[1]

    replay = Replay(ps, PARAMS)
    replay.driver.observers.append(observe)
    replay.run()
    return {"ps": ps, "history": replay.engine.state.learning, "predicted": predicted,
            "actual": actual}


def _render(history: learning.WeekHistory, board: dict[str, dict[str, learning.Score]]) -> str:
    table = learning.week_table(history.weeks)
    symbols = sorted({s for _, row in table for s in row})
    lines = ["week      " + " ".join(f"{s:>6}" for s in symbols)]
    for week, row in table:
        lines.append(f"{week:<9} " + " ".join(
            f"{(r.predicted or '-')[:1]}>{(r.actual or '-')[:1]}".rjust(6) if (r := row.get(s))
            else " " * 6 for s in symbols))
    for sym, sc in board.items():
        c = sc["cumulative"]
        lines.append(f"{sym:<6} weeks {c.weeks} predicted {c.predicted} hits {c.hits} "
                     f"hit rate {c.hit_rate:.3f} base rate {c.base_rate:.3f}")
    return "\n".join(lines)


@pytest.mark.slow
def test_the_weekly_table_of_predicted_vs_actual_modes_adds_up_and_its_hit_rates_are_right(
        replayed: dict[str, Any]) -> None:
    """One row per ISO week in order, at most one record per symbol, modes from the policy;
    per symbol the matrix counts every classified week once; the hit rates equal the count of
    weeks whose Monday prediction equals the Saturday mode in the decision log."""
    history: learning.WeekHistory = replayed["history"]
    ps = replayed["ps"]
    modes = set(ps.week_types.modes) | {""}
    table = learning.week_table(history.weeks)
    weeks = [w for w, _ in table]
    assert (sorted(set(weeks)), len(history.weeks)) == (weeks, sum(len(r) for _, r in table))
    assert set() == {(r.predicted, r.actual) for _, row in table for r in row.values()
                     if r.predicted not in modes or r.actual not in modes}
    board = learning.scoreboard(history, ps.week_types.learning.rolling_weeks)
    print("\n" + _render(history, board))
    symbols = sorted(learning.predicted_symbols(ps))
    assert [*symbols, "ALL"] == list(board)
    predicted, actual = replayed["predicted"], replayed["actual"]
    for sym in symbols:
        classified = [k for k in actual if k[1] == sym]
        hits = sum(1 for k in classified if predicted.get(k) == actual[k])
        made = sum(1 for k in classified if k in predicted)
        c = board[sym]["cumulative"]
        assert (len(classified), made, hits) == (c.weeks, c.predicted, c.hits), sym
        assert c.weeks == sum(c.matrix.values())
        assert hits / made == c.hit_rate
    total = board["ALL"]["cumulative"]
    assert (len(actual), sum(1 for k in actual if predicted.get(k) == actual[k])) == (
        total.weeks, total.hits)
    # five years of Saturdays: every symbol classified in all but the first week or two
    assert all(255 <= board[s]["cumulative"].weeks <= 261 for s in symbols)
