"""Replay: bundled market history through the engine with the simulated broker.

Each trading day becomes events in time order: the open as a price, the schedule's clock events
(entry scans get a simulated option chain just before them), intraday prices (1-minute bars) or
the day's bar (daily bars: protocol monitoring sees each bar's adverse extreme), expiries at the
close, then the after-close jobs. Scripts are approved per ``approve`` and executed by the
simulated broker; its fills go back into the engine. Every trading day is one atomic batch in the
store with the run's cursor, so a killed replay resumes where its last batch ended: the events
before the cursor are run again without writing (the engine is deterministic), then writing goes on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from alluse.adapters import marketdata
from alluse.adapters.simbroker import SimBroker, SimConfig
from alluse.engine.calendar import NY, nyse_calendar
from alluse.engine.core import Engine
from alluse.engine.decisions import ActionScript, Decision
from alluse.engine.events import Bar, Clock, Event, Fill, Price, event_to_dict
from alluse.engine.policy import PolicySet
from alluse.engine.policy.cron import parse_cron

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


@dataclass(slots=True)
class _Day:
    decisions: list[tuple[Event, Decision]] = field(default_factory=list)
    trades: list[Fill] = field(default_factory=list)
    events: list[tuple[int, Event]] = field(default_factory=list)  # every event, by engine index


def run_id_for(params: ReplayParams, policy_hash: str) -> str:
    text = json.dumps({**params.as_dict(), "policy": policy_hash}, sort_keys=True)
    return "replay-" + hashlib.sha256(text.encode()).hexdigest()[:16]


class Replay:
    def __init__(self, ps: PolicySet, params: ReplayParams, *, store: Any | None = None,
                 progress: Progress | None = None, sim: SimConfig | None = None) -> None:
        self.ps = ps
        self.params = params
        self.store = store
        self.progress = progress
        self.calendar = nyse_calendar()
        self.engine = Engine(ps, params.capital, calendar=self.calendar)
        self.broker = SimBroker(self.calendar, sim or SimConfig(
            rv_window=ps.data.indicators.realized_vol_days))
        self.notes: list[str] = []
        self.store_notes: list[str] = []  # said on stderr: not part of the (reproducible) result
        self.repairs: list[str] = []
        self.equity: dict[str, list[float | None]] = {}
        self.adjusted_equity: dict[str, list[float | None]] = {}  # transfers added back
        self.flows: dict[str, float] = {}
        self._funded: set[str] = set()
        self._transfers_seen = 0
        self.dates: list[str] = []
        self.protocol_levels: list[dict[str, Any]] = []
        self.alert_counts: dict[str, dict[str, int]] = {}
        self.premium_weekly: dict[str, float] = {}
        self.trades = 0
        self.resume_from = 0
        self.run_id = run_id_for(params, ps.hash)
        # what the store holds for each account: an account is written again when it changes
        # (a fork, a merge, a suspension), so the stored status is the latest one either way
        self._accounts_recorded: dict[str, Any] = {}
        self._last_cursor = -1
        self._symbols = sorted({s for st in ps.strategies.values() for s in st.symbols})
        self._load_data()

    # ------------------------------------------------------------------ data
    def _load_data(self) -> None:
        warmup = self.params.start - dt.timedelta(days=60)
        self.daily: dict[str, dict[dt.date, marketdata.DailyBar]] = {}
        mode = "refuse" if self.ps.data.quality.on_bad_rows == "refuse" else "repair"
        for sym in sorted({*self._symbols, "SPY", "VIX"}):
            loaded = marketdata.read_daily(sym, start=warmup, end=self.params.end,
                                           repair=mode)  # type: ignore[arg-type]
            if loaded.report.dropped or loaded.report.resorted:
                self.repairs.append(loaded.report.summary())
            self.daily[sym] = {b.date: b for b in loaded.bars}
        self.broker.vix = {d: b.close for d, b in self.daily["VIX"].items()}
        self.minutes: dict[str, dict[dt.date, list[marketdata.MinuteBar]]] = {}
        if self.params.bars == "1min":
            # only a symbol without a bundled 1-minute file falls back to daily bars; a file that
            # fails to load (refused bad rows, unreadable) is an error, not a silent fallback
            have = {i.symbol for i in marketdata.available() if i.dataset == "1min"}
            for sym in self._symbols:
                if sym not in have:
                    continue
                loaded_m = marketdata.read_intraday(sym, start=self.params.start,
                                                    end=self.params.end, repair=mode)  # type: ignore[arg-type]
                if loaded_m.report.dropped or loaded_m.report.resorted:
                    self.repairs.append(loaded_m.report.summary())
                by_day: dict[dt.date, list[marketdata.MinuteBar]] = {}
                for m in marketdata.regular_hours(loaded_m.bars):
                    by_day.setdefault(m.ts.date(), []).append(m)
                self.minutes[sym] = by_day
                self.engine.intraday_symbols.add(sym)
            self.notes.append("protocol monitoring saw every regular-hours 1-minute close; "
                              "1-minute prices (as traded) were rescaled to the daily bars' "
                              "split/dividend-adjusted basis by each day's close ratio; symbols "
                              "without 1-minute data used daily bars: " + ", ".join(
                                  s for s in self._symbols if s not in self.minutes))
        else:
            self.notes.append("daily bars: protocol monitoring used each bar's adverse extreme "
                              "(the low for short puts, the high for short calls); entry scans "
                              "priced the chain at the day's open; protocol scripts filled at the "
                              "level's boundary price (or the extreme, if the bar gapped past it)")

    # ------------------------------------------------------------------ driving
    def _handle(self, ev: Event, day: _Day) -> Decision:
        d = self.engine.handle(ev)
        day.events.append((self.engine.index, ev))
        if not d.empty:
            day.decisions.append((ev, d))
            for a in d.alerts:
                c = self.alert_counts.setdefault(a.type, {"total": 0, "suppressed": 0})
                c["total"] += 1
                c["suppressed"] += a.suppressed
            for t in d.transitions:
                if t.machine == "protocol":
                    acc, sym = t.subject.split(":")[:2]
                    self.protocol_levels.append({"date": ev.ts.astimezone(NY).date().isoformat(),
                                                 "position": t.subject, "account": acc,
                                                 "symbol": sym, "from": t.source, "to": t.dest})
            for s in d.scripts:
                self._act(s, ev, day)
        return d

    def _approved(self, s: ActionScript) -> bool:
        return self.params.approve == "all" or (self.params.approve == "automatic"
                                                and s.approval == "automatic")

    def _exec_price(self, s: ActionScript, ev: Event, symbol: str) -> float:
        vals = dict(s.trigger_values)
        st = self.engine.market[symbol]
        price = st.price if st.price is not None else 0.0
        if isinstance(ev, Bar) and {"entry_price", "atr", "threshold"} <= vals.keys():
            entry, atr, thr = (float(vals["entry_price"] or 0), float(vals["atr"] or 0),
                               float(vals["threshold"] or 0))
            right = next((x.right for x in s.steps if x.kind == "order" and x.right), "P")
            boundary = entry - thr * atr if right == "P" else entry + thr * atr
            return min(max(boundary, ev.low), ev.high)
        if isinstance(ev, Bar):
            return ev.close
        trigger_price = vals.get("price")
        return float(trigger_price) if isinstance(trigger_price, int | float) else price

    def _act(self, s: ActionScript, ev: Event, day: _Day) -> None:
        if not self._approved(s) or not any(x.kind == "order" for x in s.steps):
            return
        symbol = next(x.symbol for x in s.steps if x.kind == "order")
        px = self._exec_price(s, ev, symbol)
        for fill in self.broker.execute(s, ev.ts + dt.timedelta(seconds=1), {symbol: px}):
            day.trades.append(fill)
            self.trades += 1
            if fill.expiry is not None and fill.side == "SELL":
                iso = fill.ts.astimezone(NY).date().isocalendar()
                week = f"{iso[0]}-W{iso[1]:02d}"
                self.premium_weekly[week] = self.premium_weekly.get(week, 0.0) + (
                    fill.price * 100 * fill.quantity)
            self._handle(fill, day)

    def _clock_times(self, day: dt.date) -> list[tuple[dt.datetime, str]]:
        out = []
        for name, job in self.ps.schedule.jobs.items():
            if not job.enabled:
                continue
            minutes, hours, doms, months, dows = parse_cron(job.cron)
            if day.day not in doms or day.month not in months or day.weekday() not in dows:
                continue
            for h in sorted(hours):
                for m in sorted(minutes):
                    out.append((dt.datetime.combine(day, dt.time(h, m), tzinfo=NY), name))
        return sorted(out)

    def _chain(self, ts: dt.datetime, day: _Day) -> None:
        """Quotes for every strategy symbol (and held stock) at the current price."""
        today = ts.astimezone(NY).date()
        horizon = max(st.dte.max for st in self.ps.strategies.values())
        expiries = []
        e = self.calendar.weekly_expiry(today)
        while (e - today).days <= horizon:
            expiries.append(e)
            e = self.calendar.weekly_expiry(e + dt.timedelta(days=1))
        held = {sym for acc in self.engine.tree.accounts for sym in self.engine.stock_symbols(acc)}
        for sym in sorted({*self._symbols, *held}):
            price = self.engine.market.get(sym)
            if price is None or price.price is None:
                continue
            rights = ("P", "C") if sym in held else ("P",)
            for q in self.broker.chain(sym, ts, price.price, expiries, rights):
                self._handle(q, day)

    def _marks(self, ts: dt.datetime, day: _Day) -> None:
        for pos in sorted(self.engine.shorts.values(), key=lambda p: p.key):
            st = self.engine.market[pos.symbol]
            if st.price is not None and pos.expiry >= ts.astimezone(NY).date():
                self._handle(self.broker.quote(pos.symbol, ts, st.price, pos.expiry, pos.strike,
                                               pos.right), day)

    def days(self) -> Iterator[dt.date]:
        d = self.params.start
        while d <= self.params.end:
            yield d
            d += dt.timedelta(days=1)

    def _trading_day(self, d: dt.date, day: _Day) -> None:
        bars = {s: self.daily[s][d] for s in self._symbols if d in self.daily[s]}
        close_t = self.calendar.close_time(d) or dt.time(16)
        t_open = dt.datetime.combine(d, dt.time(9, 30), tzinfo=NY)
        t_close = dt.datetime.combine(d, close_t, tzinfo=NY)
        for s, b in bars.items():
            self._handle(Price(t_open, s, b.open), day)
        clocks = self._clock_times(d)
        intraday: list[tuple[dt.datetime, str, float]] = []
        for s, b in bars.items():
            mins = self.minutes.get(s, {}).get(d)
            if mins:
                scale = b.close / mins[-1].close
                intraday += [(m.ts.astimezone(NY) + dt.timedelta(minutes=1), s, m.close * scale)
                             for m in mins]
        intraday.sort()
        i = 0
        for ts, name in clocks:
            if ts >= t_close:
                break
            while i < len(intraday) and intraday[i][0] <= ts:
                self._handle(Price(intraday[i][0], intraday[i][1], intraday[i][2]), day)
                i += 1
            if self.ps.schedule.jobs[name].handler == "entry_scan":
                self._chain(ts, day)
            self._handle(Clock(ts, name), day)
        for ts, s, p in intraday[i:]:
            if ts <= t_close:
                self._handle(Price(ts, s, p), day)
        for s, b in bars.items():
            self._handle(Bar(t_close, s, b.open, b.high, b.low, b.close, int(b.volume)), day)
        for s in ("SPY", *self._symbols):
            if d in self.daily[s]:
                self.broker.record_close(s, d, self.daily[s][d].close)
        closes = {s: b.close for s, b in bars.items()}
        for ev in self.broker.settle(d, closes, t_close + dt.timedelta(minutes=1)):
            self._handle(ev, day)
        self._marks(t_close + dt.timedelta(minutes=2), day)
        for ts, name in clocks:
            if ts >= t_close:
                self._handle(Clock(ts, name), day)

    def run(self) -> dict[str, Any]:
        total = sum(1 for _ in self.days())
        finished = False
        if self.store is not None:
            existing = self.store.run(self.run_id)
            if existing is not None and existing.status == "done":
                finished = True  # the same inputs were recorded before: recompute, write nothing
                self.resume_from = 1 << 62
                self.store_notes.append(f"run {self.run_id} was already recorded in full; "
                                        "nothing was written again")
            else:
                state = self.store.begin_run(self.run_id, "replay", self.params.as_dict(),
                                             self.ps.hash)
                self.resume_from = state.next_index
                if state.resumed:
                    self.store_notes.append(f"resumed run {self.run_id} after event "
                                            f"{state.cursor}")
                self.store.record_policy_version(self.ps.hash, dict(self.ps.file_hashes),
                                                 "replay")
        for n, d in enumerate(self.days(), 1):
            day = _Day()
            if self.calendar.is_session(d) and any(d in self.daily[s] for s in self._symbols):
                self._trading_day(d, day)
            else:
                for ts, name in self._clock_times(d):
                    self._handle(Clock(ts, name), day)
            self._snapshot(d)
            self._commit(day)
            if self.progress is not None:
                self.progress(n, total)
        if self.store is not None and not finished:
            self.store.finish_run(self.run_id)
        from alluse.adapters.replay_result import build_result

        self.result = build_result(self)
        return self.result

    def _snapshot(self, d: dt.date) -> None:
        if not self.calendar.is_session(d):
            return
        self.dates.append(d.isoformat())
        n = len(self.dates)
        transfers = self.engine.ledger.transfers()
        for t in transfers[self._transfers_seen:]:
            # money moved by forks, merges and tax withholding is not performance: drawdowns
            # are measured on equity with it added back (a new account's funding excluded)
            funding = t.target not in self._funded
            self._funded.add(t.target)
            self.flows[t.source] = self.flows.get(t.source, 0.0) + float(t.amount)
            if not funding:
                self.flows[t.target] = self.flows.get(t.target, 0.0) - float(t.amount)
        self._transfers_seen = len(transfers)
        for acc in sorted(self.engine.tree.accounts):
            series = self.equity.setdefault(acc, [None] * (n - 1))
            series.append(float(self.engine.equity(acc)))
            adjusted = self.adjusted_equity.setdefault(acc, [None] * (n - 1))
            adjusted.append(series[-1] + self.flows.get(acc, 0.0))
        for table in (self.equity, self.adjusted_equity):
            for series in table.values():
                if len(series) < n:
                    series.append(None)

    # ------------------------------------------------------------------ store
    def _commit(self, day: _Day) -> None:
        if self.store is None:
            return
        cursor = self.engine.index
        if cursor < self.resume_from or cursor < 0 or cursor == self._last_cursor:
            return  # already stored by the run we resume, or a day without events
        self._last_cursor = cursor
        from alluse.adapters.store import records as R
        from alluse.adapters.store import state_records as S

        decisions, alerts, scripts, changes = [], [], [], []
        for ev, d in day.decisions:
            if d.event_index < self.resume_from:
                continue
            decisions.append(R.DecisionRecord(d.event_index, d.ts, d.policy_hash,
                                              _jsonable(event_to_dict(ev)), d.to_dict()))
            for a in d.alerts:
                alerts.append(R.AlertRecord(d.ts, a.type, a.priority, a.title, a.body, a.account,
                                            a.suppressed, event_index=d.event_index))
            for s in d.scripts:
                scripts.append(R.ScriptRecord(
                    s.id, s.account, s.approval, s.to_dict(), s.expires_at,
                    status="executed" if self._approved(s) and any(
                        x.kind == "order" for x in s.steps) else "proposed",
                    event_index=d.event_index))
            for t in d.transitions:
                if t.machine == "protocol":
                    vals = dict(t.values)
                    changes.append(R.ProtocolChangeRecord(
                        t.subject, d.ts, int(t.source[1:]), int(t.dest[1:]),
                        float(vals.get("atr_multiple") or 0.0), t.rule,
                        event_index=d.event_index))
        trades = [R.TradeRecord(f.account, f.ts, f.symbol, f.side, f.quantity,
                                Decimal(str(f.price)), "sim", Decimal(str(f.commission)),
                                f.expiry, Decimal(str(f.strike)) if f.strike is not None else None,
                                f.right or "") for f in day.trades]
        accounts = []
        for acc in self.engine.tree.accounts.values():
            record = R.AccountRecord(
                acc.id, acc.type, acc.initial_capital, acc.state,
                acc.created_at or dt.datetime.combine(self.params.start, dt.time(9, 30), tzinfo=NY),
                acc.unit, acc.parent)
            if self._accounts_recorded.get(acc.id) != record:
                self._accounts_recorded[acc.id] = record
                accounts.append(record)
        now = day.events[-1][1].ts
        lots = self.engine.ledger.lots()
        events = [ev for _, ev in day.events]
        # positions closed in this batch are those the store holds open and the engine no longer
        # does; only a fill, an assignment or an expiration can close one
        stored = (self.store.positions(self.run_id, open_only=True)
                  if S.may_close_positions(events) else [])
        positions = S.position_records(S.open_positions(self.engine.shorts.values(), lots, now),
                                       stored, events, now)
        self.store.record_batch(self.run_id, cursor, decisions=decisions, alerts=alerts,
                                scripts=scripts, protocol_changes=changes, trades=trades,
                                accounts=accounts, positions=positions,
                                tax_lots=S.tax_lot_records(lots, now.astimezone(NY).date()),
                                events=S.event_records(day.events, self.resume_from))


def _jsonable(obj: dict[str, object]) -> dict[str, Any]:
    return json.loads(json.dumps(obj, default=str))  # type: ignore[no-any-return]


__all__ = ["Replay", "ReplayParams", "run_id_for"]
