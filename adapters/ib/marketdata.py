"""`IbMarketData`: the `MarketData` port on IB, within IB's limits.

- Daily bars: reqHistoricalData, at most 60 requests in any 10 minutes, and an identical request
  within 15 s is answered from the last reply (IB refuses it with a pacing violation).
- Option chains: reqSecDefOptParams lists expiries and strikes; only expiries within
  ``max_days`` and ``strikes_around`` strikes either side of the money are qualified
  (reqContractDetails per expiry and right) and quoted.
- Quotes: one market-data line per contract, opened when the line budget allows, held until bid,
  ask and the model greeks are in (or ``quote_wait`` passes: late greeks leave delta and iv
  None, as do IB's -1/-2 "not computed" values), then cancelled.
- Every request takes a token of the connection's message pacer. On 1101 (data lost) the open
  lines are requested again.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import datetime as dt
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from ib_async import IB, Contract, Option, Ticker

from alluse.adapters.clock import LiveClock
from alluse.adapters.ib import mapping
from alluse.adapters.ib.connection import IbConnection
from alluse.adapters.ib.pacing import LineBudget, SlidingWindow
from alluse.adapters.ib.state import ConnState
from alluse.engine.calendar import NY, MarketCalendar
from alluse.engine.errors import BrokerError
from alluse.engine.events import Bar, OptionContract, OptionQuote
from alluse.engine.ports import Clock

log = logging.getLogger("alluse.ib")
IDENTICAL_HISTORY_SECONDS = 15.0
_R = TypeVar("_R")


@dataclass(frozen=True, slots=True)
class _Seen:
    """What a market-data line showed before it was cancelled (None: no usable value)."""

    bid: float | None
    ask: float | None
    last: float | None
    close: float | None
    delta: float | None
    iv: float | None
    greeks: bool

    @classmethod
    def of(cls, t: Ticker) -> _Seen:
        g = t.modelGreeks
        delta = g.delta if g is not None and g.delta is not None and -1 <= g.delta <= 1 else None
        iv = g.impliedVol if g is not None and g.impliedVol is not None and g.impliedVol > 0 else None
        return cls(_price(t.bid), _price(t.ask), _price(t.last), _price(t.close), delta, iv,
                   g is not None)

    @property
    def price(self) -> float | None:
        if self.last is not None:
            return self.last
        if self.bid is not None and self.ask is not None and self.ask > 0:
            return (self.bid + self.ask) / 2
        return self.close


def _price(value: float | None) -> float | None:
    # IB sends -1 for "no quote"; ib_async leaves unset values NaN
    if value is None or not math.isfinite(value) or value < 0:
        return None
    return float(value)


def around(strikes: Sequence[float], spot: float, n: int) -> list[float]:
    """The listed strike nearest ``spot`` and ``n`` strikes either side of it."""
    ordered = sorted(set(strikes))
    if not ordered:
        return []
    i = bisect.bisect_left(ordered, spot)
    if i == len(ordered) or (i > 0 and spot - ordered[i - 1] <= ordered[i] - spot):
        i -= 1
    return ordered[max(0, i - n): i + n + 1]


class IbMarketData:
    def __init__(self, connection: IbConnection, *, line_budget: int = 100, strikes_around: int = 6,
                 max_days: int = 30, quote_wait: float = 5.0, calendar: MarketCalendar | None = None,
                 clock: Clock | None = None, call_timeout: float = 600.0) -> None:
        self.budget = LineBudget(line_budget)
        self.strikes_around = strikes_around
        self.max_days = max_days
        self.quote_wait = quote_wait
        self._conn = connection
        self._calendar = calendar
        self._clock: Clock = clock or LiveClock()
        self._call_timeout = call_timeout
        self._historical = SlidingWindow(60, 600.0)
        self._recent_bars: dict[tuple[str, dt.date, dt.date], tuple[float, list[Bar]]] = {}
        self._stocks: dict[str, Contract] = {}
        self._listings: dict[tuple[str, dt.date], tuple[list[dt.date], list[float]]] = {}
        self._options: dict[tuple[str, dt.date, str], dict[float, Contract]] = {}
        self._open: dict[int, Contract] = {}  # open lines by conId, requested again on 1101
        connection.add_data_lost_handler(self._resubscribe)

    # ------------------------------------------------------------ the MarketData port
    def bars(self, symbol: str, start: dt.date, end: dt.date) -> list[Bar]:
        return self._run(lambda: self._bars(symbol, start, end))

    def option_chain(self, symbol: str, ts: dt.datetime, expiries: Sequence[dt.date],
                     rights: Sequence[str]) -> list[OptionQuote]:
        return self._run(lambda: self._chain(symbol, ts, expiries, rights))

    def quotes(self, contracts: Sequence[OptionContract], ts: dt.datetime) -> list[OptionQuote]:
        return self._run(lambda: self._quotes_for(contracts, ts))

    # ------------------------------------------------------------ beyond the port
    def collect_chains(self, symbols: Sequence[str], ts: dt.datetime,
                       rights: Sequence[str] = ("P", "C")) -> dict[str, list[OptionQuote]]:
        """Every listed expiry within ``max_days`` of each symbol (the Mag-6 collection)."""
        async def run() -> dict[str, list[OptionQuote]]:
            chains = await asyncio.gather(*(self._chain(s, ts, None, rights) for s in symbols))
            return dict(zip(symbols, chains, strict=True))
        return self._run(run)

    def _run(self, fn: Callable[[], Awaitable[_R]]) -> _R:
        async def guarded() -> _R:
            state = self._conn.state
            if state in (ConnState.DISCONNECTED, ConnState.CONNECTING):
                raise BrokerError(f"no market data: IB connection is {state}")
            try:
                return await fn()
            except ConnectionError as exc:
                raise BrokerError(f"IB connection lost while fetching market data: {exc}") from exc
        return self._conn.call(guarded, self._call_timeout)

    # ------------------------------------------------------------ bars (IB loop)
    async def _bars(self, symbol: str, start: dt.date, end: dt.date) -> list[Bar]:
        key = (symbol, start, end)
        recent = self._recent_bars.get(key)
        if recent is not None and time.monotonic() - recent[0] < IDENTICAL_HISTORY_SECONDS:
            return list(recent[1])
        stock = await self._stock(symbol)
        today = self._clock.now().astimezone(NY).date()
        last = min(end, today)
        if last < start:
            return []
        days = (last - start).days + 1
        duration = f"{days} D" if days <= 365 else f"{math.ceil(days / 365)} Y"
        end_at: dt.datetime | str = (
            "" if last >= today else dt.datetime.combine(last, dt.time(23, 59, 59), tzinfo=NY))
        await self._historical.take()
        wait = self._conn.config.request_timeout
        ib = self._conn.ib
        raw = await self._conn.request(lambda: ib.reqHistoricalDataAsync(
            stock, end_at, duration, "1 day", "TRADES", True, 1, False, [], timeout=wait), wait + 1)
        if not raw:
            raise BrokerError(f"IB sent no daily bars for {symbol} from {start} to {end}")
        bars = []
        for b in raw:
            day = b.date if not isinstance(b.date, dt.datetime) else b.date.astimezone(NY).date()
            if start <= day <= end:
                close = (self._calendar.close_time(day) if self._calendar else None) or dt.time(16)
                bars.append(Bar(dt.datetime.combine(day, close, tzinfo=NY), symbol, b.open, b.high,
                                b.low, b.close, int(b.volume)))
        self._recent_bars[key] = (time.monotonic(), bars)
        return list(bars)

    # ------------------------------------------------------------ chains (IB loop)
    async def _chain(self, symbol: str, ts: dt.datetime, expiries: Sequence[dt.date] | None,
                     rights: Sequence[str]) -> list[OptionQuote]:
        stock = await self._stock(symbol)
        spot = (await self._watch(stock, lambda s: s.price is not None)).price
        if spot is None:
            log.warning("no price for %s within %g s: no chain", symbol, self.quote_wait)
            return []
        listed, strikes = await self._listing(symbol, stock, ts)
        today = ts.astimezone(NY).date()
        horizon = today + dt.timedelta(days=self.max_days)
        wanted = [e for e in listed if today <= e <= horizon and (expiries is None or e in expiries)]
        near = around(strikes, spot, self.strikes_around)
        pairs = [(e, r) for e in wanted for r in sorted(set(rights))]
        listings = await asyncio.gather(*(self._options_of(symbol, e, r) for e, r in pairs))
        todo = [(OptionContract(symbol, e, k, r), listing[k])  # type: ignore[arg-type]
                for (e, r), listing in zip(pairs, listings, strict=True) for k in near if k in listing]
        return await self._quote_all(todo, ts)

    async def _quotes_for(self, contracts: Sequence[OptionContract], ts: dt.datetime) -> list[OptionQuote]:
        today = ts.astimezone(NY).date()
        todo: list[tuple[OptionContract, Contract]] = []
        for c in sorted(set(contracts)):
            if c.expiry < today:
                continue
            listing = await self._options_of(c.symbol, c.expiry, c.right)
            found = listing.get(c.strike)
            if found is not None:
                todo.append((c, found))
        return await self._quote_all(todo, ts)

    async def _quote_all(self, todo: list[tuple[OptionContract, Contract]],
                         ts: dt.datetime) -> list[OptionQuote]:
        seen = await asyncio.gather(*(self._watch(ib_c, _quoted) for _, ib_c in todo))
        out = []
        for (c, _), s in zip(todo, seen, strict=True):
            if s.bid is not None and s.ask is not None and s.bid <= s.ask:
                out.append(OptionQuote(ts, c.symbol, c.expiry, c.strike, c.right, s.bid, s.ask,
                                       s.delta, s.iv))
        return out

    # ------------------------------------------------------------ contracts (IB loop)
    async def _stock(self, symbol: str) -> Contract:
        if symbol not in self._stocks:
            ib = self._conn.ib
            details = await self._conn.request(
                lambda: ib.reqContractDetailsAsync(mapping.contract_for(symbol, None)))
            stocks = [d.contract for d in details if d.contract is not None and d.contract.secType == "STK"]
            if not stocks:
                raise BrokerError(f"IB knows no stock {symbol!r}")
            self._stocks[symbol] = stocks[0]
        return self._stocks[symbol]

    async def _listing(self, symbol: str, stock: Contract,
                       ts: dt.datetime) -> tuple[list[dt.date], list[float]]:
        key = (symbol, ts.astimezone(NY).date())
        if key not in self._listings:
            ib = self._conn.ib
            chains = await self._conn.request(
                lambda: ib.reqSecDefOptParamsAsync(symbol, "", "STK", stock.conId))
            smart = [c for c in chains if c.exchange == mapping.EXCHANGE] or list(chains)
            if not smart:
                raise BrokerError(f"IB lists no options on {symbol}")
            expiries = sorted({mapping.ib_date(e) for c in smart for e in c.expirations})
            strikes = sorted({float(k) for c in smart for k in c.strikes})
            self._listings[key] = (expiries, strikes)
        return self._listings[key]

    async def _options_of(self, symbol: str, expiry: dt.date, right: str) -> dict[float, Contract]:
        key = (symbol, expiry, right)
        if key not in self._options:
            ib = self._conn.ib
            probe = Option(symbol, expiry.strftime("%Y%m%d"), 0.0, right, mapping.EXCHANGE, "",
                           mapping.CURRENCY)
            details = await self._conn.request(lambda: ib.reqContractDetailsAsync(probe))
            self._options[key] = {float(d.contract.strike): d.contract for d in details
                                  if d.contract is not None and d.contract.right[:1] == right}
        return self._options[key]

    # ------------------------------------------------------------ market-data lines (IB loop)
    async def _watch(self, contract: Contract, ready: Callable[[_Seen], bool]) -> _Seen:
        """Open a line on ``contract``, wait until ``ready`` or ``quote_wait``, cancel the line."""
        ib = self._conn.ib
        async with self.budget.line():
            await self._conn.pacer.take()
            arrived = asyncio.Event()

            def check(t: Ticker) -> None:
                if ready(_Seen.of(t)):
                    arrived.set()
            ticker = ib.reqMktData(contract, "", False, False)
            self._open[contract.conId] = contract
            ticker.updateEvent += check
            try:
                check(ticker)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(arrived.wait(), self.quote_wait)
                return _Seen.of(ticker)
            finally:
                ticker.updateEvent -= check
                self._open.pop(contract.conId, None)
                await asyncio.shield(self._release(contract))

    async def _release(self, contract: Contract) -> None:
        await self._conn.pacer.take()
        with contextlib.suppress(ConnectionError):
            self._conn.ib.cancelMktData(contract)

    async def _resubscribe(self, ib: IB) -> None:
        """1101: IB dropped every market-data subscription; ask again for the open lines."""
        for contract in list(self._open.values()):
            await self._conn.pacer.take()
            ib.cancelMktData(contract)
            await self._conn.pacer.take()
            ib.reqMktData(contract, "", False, False)


def _quoted(s: _Seen) -> bool:
    return s.bid is not None and s.ask is not None and s.greeks

