"""`alluse replay`: years of bundled market history through the engine with the simulated broker."""

from __future__ import annotations

import datetime as dt
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from alluse.engine.errors import AlluseError


class Fmt(StrEnum):
    text = "text"
    json = "json"


class Bars(StrEnum):
    daily = "daily"
    minute = "1min"


class Approve(StrEnum):
    all = "all"
    automatic = "automatic"
    none = "none"


FIRST_DAY = dt.date(2021, 1, 4)
LAST_DAY = dt.date(2026, 3, 25)  # the bundled files' last complete session
JSON_KEYS = ("accounts", "forks", "merges", "trades", "fills", "total_pnl", "taxes", "alerts",
             "escalations", "dividends", "conservation", "policy_hash", "run_id", "params", "data",
             "benchmarks", "entry_not_fired")
ACCOUNT_KEYS = ("id", "type", "parent", "initial_capital", "final_equity", "return_pct",
                "net_flows", "twr_pct", "twr_annualised_pct", "max_drawdown_pct", "trades",
                "closed_positions", "win_rate", "state")


def _date(value: str | None, name: str, default: dt.date) -> dt.date:
    if value is None:
        return default
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        typer.echo(f"error: {name}: '{value}' is not a date (YYYY-MM-DD)", err=True)
        raise typer.Exit(2) from None


def summary_json(result: dict[str, Any]) -> dict[str, Any]:
    out = {k: result[k] for k in JSON_KEYS}
    out["accounts"] = [{k: a[k] for k in ACCOUNT_KEYS} for a in result["accounts"]]
    return out


def _pct(value: float | None, signed: bool = True) -> str:
    return "—" if value is None else f"{value:+.1f}%" if signed else f"{value:.1f}%"


def flat_reasons(r: dict[str, Any], top: int = 3) -> list[str]:
    """Why accounts that could trade opened no position: their most frequent failed entry checks."""
    lines = []
    for a in r["accounts"]:
        if a["trades"] or a["state"] == "merged":
            continue
        misses = r.get("entry_not_fired", {}).get(a["id"], [])
        said = ", ".join(f"{m['rule']}{' (' + m['step'] + ')' if m['step'] else ''} ×{m['count']}"
                         for m in misses[:top])
        last = f"; last time: {misses[0]['last']}" if misses and misses[0].get("last") else ""
        lines.append(f"{a['id']} opened no position: " + (
            f"entry checks that did not pass: {said}{last}" if said else "no entry scan reached it"))
    return lines


def print_summary(console: Console, r: dict[str, Any], elapsed: float) -> None:
    p = r["params"]
    console.print(f"[bold]Replay {p['from']} → {p['to']}[/], capital {p['capital']:,.0f}, "
                  f"{p['bars']} bars, policy {r['policy_hash'][:12]}, approve {p['approve']} "
                  f"({elapsed:.1f} s)")
    t = Table(title="Accounts (TWR: time-weighted return, forks and merges as flows; "
                    "trades: positions opened)")
    for col, just in (("account", "left"), ("type", "left"), ("parent", "left"),
                      ("initial", "right"), ("net flows", "right"), ("final equity", "right"),
                      ("TWR", "right"), ("TWR p.a.", "right"), ("max DD", "right"),
                      ("trades", "right"), ("win rate", "right"), ("state", "left")):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for a in r["accounts"]:
        win = "—" if a["win_rate"] is None else f"{a['win_rate']:.0%} of {a['closed_positions']}"
        t.add_row(a["id"], a["type"], a["parent"] or "—", f"{a['initial_capital']:,.0f}",
                  f"{a['net_flows']:+,.0f}" if a["net_flows"] else "—",
                  f"{a['final_equity']:,.0f}", _pct(a["twr_pct"]), _pct(a["twr_annualised_pct"]),
                  _pct(a["max_drawdown_pct"], signed=False), str(a["trades"]), win, a["state"])
    console.print(t)
    if r["benchmarks"]:
        t = Table(title="Buy-and-hold over the same window",
                  caption="bought at the first open, dividends reinvested")
        for col, just in (("benchmark", "left"), ("return", "right"), ("p.a.", "right"),
                          ("max DD", "right")):
            t.add_column(col, justify=just)  # type: ignore[arg-type]
        for b in sorted(r["benchmarks"].values(), key=lambda b: b["symbols"] != ["SPY"]):
            t.add_row(b["label"], _pct(b["return_pct"]), _pct(b["annualised_pct"]),
                      _pct(b["max_drawdown_pct"], signed=False))
        console.print(t)
    for line in flat_reasons(r):
        console.print(line, markup=False)  # explanations may hold brackets
    if r["forks"] or r["merges"]:
        t = Table(title="Forks and merges")
        for col in ("date", "event", "from", "to", "amount", "tax withheld"):
            t.add_column(col)
        rows = [(f["date"], "fork", f["parent"], " + ".join(f["accounts"]), f["amount"],
                 f["tax_withheld"]) for f in r["forks"]]
        rows += [(m["date"], "merge", " + ".join(m["accounts"]), m["into"], m["amount"], "")
                 for m in r["merges"]]
        for row in sorted(rows):
            t.add_row(*[str(x) for x in row])
        console.print(t)
    else:
        console.print("No forks or merges.")
    tree = Tree("[bold]Account tree[/]")
    by_parent: dict[str | None, list[dict[str, Any]]] = {}
    for a in r["accounts"]:
        by_parent.setdefault(a["parent"], []).append(a)

    def add(node: Tree, parent: str | None) -> None:
        for a in by_parent.get(parent, []):
            label = f"{a['id']} ({a['state']}, {a['final_equity']:,.0f})"
            add(node.add(label), a["id"])

    add(tree, None)
    console.print(tree)
    esc = ", ".join(f"{k} {v}" for k, v in r["escalations"].items()) or "none"
    console.print(f"Protocol escalations: {esc}")
    t = Table(title="Alerts")
    for col in ("type", "total", "suppressed"):
        t.add_column(col)
    for k, v in r["alerts"].items():
        t.add_row(k, str(v["total"]), str(v["suppressed"]))
    console.print(t)
    c = r["conservation"]
    console.print(f"Positions opened {r['trades']} ({r['fills']} fills), total P&L "
                  f"{float(c['total_pnl']):,.2f}, taxes withheld at forks "
                  f"{float(c['taxes_withheld']):,.2f}; tax accrued by year: "
                  + ", ".join(f"{y} {float(v):,.0f}" for y, v in r["taxes"]["accrued_by_year"].items()))
    out = float(c.get("withdrawn", 0))
    income = float(c.get("dividends", 0))
    console.print(f"Capital check: final equity {float(c['final_equity_sum']):,.2f} = initial "
                  f"{float(c['initial_capital']):,.2f} + P&L"
                  + (f" + dividends {income:,.2f}" if income else "") + " − taxes withheld"
                  + (f" − withdrawn {out:,.2f}" if out else "") + ": "
                  + ("[green]ok[/]" if c["ok"] else "[red]MISMATCH[/]"))
    for note in r["data"]["notes"] + r["data"]["repairs"]:
        console.print(f"[dim]data: {note}[/]")


def register(app: typer.Typer) -> None:
    @app.command("replay")
    def replay(
        start: Annotated[str | None, typer.Option("--from", help="First day (YYYY-MM-DD)")] = None,
        end: Annotated[str | None, typer.Option("--to", help="Last day (YYYY-MM-DD)")] = None,
        capital: Annotated[float | None, typer.Option("--capital", help="Initial capital")] = None,
        policies: Annotated[Path | None, typer.Option("--policies", help="Policy directory")] = None,
        db: Annotated[str | None, typer.Option("--db", help="Store URL (default ALLUSE_DB_URL or "
                                                            "sqlite:///alluse.db); 'none' to skip")] = None,
        report: Annotated[Path | None, typer.Option("--report", help="Write an HTML report here")] = None,
        fmt: Annotated[Fmt, typer.Option("--format", help="text or json")] = Fmt.text,
        bars: Annotated[Bars, typer.Option("--bars", help="daily, or 1min (the bundled 1-minute "
                                                          "samples, 2022-03-14..2022-04-18)")] = Bars.daily,
        approve: Annotated[Approve, typer.Option("--approve", help="Which scripts the simulated "
                                                 "human approves")] = Approve.all,
    ) -> None:
        """Replay bundled history through the engine with the simulated broker; summary + report."""
        import time

        from alluse.cli.policy_dir import load_policies
        from alluse.runtime.replay import Replay, ReplayParams
        from alluse.settings import load_settings

        settings = load_settings()
        default_from = dt.date(2022, 3, 14) if bars is Bars.minute else FIRST_DAY
        default_to = dt.date(2022, 4, 18) if bars is Bars.minute else LAST_DAY
        d0, d1 = _date(start, "--from", default_from), _date(end, "--to", default_to)
        if d0 > d1:
            typer.echo(f"error: --from {d0} is after --to {d1}", err=True)
            raise typer.Exit(2)
        if d0 < FIRST_DAY or d1 > LAST_DAY:
            typer.echo(f"error: the bundled daily bars cover {FIRST_DAY} to {LAST_DAY}; "
                       f"got --from {d0} --to {d1}", err=True)
            raise typer.Exit(2)
        ps, _ = load_policies(policies, option="--policies")
        cap = capital if capital is not None else ps.accounts.capital.default
        lim = ps.accounts.capital
        if not lim.minimum <= cap <= lim.maximum:
            typer.echo(f"error: --capital: {cap:,.2f} is outside {lim.minimum:,.0f}-"
                       f"{lim.maximum:,.0f} (accounts.yaml capital)", err=True)
            raise typer.Exit(2)
        if report is not None and report.exists() and not report.is_dir():
            # said before the replay runs, not after minutes of work
            typer.echo(f"error: --report: {report} exists and is not a directory", err=True)
            raise typer.Exit(2)
        url = db if db is not None else settings.db_url
        store = None
        err = Console(stderr=True)
        try:
            if url.lower() != "none":
                from alluse.adapters.store import Store

                store = Store.open(url)
            params = ReplayParams(d0, d1, cap, bars.value, approve.value)
            t0 = time.perf_counter()
            if fmt is Fmt.text and sys.stdout.isatty():
                from rich.progress import Progress

                with Progress(console=err, transient=True) as progress:
                    task = progress.add_task("replaying", total=(d1 - d0).days + 1)
                    runner = Replay(ps, params, store=store,
                                    progress=lambda n, _t: progress.update(task, completed=n))
                    result = runner.run()
            else:
                runner = Replay(ps, params, store=store)
                result = runner.run()
            for note in runner.store_notes:
                typer.echo(note, err=True)
            elapsed = time.perf_counter() - t0
        except AlluseError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        finally:
            if store is not None:
                store.close()
        if fmt is Fmt.json:
            typer.echo(json.dumps(summary_json(result), sort_keys=True))
        else:
            print_summary(Console(highlight=False, width=None if sys.stdout.isatty() else 140),
                          result, elapsed)
            if store is not None:
                typer.echo(f"decisions stored in {store.url} (run {result['run_id']})")
        if report is not None:
            from alluse.adapters.report import write_report

            # written after the summary, so a report that cannot be written loses no results
            try:
                path = write_report(result, report)
            except (OSError, AlluseError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                typer.echo(f"error: --report: cannot write {report / 'index.html'}: {reason}", err=True)
                raise typer.Exit(1) from None
            (typer.echo if fmt is Fmt.text else lambda m: typer.echo(m, err=True))(
                f"report: {path}")
