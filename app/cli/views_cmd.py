"""`alluse accounts`, `alluse positions`, `alluse alerts`: what a run's store holds, read-only.

Each works on the store of a running or stopped node, or of a replay written with `--db`; text
is Rich tables (times in UTC), `--format json` one document with the run id and the rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from alluse.cli.store_options import (
    DbOpt,
    Fmt,
    FmtOpt,
    RunOpt,
    console,
    fail,
    opened_store,
    parse_instant,
    pick_run,
    print_json,
    when,
)

if TYPE_CHECKING:
    from alluse.adapters.store import AlertRecord, PositionRecord


def _table(title: str, columns: tuple[str, ...], right: tuple[str, ...] = ()) -> Table:
    table = Table(title=title, caption="times in UTC")
    for col in columns:
        table.add_column(col, justify="right" if col in right else "left")
    return table


def _contract(p: PositionRecord) -> str:
    if not p.right:
        return "stock"
    strike = f"{p.strike.normalize():f}" if p.strike is not None else "?"
    return f"{p.expiry} {strike}{p.right}"


def position_dict(p: PositionRecord) -> dict[str, Any]:
    return {"key": p.key, "account": p.account, "symbol": p.symbol, "right": p.right or None,
            "strike": p.strike, "expiry": p.expiry, "quantity": p.quantity, "opened_at": p.opened_at,
            "closed_at": p.closed_at, "state": p.state, "protocol_level": p.protocol_level}


def alert_dict(a: AlertRecord) -> dict[str, Any]:
    return {"id": a.id, "ts": a.ts, "type": a.type, "priority": a.priority, "account": a.account,
            "title": a.title, "body": a.body, "suppressed": a.suppressed,
            "delivery_status": a.delivery_status, "channels": list(a.channels),
            "decision_seq": a.decision_seq}


def accounts(run: RunOpt = None, db: DbOpt = None, fmt: FmtOpt = Fmt.text) -> None:
    """The run's accounts (the fork tree), with their open positions and trades."""
    with opened_store(db) as store:
        r = pick_run(store, run)
        rows = store.accounts(r.run_id)
        open_by: dict[str, int] = {}
        for p in store.positions(r.run_id, open_only=True):
            open_by[p.account] = open_by.get(p.account, 0) + 1
        trades_by: dict[str, int] = {}
        for t in store.trades(r.run_id):
            trades_by[t.account] = trades_by.get(t.account, 0) + 1
    if fmt is Fmt.json:
        print_json({"run_id": r.run_id, "accounts": [
            {"id": a.id, "type": a.type, "parent_id": a.parent_id, "unit": a.unit,
             "initial_capital": a.initial_capital, "status": a.status, "created_at": a.created_at,
             "open_positions": open_by.get(a.id, 0), "trades": trades_by.get(a.id, 0)} for a in rows]})
        return
    table = _table(f"Accounts of run {r.run_id}",
                   ("account", "type", "parent", "unit", "initial capital", "status", "created",
                    "open positions", "trades"), right=("initial capital", "open positions", "trades"))
    for a in rows:
        table.add_row(a.id, a.type, a.parent_id or "—", a.unit, f"{a.initial_capital:,.2f}", a.status,
                      when(a.created_at), str(open_by.get(a.id, 0)), str(trades_by.get(a.id, 0)))
    console().print(table if rows else f"No accounts in run {r.run_id}.")


def positions(
    open_only: Annotated[bool, typer.Option("--open", help="Only positions still open")] = False,
    run: RunOpt = None,
    db: DbOpt = None,
    fmt: FmtOpt = Fmt.text,
) -> None:
    """The run's positions: open ones, and closed ones with how and when they ended."""
    with opened_store(db) as store:
        r = pick_run(store, run)
        rows = store.positions(r.run_id, open_only=open_only)
    if fmt is Fmt.json:
        print_json({"run_id": r.run_id, "positions": [position_dict(p) for p in rows]})
        return
    table = _table(f"{'Open positions' if open_only else 'Positions'} of run {r.run_id}",
                   ("account", "symbol", "contract", "qty", "opened", "state", "closed", "level"),
                   right=("qty", "level"))
    for p in rows:
        table.add_row(p.account, p.symbol, _contract(p), str(p.quantity), when(p.opened_at), p.state,
                      when(p.closed_at) if p.closed_at else "", f"L{p.protocol_level}")
    console().print(table if rows else f"No {'open ' if open_only else ''}positions in run {r.run_id}.")


def alerts(
    pending: Annotated[bool, typer.Option("--pending", help="Only alerts waiting in the outbox")] = False,
    since: Annotated[str | None, typer.Option(
        "--since", help="Only alerts raised at or after this ISO 8601 date or time (no offset: UTC)",
        show_default=False)] = None,
    alert_type: Annotated[str | None, typer.Option(
        "--type", help="Only this alert type (e.g. PROTOCOL_BREACH)", show_default=False)] = None,
    limit: Annotated[int | None, typer.Option(
        "--limit", min=1, help="Only the most recent N of them", show_default=False)] = None,
    run: RunOpt = None,
    db: DbOpt = None,
    fmt: FmtOpt = Fmt.text,
) -> None:
    """The run's alerts, oldest first, with their delivery status."""
    start = parse_instant(since, "--since") if since is not None else None
    kind = alert_type.strip().upper() if alert_type is not None else None
    if kind == "":
        fail("--type: give an alert type, e.g. PROTOCOL_BREACH")
    with opened_store(db) as store:
        r = pick_run(store, run)
        rows = store.alerts(r.run_id, status="pending" if pending else None, since=start, alert_type=kind)
    if limit is not None:
        rows = rows[-limit:]
    if fmt is Fmt.json:
        print_json({"run_id": r.run_id, "alerts": [alert_dict(a) for a in rows]})
        return
    title = f"{'Pending alerts' if pending else 'Alerts'} of run {r.run_id}"
    table = _table(title, ("id", "time", "type", "priority", "account", "delivery", "title"), right=("id",))
    for a in rows:
        table.add_row(str(a.id), when(a.ts), a.type, a.priority, a.account or "—", a.delivery_status, a.title)
    console().print(table if rows else f"No {'pending ' if pending else ''}alerts in run {r.run_id}"
                                       " match.")


def register(app: typer.Typer) -> None:
    app.command("accounts")(accounts)
    app.command("positions")(positions)
    app.command("alerts")(alerts)
