"""`alluse ledger`: run fills, assignments and expirations through the tax ledger.

Prints what was realized and what is still held, per account of the default tree. Text is a few
Rich tables for people; JSON is one document:

    {"realized": [{"date", "account", "symbol", "amount", "character", "disallowed"}, …],
     "lots": [{"account", "symbol", "quantity", "basis", "holding_period_start"
               [, "expiry", "strike", "right"]}, …]}

Amounts are JSON numbers written with exactly two decimals from the ledger's cents (``1650.00``,
never a binary float such as ``1649.9999``); a JSON reader sees them as ordinary numbers.
Exit codes: 0 ok, 1 bad input data (event line, unknown account, impossible event), 2 usage.
"""

from __future__ import annotations

import json
import math
import sys
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from alluse.engine.errors import EventError
from alluse.engine.events import Assignment, Expiration, Fill, iter_events
from alluse.engine.ledger import Ledger, Lot, Realized, money

# The lead will source this split from accounts.yaml; until then it is the seeds' default.
DEFAULT_SPLIT = (("GEN-ACC-001", Decimal(40)), ("REV-ACC-001", Decimal(30)), ("COM-ACC-001", Decimal(30)))


class OutFormat(StrEnum):
    text = "text"
    json = "json"


def default_accounts(capital: Decimal) -> dict[str, Decimal]:
    """GEN 40 %, REV 30 %, COM 30 % of the capital, to the cent; the last takes the rounding."""
    out: dict[str, Decimal] = {}
    for name, pct in DEFAULT_SPLIT[:-1]:
        out[name] = money(capital * pct / 100)
    out[DEFAULT_SPLIT[-1][0]] = money(capital) - sum(out.values(), Decimal(0))
    return out


def _read(events: Path) -> list[str]:
    """The file's lines, or a clean exit: 2 when it cannot be opened, 1 when it is not text."""
    if str(events) == "-":
        return sys.stdin.read().splitlines()
    if not events.is_file():
        why = "is not a file" if events.exists() else "not found"
        typer.echo(f"error: --events: file '{events}' {why}", err=True)
        raise typer.Exit(2)
    try:
        data = events.read_bytes()
    except OSError as exc:
        typer.echo(f"error: --events: cannot read '{events}': {exc.strerror}", err=True)
        raise typer.Exit(2) from None
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        typer.echo(f"error: {events}: line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at "
                   f"offset {exc.start})", err=True)
        raise typer.Exit(1) from None


def build_ledger(lines: list[str], capital: Decimal) -> Ledger:
    """Book every ledger event of a JSON Lines text; other event types are skipped."""
    ledger = Ledger(default_accounts(capital))
    line = 0
    try:
        for line, ev in iter_events(lines):  # noqa: B007  (read in the except below)
            if isinstance(ev, Fill | Assignment | Expiration):
                ledger.apply(ev)
    except EventError as exc:
        if exc.line is None:  # raised by the ledger, which knows no lines
            raise EventError(str(exc), line=line) from None
        raise
    return ledger


def _realized_dict(r: Realized) -> dict[str, object]:
    return {"date": r.date.isoformat(), "account": r.account, "symbol": r.symbol,
            "amount": r.amount, "character": r.character, "disallowed": r.disallowed}


def _lot_dict(lot: Lot) -> dict[str, object]:
    out: dict[str, object] = {"account": lot.account, "symbol": lot.symbol, "quantity": lot.quantity,
                              "basis": lot.basis,
                              "holding_period_start": lot.holding_period_start.isoformat()}
    if lot.expiry is not None:
        out.update(expiry=lot.expiry.isoformat(), strike=lot.strike, right=lot.right)
    return out


def _json(value: object) -> str:
    """JSON with Decimals written as numbers with their two decimals."""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(f"\n    {_json(v)}" for v in value) + ("\n  ]" if value else "]")
    return json.dumps(value)


def render_json(ledger: Ledger) -> str:
    realized = [_realized_dict(r) for r in ledger.realized()]
    lots = [_lot_dict(lot) for lot in ledger.lots()]
    return f'{{\n  "realized": {_json(realized)},\n  "lots": {_json(lots)}\n}}'


_EVENT = {"option_expired": "expired", "option_closed": "closed", "stock_sold": "sold",
          "called_away": "called away"}


def _amount(value: Decimal) -> str:
    return f"[red]{value:,.2f}[/]" if value < 0 else f"{value:,.2f}"


def _table(title: str, *columns: str) -> Table:
    """Compact, never-wrapping columns: the figures must stay readable in 80 columns."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in columns:
        right = col in ("amount", "disallowed", "quantity", "basis", "starting cash", "cash",
                        "realized")
        table.add_column(col, justify="right" if right else "left", no_wrap=True)
    return table


def render_text(console: Console, ledger: Ledger, capital: Decimal) -> None:
    tables: list[Table] = []
    for acc in ledger.accounts():  # one table per account keeps the rows inside 80 columns
        records = ledger.realized(acc)
        if not records:
            continue
        realized = _table(f"Realized — {escape(acc)}", "date", "position", "event", "term", "amount",
                          "disallowed")
        for r in records:
            what = f"{r.symbol} {r.contract.expiry} {r.contract.strike:g}{r.contract.right}" \
                if r.contract else r.symbol
            realized.add_row(r.date.isoformat(), what, _EVENT[r.kind], r.character, _amount(r.amount),
                             f"{r.disallowed:,.2f}" if r.disallowed else "")
        tables.append(realized)
    held = _table("Held", "account", "symbol", "option", "quantity", "basis", "held since")
    for lot in ledger.lots():
        option = f"{lot.expiry} {lot.strike:g}{lot.right}" if lot.expiry else ""
        held.add_row(escape(lot.account), lot.symbol, option, str(lot.quantity), f"{lot.basis:,.2f}",
                     lot.holding_period_start.isoformat())
    accounts = _table(f"Accounts (capital {capital:,.2f})", "account", "starting cash", "cash",
                      "realized")
    start = default_accounts(capital)
    for acc in ledger.accounts():
        accounts.add_row(escape(acc), f"{start[acc]:,.2f}", f"{ledger.cash(acc):,.2f}",
                         _amount(ledger.realized_gain(acc)))
    if not tables:
        console.print("Realized: nothing")
    for table in tables:
        console.print(table)
    console.print(held if held.row_count else "Held: nothing")
    console.print(accounts)


EventsOpt = Annotated[Path, typer.Option("--events", help="JSON Lines events file ('-' = stdin)")]
CapitalOpt = Annotated[float, typer.Option("--capital", help="Initial capital, split GEN 40 % / "
                                           "REV 30 % / COM 30 %")]
FormatOpt = Annotated[OutFormat, typer.Option("--format", help="text or json")]


def ledger_command(events: EventsOpt, capital: CapitalOpt = 100000.0,
                   fmt: FormatOpt = OutFormat.text) -> None:
    """Book fills, assignments and expirations; show realized gains (with wash sales) and lots."""
    if not math.isfinite(capital) or capital <= 0:
        typer.echo(f"error: --capital: must be a positive amount, got {capital}", err=True)
        raise typer.Exit(2)
    cap = money(capital)
    lines = _read(events)
    try:
        ledger = build_ledger(lines, cap)
    except EventError as exc:
        typer.echo(f"error: {events}: {exc}", err=True)
        raise typer.Exit(1) from None
    if fmt is OutFormat.json:
        typer.echo(render_json(ledger))
    else:
        render_text(Console(highlight=False, soft_wrap=False), ledger, cap)


def register(app: typer.Typer) -> None:
    app.command("ledger")(ledger_command)
