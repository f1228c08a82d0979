"""The feedback loop through the engine: Monday's predictions, Saturday's scoring of modes and
week types, account returns against targets, and the week-type table as data."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from alluse.adapters.policy_files import default_policy_dir, read_policy_files
from alluse.engine.core import Engine
from alluse.engine.decisions import Decision, RuleTrace
from alluse.engine.events import Event
from alluse.engine.policy import PolicySet, load_policy_set
from alluse.engine.testing import EventBuilder

SYMBOLS = ["AAPL", "AMZN", "GOOGL", "MSFT", "NVDA", "TSLA"]
SAT1, MON, THU, SAT2 = (dt.date(2026, 11, 14), dt.date(2026, 11, 16), dt.date(2026, 11, 19),
                        dt.date(2026, 11, 21))
SIMPLE_RULES = """  rules:
    up:
      mode: green
      when: "trend_pct > 0"
    down:
      mode: red
      when: "True"
"""


def policy(rules: str = SIMPLE_RULES, *, types: str | None = None,
           expected: str | None = None) -> PolicySet:
    """The default set with other prediction rules (and optionally another week-type table)."""
    files = read_policy_files(default_policy_dir())
    text = files["week_types.yaml"].decode()
    text = re.sub(r"(?ms)^  rules:\n.*?(?=^  # The week type)", lambda m: rules, text)
    if types is not None:
        text = re.sub(r"(?ms)^types:\n.*?(?=^\S)", lambda m: types + "\n", text)
    if expected is not None:
        text = re.sub(r"(?ms)^  expected_types:\n.*?(?=^\S)", lambda m: expected + "\n", text)
    return load_policy_set({**files, "week_types.yaml": text.encode()})


def bars(first: float, n: int, end: dt.date, *, vix: float = 15.0) -> list[Event]:
    """n daily bars per traded symbol, closes rising by 1 from ``first``, and a flat VIX."""
    ev = EventBuilder(end)
    out: list[Event] = []
    for s in SYMBOLS:
        out += ev.daily_bars(s, [first + i for i in range(n)], spread=5.0, end=end)
    out += ev.daily_bars("VIX", [vix] * n, spread=1.0, end=end)
    return sorted(out, key=lambda e: e.ts)


def run(ps: PolicySet, events: list[Event]) -> tuple[Engine, list[Decision]]:
    engine = Engine(ps, 100_000)
    return engine, [engine.handle(e) for e in events]


def clock(name: str, day: dt.date) -> Event:
    return EventBuilder(day).clock(name, "08:00" if name == "week_prediction" else "10:00")


def week(*extra: Event) -> list[Event]:
    """40 rising days, Saturday's cycle, Monday's prediction, a rising week, Saturday's cycle."""
    return [*bars(100.0, 40, SAT1), clock("weekly_cycle", SAT1), clock("week_prediction", MON),
            *sorted([*bars(140.0, 5, SAT2), *extra], key=lambda e: e.ts),
            clock("weekly_cycle", SAT2)]


def steps(d: Decision, step: str) -> list[RuleTrace]:
    return [f for f in d.fired if f.rule == "week_types#learning" and f.step == step]


def test_monday_predicts_every_traded_symbol_then_each_account_its_symbols():
    """One fired prediction rule per symbol (stable id), then one trace per account listing its
    strategy's symbols with the week types expected of its puts and calls."""
    _, ds = run(policy(), [*bars(100.0, 40, SAT1), clock("week_prediction", MON)])
    monday = ds[-1]
    assert ["week_types#predictions/up"] * 6 + ["week_types#predictions"] * 3 == [
        f.rule for f in monday.fired]
    gen = next(f for f in monday.fired if f.explanation.startswith("GEN-ACC-001"))
    assert {"NVDA": "green", "NVDA.expected_put": "P-EW", "NVDA.expected_call": "C-CA",
            "TSLA": "green", "TSLA.expected_put": "P-EW", "TSLA.expected_call": "C-CA"} == dict(
        gen.values)


def test_the_prediction_reads_the_last_bar_not_a_price_of_the_new_week():
    """In replay Monday's open price can arrive before the 08:00 job: the prediction still reads
    Friday's close."""
    ps = policy()
    early = EventBuilder(MON).price("TSLA", 999.0, "09:30")
    _, ds = run(ps, [*bars(100.0, 40, SAT1), early, clock("week_prediction", MON)])
    tsla = next(f for f in ds[-1].fired if f.explanation.startswith("TSLA"))
    assert 139.0 == dict(tsla.values)["close"]


def test_a_week_as_predicted_is_a_hit_for_every_symbol_and_is_stored():
    """Predicted green, the week rose beyond half an ATR: six hits, in the state and the traces,
    with a 100% cumulative hit rate overall."""
    engine, ds = run(policy(), week())
    saturday = ds[-1]
    assert [True] * 6 == [dict(f.values)["hit"] for f in steps(saturday, "mode")]
    assert {(s, "green", "green"): 1 for s in SYMBOLS} == engine.state.learning.mode_counts
    overall = next(f for f in steps(saturday, "mode_score") if dict(f.values)["symbol"] == "ALL")
    assert (6, 6, 1.0, 6) == tuple(dict(overall.values)[k] for k in (
        "cumulative.weeks", "cumulative.hits", "cumulative.hit_rate",
        "cumulative.green->green"))


def test_a_symbol_whose_indicators_are_still_warming_up_gets_no_prediction():
    """Ten bars: no 20-day mean, so the rule cannot be evaluated: an error trace, no prediction,
    and the week counts as not predicted."""
    engine, ds = run(policy(), [*bars(100.0, 10, SAT1), clock("week_prediction", MON)])
    assert (["week_types#predictions/up"] * 6, []) == (
        [e.rule for e in ds[-1].errors], [r.predicted for r in engine.state.learning.weeks
                                          if r.predicted])


def test_a_position_ending_in_the_week_is_scored_against_the_type_its_prediction_expected():
    """A TSLA put sold Thursday expires Friday in a predicted-green week: P-EW expected and had;
    GEN-ACC's performance by mode and type counts it; its week return (+0.5%) is below the 1.5%
    floor of its 2% target."""
    ev = EventBuilder(THU)
    sell = ev.sell_put("GEN-ACC-001", "TSLA", "2026-11-20", 140.0, 2.0, "10:30")
    expire = ev.expire("GEN-ACC-001", "TSLA", "2026-11-20", 140.0)
    _, ds = run(policy(), week(sell, expire))
    saturday = ds[-1]
    assert [{"account": "GEN-ACC-001", "symbol": "TSLA", "right": "P", "expected": "P-EW",
             "actual": "P-EW", "mode": "green", "pnl": 200.0}] == [
        dict(f.values) for f in steps(saturday, "type")]
    perf = dict(next(f for f in steps(saturday, "performance")).values)
    assert ("GEN-ACC", 1, 1, 200.0, 1) == (perf["account_type"], perf["mode.green.trades"],
                                           perf["mode.green.wins"], perf["mode.green.pnl"],
                                           perf["type.P-EW.trades"])
    gen = next(dict(f.values) for f in steps(saturday, "target")
               if dict(f.values)["account"] == "GEN-ACC-001")
    assert (0.5, 2.0, 1.5, "below_floor") == (gen["return_pct"], gen["target_pct"],
                                              gen["floor_pct"], gen["status"])


def test_a_second_weekly_cycle_in_the_same_week_counts_nothing_twice():
    """A repeated Saturday job (a node restarted) keeps the week's actuals and counts."""
    engine, _ = run(policy(), [*week(), EventBuilder(SAT2).clock("weekly_cycle", "11:00")])
    h = engine.state.learning
    assert ({(s, "green", "green"): 1 for s in SYMBOLS}, 3) == (
        h.mode_counts, sum(h.target_weeks.values()))


def test_replacing_the_week_type_table_is_a_one_file_change():
    """Another acronym table in week_types.yaml (codes, families, conditions) is what the weekly
    cycle classifies and scores with: no code knows the codes."""
    types = """types:
  PUT-WIN: {family: put, label: Put kept premium, when: "right == 'P' and pnl > 0"}
  PUT-LOSS: {family: put, label: Put lost, when: "right == 'P' and pnl <= 0"}
  CALL-WIN: {family: call, label: Call kept premium, when: "right == 'C' and pnl > 0"}
  CALL-LOSS: {family: call, label: Call lost, when: "right == 'C' and pnl <= 0"}"""
    expected = """  expected_types:
    green: {put: PUT-WIN, call: CALL-LOSS}
    red: {put: PUT-LOSS, call: CALL-WIN}"""
    ev = EventBuilder(THU)
    events = week(ev.sell_put("GEN-ACC-001", "TSLA", "2026-11-20", 140.0, 2.0, "10:30"),
                  ev.expire("GEN-ACC-001", "TSLA", "2026-11-20", 140.0))
    _, ds = run(policy(types=types, expected=expected), events)
    saturday = ds[-1]
    assert (["week_types#types/PUT-WIN"], [("PUT-WIN", "PUT-WIN")]) == (
        [f.rule for f in saturday.fired if f.rule.startswith("week_types#types/")],
        [(dict(f.values)["expected"], dict(f.values)["actual"]) for f in steps(saturday, "type")])


def test_saturday_shows_the_coming_weeks_outlook():
    """The weekly cycle evaluates the prediction rules for the next ISO week (Monday records it)."""
    _, ds = run(policy(), week())
    outlook = [f for f in ds[-1].fired if f.step == "outlook"]
    assert ["TSLA 2026-W48: predicted green (Bullish)"] == [
        f.explanation for f in outlook if f.explanation.startswith("TSLA")]


def test_the_learning_history_survives_snapshot_and_restore():
    """Records, counts, performance and equity marks come back equal from a snapshot."""
    engine, _ = run(policy(), week())
    restored = Engine.restore(engine.snapshot(), engine.policy)
    assert engine.state.learning == restored.state.learning
    assert Decimal(40_000) == restored.state.learning.equity["GEN-ACC-001"]
