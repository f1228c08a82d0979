"""Corporate actions: splits adjust every open position as the OCC does, dividends pay holders."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from alluse.adapters import marketdata
from alluse.adapters.policy_files import default_policy_dir, load_policy_dir
from alluse.engine.calendar import NY
from alluse.engine.core import Engine
from alluse.engine.errors import EventError
from alluse.engine.events import Bar, Dividend, Fill, OptionContract, Split, event_to_dict, parse_event
from alluse.engine.indicators import MACD, WilderATR, WilderRSI
from alluse.engine.ledger import Ledger

DEFAULT = load_policy_dir(Path(str(default_policy_dir())))


def _ts(day: dt.date, hh: int = 16, mm: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hh, mm), tzinfo=NY)


def _bars(symbol: str, start: dt.date, end: dt.date) -> list[Bar]:
    return [Bar(_ts(b.date), symbol, b.open, b.high, b.low, b.close, int(b.volume))
            for b in marketdata.load_daily(symbol, start=start, end=end, dataset="daily_raw")]


def test_split_and_dividend_events_round_trip_through_json() -> None:
    """A split and a dividend parse from their JSON lines and render back to them."""
    lines = [{"type": "split", "ts": "2024-06-10T00:00:00-04:00", "symbol": "NVDA", "ratio": 10},
             {"type": "dividend", "ts": "2024-08-12T00:00:00-04:00", "symbol": "AAPL",
              "amount": 0.25, "ex_date": "2024-08-12"}]
    assert lines == [event_to_dict(parse_event(obj)) for obj in lines]


@pytest.mark.parametrize(("obj", "field", "message"), [
    ({"type": "split", "ts": "2024-06-10T00:00:00Z", "symbol": "NVDA", "ratio": 1}, "ratio",
     "whole number of new shares per old share ≥ 2"),
    ({"type": "split", "ts": "2024-06-10T00:00:00Z", "symbol": "NVDA", "ratio": 1.5}, "ratio",
     "reverse and fractional splits are not supported"),
    ({"type": "dividend", "ts": "2024-08-12T00:00:00Z", "symbol": "AAPL", "amount": 0,
      "ex_date": "2024-08-12"}, "amount", "must be positive"),
    ({"type": "dividend", "ts": "2024-08-13T10:00:00-04:00", "symbol": "AAPL", "amount": 0.25,
      "ex_date": "2024-08-12"}, "ts", "after its ex-date 2024-08-12"),
])
def test_invalid_corporate_actions_are_refused_with_the_field(obj: dict[str, object], field: str,
                                                              message: str) -> None:
    """A ratio that is not a whole forward split, a non-positive amount, a dividend after its ex-date."""
    with pytest.raises(EventError) as err:
        parse_event(obj, line=3)
    assert (field, True) == (err.value.field, message in str(err.value))


def test_indicators_run_on_across_a_split_as_on_split_adjusted_history() -> None:
    """NVDA as traded around 2024-06-10 with split_adjust at the split = the adjusted series."""
    bars = _bars("NVDA", dt.date(2024, 3, 1), dt.date(2024, 7, 31))
    split = dt.date(2024, 6, 10)
    traded = (WilderATR(14), WilderRSI(14), MACD(12, 26, 9))
    adjusted = (WilderATR(14), WilderRSI(14), MACD(12, 26, 9))
    for b in bars:
        if b.ts.date() == split:
            for ind in traded:
                ind.split_adjust(10)
        k = 10.0 if b.ts.date() < split else 1.0
        traded[0].update(b.high, b.low, b.close)
        adjusted[0].update(b.high / k, b.low / k, b.close / k)
        for ind_t, ind_a in zip(traded[1:], adjusted[1:], strict=True):
            ind_t.update(b.close)
            ind_a.update(b.close / k)
    a_macd, t_macd = adjusted[2].value, traded[2].value
    assert a_macd is not None and t_macd is not None
    got = (traded[0].value, traded[1].value, t_macd.macd, t_macd.signal)
    want = (adjusted[0].value, adjusted[1].value, a_macd.macd, a_macd.signal)
    assert want == pytest.approx(got, rel=1e-9)


def test_ledger_split_keeps_total_basis_and_moves_option_lots_to_the_adjusted_contract() -> None:
    """100 shares at 12,000 and a short 1100P become 1,000 shares at 12,000 and ten short 110Ps."""
    led = Ledger({"A": Decimal("500000")})
    day = dt.date(2024, 6, 5)
    led.apply(Fill(_ts(day, 10), "A", "NVDA", None, None, None, "BUY", 100, 120.0))
    led.apply(Fill(_ts(day, 11), "A", "NVDA", dt.date(2024, 6, 21), 1100.0, "P", "SELL", 1, 30.0))
    before = {lot.symbol + (f" {lot.strike:g}{lot.right}" if lot.expiry else ""): lot
              for lot in led.lots("A")}
    led.split("NVDA", 10, _ts(dt.date(2024, 6, 10), 0))
    after = led.positions("A")
    new = OptionContract("NVDA", dt.date(2024, 6, 21), 110.0, "P")
    assert ({"NVDA": 1000, new: -10},
            [before["NVDA"].basis, before["NVDA 1100P"].basis],
            [before["NVDA"].holding_period_start] * 2) == (
        after, [lot.basis for lot in led.lots("A")],
        [lot.holding_period_start for lot in led.lots("A")])


def test_a_dividend_credits_each_holder_shares_times_amount_as_dividend_income() -> None:
    """250 AAPL shares × 0.25 = 62.50 in cash, recorded apart from realized gains."""
    led = Ledger({"A": Decimal("100000"), "B": Decimal("100000")})
    led.apply(Fill(_ts(dt.date(2024, 8, 1), 10), "A", "AAPL", None, None, None, "BUY", 250, 200.0))
    booked = led.dividend("AAPL", 0.25, dt.date(2024, 8, 12), _ts(dt.date(2024, 8, 12), 0))
    assert ([("A", 250, Decimal("62.50"))], Decimal("50062.50"), [], Decimal("100000.00")) == (
        [(d.account, d.shares, d.amount) for d in booked], led.cash("A"), led.realized(),
        led.cash("B"))


CASES = [("NVDA", dt.date(2024, 6, 10), 10, dt.date(2024, 6, 5), dt.date(2024, 6, 21)),
         ("AMZN", dt.date(2022, 6, 6), 20, dt.date(2022, 6, 1), dt.date(2022, 6, 17))]


@pytest.mark.parametrize(("symbol", "ex_date", "ratio", "opened", "expiry"), CASES)
def test_a_position_held_across_a_split_keeps_its_protocol_level_and_economics(
        symbol: str, ex_date: dt.date, ratio: int, opened: dt.date, expiry: dt.date) -> None:
    """As-traded bars, a short put and 100 shares opened before the split: after it the engine
    holds ratio × the contracts at strike ÷ ratio, ratio × the shares at the same basis, and the
    protocol's entry and ATR ÷ ratio — the level and the adverse multiple at the first post-split
    price are what the same move measured before the split gives."""
    engine = Engine(DEFAULT, 1_000_000)
    for b in _bars(symbol, opened - dt.timedelta(days=45), opened):
        engine.handle(b)
    close = engine.state.market[symbol].price
    assert close is not None
    strike = float(round(close * 0.95 / 5) * 5)
    account = "GEN-ACC-001"
    engine.handle(Fill(_ts(opened, 16, 1), account, symbol, None, None, None, "BUY", 100, close))
    engine.handle(Fill(_ts(opened, 16, 2), account, symbol, expiry, strike, "P", "SELL", 1, 20.0))
    for b in _bars(symbol, opened + dt.timedelta(days=1), ex_date - dt.timedelta(days=1)):
        engine.handle(b)
    (pos_before,) = engine.state.shorts.values()
    seen = (pos_before.level, pos_before.entry_price, pos_before.atr, pos_before.premium)
    basis = [lot.basis for lot in engine.state.ledger.lots(account)]
    engine.handle(Split(_ts(ex_date, 0), symbol, ratio))
    (pos,) = engine.state.shorts.values()
    first = _bars(symbol, ex_date, ex_date)[0]
    new_contract = OptionContract(symbol, expiry, round(strike / ratio, 3), "P")
    assert ((pos.quantity, pos.strike, pos.level),
            {symbol: 100 * ratio, new_contract: -ratio},
            [lot.basis for lot in engine.state.ledger.lots(account)],
            pytest.approx((seen[1] / ratio, seen[2] / ratio, seen[3] / ratio)),
            pytest.approx(pos_before_multiple(seen, first.open * ratio))) == (
        (ratio, strike / ratio, seen[0]),
        engine.state.ledger.positions(account), basis,
        (pos.entry_price, pos.atr, pos.premium), pos.adverse_multiple(first.open))


def pos_before_multiple(seen: tuple[int, float, float, float], price: float) -> float:
    """The put's adverse multiple on the pre-split basis: (entry − price) / ATR."""
    return (seen[1] - price) / seen[2]


def test_engine_dividend_pays_the_accounts_holding_the_stock() -> None:
    """COM-ACC holds 100 AAPL (an assigned put): the dividend event credits 25.00."""
    engine = Engine(DEFAULT, 100_000)
    engine.handle(Fill(_ts(dt.date(2024, 8, 1), 10), "COM-ACC-001", "AAPL", None, None, None,
                       "BUY", 100, 218.0))
    cash = engine.state.ledger.cash("COM-ACC-001")
    d = engine.handle(Dividend(_ts(dt.date(2024, 8, 12), 0), "AAPL", 0.25, dt.date(2024, 8, 12)))
    assert (Decimal("25.00"), ["ledger.dividend"]) == (
        engine.state.ledger.cash("COM-ACC-001") - cash, [r.rule for r in d.fired])


def test_a_covered_call_stays_a_wheel_position_watched_on_the_fall_across_a_split() -> None:
    """NVDA 2024: 100 shares and a call written against them; after the 10-for-1 split the ten
    adjusted calls are still covered (by 1,000 shares) and still escalate on the stock's fall."""
    symbol, ex_date, opened = "NVDA", dt.date(2024, 6, 10), dt.date(2024, 6, 3)
    engine = Engine(DEFAULT, 1_000_000)
    for b in _bars(symbol, opened - dt.timedelta(days=45), opened):
        engine.handle(b)
    close = engine.state.market[symbol].price
    assert close is not None
    strike = float(round(close * 1.05 / 5) * 5)
    account = "GEN-ACC-001"
    engine.handle(Fill(_ts(opened, 16, 1), account, symbol, None, None, None, "BUY", 100, close))
    engine.handle(Fill(_ts(opened, 16, 2), account, symbol, dt.date(2024, 6, 21), strike, "C",
                       "SELL", 1, 20.0))
    engine.handle(Split(_ts(ex_date, 0), symbol, 10))
    (pos,) = engine.state.shorts.values()
    assert (True, 10, 1000, True, float("inf")) == (
        pos.covered, pos.quantity, engine.state.ledger.positions(account)[symbol],
        pos.lo < pos.entry_price, pos.hi)
