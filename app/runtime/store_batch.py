"""A replay day's decisions, alerts, scripts, protocol changes, trades and accounts as store
records (one atomic batch with the run's cursor)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from alluse.adapters.store import records as R
from alluse.adapters.store import state_records as S
from alluse.engine.calendar import NY
from alluse.engine.decisions import Decision
from alluse.engine.events import Event, Fill, event_to_dict

if TYPE_CHECKING:
    from alluse.runtime.replay import Replay


def _jsonable(obj: dict[str, object]) -> dict[str, Any]:
    return json.loads(json.dumps(obj, default=str))  # type: ignore[no-any-return]


def batch_records(replay: Replay, decided: list[tuple[Event, Decision]], fills: list[Fill],
                  events: list[tuple[int, Event]], resume_from: int) -> dict[str, Any]:
    approved = replay.driver.approver
    decisions, alerts, scripts, changes = [], [], [], []
    for ev, d in decided:
        if d.event_index < resume_from:
            continue
        decisions.append(R.DecisionRecord(d.event_index, d.ts, d.policy_hash,
                                          _jsonable(event_to_dict(ev)), d.to_dict()))
        for a in d.alerts:
            alerts.append(R.AlertRecord(d.ts, a.type, a.priority, a.title, a.body, a.account,
                                        a.suppressed, event_index=d.event_index))
        for s in d.scripts:
            has_orders = any(x.kind == "order" for x in s.steps)
            scripts.append(R.ScriptRecord(
                s.id, s.account, s.approval, s.to_dict(), s.expires_at,
                status="executed" if approved(s) and has_orders else "proposed",
                event_index=d.event_index))
        for t in d.transitions:
            if t.machine == "protocol":
                vals = dict(t.values)
                changes.append(R.ProtocolChangeRecord(
                    t.subject, d.ts, int(t.source[1:]), int(t.dest[1:]),
                    float(vals.get("atr_multiple") or 0.0), t.rule, event_index=d.event_index))
    trades = [R.TradeRecord(f.account, f.ts, f.symbol, f.side, f.quantity,
                            Decimal(str(f.price)), "sim", Decimal(str(f.commission)),
                            f.expiry, Decimal(str(f.strike)) if f.strike is not None else None,
                            f.right or "") for f in fills]
    accounts = []
    start = dt.datetime.combine(replay.params.start, dt.time(9, 30), tzinfo=NY)
    for acc in replay.engine.state.tree.accounts.values():
        record = R.AccountRecord(acc.id, acc.type, acc.initial_capital, acc.state,
                                 acc.created_at or start, acc.unit, acc.parent)
        if replay._accounts_recorded.get(acc.id) != record:
            replay._accounts_recorded[acc.id] = record
            accounts.append(record)
    state = replay.engine.state
    now = events[-1][1].ts
    lots = state.ledger.lots()
    plain = [ev for _, ev in events]
    # positions closed in this batch are those the store holds open and the engine no longer
    # does; only a fill, an assignment or an expiration can close one
    stored = (replay.store.positions(replay.run_id, open_only=True)
              if replay.store is not None and S.may_close_positions(plain) else [])
    positions = S.position_records(S.open_positions(state.shorts.values(), lots, now), stored,
                                   plain, now)
    return {"decisions": decisions, "alerts": alerts, "scripts": scripts,
            "protocol_changes": changes, "trades": trades, "accounts": accounts,
            "positions": positions, "tax_lots": S.tax_lot_records(lots, now.astimezone(NY).date()),
            "events": S.event_records(events, resume_from)}
