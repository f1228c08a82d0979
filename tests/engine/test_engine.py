"""Engine behaviour: entry scans, protocol levels, throttling, forks, determinism."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alluse.adapters.policy_files import default_policy_dir, load_policy_dir
from alluse.engine import portfolio
from alluse.engine.core import Engine
from alluse.engine.errors import EventError
from alluse.engine.events import Fill
from alluse.engine.testing import EventBuilder, capture_decisions

POLICIES = Path(str(default_policy_dir()))
DEFAULT = load_policy_dir(POLICIES)


@pytest.fixture(scope="module")
def ps():
    return DEFAULT


def thursday(quote_bid: float, quote_ask: float) -> list:
    ev = EventBuilder("2026-11-19")
    return [*ev.daily_bars("TSLA", [250.0] * 20, spread=10.0), ev.price("TSLA", 250.0, "10:00"),
            ev.put_quote("TSLA", "2026-11-20", 245, quote_bid, quote_ask),
            ev.clock("entry_scan", "10:00")]


def test_thursday_quote_clearing_gen_minimum_gives_sell_to_open_put_script(ps):
    """A 245P at 4.00 mid is 1.63% of the strike ≥ 1.5%: GEN-ACC proposes SELL_TO_OPEN."""
    [d] = capture_decisions(ps, thursday(3.9, 4.1))
    [script] = d.scripts
    assert "GEN-ACC-001" == script.account
    order = script.steps[0]
    assert ("order", "SELL_TO_OPEN", "TSLA", "P", 245.0, "2026-11-20", 1) == (
        order.kind, order.action, order.symbol, order.right, order.strike, order.expiry,
        order.quantity)
    assert "required" == script.approval
    assert any(r.rule == "strategies/gen_acc#entry" and not r.step for r in d.fired)


def test_thursday_quote_below_minimum_gives_hitl_alert_and_no_order(ps):
    """Bid 2.90 on the 245 strike = 1.18% < 1.5% (the floor reads the bid, what a sell gets): a
    TRADE_OPPORTUNITY alert says no trade was made, with the numbers."""
    [d] = capture_decisions(ps, thursday(2.9, 3.03))
    assert () == d.scripts
    [alert] = [a for a in d.alerts if a.type == "TRADE_OPPORTUNITY"]
    assert "HIGH" == alert.priority
    assert "1.18%" in alert.title and "1.50%" in alert.title and "no trade was made" in alert.title
    [miss] = [r for r in d.not_fired if r.rule == "strategies/gen_acc#rules/premium_floor"]
    assert ("GEN-ACC-001 TSLA: premium_pct 1.184 < min_premium_pct 1.5 (would fire with "
            "premium_pct >= 1.5, 0.3163 more)") == miss.explanation
    assert {"premium_pct": pytest.approx(1.1837, abs=1e-4), "min_premium_pct": 1.5} == dict(
        miss.values)


def escalation_events() -> list:
    ev = EventBuilder("2026-11-19")
    return [*ev.daily_bars("TSLA", [250.0] * 20, spread=10.0), ev.price("TSLA", 250.0, "10:00"),
            ev.sell_put("GEN-ACC-001", "TSLA", "2026-11-20", 245, 4.0, "10:05"),
            ev.price("TSLA", 239.0, "10:10"),   # 1.1 ATR against the short put
            ev.price("TSLA", 229.0, "10:20"),   # 2.1
            ev.price("TSLA", 219.0, "10:30")]   # 3.1


def test_price_moves_of_1_2_3_atr_give_l1_l2_l3_with_medium_high_critical(ps):
    """After a short put fill, 1.1/2.1/3.1 ATR adverse moves escalate with the level's alert and script."""
    ds = [d for d in capture_decisions(ps, escalation_events()) if d.event_type == "price"]
    assert [("L0", "L1"), ("L1", "L2"), ("L2", "L3")] == [
        (d.transitions[0].source, d.transitions[0].dest) for d in ds]
    assert ["MEDIUM", "HIGH", "CRITICAL"] == [d.alerts[0].priority for d in ds]
    assert ["level1_enhanced_monitoring", "level2_recovery_roll", "level3_stop_loss"] == [
        d.scripts[0].template for d in ds]
    stop = ds[2].scripts[0].steps[0]
    assert ("BUY_TO_CLOSE", "MKT", 245.0) == (stop.action, stop.order_type, stop.strike)


def test_changing_a_threshold_in_protocols_yaml_changes_decisions_without_code(tmp_path, ps):
    """With L1 at 1.5×ATR, a 1.1×ATR move no longer escalates; the policy hash changes."""
    shutil.copytree(POLICIES, tmp_path / "p", ignore=shutil.ignore_patterns("__*"))
    f = tmp_path / "p" / "protocols.yaml"
    f.write_text(f.read_text().replace("min_atr_multiple: 1.0", "min_atr_multiple: 1.5"))
    edited = load_policy_dir(tmp_path / "p")
    assert edited.hash != ps.hash
    ds = [d for d in capture_decisions(edited, escalation_events()) if d.event_type == "price"]
    assert [("L0", "L2"), ("L2", "L3")] == [
        (d.transitions[0].source, d.transitions[0].dest) for d in ds]


def test_same_policy_and_events_give_byte_identical_decisions(ps):
    """Determinism: two runs serialise to the same bytes."""
    events = escalation_events() + thursday(3.9, 4.1)[-2:]
    runs = [json.dumps([d.to_dict() for d in capture_decisions(ps, events)]) for _ in range(2)]
    assert runs[0] == runs[1]


def test_protocol_breach_alerts_beyond_five_an_hour_are_suppressed_and_counted(ps):
    """Throttle: the 6th PROTOCOL_BREACH alert in the hour is kept with suppressed=True."""
    ev = EventBuilder("2026-11-19")
    events = [*ev.daily_bars("TSLA", [250.0] * 20, spread=10.0), ev.price("TSLA", 250.0, "10:00")]
    for i in range(6):
        events.append(ev.sell_put("GEN-ACC-001", "TSLA", "2026-11-27", 200 + i, 1.0, "10:01"))
    events.append(ev.price("TSLA", 239.0, "10:10"))
    engine = Engine(ps, 10_000_000)
    decisions = [engine.handle(e) for e in events]
    alerts = [a for a in decisions[-1].alerts if a.type == "PROTOCOL_BREACH"]
    assert [False] * 5 + [True] == [a.suppressed for a in alerts]
    assert 1 == engine.state.throttle.suppressed["PROTOCOL_BREACH"]


def test_thanksgiving_thursday_makes_no_entry_and_says_the_market_is_closed(ps):
    """exchange_calendars: 2026-11-26 is not a session; on_market_closed: skip."""
    ev = EventBuilder("2026-11-26")
    [d] = capture_decisions(ps, [ev.clock("entry_scan", "10:00")])
    assert {("strategies/gen_acc#entry", "market_closed"), ("strategies/rev_acc#entry", "market_closed"),
            ("strategies/com_acc#entry", "market_closed")} == {(r.rule, r.step) for r in d.not_fired}


def test_fill_for_an_account_not_in_the_tree_is_an_error_naming_it(ps):
    """Events naming an unknown account are refused, not guessed."""
    ev = EventBuilder("2026-11-19")
    with pytest.raises(EventError, match="unknown account 'GEN-ACC-009'"):
        capture_decisions(ps, [ev.sell_put("GEN-ACC-009", "TSLA", "2026-11-20", 245, 4.0,
                                           "10:05")])


def _gain_events(amount_per_trade: float, trades: int) -> list:
    """Short puts that expire worthless: realized short-term gains for GEN-ACC-001."""
    out = []
    day = dt.date(2026, 1, 8)
    for _ in range(trades):
        ev = EventBuilder(day)
        expiry = (day + dt.timedelta(days=1)).isoformat()
        out += [ev.sell_put("GEN-ACC-001", "NVDA", expiry, 10.0, amount_per_trade / 100, "10:05",
                            quantity=1),
                ev.expire("GEN-ACC-001", "NVDA", expiry, 10.0)]
        day += dt.timedelta(days=7)
    return out


def test_fork_when_gen_gain_reaches_50k_post_tax_creates_gen_and_com(ps):
    """+80K realized (50.4K after 37% tax) forks GEN-ACC-001 into GEN-ACC-002 + COM-ACC-002."""
    engine = Engine(ps, 1_000_000)
    for e in _gain_events(20_000.0, 4):
        engine.handle(e)
    ev = EventBuilder("2026-02-02")
    d = engine.handle(ev.clock("fork_check", "11:05"))
    assert {"GEN-ACC-002", "COM-ACC-002"} <= set(engine.state.tree.accounts)
    assert "GEN-ACC-001" == engine.state.tree.accounts["GEN-ACC-002"].parent
    assert Decimal("400000.00") == engine.state.ledger.cash("GEN-ACC-001")
    assert Decimal("29600.00") == engine.state.taxes_withheld  # 37% of 80,000
    assert Decimal("25200.00") == engine.state.ledger.cash("GEN-ACC-002")
    assert any(t.machine == "account" and t.dest == "fork_pending" for t in d.transitions)
    total = sum(portfolio.equity(engine.state, a) for a in engine.state.tree.accounts)
    assert Decimal("1000000.00") + Decimal("80000.00") - engine.state.taxes_withheld == total


@settings(max_examples=60, deadline=None)
@given(moves=st.lists(st.floats(min_value=0.0, max_value=6.0), min_size=1, max_size=1))
def test_protocol_level_is_monotonic_in_the_adverse_atr_multiple(moves):
    """For a fresh position, a larger adverse move never gives a lower level."""
    ps = DEFAULT
    levels = []
    for m in sorted([*moves, moves[0] / 2, moves[0] * 1.5]):
        engine = Engine(ps, 100_000)
        ev = EventBuilder("2026-11-19")
        for e in [*ev.daily_bars("TSLA", [250.0] * 20, spread=10.0),
                  ev.price("TSLA", 250.0, "10:00"),
                  ev.sell_put("GEN-ACC-001", "TSLA", "2026-11-20", 245, 4.0, "10:05"),
                  ev.price("TSLA", 250.0 - m * 10.0, "10:10")]:
            engine.handle(e)
        levels.append(max((p.level for p in engine.state.shorts.values()), default=0))
    assert levels == sorted(levels)


@settings(max_examples=25, deadline=None)
@given(gain=st.integers(min_value=80_000, max_value=3_000_000), capital=st.integers(
    min_value=200_000, max_value=10_000_000))
def test_fork_conserves_total_capital_to_the_cent(gain, capital):
    """Sum of equity after a fork = capital + realized gains − tax withheld, exactly."""
    ps = DEFAULT
    engine = Engine(ps, capital)
    engine.handle(Fill(dt.datetime(2026, 1, 8, 10, 5, tzinfo=dt.UTC), "GEN-ACC-001", "NVDA",
                       dt.date(2026, 1, 9), 10.0, "P", "SELL", 1, gain / 100))
    ev = EventBuilder("2026-01-09")
    engine.handle(ev.expire("GEN-ACC-001", "NVDA", "2026-01-09", 10.0))
    engine.handle(EventBuilder("2026-01-12").clock("fork_check", "11:05"))
    assert 1 == len(engine.state.forks)  # the property is about a fork that really happened
    total = sum(portfolio.equity(engine.state, a) for a in engine.state.tree.accounts)
    assert Decimal(capital) + Decimal(gain).quantize(Decimal("0.01")) - engine.state.taxes_withheld == total


def test_daily_drawdown_beyond_the_limit_pauses_the_account(ps):
    """risk.yaml: an account down 5% since the day's first protocol check is suspended."""
    ev = EventBuilder("2026-11-19")
    engine = Engine(ps, 100_000)
    for e in [*ev.daily_bars("TSLA", [250.0] * 20, spread=10.0), ev.price("TSLA", 250.0, "09:30"),
              ev.sell_put("GEN-ACC-001", "TSLA", "2026-11-27", 250, 4.0, "09:31"),
              ev.clock("protocol_check", "09:45")]:
        engine.handle(e)
    engine.handle(ev.price("TSLA", 228.0, "10:20"))  # the put's intrinsic value: 22 × 100
    d = engine.handle(ev.clock("protocol_check", "10:30"))
    assert "suspended" == engine.state.tree.accounts["GEN-ACC-001"].state
    [fired] = [r for r in d.fired if r.rule == "risk#circuit_breakers/daily_drawdown_pct"]
    assert 5.0 == dict(fired.values)["limit_pct"]
    assert dict(fired.values)["drawdown_pct"] >= 5.0


def _covered_call_events(moves: list[float]) -> list:
    """COM-ACC-001 assigned 100 AAPL at 200 (ATR 5), then writes a 205 call; then prices."""
    ev = EventBuilder("2026-11-16")
    events: list = [*ev.daily_bars("AAPL", [200.0] * 20, spread=5.0)]
    events += [ev.sell_put("COM-ACC-001", "AAPL", "2026-11-20", 200.0, 3.0, "10:00")]
    events += [ev.assign("COM-ACC-001", "AAPL", "2026-11-20", 200.0)]
    nxt = EventBuilder("2026-11-23")
    events += [nxt.price("AAPL", 200.0, "09:30"),
               Fill(nxt.at("10:00"), "COM-ACC-001", "AAPL", dt.date(2026, 11, 27), 205.0, "C",
                    "SELL", 1, 2.0)]
    events += [nxt.price("AAPL", p, f"{11 + i}:00") for i, p in enumerate(moves)]
    return events


def test_a_covered_call_is_not_bought_back_on_a_rally(ps):
    """The stock rises 3.2 ATR through the call's strike: the wheel position gains; no protocol
    transition, no buy-back script."""
    decisions = capture_decisions(ps, _covered_call_events([210.0, 216.0]))
    assert ([], []) == ([t for d in decisions for t in d.transitions if t.machine == "protocol"],
                        [s for d in decisions for s in d.scripts if s.account == "COM-ACC-001"
                         and s.template.startswith("level")])


def test_a_covered_call_is_watched_on_the_stock_fall_and_stopped_with_its_shares_at_l3(ps):
    """The stock falls 1.1, 2.1, 3.1 ATR: L1, L2 (hold: alerts, no script), then L3: buy back the
    call, then sell the 100 shares — the second order waits for the first."""
    decisions = capture_decisions(ps, _covered_call_events([194.5, 189.5, 184.5]))
    levels = [(t.source, t.dest) for d in decisions for t in d.transitions if t.machine == "protocol"]
    [script] = [s for d in decisions for s in d.scripts if s.template.startswith("level")]
    orders = [(s.action, s.quantity, s.right or None) for s in script.steps if s.kind == "order"]
    assert ([("L0", "L1"), ("L1", "L2"), ("L2", "L3")], "level3_wheel_stop",
            [("BUY_TO_CLOSE", 1, "C"), ("SELL", 100, None)]) == (levels, script.template, orders)
