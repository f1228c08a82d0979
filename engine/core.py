"""`Engine.handle(event) -> Decision`: the pure, deterministic core.

No I/O, no clock: time arrives in events. The same policy hash and the same events give the same
decisions, byte for byte. All that affects future decisions lives in one `EngineState`;
`snapshot()` saves it and `Engine.restore()` continues from it, in this process or another.

The rule modules do the work (`entry`, `monitoring`, `wheel`, `risk`, `forking`, `cycles`, job
handlers in `handlers`); the engine routes events to them with a `Ctx`. Price events take a fast
path: a price inside the symbol's band changes nothing and returns the shared empty decision
without touching `transitions`, pydantic or the expression evaluator.

Events of one input stream (a symbol's prices, its bars, its quotes; an account's broker events;
the scheduler's jobs) must come in time order: an event older than the last one of its stream is
refused with an `EventError` naming ``ts`` (a late 10:00 price after a 15:00 one would otherwise
replay an old move against the positions).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from alluse.engine import (
    accounts,
    alerting,
    corporate,
    indicators,
    learning,
    ledger,
    machines,
    market,
    protocol,
    state,
    tax,
)
from alluse.engine import entry as entry_mod
from alluse.engine.accounts import AccountTree
from alluse.engine.calendar import NY, MarketCalendar, nyse_calendar
from alluse.engine.context import Ctx, DecisionBuilder
from alluse.engine.decisions import Decision
from alluse.engine.errors import DataError, EventError
from alluse.engine.events import (
    Assignment,
    Bar,
    Dividend,
    Event,
    Expiration,
    Fill,
    JobDue,
    OptionContract,
    OptionQuote,
    OrderCancelled,
    OrderRejected,
    Price,
    Split,
)
from alluse.engine.expressions import Evaluator
from alluse.engine.handlers import HANDLERS
from alluse.engine.ledger import Ledger, money
from alluse.engine.machines import Machines
from alluse.engine.market import Quote, SymbolState
from alluse.engine.monitoring import check_symbol
from alluse.engine.persist import Codec
from alluse.engine.policy import PolicySet
from alluse.engine.protocol import SymbolBand
from alluse.engine.state import TAX_ACCOUNT, EngineState
from alluse.engine.wheel import on_fill, on_order_ended, on_settlement

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
SNAPSHOT_VERSION = 1

CODEC = Codec([
    state.EngineState, state.Reservation, state.Outcome, AccountTree, accounts.AccountInfo,
    machines.AccountModel, machines.WheelModel, machines.ProtocolModel, Ledger, ledger._Lot,
    ledger._Loss, ledger.Realized, ledger.Transfer, ledger.DividendIncome, OptionContract, market.SymbolState,
    market.Quote, indicators.WilderATR, indicators.WilderRSI, indicators.MACD, indicators._EMA,
    indicators.MACDValue, indicators.SimpleMean, protocol.ShortOption, alerting.AlertThrottle,
    tax.ForkCursor, *learning.STATE_CLASSES,
])


@dataclass(frozen=True, slots=True)
class QuoteRequest:
    """Quotes of these contracts, wanted before a job runs (marks of open positions)."""

    contracts: tuple[OptionContract, ...]


DataRequest = entry_mod.ChainRequest | QuoteRequest


def _stream(ev: Event) -> str:
    if isinstance(ev, Price | Bar | OptionQuote):
        return f"{ev.TYPE}:{ev.symbol}"
    if isinstance(ev, JobDue):
        return "job"
    if isinstance(ev, Split | Dividend):
        return f"corporate:{ev.symbol}"
    return f"broker:{ev.account}"


class Engine:
    """Evaluates a policy set against events. One engine per account tree; not thread-safe."""

    def __init__(self, policy: PolicySet, capital: float | Decimal, *,
                 calendar: MarketCalendar | None = None, risk_free_rate: float = 0.04,
                 _state: EngineState | None = None) -> None:
        self._ps = policy
        self.calendar = calendar if calendar is not None else nyse_calendar()
        self.risk_free_rate = risk_free_rate
        self._evaluator = Evaluator()
        self._machines = Machines(len(policy.protocols.levels), self._steps_down(),
                                  self._record)
        self._bands: dict[str, SymbolBand] = {}
        self._out: DecisionBuilder | None = None
        if _state is None:
            tree = AccountTree()
            roots = tree.root(policy.accounts, money(Decimal(str(capital))))
            led = Ledger({a.id: a.initial_capital for a in roots})
            led.open_account(TAX_ACCOUNT, Decimal(0))
            _state = EngineState(money(Decimal(str(capital))), tree, led)
        self._state = _state
        self._attach()
        self._nothing = Decision(EPOCH, -1, policy.hash, "none")
        self._dispatch: dict[type, Callable[[Ctx, Any], None]] = {
            Bar: self._on_bar, Fill: on_fill,
            Assignment: on_settlement, Expiration: on_settlement, JobDue: self._on_job,
            Price: self._on_price, OrderRejected: on_order_ended, OrderCancelled: on_order_ended,
            Split: corporate.on_split, Dividend: corporate.on_dividend,
        }

    # ------------------------------------------------------------------ state and policy
    @property
    def policy(self) -> PolicySet:
        return self._ps

    @property
    def state(self) -> EngineState:
        """The engine's state (read it; only `handle` changes it)."""
        return self._state

    def _steps_down(self) -> bool:
        return self._ps.protocols.step_down.mode == "hysteresis"

    def _attach(self) -> None:
        """Attach the state's models to the machines and rebuild the derived price bands."""
        st = self._state
        for acc in st.tree.accounts.values():
            self._machines.account.add(acc.model, acc.model.state)
        for w in st.wheels.values():
            self._machines.wheel.add(w, w.state)
        ctx = self._ctx(DecisionBuilder(EPOCH, st.index, "restore"))
        for pos in st.shorts.values():
            self._machines.protocol.add(pos.model, pos.model.state)
            pos.bounds(ctx.thresholds, ctx.hysteresis)
            self._bands.setdefault(pos.symbol, SymbolBand()).positions.append(pos)
        for band in self._bands.values():
            band.refresh()

    def set_policy(self, policy: PolicySet) -> None:
        """Swap in a new (already validated) policy set between two events; open positions keep
        their entry facts and take the new thresholds from the next event."""
        self._ps = policy
        models = [p.model for p in self._state.shorts.values()]
        self._machines.rebuild_protocol(len(policy.protocols.levels), self._steps_down(),
                                        self._record, models)
        ctx = self._ctx(DecisionBuilder(EPOCH, self._state.index, "policy"))
        for p in self._state.shorts.values():
            p.bounds(ctx.thresholds, ctx.hysteresis)
        for band in self._bands.values():
            band.refresh()
        self._nothing = Decision(EPOCH, -1, policy.hash, "none")

    def snapshot(self) -> bytes:
        """Everything that affects future decisions, as bytes (`restore` reads them)."""
        return CODEC.dumps({"version": SNAPSHOT_VERSION, "policy_hash": self._ps.hash,
                            "risk_free_rate": self.risk_free_rate, "state": self._state})

    @classmethod
    def restore(cls, data: bytes, policy: PolicySet, *,
                calendar: MarketCalendar | None = None) -> Engine:
        """An engine that continues where ``snapshot()`` left off. A snapshot taken under another
        policy is restored and the given policy applies from the next event (a reload)."""
        saved = CODEC.loads(data)
        if not isinstance(saved, dict) or saved.get("version") != SNAPSHOT_VERSION:
            raise DataError("not an engine snapshot of this alluse version")
        st = saved["state"]
        if not isinstance(st, EngineState):
            raise DataError("engine snapshot without a state")
        return cls(policy, st.capital, calendar=calendar,
                   risk_free_rate=float(saved["risk_free_rate"]), _state=st)

    def watch_intraday(self, symbol: str) -> None:
        """``symbol``'s intraday prices arrive as Price events: its bars only check the close."""
        self._state.intraday_symbols.add(symbol)

    # ------------------------------------------------------------------ queries
    def data_needs(self, ev: JobDue) -> list[DataRequest]:
        """What the driver must bring (as events) before handing ``ev`` to the engine."""
        job = self._ps.schedule.jobs.get(ev.name)
        if job is None or not job.enabled:
            return []
        needs = HANDLERS[job.handler].needs
        today = ev.ts.astimezone(NY).date()
        out: list[DataRequest] = []
        if "option_chains" in needs or entry_mod.deferred_due(self._ps, self._state, ev.ts):
            out += entry_mod.chain_requests(self._ps, self._state, self.calendar, ev.name, ev.ts)
        if "position_quotes" in needs:
            contracts = sorted({p.contract for p in self._state.shorts.values()
                                if p.expiry >= today})
            if contracts:
                out.append(QuoteRequest(tuple(contracts)))
        return out

    # ------------------------------------------------------------------ entry point
    def handle(self, event: Event) -> Decision:
        st = self._state
        stream = _stream(event)
        last = st.stream_ts.get(stream)
        if last is not None and event.ts < last:
            raise EventError(f"{event.ts.isoformat()} is earlier than the previous {stream} event "
                             f"({last.isoformat()}): events of one stream must come in time order",
                             field="ts")
        st.stream_ts[stream] = event.ts
        st.index += 1
        if type(event) is Price:  # the hot path: two comparisons when nothing changes
            band = self._bands.get(event.symbol)
            sym = st.market.get(event.symbol)
            if sym is not None:
                sym.price = event.price
                sym.price_ts = event.ts
            if band is None or band.lo < event.price < band.hi:
                return self._nothing
        elif type(event) is OptionQuote:  # a quote is market state: it decides nothing by itself
            self._symbol(event.symbol).quotes[(event.expiry, event.strike, event.right)] = Quote(
                event.bid, event.ask, event.delta, event.iv, event.ts)
            return self._nothing
        out = self._out = DecisionBuilder(event.ts, st.index, event.TYPE)
        try:
            self._expire_reservations(event.ts)
            self._dispatch[type(event)](self._ctx(out), event)
        finally:
            self._out = None
        return out.build(self._ps.hash)

    def _ctx(self, out: DecisionBuilder) -> Ctx:
        return Ctx(self._ps, self.calendar, self._state, self._machines, self._evaluator, out,
                   self.risk_free_rate, self._bands)

    def _record(self, t: Any) -> None:
        if self._out is not None:
            self._out.transitions.append(t)

    def _expire_reservations(self, now: dt.datetime) -> None:
        pending = self._state.pending
        for key in [k for k, r in pending.items() if r.expires_at <= now]:
            del pending[key]

    # ------------------------------------------------------------------ market events
    def _on_bar(self, ctx: Ctx, ev: Bar) -> None:
        st = ctx.symbol(ev.symbol)
        local_day = ev.ts.astimezone(NY).date()
        if st.last_bar_date is not None and local_day <= st.last_bar_date:
            ctx.miss("data.bar_order", f"{ev.symbol} bar for {local_day} is not after "
                     f"{st.last_bar_date}: ignored")
            return
        st.last_bar_date = local_day
        st.atr.update(ev.high, ev.low, ev.close)
        st.rsi.update(ev.close)
        st.macd.update(ev.close)
        st.mean.update(ev.close)
        st.week_high = max(st.week_high, ev.high)
        st.week_low = min(st.week_low, ev.low)
        st.prune_quotes(local_day)
        # Daily bars: each position is checked at its adverse extreme (low for puts, high for
        # calls); the close becomes the latest price. Symbols fed intraday prices were already
        # watched through the day: their bar only checks the close.
        if ev.symbol in self._state.intraday_symbols:
            check_symbol(ctx, ev.symbol, put_price=ev.close, call_price=ev.close, source="close")
        else:
            check_symbol(ctx, ev.symbol, put_price=ev.low, call_price=ev.high,
                         source="bar extreme", bar=ev)
        st.price, st.price_ts = ev.close, ev.ts

    def _on_price(self, ctx: Ctx, ev: Price) -> None:
        check_symbol(ctx, ev.symbol, put_price=ev.price, call_price=ev.price, source="price")

    def _symbol(self, sym: str) -> SymbolState:
        st = self._state.market.get(sym)
        if st is None:
            st = self._state.market[sym] = SymbolState.new(self._ps.data.indicators)
        return st

    def _on_job(self, ctx: Ctx, ev: JobDue) -> None:
        job = ctx.ps.schedule.jobs.get(ev.name)
        if job is None:
            ctx.miss("schedule.unknown_job", f"clock event '{ev.name}' names no job in "
                     f"schedule.yaml (jobs: {', '.join(sorted(ctx.ps.schedule.jobs))})")
            return
        if not job.enabled:
            ctx.miss("schedule.job_disabled", "job is disabled in schedule.yaml", step=ev.name)
            return
        if self._state.deferred_entries:
            entry_mod.run_deferred(ctx, ev.name)  # an entry deferred from a closed day: any job runs it
        run = HANDLERS[job.handler].run
        if run is not None:
            run(ctx, ev.name)
