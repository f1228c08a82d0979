"""Helpers for testing policies: event builders and decision capture.

Shipped with the package so that operators can unit-test their own policies::

    from alluse.engine.testing import EventBuilder, capture_decisions
    ev = EventBuilder("2026-11-19")
    events = [*ev.daily_bars("TSLA", [250.0] * 20, spread=5.0),
              ev.price("TSLA", 250.0, "10:00"), ev.put_quote("TSLA", "2026-11-20", 245, 3.9, 4.1),
              ev.clock("entry_scan", "10:00")]
    decisions = capture_decisions(policy_set, events, capital=100_000)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from alluse.engine.calendar import NY, MarketCalendar
from alluse.engine.core import Engine
from alluse.engine.decisions import Decision
from alluse.engine.events import (
    Assignment,
    Bar,
    Event,
    Expiration,
    Fill,
    JobDue,
    OptionQuote,
    Price,
)
from alluse.engine.policy import PolicySet


class EventBuilder:
    """Builds events on a given trading day (New York time)."""

    def __init__(self, day: str | dt.date) -> None:
        self.day = dt.date.fromisoformat(day) if isinstance(day, str) else day

    def at(self, hhmm: str, day: dt.date | None = None) -> dt.datetime:
        h, m = (int(x) for x in hhmm.split(":"))
        return dt.datetime.combine(day or self.day, dt.time(h, m), tzinfo=NY)

    def daily_bars(self, symbol: str, closes: Sequence[float], *, spread: float,
                   end: dt.date | None = None) -> list[Bar]:
        """One bar per weekday ending the day before ``end`` (default: this builder's day)."""
        days: list[dt.date] = []
        d = (end or self.day) - dt.timedelta(days=1)
        while len(days) < len(closes):
            if d.weekday() < 5:
                days.append(d)
            d -= dt.timedelta(days=1)
        days.reverse()
        return [Bar(self.at("16:00", day), symbol, c, c + spread / 2, c - spread / 2, c, 1_000_000)
                for day, c in zip(days, closes, strict=True)]

    def price(self, symbol: str, price: float, hhmm: str) -> Price:
        return Price(self.at(hhmm), symbol, price)

    def put_quote(self, symbol: str, expiry: str, strike: float, bid: float, ask: float,
                  hhmm: str = "10:00", *, delta: float | None = None,
                  iv: float | None = None) -> OptionQuote:
        return OptionQuote(self.at(hhmm), symbol, dt.date.fromisoformat(expiry), float(strike),
                           "P", bid, ask, delta, iv)

    def call_quote(self, symbol: str, expiry: str, strike: float, bid: float, ask: float,
                   hhmm: str = "10:00", *, delta: float | None = None,
                   iv: float | None = None) -> OptionQuote:
        return OptionQuote(self.at(hhmm), symbol, dt.date.fromisoformat(expiry), float(strike),
                           "C", bid, ask, delta, iv)

    def clock(self, name: str, hhmm: str) -> JobDue:
        return JobDue(self.at(hhmm), name)

    def sell_put(self, account: str, symbol: str, expiry: str, strike: float, price: float,
                 hhmm: str, quantity: int = 1) -> Fill:
        return Fill(self.at(hhmm), account, symbol, dt.date.fromisoformat(expiry), float(strike),
                    "P", "SELL", quantity, price)

    def expire(self, account: str, symbol: str, expiry: str, strike: float, right: str = "P",
               quantity: int = 1) -> Expiration:
        day = dt.date.fromisoformat(expiry)
        return Expiration(self.at("16:00", day), account, symbol, day, float(strike), right,  # type: ignore[arg-type]
                          quantity)

    def assign(self, account: str, symbol: str, expiry: str, strike: float, right: str = "P",
               quantity: int = 1) -> Assignment:
        day = dt.date.fromisoformat(expiry)
        return Assignment(self.at("16:00", day), account, symbol, day, float(strike), right,  # type: ignore[arg-type]
                          quantity)


def capture_decisions(policy: PolicySet, events: Iterable[Event], *, capital: float = 100_000,
                      calendar: MarketCalendar | None = None,
                      keep_empty: bool = False) -> list[Decision]:
    """Run ``events`` through a fresh engine; return the decisions that say something."""
    engine = Engine(policy, capital, calendar=calendar)
    out = []
    for e in events:
        d = engine.handle(e)
        if keep_empty or not d.empty:
            out.append(d)
    return out
