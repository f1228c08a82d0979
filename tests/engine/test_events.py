"""The JSON Lines event format: parsing, every error message, round-trip."""


from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from alluse.engine.errors import EventError
from alluse.engine.events import (
    Assignment,
    Bar,
    Expiration,
    Fill,
    JobDue,
    OptionContract,
    OptionQuote,
    Price,
    event_to_dict,
    parse_event,
    parse_events,
)

ET = timezone(timedelta(hours=-5))
TS = "2026-11-19T10:15:00-05:00"
EXPIRY_CLOSE = "2026-11-20T16:00:00-05:00"  # the close of PUT_KEY's expiry day
PUT_KEY = '"symbol":"TSLA","expiry":"2026-11-20","strike":245.0,"right":"P"'
SAMPLES = [
    f'{{"type":"bar","ts":"{TS}","symbol":"TSLA","open":240.0,"high":250.5,"low":238.0,'
    '"close":245.0,"volume":1200000}',
    f'{{"type":"price","ts":"{TS}","symbol":"TSLA","price":245.0}}',
    f'{{"type":"option_quote","ts":"{TS}",{PUT_KEY},"bid":3.9,"ask":4.1,"delta":-0.45,"iv":0.62}}',
    f'{{"type":"option_quote","ts":"{TS}",{PUT_KEY},"bid":3.9,"ask":4.1}}',
    f'{{"type":"fill","ts":"{TS}","account":"GEN-ACC-001",{PUT_KEY},"side":"SELL","quantity":1,'
    '"price":4.0}',
    f'{{"type":"fill","ts":"{TS}","account":"GEN-ACC-001","symbol":"BRK.B","side":"BUY",'
    '"quantity":100,"price":412.5,"commission":1.0}',
    f'{{"type":"assignment","ts":"{TS}","account":"GEN-ACC-001",{PUT_KEY},"quantity":1}}',
    f'{{"type":"expiration","ts":"{EXPIRY_CLOSE}","account":"GEN-ACC-001",{PUT_KEY},"quantity":2}}',
    f'{{"type":"clock","ts":"{TS}","name":"entry_scan"}}',
]


def _fill(**changes: object) -> dict[str, object]:
    obj: dict[str, object] = {"type": "fill", "ts": TS, "account": "GEN-ACC-001", "symbol": "TSLA",
                              "expiry": "2026-11-20", "strike": 245.0, "right": "P", "side": "SELL",
                              "quantity": 1, "price": 4.0}
    obj.update(changes)
    return {k: v for k, v in obj.items() if v is not ...}


def _bar(**changes: object) -> dict[str, object]:
    obj: dict[str, object] = {"type": "bar", "ts": TS, "symbol": "TSLA", "open": 240.0,
                              "high": 250.5, "low": 238.0, "close": 245.0, "volume": 1200000}
    return {**obj, **changes}


def _quote(**changes: object) -> dict[str, object]:
    obj: dict[str, object] = {"type": "option_quote", "ts": TS, "symbol": "TSLA",
                              "expiry": "2026-11-20", "strike": 245.0, "right": "P", "bid": 3.9,
                              "ask": 4.1}
    return {**obj, **changes}


def _settle(kind: str, ts: str) -> dict[str, object]:
    return {"type": kind, "ts": ts, "account": "GEN-ACC-001", "symbol": "TSLA",
            "expiry": "2026-11-20", "strike": 245.0, "right": "P", "quantity": 1}


def _error(obj: object, line: int | None = 7) -> str:
    with pytest.raises(EventError) as info:
        parse_event(obj, line=line)  # type: ignore[arg-type]
    return str(info.value)


def test_option_fill_parses_into_fill_with_contract():
    """An option fill carries its contract key, tz-aware ts and a zero default commission."""
    ev = parse_event(json.loads(SAMPLES[4]))
    expected = Fill(datetime(2026, 11, 19, 10, 15, tzinfo=ET), "GEN-ACC-001", "TSLA",
                    date(2026, 11, 20), 245.0, "P", "SELL", 1, 4.0, 0.0)
    assert expected == ev
    assert OptionContract("TSLA", date(2026, 11, 20), 245.0, "P") == ev.contract


def test_stock_fill_has_no_contract():
    """A fill without expiry, strike and right is a stock trade."""
    ev = parse_event(json.loads(SAMPLES[5]))
    assert isinstance(ev, Fill)
    assert (None, 1.0, "BRK.B") == (ev.contract, ev.commission, ev.symbol)


def test_every_type_parses_to_its_dataclass():
    """Each sample line gives the dataclass of its type."""
    expected = [Bar, Price, OptionQuote, OptionQuote, Fill, Fill, Assignment, Expiration, JobDue]
    assert expected == [type(ev) for ev in parse_events(SAMPLES)]


def test_optional_quote_greeks_default_to_none():
    """delta and iv may be left out of an option quote."""
    ev = parse_event(json.loads(SAMPLES[3]))
    assert isinstance(ev, OptionQuote)
    assert (None, None) == (ev.delta, ev.iv)


def test_integers_are_accepted_as_prices_and_zulu_as_utc():
    """JSON integers are numbers; Z is UTC."""
    ev = parse_event({"type": "price", "ts": "2026-11-19T15:15:00Z", "symbol": "TSLA", "price": 245})
    assert Price(datetime(2026, 11, 19, 15, 15, tzinfo=UTC), "TSLA", 245.0) == ev


@pytest.mark.parametrize("line", SAMPLES)
def test_event_to_dict_round_trips_to_the_same_json(line: str):
    """Parsing then serialising gives back the JSON object that was read."""
    obj = json.loads(line)
    assert obj == event_to_dict(parse_event(obj))
    assert parse_event(obj) == parse_event(json.loads(json.dumps(event_to_dict(parse_event(obj)))))


def test_events_are_frozen_and_slotted():
    """Events cannot be changed and carry no __dict__."""
    ev = parse_event(json.loads(SAMPLES[1]))
    with pytest.raises(AttributeError):
        ev.price = 1.0  # type: ignore[misc, union-attr]
    assert not hasattr(ev, "__dict__")


def test_parse_events_skips_blank_lines_and_numbers_lines_from_one():
    """Blank lines are skipped but still counted in the line numbers of errors."""
    text = ["", SAMPLES[1], "   ", '{"type":"price"']
    with pytest.raises(EventError) as info:
        parse_events(text)
    assert "line 4: invalid JSON: Expecting ',' delimiter (column 16)" == str(info.value)
    assert 4 == info.value.line


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"type": "bars", "ts": TS}, "line 7: field 'type': unknown event type string \"bars\" "
         "(did you mean 'bar'?); valid types: assignment, bar, clock, dividend, expiration, fill, "
         "option_quote, order_cancelled, order_rejected, price, split"),
        ({"type": 3, "ts": TS}, "line 7: field 'type': unknown event type number 3; valid types: "
         "assignment, bar, clock, dividend, expiration, fill, option_quote, order_cancelled, "
         "order_rejected, price, split"),
        ({"ts": TS}, "line 7: field 'type': missing (one of: assignment, bar, clock, dividend, "
         "expiration, fill, option_quote, order_cancelled, order_rejected, price, split)"),
        ([1, 2], "line 7: expected a JSON object, got array [1, 2]"),
        (_fill(prise=4.0), "line 7: field 'prise': unknown field for a 'fill' event "
         "(did you mean 'price'?)"),
        (_fill(colour="red"), "line 7: field 'colour': unknown field for a 'fill' event"),
        (_fill(price=...), "line 7: field 'price': missing (required for a 'fill' event)"),
        (_fill(ts=...), "line 7: field 'ts': missing (required for a 'fill' event)"),
        (_fill(price=None), "line 7: field 'price': expected a number, got null null"),
        (_fill(price=True), "line 7: field 'price': expected a number, got boolean true"),
        (_fill(price="4.0"), "line 7: field 'price': expected a number, got string \"4.0\""),
        (_fill(price=float("nan")), "line 7: field 'price': must be a finite number, got nan"),
        (_fill(price=float("inf")), "line 7: field 'price': must be a finite number, got inf"),
        (_fill(price=-0.5), "line 7: field 'price': must be positive, got -0.5"),
        (_fill(commission=-1), "line 7: field 'commission': must not be negative, got -1"),
        (_fill(strike=0), "line 7: field 'strike': must be positive, got 0"),
        (_fill(quantity=0), "line 7: field 'quantity': expected a positive integer, got number 0"),
        (_fill(quantity=1.5), "line 7: field 'quantity': expected a positive integer, "
         "got number 1.5"),
        (_fill(quantity=True), "line 7: field 'quantity': expected a positive integer, "
         "got boolean true"),
        (_fill(side="buy"), "line 7: field 'side': expected \"BUY\" or \"SELL\", got string \"buy\""),
        (_fill(right="X"), "line 7: field 'right': expected \"P\" or \"C\", got string \"X\""),
        (_fill(expiry="2026-13-01"), "line 7: field 'expiry': expected a date YYYY-MM-DD, "
         "got string \"2026-13-01\""),
        (_fill(expiry="20261120"), "line 7: field 'expiry': expected a date YYYY-MM-DD, "
         "got string \"20261120\""),
        (_fill(symbol="tsla"), "line 7: field 'symbol': expected 1-10 uppercase letters, digits, "
         "'.' or '-', got string \"tsla\""),
        (_fill(symbol="ABCDEFGHIJK"), "line 7: field 'symbol': expected 1-10 uppercase letters, "
         "digits, '.' or '-', got string \"ABCDEFGHIJK\""),
        (_fill(account=""), "line 7: field 'account': expected a non-empty string without "
         "surrounding spaces, got string \"\""),
        (_fill(ts="2026-11-19T10:15:00"), "line 7: field 'ts': timestamp has no UTC offset "
         "(add e.g. -05:00 or Z), got string \"2026-11-19T10:15:00\""),
        (_fill(ts="yesterday"), "line 7: field 'ts': expected an ISO 8601 timestamp with an "
         "offset, got string \"yesterday\""),
        (_fill(ts=1763565300), "line 7: field 'ts': expected an ISO 8601 timestamp string, "
         "got number 1763565300"),
        (_fill(strike=...), "line 7: field 'strike': missing: an option fill needs expiry, strike "
         "and right together (a stock fill has none of them)"),
        (_fill(expiry=..., right=...), "line 7: field 'expiry': missing: an option fill needs "
         "expiry, strike and right together (a stock fill has none of them)"),
        ({"type": "bar", "ts": TS, "symbol": "TSLA", "open": 1, "high": 1.5, "low": 2.0,
          "close": 1.8, "volume": 10}, "line 7: field 'high': high 1.5 is below low 2.0"),
        ({"type": "bar", "ts": TS, "symbol": "TSLA", "open": 1, "high": 2, "low": 1, "close": 1,
          "volume": -1}, "line 7: field 'volume': expected a non-negative integer, got number -1"),
        ({"type": "option_quote", "ts": TS, "symbol": "TSLA", "expiry": "2026-11-20",
          "strike": 245, "right": "P", "bid": 3.9, "ask": 4.1, "delta": -1.2},
         "line 7: field 'delta': must be between -1 and 1, got -1.2"),
        ({"type": "clock", "ts": TS, "name": " entry_scan"}, "line 7: field 'name': expected a "
         "non-empty string without surrounding spaces, got string \" entry_scan\""),
    ],
)
def test_bad_event_error_names_line_field_and_value(obj: object, message: str):
    """Every validation failure is an EventError with the line, the field and the bad value."""
    assert message == _error(obj)


def test_error_without_line_number_names_only_the_field():
    """Called without a line (an event from code, not a file), the message starts at the field."""
    assert "field 'side': expected \"BUY\" or \"SELL\", got string \"HOLD\"" == _error(
        _fill(side="HOLD"), line=None)


def test_error_carries_line_and_field_attributes():
    """Callers can read the line and the field from the exception."""
    with pytest.raises(EventError) as info:
        parse_events(["", json.dumps(_fill(quantity=-2))])
    assert (2, "quantity") == (info.value.line, info.value.field)


def test_long_values_are_shortened_in_messages():
    """A huge bad value does not flood the message."""
    assert ("line 7: field 'symbol': expected 1-10 uppercase letters, digits, '.' or '-', "
            "got string \"" + "x" * 36 + "...") == _error(_fill(symbol="x" * 200))


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (_quote(bid=4.2), "line 7: field 'bid': bid 4.2 is above ask 4.1 (a crossed quote)"),
        (_quote(bid=0.05, ask=0), "line 7: field 'bid': bid 0.05 is above ask 0.0 "
         "(a crossed quote)"),
        (_quote(ask=-0.01), "line 7: field 'ask': must not be negative, got -0.01"),
        (_bar(open=251.0), "line 7: field 'open': open 251.0 is outside the bar's range "
         "[low 238.0, high 250.5]"),
        (_bar(close=237.99), "line 7: field 'close': close 237.99 is outside the bar's range "
         "[low 238.0, high 250.5]"),
        (_bar(open=1, high=1.5, low=2.0, close=1.8), "line 7: field 'high': high 1.5 is below "
         "low 2.0"),
        (_bar(low=0), "line 7: field 'low': must be positive, got 0"),
        (_bar(open=0.0), "line 7: field 'open': must be positive, got 0.0"),
        ({"type": "price", "ts": TS, "symbol": "TSLA", "price": 0}, "line 7: field 'price': must be "
         "positive, got 0"),
        (_fill(expiry=..., strike=..., right=..., side="BUY", quantity=100, price=0),
         "line 7: field 'price': must be positive, got 0"),
        (_fill(price=0.0), "line 7: field 'price': must be positive, got 0.0"),
        (_fill(ts="2026-11-23T09:31:00-05:00"), "line 7: field 'ts': option fill on 2026-11-23 "
         "(New York) is after the contract's expiry 2026-11-20: an expired option cannot trade"),
        (_fill(ts="2026-11-21T05:30:00Z"), "line 7: field 'ts': option fill on 2026-11-21 "
         "(New York) is after the contract's expiry 2026-11-20: an expired option cannot trade"),
        (_settle("expiration", "2026-11-19T16:00:00-05:00"), "line 7: field 'ts': expiration on "
         "2026-11-19 (New York) is before the contract's expiry 2026-11-20: only an assignment "
         "can come early"),
        (_settle("expiration", "2026-11-26T09:00:00-05:00"), "line 7: field 'ts': expiration on "
         "2026-11-26 (New York) is 6 days after the contract's expiry 2026-11-20; brokers report "
         "it within 5"),
        (_settle("assignment", "2026-12-20T09:00:00-05:00"), "line 7: field 'ts': assignment on "
         "2026-12-20 (New York) is 30 days after the contract's expiry 2026-11-20; brokers report "
         "it within 5"),
    ],
)
def test_impossible_market_or_broker_event_names_the_field_to_fix(obj: object, message: str):
    """Prices that cannot trade, crossed quotes, bars outside their range, dates past expiry."""
    assert message == _error(obj)


@pytest.mark.parametrize(
    "obj",
    [
        _quote(bid=0, ask=0),
        _quote(bid=0, ask=0.05),
        _quote(bid=4.0, ask=4.0),
        _bar(open=250.5, close=238.0),
        _fill(ts="2026-11-20T15:59:00-05:00"),
        _fill(ts="2026-11-21T02:00:00Z"),  # 21:00 on the expiry day in New York
        _fill(expiry=..., strike=..., right=..., ts="2027-06-01T10:00:00-04:00", side="BUY",
              quantity=100, price=245.0),
        _settle("assignment", "2026-11-02T16:30:00-05:00"),  # early assignment
        _settle("expiration", EXPIRY_CLOSE),
        _settle("assignment", "2026-11-23T08:00:00-05:00"),  # reported the next Monday
        _settle("expiration", "2026-11-25T23:59:00-05:00"),  # the last day of the grace
    ],
)
def test_edge_values_that_can_really_happen_are_accepted(obj: dict[str, object]):
    """0 × 0 and locked quotes, OHLC at the range's ends, late reports, early assignment parse."""
    assert obj["type"] == parse_event(obj).TYPE
