"""The simulated broker: fills come back later as events, limits are respected, DAY orders end at
the close, expiry settles on the daily bar, duplicates place nothing."""

from __future__ import annotations

import datetime as dt
import math

from alluse.adapters.sim.broker import SimBroker
from alluse.adapters.sim.market import SimConfig, SimMarket
from alluse.engine.calendar import NY, nyse_calendar
from alluse.engine.commands import BuyToClose, OrderCommand, SellStock, SellToOpen
from alluse.engine.events import (
    Assignment,
    Bar,
    Expiration,
    Fill,
    OptionContract,
    OrderCancelled,
    OrderRejected,
    Price,
    Split,
)

DAY = dt.date(2022, 2, 15)  # a Tuesday
TS = dt.datetime(2022, 2, 15, 10, 0, tzinfo=NY)
CLOSE = dt.datetime(2022, 2, 15, 16, 0, tzinfo=NY)
EXPIRY = dt.date(2022, 2, 18)
PUT = OptionContract("AAPL", EXPIRY, 98.0, "P")


def _broker(config: SimConfig | None = None, fill_delay: int = 0) -> SimBroker:
    market = SimMarket(nyse_calendar(), config or SimConfig())
    cal = nyse_calendar()
    day = dt.date(2021, 10, 1)
    i = 0
    while day < DAY:
        if cal.is_session(day):
            market.record_close("SPY", day, 400 * math.exp(0.01 * math.sin(i)))
            market.record_close("AAPL", day, 100 * math.exp(0.02 * math.sin(1.7 * i)))
            market.vix[day] = 20.0
            i += 1
        day += dt.timedelta(days=1)
    market.observe(Price(TS, "AAPL", 100.0))
    return SimBroker(market, fill_delay=fill_delay)


def _cmd(cls: type[OrderCommand], limit: float | None, *, oid: str = "s1-1", qty: int = 1,
         contract: OptionContract | None = PUT, ts: dt.datetime = TS,
         account: str = "GEN-ACC-001") -> OrderCommand:
    return cls(oid, oid.split("-")[0], account, "AAPL", contract, qty,
               "LMT" if limit is not None else "MKT", limit, 100.0, ts, CLOSE)


def _bar(ts: dt.datetime, o: float, h: float, lo: float, c: float) -> Bar:
    return Bar(ts, "AAPL", o, h, lo, c, 1_000_000)


def test_a_marketable_sell_limit_fills_at_the_bid_and_comes_back_from_poll_not_submit() -> None:
    """Limit at the bid: filled at the modelled bid, with the per-contract commission, via poll()."""
    broker = _broker(SimConfig(commission_per_contract=1.10))
    bid = broker.market.quote("AAPL", TS, 100.0, EXPIRY, 98.0, "P").bid
    result = broker.submit(_cmd(SellToOpen, bid, qty=3))
    fills = broker.poll()
    assert (None, [Fill(TS, "GEN-ACC-001", "AAPL", EXPIRY, 98.0, "P", "SELL", 3, bid, 3.30,
                        "s1-1")], {"GEN-ACC-001": {PUT: -3}}, []) == (
        result, fills, broker.positions(), broker.poll())


def _short(broker: SimBroker) -> None:
    broker.submit(_cmd(SellToOpen, None, oid="open-1"))
    broker.poll()


def test_a_market_buy_pays_the_ask_plus_slippage() -> None:
    """MKT BUY_TO_CLOSE: modelled ask + the configured slippage."""
    broker = _broker(SimConfig(slippage=0.05))
    _short(broker)
    ask = broker.market.quote("AAPL", TS, 100.0, EXPIRY, 98.0, "P").ask
    broker.submit(_cmd(BuyToClose, None))
    [fill] = broker.poll()
    assert round(ask + 0.05, 2) == fill.price


def test_a_buy_limit_never_fills_through_its_limit() -> None:
    """A marketable buy limit above the ask fills at the ask, not at the limit."""
    broker = _broker()
    _short(broker)
    ask = broker.market.quote("AAPL", TS, 100.0, EXPIRY, 98.0, "P").ask
    broker.submit(_cmd(BuyToClose, ask + 1.0))
    [fill] = broker.poll()
    assert ask == fill.price


def test_a_resting_limit_waits_while_the_market_does_not_reach_it_then_fills_once_it_does() -> None:
    """A sell limit above the bid rests through prices that move away; a fall of the underlying
    lifts the put's bid past the limit and it fills at that bid (limit or better), at that time."""
    broker = _broker()
    q = broker.market.quote("AAPL", TS, 100.0, EXPIRY, 98.0, "P")
    limit = round(q.ask + 0.20, 2)
    broker.submit(_cmd(SellToOpen, limit))
    for minute, px in enumerate((100.5, 101.0, 102.0), 1):
        broker.on_market(Price(TS + dt.timedelta(minutes=minute), "AAPL", px))
    waited = (broker.poll(), [c.order_id for c in broker.open_orders()])
    later = TS + dt.timedelta(minutes=30)
    broker.on_market(Price(later, "AAPL", 97.0))
    bid = broker.market.quote("AAPL", later, 97.0, EXPIRY, 98.0, "P").bid
    assert (([], ["s1-1"]), [Fill(later, "GEN-ACC-001", "AAPL", EXPIRY, 98.0, "P", "SELL", 1,
                                  bid, 0.65, "s1-1")], [], True) == (
        waited, broker.poll(), broker.open_orders(), bid >= limit)


def test_a_day_order_still_working_at_the_close_is_cancelled() -> None:
    """At the day's bar the unfilled limit is cancelled: an OrderCancelled event, nothing open."""
    broker = _broker()
    broker.submit(_cmd(SellToOpen, 50.0))
    broker.on_market(_bar(CLOSE, 100.0, 101.0, 99.5, 100.5))
    assert ([OrderCancelled(CLOSE, "GEN-ACC-001", "s1-1",
                            "day order expired unfilled at the close")], [], {}) == (
        broker.poll(), broker.open_orders(), broker.positions())


def test_a_close_with_nothing_left_to_close_is_cancelled_not_turned_into_a_long() -> None:
    """BUY_TO_CLOSE without a short (it was closed or assigned meanwhile): cancelled, no position."""
    broker = _broker()
    broker.submit(_cmd(BuyToClose, None))
    assert ([OrderCancelled(TS, "GEN-ACC-001", "s1-1", "nothing left to close (the position "
                            "already ended)")], {}) == (broker.poll(), broker.positions())


def test_the_same_order_id_twice_places_one_order() -> None:
    """Idempotent submit: a command seen before places nothing."""
    broker = _broker()
    bid = broker.market.quote("AAPL", TS, 100.0, EXPIRY, 98.0, "P").bid
    broker.submit(_cmd(SellToOpen, bid))
    broker.submit(_cmd(SellToOpen, bid))
    assert (1, {"GEN-ACC-001": {PUT: -1}}) == (len(broker.poll()), broker.positions())


def test_selling_shares_not_held_is_rejected_with_the_reason() -> None:
    """A stock sell without the shares: OrderRejected, nothing booked."""
    broker = _broker()
    broker.submit(_cmd(SellStock, None, qty=100, contract=None))
    assert ([OrderRejected(TS, "GEN-ACC-001", "s1-1", "sells 100 AAPL shares but holds 0")],
            {}) == (broker.poll(), broker.positions())


def test_expiry_bar_assigns_the_itm_put_and_expires_the_otm_one() -> None:
    """At the expiry close of 97 the 98 put is assigned (100 shares a contract), the 95 expires;
    a contract of a later expiry stays open."""
    broker = _broker()
    for oid, acc, strike, expiry in (("a-1", "GEN-ACC-001", 98.0, EXPIRY),
                                     ("b-1", "REV-ACC-001", 95.0, EXPIRY),
                                     ("c-1", "REV-ACC-001", 95.0, dt.date(2022, 2, 25))):
        c = OptionContract("AAPL", expiry, strike, "P")
        broker.submit(_cmd(SellToOpen, None, oid=oid, contract=c, account=acc))
    broker.poll()
    close = dt.datetime(2022, 2, 18, 16, 0, tzinfo=NY)
    broker.on_market(_bar(close, 99.0, 99.5, 96.5, 97.0))
    later = OptionContract("AAPL", dt.date(2022, 2, 25), 95.0, "P")
    assert ([Assignment(close, "GEN-ACC-001", "AAPL", EXPIRY, 98.0, "P", 2 // 2),
             Expiration(close, "REV-ACC-001", "AAPL", EXPIRY, 95.0, "P", 1)],
            {"GEN-ACC-001": {"AAPL": 100}, "REV-ACC-001": {later: -1}}) == (
        broker.poll(), broker.positions())


def test_a_delayed_fill_arrives_after_n_market_events_stamped_when_reported() -> None:
    """fill_delay=2: nothing after the submit or one event; after the second, the fill, stamped then."""
    broker = _broker(fill_delay=2)
    broker.submit(_cmd(SellToOpen, None))
    seen = [broker.poll()]
    t1, t2 = TS + dt.timedelta(minutes=1), TS + dt.timedelta(minutes=2)
    broker.on_market(Price(t1, "AAPL", 100.0))
    seen.append(broker.poll())
    broker.on_market(Price(t2, "AAPL", 100.0))
    fills = broker.poll()
    assert ([[], []], [t2]) == (seen, [f.ts for f in fills])


def test_a_daily_bar_fills_a_resting_limit_at_the_limit_when_its_range_reaches_it() -> None:
    """An order from an earlier day (good till later): the next day's bar never opened through the
    limit but its low lifted the put's bid to it: filled at the limit, at the bar's time. The bar of
    the day the order was placed is judged at its close only."""
    broker = _broker()
    q = broker.market.quote("AAPL", TS, 100.0, EXPIRY, 98.0, "P")
    limit = round(q.ask + 0.30, 2)
    later = dt.datetime(2022, 2, 17, 16, 0, tzinfo=NY)
    cmd = SellToOpen("s9-1", "s9", "GEN-ACC-001", "AAPL", PUT, 1, "LMT", limit, 100.0, TS, later)
    broker.submit(cmd)
    broker.on_market(_bar(CLOSE, 100.0, 100.8, 95.0, 100.2))  # placement day: only the close
    placed_day = broker.poll()
    nxt = dt.datetime(2022, 2, 16, 16, 0, tzinfo=NY)
    broker.on_market(_bar(nxt, 100.1, 100.6, 96.0, 100.0))
    assert ([], [Fill(nxt, "GEN-ACC-001", "AAPL", EXPIRY, 98.0, "P", "SELL", 1, limit, 0.65,
                      "s9-1")]) == (placed_day, broker.poll())


def test_a_split_adjusts_the_brokers_positions_and_cancels_working_orders_of_the_symbol() -> None:
    """A short 98P and 100 shares become four short 24.5Ps and 400 shares; a resting order of
    the old shares is cancelled."""
    b = _broker()
    b.options[("GEN-ACC-001", PUT)] = -1
    b.shares[("GEN-ACC-001", "AAPL")] = 100
    b.submit(_cmd(BuyToClose, 0.01, oid="c1-1"))
    b.on_market(Split(dt.datetime(2022, 2, 16, 0, 0, tzinfo=NY), "AAPL", 4))
    assert ({("GEN-ACC-001", OptionContract("AAPL", EXPIRY, 24.5, "P")): -4},
            {("GEN-ACC-001", "AAPL"): 400}, [],
            ["cancelled by the 4-for-1 split of AAPL"]) == (
        b.options, b.shares, b.open_orders(),
        [e.reason for e in b.poll() if isinstance(e, OrderCancelled)])


def _covered_call(strike: float, dividend: float) -> list[object]:
    b = _broker()
    call = OptionContract("AAPL", dt.date(2022, 3, 18), strike, "C")
    b.options[("GEN-ACC-001", call)] = -1
    b.shares[("GEN-ACC-001", "AAPL")] = 100
    b.dividends = {"AAPL": {dt.date(2022, 2, 16): dividend}}  # ex-date: the next session
    b.on_market(Bar(CLOSE, "AAPL", 100.0, 101.0, 99.0, 100.0, 1_000_000))
    return b.poll()


def test_an_itm_covered_call_is_assigned_the_day_before_an_ex_date_worth_more_than_its_time_value() -> None:
    """An 80C (time value 1.45 at the modelled mid) before a 2.00 dividend is exercised at that close."""
    assert [Assignment(CLOSE, "GEN-ACC-001", "AAPL", dt.date(2022, 3, 18), 80.0, "C", 1)] == [
        e for e in _covered_call(80.0, 2.0) if isinstance(e, Assignment)]


def test_a_covered_call_with_more_time_value_than_the_dividend_is_not_assigned_early() -> None:
    """A 98C a month out holds more time value than a 0.10 dividend: nobody exercises it."""
    assert [] == [e for e in _covered_call(98.0, 0.10) if isinstance(e, Assignment)]


def test_a_later_leg_works_only_after_the_earlier_one_fills_and_ends_with_it() -> None:
    """A roll: the new put's sell waits for the buy-back; a buy-back that never fills takes the
    sell with it at the close (no second short while the first is still open)."""
    broker = _broker()
    _short(broker)
    ask = broker.market.quote("AAPL", TS, 100.0, EXPIRY, 98.0, "P").ask
    new = OptionContract("AAPL", dt.date(2022, 2, 25), 95.0, "P")
    buy_back = BuyToClose("r-1", "r", "GEN-ACC-001", "AAPL", PUT, 1, "LMT", round(ask / 2, 2),
                          100.0, TS, CLOSE)
    sell_new = SellToOpen("r-2", "r", "GEN-ACC-001", "AAPL", new, 1, "MKT", None, 100.0, TS,
                          CLOSE, after="r-1")
    broker.submit(buy_back)
    broker.submit(sell_new)
    before_close = (broker.poll(), [c.order_id for c in broker.open_orders()])
    broker.on_market(_bar(CLOSE, 100.0, 100.4, 99.8, 100.1))
    assert (([], ["r-1", "r-2"]), [
        OrderCancelled(CLOSE, "GEN-ACC-001", "r-1", "day order expired unfilled at the close"),
        OrderCancelled(CLOSE, "GEN-ACC-001", "r-2", "the earlier leg r-1 did not fill")],
        {"GEN-ACC-001": {PUT: -1}}) == (before_close, broker.poll(), broker.positions())


def test_a_later_leg_fills_right_after_the_earlier_one() -> None:
    """A marketable buy-back fills, then the new put is sold at once: two fills in leg order."""
    broker = _broker()
    _short(broker)
    new = OptionContract("AAPL", dt.date(2022, 2, 25), 95.0, "P")
    broker.submit(BuyToClose("r-1", "r", "GEN-ACC-001", "AAPL", PUT, 1, "MKT", None, 100.0, TS,
                             CLOSE))
    broker.submit(SellToOpen("r-2", "r", "GEN-ACC-001", "AAPL", new, 1, "MKT", None, 100.0, TS,
                             CLOSE, after="r-1"))
    assert (["r-1", "r-2"], {"GEN-ACC-001": {new: -1}}) == (
        [f.order_id for f in broker.poll() if isinstance(f, Fill)], broker.positions())


def test_a_split_cancels_a_roll_in_progress_with_its_waiting_leg() -> None:
    """A resting buy-back and the new put's sell waiting on it are both of the old shares: the
    split ends both, and the short put is adjusted."""
    broker = _broker()
    _short(broker)
    new = OptionContract("AAPL", dt.date(2022, 2, 25), 95.0, "P")
    broker.submit(BuyToClose("r-1", "r", "GEN-ACC-001", "AAPL", PUT, 1, "LMT", 0.01, 100.0, TS,
                             CLOSE))
    broker.submit(SellToOpen("r-2", "r", "GEN-ACC-001", "AAPL", new, 1, "MKT", None, 100.0, TS,
                             CLOSE, after="r-1"))
    broker.poll()
    broker.on_market(Split(dt.datetime(2022, 2, 15, 11, 0, tzinfo=NY), "AAPL", 4))
    assert ([("r-1", "cancelled by the 4-for-1 split of AAPL"),
             ("r-2", "the earlier leg r-1 did not fill")], [],
            {"GEN-ACC-001": {OptionContract("AAPL", EXPIRY, 24.5, "P"): -4}}) == (
        [(e.order_id, e.reason) for e in broker.poll() if isinstance(e, OrderCancelled)],
        broker.open_orders(), broker.positions())
