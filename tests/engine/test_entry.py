"""Entry scans on closed days: on_market_closed skip, or next_trading_day (a deferred entry run by
the next session's first job inside the entry window), with on_early_close on that session."""

from __future__ import annotations

import datetime as dt

from alluse.adapters.policy_files import default_policy_dir, read_policy_files
from alluse.engine.core import Engine
from alluse.engine.decisions import Decision
from alluse.engine.entry import STRIKE_METHODS, ChainRequest
from alluse.engine.events import Event, JobDue
from alluse.engine.policy import PolicySet, load_policy_set
from alluse.engine.policy.models import STRIKE_PARAMETERS, StrikeSelection
from alluse.engine.testing import EventBuilder

FILES = read_policy_files(default_policy_dir())


def policy(**entry: str) -> PolicySet:
    """The default set with GEN-ACC's entry keys changed (``on_market_closed="..."``)."""
    files = dict(FILES)
    text = files["strategies/gen_acc.yaml"].decode()
    for key, value in entry.items():
        old = next(line for line in text.splitlines() if line.strip().startswith(f"{key}:"))
        text = text.replace(old, f"  {key}: {value}")
    files["strategies/gen_acc.yaml"] = text.encode()
    return load_policy_set(files)


def run(ps: PolicySet, events: list[Event]) -> tuple[Engine, list[Decision]]:
    engine = Engine(ps, 100_000)
    return engine, [engine.handle(e) for e in events]


def history(closed_day: str) -> list[Event]:
    ev = EventBuilder(closed_day)
    return [*ev.daily_bars("TSLA", [250.0] * 20, spread=10.0),
            *ev.daily_bars("NVDA", [180.0] * 20, spread=8.0)]


def next_session(day: str, expiry: str) -> list[Event]:
    """The session after the closed day: prices, a TSLA put chain expiring ``expiry`` (the 250P
    at 1.6 % of its strike), and the jobs before and inside the 10:00-11:00 window."""
    ev = EventBuilder(day)
    return [ev.price("TSLA", 250.0, "09:30"), ev.price("NVDA", 180.0, "09:30"),
            ev.clock("protocol_check", "09:45"),
            ev.put_quote("TSLA", expiry, 250, 4.0, 4.2, "09:59"),
            ev.clock("premium_sample", "10:00"), ev.clock("protocol_check", "10:00")]


def gen_entry(d: Decision) -> list[tuple[str, str]]:
    return [(r.step, r.explanation) for r in (*d.fired, *d.not_fired)
            if r.rule == "strategies/gen_acc#entry" and r.step in ("market_closed", "deferred",
                                                                  "early_close")]


def test_thanksgiving_entry_deferred_runs_at_fridays_first_job_in_the_window():
    """Thursday 2026-11-26 is closed: the entry waits for Friday (early close at 13:00, on_early_close:
    trade); the 09:45 check is before the window, premium_sample at 10:00 runs it and proposes."""
    ps = policy(on_market_closed="next_trading_day")
    thursday = EventBuilder("2026-11-26").clock("entry_scan", "10:00")
    engine, ds = run(ps, [*history("2026-11-26"), thursday,
                          *next_session("2026-11-27", "2026-11-27")])
    closed, early, at_ten = ds[-7], ds[-4], ds[-2]
    assert [("market_closed", "2026-11-26 is not an NYSE trading day; on_market_closed: "
             "next_trading_day: the entry runs on 2026-11-27 at the first job in 10:00-11:00")
            ] == gen_entry(closed)
    assert ([], [("deferred", "2026-11-26 was closed: the entry deferred to 2026-11-27 runs "
                  "now (on_market_closed: next_trading_day)")]) == (gen_entry(early),
                                                                    gen_entry(at_ten))
    [script] = at_ten.scripts
    order = script.steps[0]
    assert ("GEN-ACC-001", "SELL_TO_OPEN", "TSLA", 250.0, "2026-11-27", {}) == (
        script.account, order.action, order.symbol, order.strike, order.expiry,
        engine.state.deferred_entries)
    assert [] == gen_entry(ds[-1])  # the 10:00 protocol check: the deferral was used


def test_the_deferred_entry_tells_the_driver_which_chains_the_job_needs():
    """data_needs of Friday's 10:00 premium_sample (no needs of its own) asks for the chains of the
    deferred GEN-ACC entry; at 09:45, before the window, nothing."""
    ps = policy(on_market_closed="next_trading_day")
    engine, _ = run(ps, [*history("2026-11-26"),
                         EventBuilder("2026-11-26").clock("entry_scan", "10:00")])
    ev = EventBuilder("2026-11-27")
    assert ([], [ChainRequest("NVDA", (dt.date(2026, 11, 27),), ("P",)),
                 ChainRequest("TSLA", (dt.date(2026, 11, 27),), ("P",))]) == (
        engine.data_needs(ev.clock("premium_sample", "09:45")),
        engine.data_needs(ev.clock("premium_sample", "10:00")))


def test_thanksgiving_friday_early_close_skips_the_deferred_entry_when_told_to():
    """on_early_close: skip: the deferred entry reaches Friday and stops at the 13:00 close."""
    ps = policy(on_market_closed="next_trading_day", on_early_close="skip")
    _, ds = run(ps, [*history("2026-11-26"), EventBuilder("2026-11-26").clock("entry_scan", "10:00"),
                     *next_session("2026-11-27", "2026-11-27")])
    assert ([("deferred", "2026-11-26 was closed: the entry deferred to 2026-11-27 runs now "
              "(on_market_closed: next_trading_day)"),
             ("early_close", "2026-11-27 closes early at 13:00; on_early_close: skip")], ()) == (
        gen_entry(ds[-2]), ds[-2].scripts)


def test_juneteenth_thursday_entry_runs_friday_after_a_snapshot():
    """2025-06-19 (Thursday) is closed; the deferral is engine state: it survives a snapshot and
    the restored engine proposes on Friday 2025-06-20 (that week's expiry)."""
    ps = policy(on_market_closed="next_trading_day")
    engine, _ = run(ps, [*history("2025-06-19"),
                         EventBuilder("2025-06-19").clock("entry_scan", "10:30")])
    restored = Engine.restore(engine.snapshot(), ps)
    ds = [restored.handle(e) for e in next_session("2025-06-20", "2025-06-20")]
    assert ({"gen_acc": (dt.date(2025, 6, 20), dt.date(2025, 6, 19))}, "2025-06-20") == (
        engine.state.deferred_entries, ds[-2].scripts[0].steps[0].expiry)


def test_a_deferral_no_job_reaches_in_its_window_is_dropped_with_a_trace():
    """Friday's only job comes at 11:15, after the window: the entry is skipped, and said so."""
    ps = policy(on_market_closed="next_trading_day")
    late = JobDue(EventBuilder("2026-11-27").at("11:15"), "protocol_check")
    engine, ds = run(ps, [*history("2026-11-26"),
                          EventBuilder("2026-11-26").clock("entry_scan", "10:00"), late])
    assert ([("deferred", "the entry deferred from 2026-11-26 to 2026-11-27 found no clock event "
              "in its window (or its strategy is gone or disabled): skipped")], {}) == (
        gen_entry(ds[-1]), engine.state.deferred_entries)


def test_skip_makes_no_entry_on_the_next_session():
    """The default (on_market_closed: skip): Thanksgiving's entry is gone, Friday proposes nothing."""
    ps = policy()
    _, ds = run(ps, [*history("2026-11-26"), EventBuilder("2026-11-26").clock("entry_scan", "10:00"),
                     *next_session("2026-11-27", "2026-11-27")])
    assert ([("market_closed", "2026-11-26 is not an NYSE trading day; on_market_closed: skip")],
            [], ()) == (gen_entry(ds[-7]), gen_entry(ds[-2]), ds[-2].scripts)


def test_every_strike_method_declares_the_parameters_lint_accepts_beside_it():
    """The strike-method registry and the parameter table lint reads name the same methods."""
    params = {p for ps in STRIKE_PARAMETERS.values() for p in ps}
    assert (set(STRIKE_METHODS), params) == (
        set(STRIKE_PARAMETERS), set(StrikeSelection.model_fields) - {"method"})
