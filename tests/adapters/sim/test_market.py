"""The simulated market: chains on the listed grid, monotone prices, no look-ahead, early closes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import math

import pytest

from alluse.adapters.sim.market import SimConfig, SimMarket
from alluse.engine.calendar import NY, MarketCalendar, nyse_calendar
from alluse.engine.events import Bar, Split

QUOTE_DAY = dt.date(2022, 2, 15)  # a Tuesday
QUOTE_TS = dt.datetime(2022, 2, 15, 10, 0, tzinfo=NY)
EXPIRY = dt.date(2022, 2, 18)  # that week's Friday


def _sessions(first: dt.date, last: dt.date) -> list[dt.date]:
    cal = nyse_calendar()
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    return [d for d in days if cal.is_session(d)]


def _broker(through: dt.date = QUOTE_DAY - dt.timedelta(days=1), config: SimConfig | None = None,
            wild_after: dt.date | None = None) -> SimMarket:
    """A broker with a VIX and close history from 2021-10-01 through `through`.

    The closes oscillate smoothly (SPY ±1%, AAPL ±2%); from `wild_after` on, AAPL swings 8%
    a day and the VIX jumps, so any use of those days would show in a quote.
    """
    broker = SimMarket(nyse_calendar(), config or SimConfig())
    for i, day in enumerate(_sessions(dt.date(2021, 10, 1), through)):
        wild = wild_after is not None and day >= wild_after
        broker.record_close("SPY", day, 400 * math.exp(0.01 * math.sin(i)))
        broker.record_close("AAPL", day, 100 * math.exp((0.08 if wild else 0.02) * math.sin(1.7 * i)))
        broker.vix[day] = 45.0 if wild else 20.0
    return broker


def test_chain_quotes_have_bid_below_mid_below_ask_and_put_deltas_between_minus_one_and_zero() -> None:
    """Every put of a chain: 0 <= bid <= mid <= ask, bid < ask, and -1 < delta < 0."""
    quotes = _broker().chain("AAPL", QUOTE_TS, 100.0, [EXPIRY, dt.date(2022, 2, 25)], ["P"])
    bad = [q for q in quotes
           if not (0 <= q.bid <= (q.bid + q.ask) / 2 <= q.ask and q.bid < q.ask
                   and q.delta is not None and -1 < q.delta < 0)]
    assert ([], True) == (bad, len(quotes) > 20)


@pytest.mark.parametrize(("price", "strikes"), [
    (99.0, [float(k) for k in range(84, 115)]),  # $1 steps below 100
    (300.0, [float(k) for k in range(255, 346, 5)]),  # $5 steps from 250
])
def test_chain_strikes_span_the_configured_range_in_listed_steps(price: float,
                                                                 strikes: list[float]) -> None:
    """Strikes run in listed steps from 15% below to 15% above the price, rounded outwards."""
    quotes = _broker().chain("AAPL", QUOTE_TS, price, [EXPIRY], ["P"])
    assert strikes == [q.strike for q in quotes]


def test_a_higher_strike_gives_a_higher_put_price_and_a_lower_call_price() -> None:
    """Put mids rise strictly with the strike, call mids fall: the smile never breaks monotonicity."""
    broker = _broker()
    puts = broker.chain("AAPL", QUOTE_TS, 100.0, [dt.date(2022, 2, 25)], ["P"])
    calls = broker.chain("AAPL", QUOTE_TS, 100.0, [dt.date(2022, 2, 25)], ["C"])
    put_mids = [(q.bid + q.ask) / 2 for q in puts]
    call_mids = [(q.bid + q.ask) / 2 for q in calls]
    assert (True, True) == (all(a < b for a, b in itertools.pairwise(put_mids)),
                            all(a >= b for a, b in itertools.pairwise(call_mids)))


def test_a_later_expiry_is_worth_more() -> None:
    """More time, more value: the same at-the-money put costs more a week later."""
    broker = _broker()
    near = broker.quote("AAPL", QUOTE_TS, 100.0, EXPIRY, 100.0, "P")
    far = broker.quote("AAPL", QUOTE_TS, 100.0, dt.date(2022, 3, 4), 100.0, "P")
    assert True is (near.ask < far.ask and near.bid < far.bid)


def test_a_quote_does_not_change_when_closes_after_its_day_are_added() -> None:
    """No look-ahead: closes after the quote's day (wild moves, a VIX spike) are ignored."""
    known = _broker(through=QUOTE_DAY)
    later = _broker(through=dt.date(2022, 3, 31), wild_after=QUOTE_DAY + dt.timedelta(days=1))
    assert known.quote("AAPL", QUOTE_TS, 100.0, EXPIRY, 95.0, "P") == later.quote(
        "AAPL", QUOTE_TS, 100.0, EXPIRY, 95.0, "P")


def test_the_history_before_the_quote_does_change_it() -> None:
    """The control for the look-ahead test: the same wild days before the quote raise its IV."""
    calm = _broker().quote("AAPL", QUOTE_TS, 100.0, EXPIRY, 95.0, "P")
    wild = _broker(wild_after=dt.date(2022, 1, 3)).quote("AAPL", QUOTE_TS, 100.0, EXPIRY, 95.0, "P")
    assert True is (calm.iv is not None and wild.iv is not None and wild.iv > calm.iv)


@pytest.mark.parametrize(("monday", "expiry"), [
    (dt.date(2022, 4, 11), dt.date(2022, 4, 14)),  # Good Friday 2022-04-15: Thursday
    (dt.date(2021, 3, 29), dt.date(2021, 4, 1)),  # Good Friday 2021-04-02
    (dt.date(2022, 4, 18), dt.date(2022, 4, 22)),  # an ordinary week: Friday
])
def test_weekly_expiry_moves_to_thursday_when_friday_is_a_holiday(monday: dt.date,
                                                                   expiry: dt.date) -> None:
    """The market's calendar gives the week's last session as the weekly expiry."""
    assert expiry == SimMarket(nyse_calendar()).calendar.weekly_expiry(monday)


def test_time_to_expiry_ends_at_the_early_close() -> None:
    """2021-11-26 closes at 13:00: a same-day put at 12:00 is worth less than on a calendar without
    that early close (one hour left instead of four)."""
    noon = dt.datetime(2021, 11, 26, 12, 0, tzinfo=NY)
    with_early = _broker(through=dt.date(2021, 11, 24))
    without = dataclasses.replace(with_early, calendar=MarketCalendar.from_sessions(
        nyse_calendar().sessions))
    early = with_early.quote("AAPL", noon, 100.0, noon.date(), 100.0, "P")
    regular = without.quote("AAPL", noon, 100.0, noon.date(), 100.0, "P")
    assert True is (early.ask < regular.ask)


def test_realised_vol_runs_on_across_a_split() -> None:
    """After a 10-for-1 split the recorded closes are on the new basis: the 30-day realised vol
    (so the quoted IV) is what it was, not a 90% one-day crash."""
    m = _broker()
    day = dt.date(2022, 2, 16)
    before = m.iv("AAPL", dt.datetime.combine(day, dt.time(10), tzinfo=NY), 100.0, 100.0,
                  dt.date(2022, 3, 18))
    m.observe(Split(dt.datetime.combine(day, dt.time(0), tzinfo=NY), "AAPL", 10))
    m.observe(Bar(dt.datetime.combine(day, dt.time(16), tzinfo=NY), "AAPL", 10.0, 10.1, 9.9, 10.0,
                  1_000_000))
    after = m.iv("AAPL", dt.datetime.combine(day, dt.time(10), tzinfo=NY), 10.0, 10.0,
                 dt.date(2022, 3, 18))
    assert before == pytest.approx(after, rel=0.05)
