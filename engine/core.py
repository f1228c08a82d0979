"""`Engine.handle(event) -> Decision`: the pure, deterministic core.

No I/O, no clock: time arrives in events. The same policy hash and the same events give the same
decisions, byte for byte. Price events take a fast path: a price inside the symbol's band (see
`protocol`) changes nothing and returns the engine's shared empty decision without touching
`transitions`, pydantic or the expression evaluator.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from alluse.engine import entry, lifecycle
from alluse.engine.accounts import AccountTree, cents
from alluse.engine.alerting import AlertThrottle
from alluse.engine.calendar import NY, MarketCalendar, nyse_calendar
from alluse.engine.decisions import (
    ActionScript,
    Alert,
    Decision,
    RuleTrace,
    Transition,
    Value,
)
from alluse.engine.events import Assignment, Bar, Clock, Event, Expiration, Fill, OptionQuote, Price
from alluse.engine.expressions import Evaluator
from alluse.engine.ledger import Ledger
from alluse.engine.machines import Machines, WheelModel
from alluse.engine.market import Quote, SymbolState
from alluse.engine.policy import PolicySet
from alluse.engine.protocol import ShortOption, SymbolBand, target_level
from alluse.engine.scripts import render_script

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
TAX_ACCOUNT = "TAX-WITHHELD"


class _Builder:
    __slots__ = ("alerts", "event_type", "fired", "index", "not_fired", "notes", "scripts",
                 "transitions", "ts")

    def __init__(self, ts: dt.datetime, index: int, event_type: str) -> None:
        self.ts = ts
        self.index = index
        self.event_type = event_type
        self.fired: list[RuleTrace] = []
        self.not_fired: list[RuleTrace] = []
        self.transitions: list[Transition] = []
        self.alerts: list[Alert] = []
        self.scripts: list[ActionScript] = []
        self.notes: list[str] = []


class Engine:
    """Evaluates a policy set against events. One engine per account tree; not thread-safe."""

    def __init__(self, policy: PolicySet, capital: float | Decimal, *,
                 calendar: MarketCalendar | None = None, risk_free_rate: float = 0.04) -> None:
        self.ps = policy
        self.calendar = calendar if calendar is not None else nyse_calendar()
        self.risk_free_rate = risk_free_rate
        self.capital = cents(capital)
        self.index = -1
        self._b: _Builder | None = None
        self.evaluator = Evaluator()
        self.throttle = AlertThrottle(policy.alerts)
        self.machines = Machines(len(policy.protocols.levels), self._steps_down(), self._record)
        self.tree = AccountTree()
        roots = self.tree.root(policy.accounts, self.capital)
        for a in roots:
            self.machines.account.add(a.model)
        self.ledger = Ledger({a.id: a.initial_capital for a in roots})
        self.ledger.open_account(TAX_ACCOUNT, Decimal(0))
        self.taxes_withheld = Decimal(0)
        self.market: dict[str, SymbolState] = {}
        self.shorts: dict[str, ShortOption] = {}
        self.bands: dict[str, SymbolBand] = {}
        self.wheels: dict[str, WheelModel] = {}
        self.proposed: set[tuple[str, str, str]] = set()
        # collateral of proposed, not yet filled puts: (account, contract key) → (amount, expiry)
        self.pending: dict[tuple[str, str], tuple[float, dt.datetime]] = {}
        self.daily_risk: dict[tuple[str, dt.date], float] = {}
        self.loss_streak: dict[str, int] = {}
        self.suspended_on: dict[str, dt.date] = {}
        self.day_start_equity: dict[str, tuple[dt.date, Decimal]] = {}
        # symbols whose intraday prices arrive as Price events (1-minute replay, live node)
        self.intraday_symbols: set[str] = set()
        self.last_close: dict[tuple[str, str, str], dt.datetime] = {}
        self.outcomes: list[tuple[dt.date, str, str, str, float]] = []  # week types input
        self.forks: list[dict[str, Any]] = []
        self.merges: list[dict[str, Any]] = []
        self._refresh_thresholds()
        self._nothing = Decision(EPOCH, -1, policy.hash, "none")
        self._dispatch: dict[type, Callable[[Any], None]] = {
            Bar: self._on_bar, OptionQuote: self._on_quote, Fill: self._on_fill,
            Assignment: self._on_assignment, Expiration: self._on_expiration,
            Clock: self._on_clock, Price: self._on_price_slow,
        }

    # ------------------------------------------------------------------ policy
    def _steps_down(self) -> bool:
        return self.ps.protocols.step_down.mode == "hysteresis"

    def _refresh_thresholds(self) -> None:
        self.thresholds = tuple(lv.min_atr_multiple for lv in self.ps.protocols.levels)
        sd = self.ps.protocols.step_down
        self.hysteresis: float | None = sd.hysteresis_atr if sd.mode == "hysteresis" else None

    def set_policy(self, policy: PolicySet) -> None:
        """Swap in a new (already validated) policy set; boundaries are recomputed."""
        self.ps = policy
        self.throttle.set_policy(policy.alerts)
        self._refresh_thresholds()
        models = [p.model for p in self.shorts.values()]
        self.machines.rebuild_protocol(len(policy.protocols.levels), self._steps_down(),
                                       self._record, models)
        for p in self.shorts.values():
            p.bounds(self.thresholds, self.hysteresis)
        for band in self.bands.values():
            band.refresh()
        self._nothing = Decision(EPOCH, -1, policy.hash, "none")

    # ------------------------------------------------------------------ entry point
    def handle(self, event: Event) -> Decision:
        self.index += 1
        if type(event) is Price:  # the hot path: two comparisons when nothing changes
            band = self.bands.get(event.symbol)
            st = self.market.get(event.symbol)
            if st is not None:
                st.price = event.price
                st.price_ts = event.ts
            if band is None or band.lo < event.price < band.hi:
                return self._nothing
        b = self._b = _Builder(event.ts, self.index, type(event).__name__.lower())
        try:
            self._dispatch[type(event)](event)
        finally:
            self._b = None
        return Decision(b.ts, b.index, self.ps.hash, b.event_type, tuple(b.fired),
                        tuple(b.not_fired), tuple(b.transitions), tuple(b.alerts),
                        tuple(b.scripts), tuple(b.notes))

    # ------------------------------------------------------------------ recording helpers
    @property
    def b(self) -> _Builder:
        assert self._b is not None
        return self._b

    def _record(self, t: Transition) -> None:
        if self._b is not None:
            self._b.transitions.append(t)

    def fire(self, rule: str, explanation: str, expression: str = "",
             values: tuple[tuple[str, Value], ...] = ()) -> None:
        self.b.fired.append(RuleTrace(rule, explanation, expression, values, True))

    def miss(self, rule: str, reason: str, expression: str = "",
             values: tuple[tuple[str, Value], ...] = ()) -> None:
        self.b.not_fired.append(RuleTrace(rule, reason, expression, values, False))

    def alert(self, alert_type: str, priority: str | None, title: str, *, account: str = "",
              body: str = "", rule: str = "") -> None:
        spec = self.ps.alerts.types[alert_type]
        self.b.alerts.append(self.throttle.admit(
            self.b.ts, alert_type, priority or spec.default_priority, title, account=account,
            body=body, rule=rule, market_open=self.calendar.is_open(self.b.ts)))

    def symbol(self, sym: str) -> SymbolState:
        st = self.market.get(sym)
        if st is None:
            st = self.market[sym] = SymbolState.new(self.ps.data.indicators)
        return st

    # ------------------------------------------------------------------ market events
    def _on_bar(self, ev: Bar) -> None:
        st = self.symbol(ev.symbol)
        local_day = ev.ts.astimezone(NY).date()
        if st.last_bar_date is not None and local_day <= st.last_bar_date:
            self.miss("data.bar_order", f"{ev.symbol} bar for {local_day} is not after "
                      f"{st.last_bar_date}: ignored")
            return
        st.last_bar_date = local_day
        st.atr.update(ev.high, ev.low, ev.close)
        st.rsi.update(ev.close)
        st.macd.update(ev.close)
        st.week_high = max(st.week_high, ev.high)
        st.week_low = min(st.week_low, ev.low)
        st.prune_quotes(local_day)
        # Daily bars: each position is checked at its adverse extreme (low for puts, high for
        # calls); the close becomes the latest price. Symbols fed intraday prices were already
        # watched through the day: their bar only checks the close.
        if ev.symbol in self.intraday_symbols:
            self._check_symbol(ev.symbol, put_price=ev.close, call_price=ev.close, source="close")
        else:
            self._check_symbol(ev.symbol, put_price=ev.low, call_price=ev.high,
                               source="bar extreme")
        st.price, st.price_ts = ev.close, ev.ts

    def _on_price_slow(self, ev: Price) -> None:
        self._check_symbol(ev.symbol, put_price=ev.price, call_price=ev.price, source="price")

    def _on_quote(self, ev: OptionQuote) -> None:
        self.symbol(ev.symbol).quotes[(ev.expiry, ev.strike, ev.right)] = Quote(
            ev.bid, ev.ask, ev.delta, ev.iv, ev.ts)

    # ------------------------------------------------------------------ protocol monitoring
    def _check_symbol(self, symbol: str, *, put_price: float, call_price: float,
                      source: str) -> None:
        band = self.bands.get(symbol)
        if band is None:
            return
        changed = False
        for pos in list(band.positions):
            price = put_price if pos.right == "P" else call_price
            if pos.lo < price < pos.hi:
                continue
            changed |= self._relevel(pos, price, source)
        if changed:
            band.refresh()
            self._breach_breaker()

    def _relevel(self, pos: ShortOption, price: float, source: str) -> bool:
        mult = pos.adverse_multiple(price)
        old = pos.level
        new = target_level(mult, old, self.thresholds, self.hysteresis)
        if new == old:
            pos.bounds(self.thresholds, self.hysteresis)
            return False
        values: tuple[tuple[str, Value], ...] = (
            ("price", round(price, 4)), ("entry_price", round(pos.entry_price, 4)),
            ("atr", round(pos.atr, 4)), ("atr_multiple", round(mult, 4)),
            ("threshold", self.thresholds[max(new, old) if new > old else old]),
        )
        rule = f"protocols.level{new}" if new > old else f"protocols.step_down.level{old}"
        self.machines.protocol.fire(pos.model, f"to_L{new}", rule, values)
        pos.max_level = max(pos.max_level, new)
        pos.bounds(self.thresholds, self.hysteresis)
        lv = self.ps.protocols.levels[new]
        direction = "against" if mult >= 0 else "in favour of"
        if new > old:
            self.fire(rule, f"{pos.symbol} {pos.strike:g}{pos.right} ({pos.account}): {source} "
                      f"{price:.2f} is {abs(mult):.2f}×ATR {direction} the position from entry "
                      f"{pos.entry_price:.2f} (ATR {pos.atr:.2f}) ≥ L{new} threshold "
                      f"{lv.min_atr_multiple:g}", "", values)
        else:
            self.fire(rule, f"{pos.symbol} {pos.strike:g}{pos.right} ({pos.account}): move back to "
                      f"{mult:.2f}×ATR < L{old} threshold {self.thresholds[old]:g} − hysteresis "
                      f"{self.hysteresis:g}: step down to L{new}", "", values)
        if new > old:
            lifecycle.level_actions(self, pos, price, mult, old, new, rule, values)
        return True

    def _breach_breaker(self) -> None:
        cb = self.ps.risk.circuit_breakers
        per_account: dict[str, int] = {}
        for p in self.shorts.values():
            if p.level >= cb.breach_min_level:
                per_account[p.account] = per_account.get(p.account, 0) + 1
        for acc_id, n in sorted(per_account.items()):
            acc = self.tree.accounts.get(acc_id)
            if n >= cb.max_simultaneous_breaches and acc is not None and acc.state in (
                    "active", "forked"):
                values = (("breaches", n), ("max_simultaneous_breaches",
                                            cb.max_simultaneous_breaches))
                self.machines.account.fire(acc.model, "suspend", "risk.circuit_breakers.breaches",
                                           values)
                self.suspended_on[acc_id] = self.b.ts.astimezone(NY).date()
                self.fire("risk.circuit_breakers.breaches", f"{acc_id}: {n} positions at level ≥ "
                          f"{cb.breach_min_level} ≥ {cb.max_simultaneous_breaches}: new entries "
                          f"paused until {cb.resume.replace('_', ' ')}", "", values)
                self.alert("ACCOUNT_MANAGEMENT", "HIGH", f"Circuit breaker: {acc_id} paused "
                           f"({n} simultaneous protocol breaches)", account=acc_id,
                           rule="risk.circuit_breakers.breaches")

    def add_short(self, pos: ShortOption) -> None:
        pos.model.key = pos.key
        self.machines.protocol.add(pos.model, "L0")
        pos.bounds(self.thresholds, self.hysteresis)
        self.shorts[pos.key] = pos
        band = self.bands.setdefault(pos.symbol, SymbolBand())
        band.positions.append(pos)
        band.refresh()

    def drop_short(self, pos: ShortOption) -> None:
        self.machines.protocol.remove(pos.model)
        del self.shorts[pos.key]
        band = self.bands[pos.symbol]
        band.positions.remove(pos)
        band.refresh()

    # ------------------------------------------------------------------ broker events
    def _on_fill(self, ev: Fill) -> None:
        lifecycle.on_fill(self, ev)

    def _on_assignment(self, ev: Assignment) -> None:
        lifecycle.on_assignment(self, ev)

    def _on_expiration(self, ev: Expiration) -> None:
        lifecycle.on_expiration(self, ev)

    # ------------------------------------------------------------------ clock
    def _on_clock(self, ev: Clock) -> None:
        job = self.ps.schedule.jobs.get(ev.name)
        if job is None:
            self.miss("schedule.unknown_job", f"clock event '{ev.name}' names no job in "
                      f"schedule.yaml (jobs: {', '.join(sorted(self.ps.schedule.jobs))})")
            return
        if not job.enabled:
            self.miss(f"schedule.{ev.name}", "job is disabled in schedule.yaml")
            return
        handler = job.handler
        if handler == "entry_scan":
            entry.entry_scan(self, ev)
        elif handler == "protocol_check":
            for symbol in sorted(self.bands):
                st = self.market.get(symbol)
                if st is not None and st.price is not None:
                    self._check_symbol(symbol, put_price=st.price, call_price=st.price,
                                       source="protocol check")
            lifecycle.resume_accounts(self, ev)
            lifecycle.daily_drawdown(self, ev)
        elif handler in ("fork_check", "daily_collection"):
            lifecycle.fork_and_merge(self, ev)
        elif handler == "weekly_cycle":
            lifecycle.weekly_cycle(self, ev)
        elif handler == "quarterly_cycle":
            lifecycle.quarterly_cycle(self, ev)
        # premium_sample, option_chain_snapshot, indicators_refresh: data collection lives in
        # the adapters; the engine has nothing to decide for them.

    # ------------------------------------------------------------------ helpers used by rules
    def render(self, file: str, path: tuple[str | int, ...], template: Any,
               names: dict[str, Any], *, account: str, rule: str,
               trigger_values: tuple[tuple[str, Value], ...], approval: str | None = None,
               ) -> ActionScript:
        # next_weekly / following_weekly count from the position's (or candidate's) expiry
        base = names.get("expiry")
        today = dt.date.fromisoformat(base) if isinstance(base, str) and base else \
            self.b.ts.astimezone(NY).date()

        def expiry_for(which: str) -> str:
            nxt = self.calendar.weekly_expiry(today + dt.timedelta(days=1))
            if which == "following_weekly":
                nxt = self.calendar.weekly_expiry(nxt + dt.timedelta(days=1))
            return nxt.isoformat()

        return render_script(
            self.ps, file, path, template, names, evaluator=self.evaluator, ts=self.b.ts,
            account=account, rule=rule, trigger_values=trigger_values, event_index=self.b.index,
            expiry_for=expiry_for, approval=approval)

    # ------------------------------------------------------------------ account figures
    def _stock_lots(self, account: str) -> list[Any]:
        return [lot for lot in self.ledger.lots()
                if lot.account == account and getattr(lot, "expiry", None) is None]

    def shares(self, account: str, symbol: str) -> int:
        return int(sum(lot.quantity for lot in self._stock_lots(account) if lot.symbol == symbol))

    def stock_symbols(self, account: str) -> set[str]:
        return {lot.symbol for lot in self._stock_lots(account) if lot.quantity > 0}

    def basis_per_share(self, account: str, symbol: str) -> float:
        lots = [lot for lot in self._stock_lots(account) if lot.symbol == symbol]
        qty = sum(lot.quantity for lot in lots)
        return float(sum(lot.basis for lot in lots)) / qty if qty else 0.0

    def option_mark(self, pos: ShortOption) -> float:
        st = self.market.get(pos.symbol)
        if st is None:
            return 0.0
        q = st.quotes.get((pos.expiry, pos.strike, pos.right))
        if q is not None:
            return q.mid
        price = st.price if st.price is not None else pos.entry_price
        return max(pos.strike - price, 0.0) if pos.right == "P" else max(price - pos.strike, 0.0)

    def equity(self, account: str) -> Decimal:
        """Cash + stock at the latest price − short options at their mark (quote mid, else
        intrinsic value)."""
        total = self.ledger.cash(account)
        for lot in self._stock_lots(account):
            st = self.market.get(lot.symbol)
            px = st.price if st is not None and st.price is not None else None
            total += cents(px * lot.quantity) if px is not None else Decimal(lot.basis)
        for p in self.shorts.values():
            if p.account == account:
                total -= cents(self.option_mark(p) * 100 * p.quantity)
        return total

    def free_cash(self, account: str) -> Decimal:
        """Cash less the collateral of open short puts and of proposed puts not yet filled (until
        their script expires), so two proposals in one scan cannot spend the same cash."""
        reserved = sum((p.strike * 100 * p.quantity for p in self.shorts.values()
                        if p.account == account and p.right == "P"), 0.0)
        now = self._b.ts if self._b is not None else None
        for (acc, _key), (amount, expires) in list(self.pending.items()):
            if now is not None and expires <= now:
                del self.pending[(acc, _key)]
            elif acc == account:
                reserved += amount
        return self.ledger.cash(account) - cents(reserved)

    def max_level(self, account: str) -> int:
        return max((p.level for p in self.shorts.values() if p.account == account), default=0)

    def has_open_positions(self, account: str) -> bool:
        return any(p.account == account for p in self.shorts.values()) or bool(
            self.stock_symbols(account))

    def wheel(self, account: str, symbol: str) -> WheelModel:
        key = f"{account}:{symbol}"
        w = self.wheels.get(key)
        if w is None:
            w = self.wheels[key] = WheelModel(key)
            self.machines.wheel.add(w, "cash")
        return w
