"""The simulated option market: Black-Scholes on the calibrated vol model.

Quotes are priced with what is known at the time (no look-ahead): the previous VIX close and the
trailing realised volatility of the symbol and of SPY over the closes recorded up to the quote's
day (closes recorded for later days are ignored). The market records a symbol's close when it
sees its daily bar, and SPY's close (the vol model's market reference, not traded here) when it
sees the first bar of a day. Prices are as traded: at a split the recorded closes of the symbol
are divided by the ratio, so its realised vol runs on across the split as on adjusted history.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar

from alluse.engine.calendar import NY, MarketCalendar
from alluse.engine.events import Bar, Event, OptionQuote, Price, Split
from alluse.engine.pricing import bs_greeks
from alluse.engine.volmodel import DEFAULT_VOL_PARAMS, VolModelParams, atm_level, realized_vol, smile_iv

YEAR_HOURS = 365.0 * 24.0
MARKET_REFERENCE = "SPY"


@dataclass(frozen=True, slots=True)
class SimConfig:
    slippage: float = 0.02  # $ per share against us on every market order
    half_spread_pct: float = 0.05  # quoted half spread as a fraction of the model price
    min_half_spread: float = 0.01
    commission_per_contract: float = 0.65
    commission_per_share: float = 0.005
    risk_free_rate: float = 0.04
    dividend_yield: float = 0.005
    strike_range_pct: float = 0.15  # quote strikes within ±15% of the price
    rv_window: int = 30
    vol: VolModelParams = DEFAULT_VOL_PARAMS


def strike_step(price: float) -> float:
    if price < 25:
        return 0.5
    if price < 100:
        return 1.0
    if price < 250:
        return 2.5
    return 5.0


@dataclass(slots=True)
class SimMarket:
    # saved state: the calendar and the configuration come from the run that restores it
    __persist__: ClassVar[tuple[str, ...]] = ("vix", "reference", "closes", "last")

    calendar: MarketCalendar
    config: SimConfig = field(default_factory=SimConfig)
    vix: dict[dt.date, float] = field(default_factory=dict)  # close by date
    reference: dict[dt.date, float] = field(default_factory=dict)  # SPY closes by date
    closes: dict[str, list[tuple[dt.date, float]]] = field(default_factory=dict)
    last: dict[str, float] = field(default_factory=dict)  # latest underlying price
    # realised vol by (symbol, closes known): it changes only when a close is recorded
    _rv_cache: dict[tuple[str, int], float | None] = field(default_factory=dict)

    # ------------------------------------------------------------ what the market has seen
    def observe(self, ev: Event) -> None:
        if isinstance(ev, Split):
            n = ev.ratio
            if ev.symbol in self.closes:
                self.closes[ev.symbol] = [(d, c / n) for d, c in self.closes[ev.symbol]]
            if ev.symbol in self.last:
                self.last[ev.symbol] /= n
            if ev.symbol == MARKET_REFERENCE:
                self.reference = {d: c / n for d, c in self.reference.items()}
            return
        if isinstance(ev, Price):
            self.last[ev.symbol] = ev.price
        elif isinstance(ev, Bar):
            day = ev.ts.astimezone(NY).date()
            ref = self.reference.get(day)
            if ref is not None and not self._has(MARKET_REFERENCE, day):
                self.record_close(MARKET_REFERENCE, day, ref)
            self.record_close(ev.symbol, day, ev.close)
            self.last[ev.symbol] = ev.close

    def _has(self, symbol: str, day: dt.date) -> bool:
        closes = self.closes.get(symbol)
        return bool(closes) and closes[-1][0] >= day  # type: ignore[index]

    def record_close(self, symbol: str, day: dt.date, close: float) -> None:
        closes = self.closes.setdefault(symbol, [])
        if closes and closes[-1] > (day, close):  # out of order: cached vols may shift
            self._rv_cache = {k: v for k, v in self._rv_cache.items() if k[0] != symbol}
        bisect.insort(closes, (day, close))  # kept in date order

    def _rv(self, symbol: str, day: dt.date) -> float | None:
        """Realised vol of the closes up to ``day`` (its own close counts once recorded)."""
        closes = self.closes.get(symbol, [])
        end = bisect.bisect_right(closes, (day, math.inf))
        key = (symbol, end)
        if key in self._rv_cache:
            return self._rv_cache[key]
        hist = closes[max(end - self.config.rv_window - 1, 0):end]
        rv = realized_vol([c for _, c in hist], self.config.rv_window) if len(hist) > 2 else None
        self._rv_cache[key] = rv
        return rv

    def _vix_before(self, day: dt.date) -> float:
        for back in range(1, 10):
            v = self.vix.get(day - dt.timedelta(days=back))
            if v is not None:
                return v
        return 20.0  # no VIX history yet: a long-run average, said in the docs

    # ------------------------------------------------------------ pricing
    def _years(self, ts: dt.datetime, expiry: dt.date) -> float:
        close = self.calendar.close_time(expiry) or dt.time(16)
        end = dt.datetime.combine(expiry, close, tzinfo=NY)
        return max((end - ts).total_seconds() / 3600.0, 0.5) / YEAR_HOURS

    def _level(self, symbol: str, day: dt.date) -> tuple[float, float]:
        """(VIX before ``day``, the symbol's 30-day ATM level): fixed within a day's market."""
        vix = self._vix_before(day)
        level = atm_level(vix, symbol_rv=None if symbol == MARKET_REFERENCE else self._rv(symbol, day),
                          market_rv=self._rv(MARKET_REFERENCE, day), params=self.config.vol)
        return vix, level

    def iv(self, symbol: str, ts: dt.datetime, price: float, strike: float, expiry: dt.date) -> float:
        vix, level = self._level(symbol, ts.astimezone(NY).date())
        return self._smile(level, vix, price, strike, self._years(ts, expiry))

    def _smile(self, level: float, vix: float, price: float, strike: float, t: float) -> float:
        carry = self.config.risk_free_rate - self.config.dividend_yield
        return smile_iv(level, math.log(strike / price), t, vix=vix, carry=carry,
                        params=self.config.vol)

    def quote(self, symbol: str, ts: dt.datetime, price: float, expiry: dt.date, strike: float,
              right: str) -> OptionQuote:
        vix, level = self._level(symbol, ts.astimezone(NY).date())
        return self._quote(symbol, ts, price, expiry, strike, right, vix, level,
                           self._years(ts, expiry))

    def _quote(self, symbol: str, ts: dt.datetime, price: float, expiry: dt.date, strike: float,
               right: str, vix: float, level: float, t: float) -> OptionQuote:
        iv = self._smile(level, vix, price, strike, t)
        g = bs_greeks(right, price, strike, t, self.config.risk_free_rate, iv,  # type: ignore[arg-type]
                      self.config.dividend_yield)
        mid = max(g.price, 0.0)
        half = max(self.config.min_half_spread, mid * self.config.half_spread_pct)
        bid = round(max(mid - half, 0.0), 2)
        ask = round(mid + half, 2)
        return OptionQuote(ts, symbol, expiry, strike, right, bid, ask,  # type: ignore[arg-type]
                           round(g.delta, 4), round(iv, 4))

    def chain(self, symbol: str, ts: dt.datetime, price: float, expiries: Iterable[dt.date],
              rights: Iterable[str]) -> list[OptionQuote]:
        step = strike_step(price)
        lo = math.floor(price * (1 - self.config.strike_range_pct) / step) * step
        hi = math.ceil(price * (1 + self.config.strike_range_pct) / step) * step
        strikes = [round(lo + i * step, 2) for i in range(round((hi - lo) / step) + 1)]
        vix, level = self._level(symbol, ts.astimezone(NY).date())  # once per chain
        out = []
        for e in sorted(set(expiries)):
            t = self._years(ts, e)
            out += [self._quote(symbol, ts, price, e, k, r, vix, level, t)
                    for r in rights for k in strikes]
        return out

