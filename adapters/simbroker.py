"""The simulated broker: option quotes from Black-Scholes on the calibrated vol model, fills at
the modelled mid less slippage, commissions, and expiry at the close of the expiration day
(worthless, or assignment when in the money). The same engine code runs against it as against IB.

Quotes are priced with what is known at the time (no look-ahead): the previous VIX close and the
trailing realised volatility of the symbol and of SPY over the closes recorded up to the quote's
day (closes recorded for later days are ignored; the replay records a day's close at the close).
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from alluse.engine.calendar import NY, MarketCalendar
from alluse.engine.decisions import ActionScript
from alluse.engine.events import Assignment, Expiration, Fill, OptionQuote
from alluse.engine.pricing import bs_greeks
from alluse.engine.volmodel import DEFAULT_VOL_PARAMS, VolModelParams, atm_level, realized_vol, smile_iv

YEAR_HOURS = 365.0 * 24.0
Contract = tuple[str, str, dt.date, float, str]  # account, symbol, expiry, strike, right


@dataclass(frozen=True, slots=True)
class SimConfig:
    slippage: float = 0.02  # $ per share against us on every option fill
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
class SimBroker:
    calendar: MarketCalendar
    config: SimConfig = field(default_factory=SimConfig)
    vix: dict[dt.date, float] = field(default_factory=dict)  # close by date
    closes: dict[str, list[tuple[dt.date, float]]] = field(default_factory=dict)
    positions: dict[Contract, int] = field(default_factory=dict)  # signed contracts
    shares: dict[tuple[str, str], int] = field(default_factory=dict)
    commissions: float = 0.0

    # ------------------------------------------------------------ market history (no look-ahead)
    def record_close(self, symbol: str, day: dt.date, close: float) -> None:
        bisect.insort(self.closes.setdefault(symbol, []), (day, close))  # kept in date order

    def _rv(self, symbol: str, day: dt.date) -> float | None:
        """Realised vol of the closes up to ``day``: closes recorded for later days are not known
        to a quote on ``day`` (a caller's history may run ahead of the quote). ``day``'s own close
        counts once recorded; the replay records it at the close, after the day's entry quotes."""
        closes = self.closes.get(symbol, [])
        end = bisect.bisect_right(closes, (day, math.inf))
        hist = closes[max(end - self.config.rv_window - 1, 0):end]
        return realized_vol([c for _, c in hist], self.config.rv_window) if len(hist) > 2 else None

    def _vix_before(self, day: dt.date) -> float:
        for back in range(1, 10):
            v = self.vix.get(day - dt.timedelta(days=back))
            if v is not None:
                return v
        return 20.0  # no VIX history yet: a long-run average, said in the docs

    def _years(self, ts: dt.datetime, expiry: dt.date) -> float:
        close = self.calendar.close_time(expiry) or dt.time(16)
        end = dt.datetime.combine(expiry, close, tzinfo=NY)
        return max((end - ts).total_seconds() / 3600.0, 0.5) / YEAR_HOURS

    def iv(self, symbol: str, ts: dt.datetime, price: float, strike: float, expiry: dt.date) -> float:
        day = ts.astimezone(NY).date()
        vix = self._vix_before(day)
        level = atm_level(vix, symbol_rv=None if symbol == "SPY" else self._rv(symbol, day),
                          market_rv=self._rv("SPY", day), params=self.config.vol)
        t = self._years(ts, expiry)
        carry = self.config.risk_free_rate - self.config.dividend_yield
        return smile_iv(level, math.log(strike / price), t, vix=vix, carry=carry,
                        params=self.config.vol)

    def quote(self, symbol: str, ts: dt.datetime, price: float, expiry: dt.date, strike: float,
              right: str) -> OptionQuote:
        t = self._years(ts, expiry)
        iv = self.iv(symbol, ts, price, strike, expiry)
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
        return [self.quote(symbol, ts, price, e, k, r)
                for e in sorted(set(expiries)) for r in rights for k in strikes]

    # ------------------------------------------------------------ orders
    def execute(self, script: ActionScript, ts: dt.datetime,
                prices: Mapping[str, float]) -> list[Fill]:
        """Fill every order step of an approved script at the modelled mid ± slippage."""
        fills: list[Fill] = []
        for step in script.steps:
            if step.kind != "order" or not step.quantity:
                continue
            price = prices[step.symbol]
            buy = step.action in ("BUY_TO_CLOSE", "BUY_TO_OPEN", "BUY")
            side = "BUY" if buy else "SELL"
            if not step.right:  # stock
                px = round(price + (0.01 if buy else -0.01), 2)
                fee = round(self.config.commission_per_share * step.quantity, 2)
                fills.append(Fill(ts, script.account, step.symbol, None, None, None, side,
                                  step.quantity, px, fee))
                key = (script.account, step.symbol)
                self.shares[key] = self.shares.get(key, 0) + (step.quantity if buy else
                                                              -step.quantity)
                self.commissions += fee
                continue
            expiry = dt.date.fromisoformat(step.expiry)
            strike = float(step.strike or 0.0)
            q = self.quote(step.symbol, ts, price, expiry, strike, step.right)
            mid = (q.bid + q.ask) / 2
            px = round(max(mid + (self.config.slippage if buy else -self.config.slippage), 0.01), 2)
            fee = round(self.config.commission_per_contract * step.quantity, 2)
            fills.append(Fill(ts, script.account, step.symbol, expiry, strike, step.right,  # type: ignore[arg-type]
                              side, step.quantity, px, fee))
            key2: Contract = (script.account, step.symbol, expiry, strike, step.right)
            self.positions[key2] = self.positions.get(key2, 0) + (step.quantity if buy else
                                                                  -step.quantity)
            if self.positions[key2] == 0:
                del self.positions[key2]
            self.commissions += fee
        return fills

    def settle(self, day: dt.date, closes: Mapping[str, float],
               ts: dt.datetime | None = None) -> list[Assignment | Expiration]:
        """Expiry at the close: short options in the money are assigned, the rest expire.
        ``ts`` (default: the close) lets a replay order settlement after the close's fills."""
        out: list[Assignment | Expiration] = []
        if ts is None:
            ts = dt.datetime.combine(day, self.calendar.close_time(day) or dt.time(16), tzinfo=NY)
        for key in sorted(k for k in self.positions if k[2] == day):
            account, symbol, expiry, strike, right = key
            qty = self.positions.pop(key)
            if qty >= 0 or symbol not in closes:
                continue
            close = closes[symbol]
            itm = close < strike if right == "P" else close > strike
            n = -qty
            if itm:
                out.append(Assignment(ts, account, symbol, expiry, strike, right, n))  # type: ignore[arg-type]
                sk = (account, symbol)
                self.shares[sk] = self.shares.get(sk, 0) + (100 * n if right == "P" else -100 * n)
            else:
                out.append(Expiration(ts, account, symbol, expiry, strike, right, n))  # type: ignore[arg-type]
        return out
