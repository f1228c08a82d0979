"""Reinvestment at the cycles (accounts.yaml reinvestment), checked against figures computed here
from the ledger's realized records; the weekly cycle's TECHNICAL_ALERT."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from alluse.adapters.policy_files import default_policy_dir, read_policy_files
from alluse.engine import portfolio
from alluse.engine.core import Engine
from alluse.engine.events import Event, Fill
from alluse.engine.policy import PolicySet, load_policy_set
from alluse.engine.state import RESERVE_ACCOUNT
from alluse.engine.testing import EventBuilder

FILES = read_policy_files(default_policy_dir())
CENT = Decimal("0.01")


def policy(reinvestment: str) -> PolicySet:
    """The default set with accounts.yaml's reinvestment list replaced."""
    text = FILES["accounts.yaml"].decode()
    head = text[:text.index("\nreinvestment:")]
    return load_policy_set({**FILES, "accounts.yaml": (head + "\nreinvestment:\n" + reinvestment)
                            .encode()})


def put(day: str, account: str, premium: float, *, closed_at: float | None = None,
        quantity: int = 1) -> list[Event]:
    """A short put sold on ``day``: it expires worthless that Friday, or is bought back the next
    day at ``closed_at``."""
    ev = EventBuilder(day)
    d = dt.date.fromisoformat(day)
    expiry = (d + dt.timedelta(days=(4 - d.weekday()) % 7 or 7)).isoformat()
    out: list[Event] = [ev.sell_put(account, "NVDA", expiry, 100.0, premium, "10:05", quantity)]
    if closed_at is None:
        return [*out, ev.expire(account, "NVDA", expiry, 100.0, quantity=quantity)]
    nxt = EventBuilder(d + dt.timedelta(days=1))
    return [*out, Fill(nxt.at("10:05"), account, "NVDA", dt.date.fromisoformat(expiry), 100.0, "P",
                       "BUY", quantity, closed_at)]


def realized(engine: Engine, account: str, since: int = 0) -> Decimal:
    return sum((r.amount for r in engine.state.ledger.realized()[since:] if r.account == account),
               Decimal(0))


def test_quarterly_reinvestment_withdraws_the_rest_of_the_quarters_gain_to_reserve():
    """REV-ACC reinvests 70 %: 30 % of its net realized gain of the quarter (two expired puts, one
    loss) moves to RESERVE; total equity + withdrawn = capital + realized, to the cent."""
    ps = policy("  - {account_type: REV-ACC, cadence: quarterly, reinvest_pct: 70}\n")
    engine = Engine(ps, 100_000)
    for e in [*put("2026-04-06", "REV-ACC-001", 30.0), *put("2026-05-04", "REV-ACC-001", 15.0),
              *put("2026-06-01", "REV-ACC-001", 2.0, closed_at=7.0)]:
        engine.handle(e)
    gain = realized(engine, "REV-ACC-001")
    d = engine.handle(EventBuilder("2026-07-01").clock("quarterly_cycle", "10:00"))
    expected = (gain * Decimal("0.30")).quantize(CENT)
    [fired] = [r for r in d.fired if r.rule == "accounts#reinvestment/REV-ACC"]
    total = sum((portfolio.equity(engine.state, a) for a in engine.state.tree.accounts), Decimal(0))
    assert (Decimal("4000.00"), Decimal("1200.00"), expected, expected, Decimal("30000.00") + gain
            - expected) == (gain, engine.state.ledger.cash(RESERVE_ACCOUNT), engine.state.withdrawn,
                            Decimal(str(dict(fired.values)["withdrawn"])),
                            engine.state.ledger.cash("REV-ACC-001"))
    assert Decimal(100_000) + gain == total + engine.state.withdrawn
    assert ["ACCOUNT_MANAGEMENT MEDIUM"] == [f"{a.type} {a.priority}" for a in d.alerts]


def test_a_losing_quarter_withdraws_nothing_and_carries_into_the_next():
    """Q2 nets −500: nothing moves; Q3 gains 2,000: 30 % of the two quarters' 1,500 moves."""
    ps = policy("  - {account_type: REV-ACC, cadence: quarterly, reinvest_pct: 70}\n")
    engine = Engine(ps, 100_000)
    for e in put("2026-06-01", "REV-ACC-001", 2.0, closed_at=7.0):
        engine.handle(e)
    q2 = engine.handle(EventBuilder("2026-07-01").clock("quarterly_cycle", "10:00"))
    for e in put("2026-08-03", "REV-ACC-001", 20.0):
        engine.handle(e)
    engine.handle(EventBuilder("2026-10-01").clock("quarterly_cycle", "10:00"))
    both = realized(engine, "REV-ACC-001")
    assert (["accounts#reinvestment/REV-ACC"], Decimal("1500.00"),
            (both * Decimal("0.30")).quantize(CENT)) == (
        [r.rule for r in q2.not_fired], both, engine.state.ledger.cash(RESERVE_ACCOUNT))


def test_after_a_fork_only_the_gain_since_the_fork_is_split():
    """GEN-ACC (reinvesting 50 %) forks its 80K; a 3K gain follows: the quarter withdraws 1.5K,
    not half of 83K: the forked gain already left."""
    ps = policy("  - {account_type: GEN-ACC, cadence: quarterly, reinvest_pct: 50}\n")
    engine = Engine(ps, 1_000_000)
    for e in put("2026-04-06", "GEN-ACC-001", 200.0, quantity=4):
        engine.handle(e)
    engine.handle(EventBuilder("2026-04-13").clock("fork_check", "10:05"))
    cursor = len(engine.state.ledger.realized())
    for e in put("2026-05-04", "GEN-ACC-001", 30.0):
        engine.handle(e)
    engine.handle(EventBuilder("2026-07-01").clock("quarterly_cycle", "10:00"))
    after = realized(engine, "GEN-ACC-001", cursor)
    assert (1, Decimal("3000.00"), (after / 2).quantize(CENT)) == (
        len(engine.state.forks), after, engine.state.withdrawn)


def test_weekly_cadence_runs_at_the_weekly_cycle_and_never_at_the_quarterly():
    """cadence: weekly splits at the weekly_cycle job; the quarterly_cycle leaves it alone."""
    ps = policy("  - {account_type: REV-ACC, cadence: weekly, reinvest_pct: 80}\n")
    engine = Engine(ps, 100_000)
    for e in put("2026-06-29", "REV-ACC-001", 10.0):
        engine.handle(e)
    quarterly = engine.handle(EventBuilder("2026-07-01").clock("quarterly_cycle", "10:00"))
    engine.handle(EventBuilder("2026-07-04").clock("weekly_cycle", "10:00"))
    assert (True, (realized(engine, "REV-ACC-001") * Decimal("0.20")).quantize(CENT)) == (
        quarterly.empty, engine.state.withdrawn)


def test_the_default_set_reinvests_everything():
    """REV-ACC and COM-ACC reinvest 100 %: the quarterly cycle says so and moves nothing."""
    engine = Engine(load_policy_set(FILES), 100_000)
    for e in sorted([*put("2026-04-06", "REV-ACC-001", 10.0),
                     *put("2026-04-06", "COM-ACC-001", 5.0)], key=lambda e: e.ts):
        engine.handle(e)
    d = engine.handle(EventBuilder("2026-07-01").clock("quarterly_cycle", "10:00"))
    assert ([("accounts#reinvestment/COM-ACC", "COM-ACC-001: quarter's net realized gain 500.00: "
              "reinvests all of it (withdrawals: false); equity 30,500.00 sizes the next "
              "quarter's trades"),
             ("accounts#reinvestment/REV-ACC", "REV-ACC-001: quarter's net realized gain "
              "1,000.00: reinvests all of it (reinvest_pct 100); equity 31,000.00 sizes the next "
              "quarter's trades")], Decimal(0)) == (
        sorted((r.rule, r.explanation) for r in d.fired), engine.state.withdrawn)


def test_the_weekly_cycle_sends_the_week_to_the_human_at_the_types_default_priority():
    """One TECHNICAL_ALERT (alerts.yaml default LOW) names each symbol's week mode and counts the
    week types per family."""
    ps = load_policy_set(FILES)
    engine = Engine(ps, 100_000)
    for e in EventBuilder("2026-11-09").daily_bars("TSLA", [250.0] * 20, spread=10.0):
        engine.handle(e)
    engine.handle(EventBuilder("2026-11-07").clock("weekly_cycle", "10:00"))  # the week opens
    for e in [*put("2026-11-09", "GEN-ACC-001", 2.0),
              *EventBuilder("2026-11-14").daily_bars("TSLA", [250.0] * 5, spread=10.0)]:
        engine.handle(e)
    d = engine.handle(EventBuilder("2026-11-14").clock("weekly_cycle", "10:00"))
    assert [("TECHNICAL_ALERT", "LOW", "Week to 2026-11-14: TSLA blue; put types P-EW 1")] == [
        (a.type, a.priority, a.title) for a in d.alerts]
