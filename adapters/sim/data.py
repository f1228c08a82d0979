"""Market data for the simulation: the bundled history (`History`) and the `MarketData` port on it
and on the simulated option market (`SimMarketData`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from alluse.adapters import corporate_actions, marketdata
from alluse.adapters.sim.market import SimMarket
from alluse.engine.calendar import NY, MarketCalendar
from alluse.engine.events import Bar, Dividend, OptionContract, OptionQuote, Split

AS_TRADED = "daily_raw"


@dataclass(slots=True)
class History:
    """Daily bars (and 1-minute bars where bundled) of a set of symbols, with what was repaired.

    Daily bars are as traded (dataset ``daily_raw``) where bundled, else split- and
    dividend-adjusted (VIX, QQQ; ``basis`` says which); the splits and dividends of the as-traded
    symbols come with them, as the events a replay feeds on their ex-dates.
    """

    daily: dict[str, dict[dt.date, marketdata.DailyBar]] = field(default_factory=dict)
    minutes: dict[str, dict[dt.date, list[marketdata.MinuteBar]]] = field(default_factory=dict)
    repairs: list[str] = field(default_factory=list)
    basis: dict[str, str] = field(default_factory=dict)
    splits: list[corporate_actions.SplitRecord] = field(default_factory=list)
    dividends: list[corporate_actions.DividendRecord] = field(default_factory=list)

    @classmethod
    def load(cls, symbols: Iterable[str], start: dt.date, end: dt.date, *, repair: str,
             intraday: Iterable[str] = (), as_traded: bool = True) -> History:
        """Bundled daily bars from 60 days before ``start`` (indicator warm-up) to ``end``;
        1-minute bars (regular hours) of the ``intraday`` symbols that have a bundled file."""
        out = cls()
        warmup = start - dt.timedelta(days=60)
        raw = {i.symbol for i in marketdata.available() if i.dataset == AS_TRADED} if as_traded else set()
        for sym in sorted(set(symbols)):
            dataset = AS_TRADED if sym in raw else "daily"
            loaded = marketdata.read_daily(sym, start=warmup, end=end, dataset=dataset,
                                           repair=repair)  # type: ignore[arg-type]
            if loaded.report.dropped or loaded.report.resorted:
                out.repairs.append(loaded.report.summary())
            out.daily[sym] = {b.date: b for b in loaded.bars}
            out.basis[sym] = "as traded" if sym in raw else "split/dividend-adjusted"
        traded = {s for s in out.daily if s in raw}
        out.splits = corporate_actions.splits(traded, start=warmup, end=end)
        out.dividends = corporate_actions.dividends(traded, start=warmup, end=end)
        have = {i.symbol for i in marketdata.available() if i.dataset == "1min"}
        for sym in sorted(set(intraday)):
            if sym not in have:
                continue
            loaded_m = marketdata.read_intraday(sym, start=start, end=end, repair=repair)  # type: ignore[arg-type]
            if loaded_m.report.dropped or loaded_m.report.resorted:
                out.repairs.append(loaded_m.report.summary())
            by_day: dict[dt.date, list[marketdata.MinuteBar]] = {}
            for m in marketdata.regular_hours(loaded_m.bars):
                by_day.setdefault(m.ts.date(), []).append(m)
            out.minutes[sym] = by_day
        return out

    def closes(self, symbol: str) -> dict[dt.date, float]:
        return {d: b.close for d, b in self.daily.get(symbol, {}).items()}

    def actions(self, day: dt.date, ts: dt.datetime) -> list[Split | Dividend]:
        """The splits and dividends with ``day`` as ex-date, as events stamped ``ts``."""
        out: list[Split | Dividend] = [Split(ts, s.symbol, s.ratio) for s in self.splits
                                       if s.ex_date == day]
        out += [Dividend(ts, d.symbol, d.amount, d.ex_date) for d in self.dividends if d.ex_date == day]
        return out

    def dividend_schedule(self) -> dict[str, dict[dt.date, float]]:
        """Declared dividends by symbol and ex-date (the simulated broker's early assignments)."""
        out: dict[str, dict[dt.date, float]] = {}
        for d in self.dividends:
            out.setdefault(d.symbol, {})[d.ex_date] = d.amount
        return out


@dataclass(slots=True)
class SimMarketData:
    """The `MarketData` port: bars from the history, quotes and chains from the simulated market
    at the latest underlying price it has seen."""

    market: SimMarket
    history: History
    calendar: MarketCalendar

    def bars(self, symbol: str, start: dt.date, end: dt.date) -> list[Bar]:
        out = []
        for d, b in sorted(self.history.daily.get(symbol, {}).items()):
            if start <= d <= end:
                close = self.calendar.close_time(d) or dt.time(16)
                out.append(Bar(dt.datetime.combine(d, close, tzinfo=NY), symbol, b.open, b.high,
                               b.low, b.close, int(b.volume)))
        return out

    def option_chain(self, symbol: str, ts: dt.datetime, expiries: Sequence[dt.date],
                     rights: Sequence[str]) -> list[OptionQuote]:
        price = self.market.last.get(symbol)
        if price is None:
            return []
        return self.market.chain(symbol, ts, price, expiries, rights)

    def quotes(self, contracts: Sequence[OptionContract], ts: dt.datetime) -> list[OptionQuote]:
        today = ts.astimezone(NY).date()
        out = []
        for c in contracts:
            price = self.market.last.get(c.symbol)
            if price is not None and c.expiry >= today:
                out.append(self.market.quote(c.symbol, ts, price, c.expiry, c.strike, c.right))
        return out
