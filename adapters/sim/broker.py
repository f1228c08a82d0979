"""The simulated broker: the `Broker` port on the simulated market.

- ``submit`` never returns a fill: the outcome is queued and comes back through ``poll()`` as
  events (with ``fill_delay`` > 0 only after that many further market events, stamped then).
- A market order fills at the modelled ask (buy) or bid (sell), less a slippage against us.
  A limit order that is marketable fills at the ask/bid, never through its limit; one that is
  not rests, and fills at its limit once a later market event brings the modelled quote to it
  (at the bar's open quote if the bar opened through the limit). With daily bars, the bar of the
  day an order was placed is judged at its close only (the hours before the order are not its
  market); later bars at their favourable extreme.
- Orders are DAY orders: still working at their ``good_till`` (the session close), they are
  cancelled (`OrderCancelled`). A command whose ``order_id`` was seen before places nothing.
- Expiry at the close, on the symbol's daily bar: short options in the money are assigned, the
  rest expire.
- Corporate actions: at a split (N-for-1) its own positions are adjusted as the OCC does
  (contracts × N, strike ÷ N; shares × N) and working orders of the symbol are cancelled (their
  prices are of the old shares). At the close of the session before an ex-date (``dividends``,
  known ahead as declared dividends are), a covered call in the money whose time value is below
  the dividend is assigned early (``early_assignment``): its holder exercises to collect it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field

from alluse.adapters.sim.market import SimMarket
from alluse.engine.calendar import NY
from alluse.engine.commands import OrderCommand
from alluse.engine.events import (
    Assignment,
    Bar,
    BrokerEvent,
    Event,
    Expiration,
    Fill,
    OptionContract,
    OrderCancelled,
    OrderRejected,
    Price,
    Split,
)


@dataclass(slots=True)
class _Queued:
    event: BrokerEvent
    wait: int  # market events still to pass before it is reported


@dataclass(slots=True)
class SimBroker:
    market: SimMarket
    fill_delay: int = 0
    working: list[OrderCommand] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    options: dict[tuple[str, OptionContract], int] = field(default_factory=dict)  # signed
    shares: dict[tuple[str, str], int] = field(default_factory=dict)
    queue: list[_Queued] = field(default_factory=list)
    commissions: float = 0.0
    waiting: list[OrderCommand] = field(default_factory=list)  # later legs of working orders
    filled: set[str] = field(default_factory=set)
    dividends: dict[str, dict[dt.date, float]] = field(default_factory=dict)  # symbol → ex-date → $
    early_assignment: bool = True

    # ------------------------------------------------------------ the Broker port
    def submit(self, command: OrderCommand) -> None:
        if command.order_id in self.seen:
            return
        self.seen.add(command.order_id)
        problem = self._refuse(command)
        if problem:
            self._emit(OrderRejected(command.ts, command.account, command.order_id, problem))
            return
        if command.after is not None and command.after not in self.filled:
            if any(c.order_id == command.after for c in (*self.working, *self.waiting)):
                self.waiting.append(command)  # works once the earlier leg fills
            else:
                self._emit(OrderCancelled(command.ts, command.account, command.order_id,
                                          f"the earlier leg {command.after} did not fill"))
            return
        underlying = command.reference_price or self.market.last.get(command.symbol, 0.0)
        self._work(command, command.ts, underlying)

    def _work(self, command: OrderCommand, ts: dt.datetime, underlying: float) -> None:
        if not self._try_fill(command, ts, underlying, None):
            self.working.append(command)

    def cancel(self, order_id: str) -> None:
        for cmd in (*self.working, *self.waiting):
            if cmd.order_id == order_id:
                self._end(cmd, cmd.ts, "cancelled on request")
                return

    def open_orders(self) -> list[OrderCommand]:
        return [*self.working, *self.waiting]

    def positions(self) -> dict[str, dict[str | OptionContract, int]]:
        out: dict[str, dict[str | OptionContract, int]] = {}
        for (acc, sym), n in sorted(self.shares.items()):
            if n:
                out.setdefault(acc, {})[sym] = n
        for (acc, contract), n in sorted(self.options.items()):
            if n:
                out.setdefault(acc, {})[contract] = n
        return out

    def poll(self) -> list[BrokerEvent]:
        ready = [q.event for q in self.queue if q.wait <= 0]
        self.queue = [q for q in self.queue if q.wait > 0]
        return ready

    def on_market(self, event: Event) -> None:
        """Match working orders against the market, settle expiries at the close, end DAY orders."""
        for q in self.queue:
            if q.wait > 0:
                q.wait -= 1
                if q.wait == 0 and q.event.ts < event.ts:
                    q.event = _restamp(q.event, event.ts)
        self.market.observe(event)
        if isinstance(event, Split):
            self._split(event)
        elif isinstance(event, Price):
            self._match(event.symbol, event.ts, event.price, None)
        elif isinstance(event, Bar):
            self._match(event.symbol, event.ts, event.close, event)
            self._settle(event)
            for cmd in [c for c in (*self.working, *self.waiting) if c.symbol == event.symbol
                        and c.good_till <= event.ts]:
                if cmd in self.working or cmd in self.waiting:
                    self._end(cmd, event.ts, "day order expired unfilled at the close")

    # ------------------------------------------------------------ internals
    def _emit(self, event: BrokerEvent) -> None:
        self.queue.append(_Queued(event, self.fill_delay))

    def _end(self, cmd: OrderCommand, ts: dt.datetime, reason: str) -> None:
        """``cmd`` ends unfilled, and every later leg waiting on it with it."""
        for pool in (self.working, self.waiting):
            if cmd in pool:
                pool.remove(cmd)
        self._emit(OrderCancelled(ts, cmd.account, cmd.order_id, reason))
        for child in [c for c in self.waiting if c.after == cmd.order_id]:
            self._end(child, ts, f"the earlier leg {cmd.order_id} did not fill")
    def _refuse(self, cmd: OrderCommand) -> str:
        if cmd.quantity <= 0:
            return f"quantity must be positive, got {cmd.quantity}"
        if cmd.order_type == "LMT" and (cmd.limit is None or cmd.limit <= 0):
            return f"a limit order needs a positive limit, got {cmd.limit}"
        today = cmd.ts.astimezone(NY).date()
        if cmd.contract is not None and cmd.contract.expiry < today:
            return f"{cmd.contract} expired on {cmd.contract.expiry}"
        if cmd.contract is None and cmd.side == "SELL":
            held = self.shares.get((cmd.account, cmd.symbol), 0)
            if held < cmd.quantity:
                return f"sells {cmd.quantity} {cmd.symbol} shares but holds {held}"
        return ""

    def _quote_side(self, cmd: OrderCommand, ts: dt.datetime, underlying: float) -> float:
        """What the market pays (sell) or asks (buy) for ``cmd`` at ``underlying``."""
        buy = cmd.side == "BUY"
        if cmd.contract is None:
            return round(underlying + (0.01 if buy else -0.01), 2)
        c = cmd.contract
        q = self.market.quote(c.symbol, ts, underlying, c.expiry, c.strike, c.right)
        return q.ask if buy else q.bid

    def _price(self, cmd: OrderCommand, side_price: float) -> float | None:
        """The fill price at a quote side, or None when the order's limit stops it."""
        buy = cmd.side == "BUY"
        if cmd.order_type == "MKT":
            slip = self.market.config.slippage if cmd.contract is not None else 0.0
            return round(max(side_price + (slip if buy else -slip), 0.01), 2)
        assert cmd.limit is not None
        if buy:
            return round(side_price, 2) if side_price <= cmd.limit else None
        return round(side_price, 2) if side_price >= cmd.limit else None

    def _closable(self, cmd: OrderCommand) -> int:
        """How much a closing command can still close (a close never opens the other way)."""
        if cmd.contract is None:
            return max(self.shares.get((cmd.account, cmd.symbol), 0), 0)
        held = self.options.get((cmd.account, cmd.contract), 0)
        return max(-held, 0) if cmd.side == "BUY" else max(held, 0)

    def _try_fill(self, cmd: OrderCommand, ts: dt.datetime, underlying: float,
                  bar: Bar | None) -> bool:
        if not cmd.OPENS and self._closable(cmd) == 0:
            self._end(cmd, ts, "nothing left to close (the position already ended)")
            return True
        px = self._price(cmd, self._quote_side(cmd, ts, underlying))
        if px is None and bar is not None and cmd.order_type == "LMT":
            placed = cmd.ts.astimezone(NY).date()
            if placed < ts.astimezone(NY).date():
                opened = self._price(cmd, self._quote_side(cmd, ts, bar.open))
                if opened is not None:
                    px = opened  # the bar opened through the limit: filled at the open
                else:
                    best = _favourable(cmd, bar)
                    if self._price(cmd, self._quote_side(cmd, ts, best)) is not None:
                        px = cmd.limit  # the market reached the limit during the bar
        if px is None:
            return False
        self._book(cmd, ts, px)
        return True

    def _match(self, symbol: str, ts: dt.datetime, price: float, bar: Bar | None) -> None:
        for cmd in [c for c in self.working if c.symbol == symbol]:
            if self._try_fill(cmd, ts, price, bar) and cmd in self.working:
                self.working.remove(cmd)

    def _book(self, cmd: OrderCommand, ts: dt.datetime, price: float) -> None:
        cfg = self.market.config
        buy = cmd.side == "BUY"
        quantity = cmd.quantity if cmd.OPENS else min(cmd.quantity, self._closable(cmd))
        signed = quantity if buy else -quantity
        if cmd.contract is None:
            fee = round(cfg.commission_per_share * quantity, 2)
            key = (cmd.account, cmd.symbol)
            self.shares[key] = self.shares.get(key, 0) + signed
            c = None
        else:
            fee = round(cfg.commission_per_contract * quantity, 2)
            okey = (cmd.account, cmd.contract)
            self.options[okey] = self.options.get(okey, 0) + signed
            if self.options[okey] == 0:
                del self.options[okey]
            c = cmd.contract
        self.commissions += fee
        self._emit(Fill(ts, cmd.account, cmd.symbol, c.expiry if c else None,
                        c.strike if c else None, c.right if c else None, cmd.side,
                        quantity, price, fee, cmd.order_id))
        self.filled.add(cmd.order_id)
        for child in [w for w in self.waiting if w.after == cmd.order_id]:
            self.waiting.remove(child)
            self._work(child, ts, self.market.last.get(child.symbol, child.reference_price))

    def _split(self, ev: Split) -> None:
        n = ev.ratio
        for key in [k for k in self.options if k[1].symbol == ev.symbol]:
            qty = self.options.pop(key)
            self.options[(key[0], key[1].split(n))] = qty * n
        for held in [k for k in self.shares if k[1] == ev.symbol]:
            self.shares[held] *= n
        for cmd in [c for c in (*self.working, *self.waiting) if c.symbol == ev.symbol]:
            if cmd in self.working or cmd in self.waiting:  # an earlier _end may have taken it
                self._end(cmd, ev.ts, f"cancelled by the {n}-for-1 split of {ev.symbol}")

    def _early_assignments(self, bar: Bar, day: dt.date) -> None:
        """Covered calls a holder exercises at this close to collect tomorrow's dividend."""
        ahead = self.dividends.get(bar.symbol)
        if not ahead or not self.early_assignment:
            return
        amount = ahead.get(self.market.calendar.next_session(day, include=False))
        if amount is None:
            return
        for key in sorted(k for k in self.options if k[1].symbol == bar.symbol
                          and k[1].right == "C" and k[1].expiry > day):
            account, c = key
            qty = self.options[key]
            covered = self.shares.get((account, c.symbol), 0) >= 100 * -qty
            if qty >= 0 or not covered or bar.close <= c.strike:
                continue
            q = self.market.quote(c.symbol, bar.ts, bar.close, c.expiry, c.strike, c.right)
            if (q.bid + q.ask) / 2.0 - (bar.close - c.strike) >= amount:
                continue  # the call is worth more alive than the dividend
            del self.options[key]
            self._emit(Assignment(bar.ts, account, c.symbol, c.expiry, c.strike, c.right, -qty))
            self.shares[(account, c.symbol)] += 100 * qty

    def _settle(self, bar: Bar) -> None:
        day = bar.ts.astimezone(NY).date()
        self._early_assignments(bar, day)
        for key in sorted(k for k in self.options if k[1].symbol == bar.symbol
                          and k[1].expiry == day):
            account, c = key
            qty = self.options.pop(key)
            if qty >= 0:
                continue  # long options are not modelled past expiry
            itm = bar.close < c.strike if c.right == "P" else bar.close > c.strike
            n = -qty
            if itm:
                self._emit(Assignment(bar.ts, account, c.symbol, c.expiry, c.strike, c.right, n))
                sk = (account, c.symbol)
                self.shares[sk] = self.shares.get(sk, 0) + (100 * n if c.right == "P" else -100 * n)
            else:
                self._emit(Expiration(bar.ts, account, c.symbol, c.expiry, c.strike, c.right, n))
        for cmd in [w for w in (*self.working, *self.waiting) if w.contract is not None
                    and w.contract.symbol == bar.symbol and w.contract.expiry <= day]:
            if cmd in self.working or cmd in self.waiting:
                self._end(cmd, bar.ts, "the contract expired")


def _favourable(cmd: OrderCommand, bar: Bar) -> float:
    """The bar's underlying extreme that makes ``cmd`` cheapest to buy or dearest to sell."""
    if cmd.contract is None:
        return bar.low if cmd.side == "BUY" else bar.high
    put = cmd.contract.right == "P"
    if cmd.side == "BUY":  # a put is cheapest at the high, a call at the low
        return bar.high if put else bar.low
    return bar.low if put else bar.high


def _restamp(ev: BrokerEvent, ts: dt.datetime) -> BrokerEvent:
    """A delayed report carries the time it was reported."""
    return dataclasses.replace(ev, ts=ts)
