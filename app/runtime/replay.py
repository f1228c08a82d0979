"""Replay: bundled market history through the driver, the engine and the simulated broker.

A `ReplaySource` turns each day into events in time order: the day's corporate actions (splits
and dividends with that ex-date, before the open: prices are as traded), the open as a price per
symbol, the
jobs the `Scheduler` says are due (a job's data needs are fetched by the driver), intraday prices
(1-minute bars) or the day's bar (daily bars: monitoring sees the bar's adverse extreme), then the
jobs after the close. The `SimBroker` fills, settles expiries at the close and reports back
through the driver. Scripts are approved per ``approve``.

Every trading day is one atomic batch in the store with the run's cursor, so a killed replay
resumes where its last batch ended: the events before the cursor are run again without writing
(the engine is deterministic), then writing goes on. `Replay.save()` / `Replay.resume()` carry a
replay (engine, broker, source position, tallies) across processes at any event.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from alluse.adapters.sim.broker import SimBroker, _Queued
from alluse.adapters.sim.data import History, SimMarketData
from alluse.adapters.sim.market import MARKET_REFERENCE, SimConfig, SimMarket
from alluse.engine import learning
from alluse.engine.calendar import NY, MarketCalendar, nyse_calendar
from alluse.engine.commands import COMMANDS
from alluse.engine.core import Engine
from alluse.engine.decisions import Decision
from alluse.engine.events import (
    Assignment,
    Bar,
    Event,
    Expiration,
    Fill,
    JobDue,
    OptionContract,
    OrderCancelled,
    OrderRejected,
    Price,
    Split,
)
from alluse.engine.persist import Codec
from alluse.engine.policy import PolicySet
from alluse.engine.ports import Scheduler
from alluse.runtime.driver import APPROVERS, Driver
from alluse.runtime.positions import Position, PositionBook
from alluse.runtime.schedule import policy_scheduler

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class ReplayParams:
    start: dt.date
    end: dt.date
    capital: float
    bars: str = "daily"  # daily | 1min
    approve: str = "all"  # all | automatic | none

    def as_dict(self) -> dict[str, Any]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat(),
                "capital": self.capital, "bars": self.bars, "approve": self.approve}


def run_id_for(params: ReplayParams, policy_hash: str) -> str:
    text = json.dumps({**params.as_dict(), "policy": policy_hash}, sort_keys=True)
    return "replay-" + hashlib.sha256(text.encode()).hexdigest()[:16]


class ReplaySource:
    """The history as events, day by day; its position is (day, event of the day)."""

    def __init__(self, history: History, symbols: list[str], calendar: MarketCalendar,
                 scheduler: Scheduler, start: dt.date, end: dt.date, *,
                 context: list[str] | None = None) -> None:
        self.history = history
        self.symbols = symbols
        # symbols the engine reads but does not trade (the VIX for week predictions): their
        # daily bars only, at the close
        self.context = [s for s in context or () if s not in symbols]
        self.calendar = calendar
        self.scheduler = scheduler
        self.start = start
        self.end = end

    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    def warmup(self) -> list[Event]:
        """The daily bars before ``start`` (indicator warm-up: ATR, RSI, MACD and the simulated
        market's realised vol need history the first day already), without jobs or prices."""
        out: list[Event] = []
        days = sorted({d for s in self.symbols for d in self.history.daily[s] if d < self.start})
        for d in days:
            if not self.calendar.is_session(d):
                continue
            # a split inside the warm-up puts the indicators on the new basis before its bars
            out += [a for a in self.history.actions(d, _before_open(d)) if isinstance(a, Split)]
            t_close = dt.datetime.combine(d, self.calendar.close_time(d) or dt.time(16), tzinfo=NY)
            out += [Bar(t_close, s, b.open, b.high, b.low, b.close, int(b.volume))
                    for s in [*self.symbols, *self.context]
                    if (b := self.history.daily[s].get(d)) is not None]
        return out

    def trading(self, d: dt.date) -> bool:
        return self.calendar.is_session(d) and any(d in self.history.daily[s] for s in self.symbols)

    def events(self, d: dt.date) -> list[Event]:
        day0 = dt.datetime.combine(d, dt.time(0), tzinfo=NY)
        jobs = [JobDue(ts, name) for ts, name in
                self.scheduler.due(day0, day0 + dt.timedelta(days=1))]
        if not self.trading(d):
            return list(jobs)
        bars = {s: self.history.daily[s][d] for s in self.symbols if d in self.history.daily[s]}
        t_open = dt.datetime.combine(d, dt.time(9, 30), tzinfo=NY)
        t_close = dt.datetime.combine(d, self.calendar.close_time(d) or dt.time(16), tzinfo=NY)
        out: list[Event] = [*self.history.actions(d, _before_open(d))]
        out += [Price(t_open, s, b.open) for s, b in bars.items()]
        intraday: list[tuple[dt.datetime, str, float]] = []
        for s, b in bars.items():
            mins = self.history.minutes.get(s, {}).get(d)
            if mins:
                scale = b.close / mins[-1].close
                intraday += [(m.ts.astimezone(NY) + dt.timedelta(minutes=1), s, m.close * scale)
                             for m in mins]
        intraday.sort()
        i = 0
        for job in jobs:
            if job.ts >= t_close:
                break
            while i < len(intraday) and intraday[i][0] <= job.ts:
                out.append(Price(intraday[i][0], intraday[i][1], intraday[i][2]))
                i += 1
            out.append(job)
        out += [Price(ts, s, p) for ts, s, p in intraday[i:] if ts <= t_close]
        out += [Bar(t_close, s, b.open, b.high, b.low, b.close, int(b.volume))
                for s, b in bars.items()]
        out += [Bar(t_close, s, cb.open, cb.high, cb.low, cb.close, int(cb.volume))
                for s in self.context if (cb := self.history.daily[s].get(d)) is not None]
        out += [job for job in jobs if job.ts >= t_close]
        return out


def _before_open(d: dt.date) -> dt.datetime:
    """When a day's corporate actions take effect: before any job or price of the day."""
    return dt.datetime.combine(d, dt.time(0), tzinfo=NY)


@dataclass(slots=True)
class Tally:
    """What the replay counts for its result while it runs (saved with it)."""

    dates: list[str] = field(default_factory=list)
    equity: dict[str, list[float | None]] = field(default_factory=dict)
    # money moved between accounts (forks, merges, tax withheld): (date, account, net flow in,
    # equity right after), the valuations a time-weighted return needs
    flow_points: list[tuple[str, str, float, float]] = field(default_factory=list)
    transfers_seen: int = 0
    protocol_levels: list[dict[str, Any]] = field(default_factory=list)
    alert_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    premium_weekly: dict[str, float] = field(default_factory=dict)
    fills: int = 0
    positions: PositionBook = field(default_factory=PositionBook)
    # entry checks that did not pass, per account: (rule id, step) -> count
    not_fired: dict[str, dict[tuple[str, str], int]] = field(default_factory=dict)
    not_fired_example: dict[str, dict[tuple[str, str], str]] = field(default_factory=dict)  # last
    warmed: bool = False  # the warm-up bars were fed
    day: int = 0  # days done
    offset: int = 0  # events of the current day done


@dataclass(slots=True)
class _Day:
    decisions: list[tuple[Event, Decision]] = field(default_factory=list)
    trades: list[Fill] = field(default_factory=list)
    events: list[tuple[int, Event]] = field(default_factory=list)  # every event, by engine index


CODEC = Codec([Tally, PositionBook, Position, SimBroker, SimMarket, _Queued, OptionContract, Fill, Assignment,
               Expiration, OrderCancelled, OrderRejected, *COMMANDS.values()])


class Replay:
    def __init__(self, ps: PolicySet, params: ReplayParams, *, store: Any | None = None,
                 progress: Progress | None = None, sim: SimConfig | None = None,
                 fill_delay: int = 0, calendar: MarketCalendar | None = None,
                 history: History | None = None) -> None:
        """``history``: bars already loaded for this window (several runs share one: `policy
        impact`); it must hold this set's symbols, loaded with its ``on_bad_rows`` mode."""
        self.ps = ps
        self.params = params
        self.store = store
        self.progress = progress
        self.calendar = calendar or nyse_calendar()
        self.notes: list[str] = []
        self.store_notes: list[str] = []  # said on stderr: not part of the (reproducible) result
        self.run_id = run_id_for(params, ps.hash)
        self.resume_from = 0
        self._last_cursor = -1
        self._last_commit_day: dt.date | None = None
        self._accounts_recorded: dict[str, Any] = {}
        self.symbols = sorted({s for st in ps.strategies.values() for s in st.symbols})
        self._entry_jobs = {st.entry.job for st in ps.strategies.values()}
        mode = "refuse" if ps.data.quality.on_bad_rows == "refuse" else "repair"
        self.context = learning.context_symbols(ps)
        self.history = history if history is not None else History.load(
            sorted({*self.symbols, MARKET_REFERENCE, "VIX", *self.context}), params.start,
            params.end, repair=mode, intraday=self.symbols if params.bars == "1min" else ())
        self.repairs = self.history.repairs
        self.engine = Engine(ps, params.capital, calendar=self.calendar)
        self.market = SimMarket(self.calendar, sim or SimConfig(
            rv_window=ps.data.indicators.realized_vol_days), vix=self.history.closes("VIX"),
            reference=self.history.closes(MARKET_REFERENCE))
        self.broker = SimBroker(self.market, fill_delay=fill_delay,
                                dividends=self.history.dividend_schedule(),
                                early_assignment=ps.data.corporate_actions.early_assignment_before_dividend)
        self.tally = Tally()
        self._day = _Day()
        self.source = ReplaySource(self.history, self.symbols, self.calendar,
                                   policy_scheduler(ps, self.calendar), params.start, params.end,
                                   context=self.context)
        self._wire()
        self._describe_data()

    def _wire(self) -> None:
        self.driver = Driver(self.engine, self.broker,
                             SimMarketData(self.market, self.history, self.calendar),
                             approver=APPROVERS[self.params.approve], observers=[self._observe])
        for sym in self.history.minutes:
            self.engine.watch_intraday(sym)

    def _describe_data(self) -> None:
        h = self.history
        traded = [s for s in self.symbols if h.basis.get(s) == "as traded"]
        self.notes.append(f"prices as traded for {', '.join(traded) or 'no symbol'}; corporate "
                          f"actions applied on their ex-dates: {len(h.splits)} split(s), "
                          f"{len(h.dividends)} dividend(s) (bundled tables)")
        if self.params.bars == "1min":
            self.notes.append("protocol monitoring saw every regular-hours 1-minute close; "
                              "1-minute prices were rescaled to the daily bars by each day's "
                              "close ratio; symbols without 1-minute data used daily bars: "
                              + ", ".join(s for s in self.symbols if s not in self.history.minutes))
        else:
            self.notes.append("daily bars: protocol monitoring used each bar's adverse extreme "
                              "(the low for short puts, the high for short calls); entry scans "
                              "priced the chain at the day's open; protocol scripts priced at "
                              "the level's boundary (the open on a gap); limits fill at or "
                              "better than their limit")

    # ------------------------------------------------------------------ saving and resuming
    def save(self) -> bytes:
        """The whole replay at this point (engine, broker, source position, tallies)."""
        return CODEC.dumps({"engine": self.engine.snapshot().decode(), "broker": self.broker,
                            "tally": self.tally, "run_id": self.run_id})

    @classmethod
    def resume(cls, ps: PolicySet, params: ReplayParams, saved: bytes, **kw: Any) -> Replay:
        """A replay that continues a `save()`d one (in this process or another)."""
        replay = cls(ps, params, **kw)
        replay._restore(saved)
        return replay

    def _restore(self, saved: bytes) -> None:
        data = CODEC.loads(saved)
        self.engine = Engine.restore(data["engine"].encode(), self.ps, calendar=self.calendar)
        broker: SimBroker = data["broker"]
        broker.market.calendar = self.calendar
        broker.market.config = self.market.config
        broker.market._rv_cache = {}
        self.market = broker.market
        self.broker = broker
        self.tally = data["tally"]
        self._wire()

    # ------------------------------------------------------------------ running
    def run(self) -> dict[str, Any]:
        """Run to the end; the result (also kept as ``self.result``)."""
        self.advance()
        from alluse.runtime.result import build_result

        self.result = build_result(self)
        return self.result

    def advance(self, stop_after: int | None = None) -> bool:
        """Feed the source's events, at most ``stop_after`` of them; True once the replay is done
        (`save()` holds an unfinished one)."""
        days = self.source.days()
        finished = self._open_store()
        fed = 0
        if not self.tally.warmed:
            for ev in self.source.warmup():
                self.driver.feed(ev)
            self.tally.warmed = True
        while self.tally.day < len(days):
            d = days[self.tally.day]
            events = self.source.events(d)
            while self.tally.offset < len(events):
                if stop_after is not None and fed >= stop_after:
                    return False
                self.tally.offset += 1
                self.driver.feed(events[self.tally.offset - 1])
                fed += 1
            self._end_of_day(d)
            self.tally.day += 1
            self.tally.offset = 0
            self._commit(self._day, d)
            self._day = _Day()
            if self.progress is not None:
                self.progress(self.tally.day, len(days))
        if self.store is not None and not finished:
            self.store.finish_run(self.run_id)
        return True

    def _observe(self, ev: Event, d: Decision) -> None:
        t = self.tally
        self._day.events.append((self.engine.state.index, ev))
        if isinstance(ev, Fill | Assignment | Expiration):
            t.positions.apply(ev, self._price)
        if isinstance(ev, Fill):
            self._day.trades.append(ev)
            t.fills += 1
            if ev.expiry is not None and ev.side == "SELL":
                iso = ev.ts.astimezone(NY).date().isocalendar()
                week = f"{iso[0]}-W{iso[1]:02d}"
                t.premium_weekly[week] = t.premium_weekly.get(week, 0.0) + (
                    ev.price * 100 * ev.quantity)
        if d.empty:
            return
        self._day.decisions.append((ev, d))
        self._flows(ev)
        if isinstance(ev, JobDue) and ev.name in self._entry_jobs:
            self._count_not_fired(d)
        for a in d.alerts:
            c = t.alert_counts.setdefault(a.type, {"total": 0, "suppressed": 0})
            c["total"] += 1
            c["suppressed"] += a.suppressed
        for tr in d.transitions:
            if tr.machine == "protocol":
                acc, sym = tr.subject.split(":")[:2]
                t.protocol_levels.append({"date": ev.ts.astimezone(NY).date().isoformat(),
                                          "position": tr.subject, "account": acc,
                                          "symbol": sym, "from": tr.source, "to": tr.dest})

    def _price(self, symbol: str) -> float | None:
        mk = self.engine.state.market.get(symbol)
        return None if mk is None else mk.price

    def _flows(self, ev: Event) -> None:
        """Money moved by this event (forks, merges, tax withheld), valued right after it."""
        from alluse.engine import portfolio

        t, st = self.tally, self.engine.state
        transfers = st.ledger.transfers()
        if len(transfers) == t.transfers_seen:
            return
        net: dict[str, float] = {}
        for tr in transfers[t.transfers_seen:]:
            net[tr.source] = net.get(tr.source, 0.0) - float(tr.amount)
            net[tr.target] = net.get(tr.target, 0.0) + float(tr.amount)
        t.transfers_seen = len(transfers)
        day = ev.ts.astimezone(NY).date().isoformat()
        t.flow_points += [(day, acc, flow, float(portfolio.equity(st, acc)))
                          for acc, flow in sorted(net.items()) if acc in st.tree.accounts]

    def _count_not_fired(self, d: Decision) -> None:
        """Entry checks that stopped an account's scan, by rule id and step (the explanation of
        an account's check starts with the account id)."""
        accounts = self.engine.state.tree.accounts
        for nf in d.not_fired:
            acc = nf.explanation.split(" ", 1)[0]
            if acc in accounts:
                key = (nf.rule, nf.step)
                counts = self.tally.not_fired.setdefault(acc, {})
                counts[key] = counts.get(key, 0) + 1
                self.tally.not_fired_example.setdefault(acc, {})[key] = nf.explanation

    def _end_of_day(self, d: dt.date) -> None:
        from alluse.engine import portfolio

        if not self.calendar.is_session(d):
            return
        t = self.tally
        st = self.engine.state
        t.dates.append(d.isoformat())
        n = len(t.dates)
        for acc in sorted(st.tree.accounts):
            series = t.equity.setdefault(acc, [None] * (n - 1))
            series.append(float(portfolio.equity(st, acc)))
        for series in t.equity.values():
            if len(series) < n:
                series.append(None)

    # ------------------------------------------------------------------ store
    def _open_store(self) -> bool:
        if self.store is None:
            return False
        existing = self.store.run(self.run_id)
        if existing is not None and existing.status == "done":
            self.resume_from = 1 << 62  # the same inputs were recorded: recompute, write nothing
            self.store_notes.append(f"run {self.run_id} was already recorded in full; "
                                    "nothing was written again")
            return True
        state = self.store.begin_run(self.run_id, "replay", self.params.as_dict(), self.ps.hash)
        self.resume_from = state.next_index
        if state.resumed:
            self.store_notes.append(f"resumed run {self.run_id} after event {state.cursor}")
            snap = self.store.latest_snapshot(self.run_id)
            if snap is not None:  # continue from the saved state, not from the first day
                self._restore(snap.state)
        self.store.record_policy_version(self.ps.hash, dict(self.ps.file_hashes), "replay")
        return False

    def _commit(self, day: _Day, d: dt.date) -> None:
        if self.store is None:
            return
        cursor = self.engine.state.index
        if cursor < self.resume_from or cursor < 0 or cursor == self._last_cursor:
            return  # already stored by the run we resume, or a day without events
        self._last_cursor = cursor
        from alluse.adapters.store.records import SnapshotRecord
        from alluse.runtime.store_batch import batch_records

        snapshot = None
        last = self._last_commit_day
        if last is not None and (last.year, last.month) != (d.year, d.month):
            # the first batch of a month carries a saved state: a resume starts from there
            ts = dt.datetime.combine(d, dt.time(23, 59), tzinfo=NY)
            snapshot = SnapshotRecord(cursor, ts, self.ps.hash, self.save())
        self._last_commit_day = d
        self.store.record_batch(self.run_id, cursor, snapshot=snapshot, **batch_records(
            self, day.decisions, day.trades, day.events, self.resume_from))


__all__ = ["Replay", "ReplayParams", "ReplaySource", "run_id_for"]
