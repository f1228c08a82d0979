"""`alluse explain` and `alluse dry-run`: events through the engine, and why each rule fired.

Neither touches a broker or a store. Text is for people (Rich); JSON is JSON Lines, one object
per event that produced anything.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from alluse.engine.errors import EventError


class OutFormat(StrEnum):
    text = "text"
    json = "json"


EventsOpt = Annotated[Path, typer.Option("--events", help="JSON Lines events file ('-' = stdin)")]
CapitalOpt = Annotated[float | None, typer.Option("--capital", help="Initial capital (default: "
                                                  "accounts.yaml capital.default)")]
PoliciesOpt = Annotated[Path | None, typer.Option("--policies", help="Policy directory "
                                                  "(default: ALLUSE_POLICIES, else the bundled set)")]
FormatOpt = Annotated[OutFormat, typer.Option("--format", help="text or json")]


def load_inputs(events: Path, policies: Path | None,
                capital: float | None) -> tuple[Any, list[tuple[int, Any]], float]:
    """Policies, (line number, event) pairs and capital, or a clean exit (1 bad input, 2 usage)."""
    from alluse.cli.policy_dir import load_policies
    from alluse.engine.events import iter_events

    ps, _ = load_policies(policies, option="--policies")
    if str(events) == "-":
        import sys

        text = sys.stdin.read()
    else:
        if not events.is_file():
            typer.echo(f"error: --events: file '{events}' not found", err=True)
            raise typer.Exit(2)
        text = events.read_text(encoding="utf-8", errors="replace")
    try:
        evs = list(iter_events(text.splitlines()))
    except EventError as exc:
        typer.echo(f"error: {events}: {exc}", err=True)
        raise typer.Exit(1) from None
    cap = capital if capital is not None else ps.accounts.capital.default
    lim = ps.accounts.capital
    if not lim.minimum <= cap <= lim.maximum:
        typer.echo(f"error: --capital: {cap:,.2f} is outside {lim.minimum:,.0f}-"
                   f"{lim.maximum:,.0f} (accounts.yaml capital)", err=True)
        raise typer.Exit(2)
    return ps, evs, cap


def _rule(r: Any) -> str:
    return f"{r.rule} [{r.step}]" if r.step else str(r.rule)


def render_text(console: Console, d: Any, ev: Any) -> None:
    console.print(f"[bold]#{d.event_index}[/] {d.ts.isoformat()} [cyan]{d.event_type}[/]"
                  + (f" {escape(getattr(ev, 'symbol', '') or getattr(ev, 'name', ''))}"))
    for r in d.fired:
        console.print(f"  [green]✔ {escape(_rule(r))}[/] {escape(r.explanation)}")
    for r in d.not_fired:
        console.print(f"  [yellow]✘ {escape(_rule(r))}[/] {escape(r.explanation)}")
    for r in d.errors:
        console.print(f"  [bold red]⚠ {escape(r.rule)}[/] {escape(r.explanation)}")
    for t in d.transitions:
        console.print(f"  [magenta]→ {t.machine}[/] {escape(t.subject)}: {t.source} → {t.dest} "
                      f"[dim]({escape(t.rule)})[/]")
    for a in d.alerts:
        flag = " [dim](suppressed by throttle)[/]" if a.suppressed else (
            " [dim](held until market hours)[/]" if a.held else "")
        console.print(f"  [red]! {a.priority} {a.type}[/] {escape(a.title)}{flag}")
    for s in d.scripts:
        for line in s.render_text().splitlines():
            console.print(f"  [blue]▸[/] {escape(line)}")


def run(events: Path, capital: float | None, policies: Path | None, fmt: OutFormat,
        dry_run: bool) -> None:
    from alluse.engine.core import Engine

    ps, evs, cap = load_inputs(events, policies, capital)
    engine = Engine(ps, cap)
    console = Console(highlight=False, soft_wrap=True)
    scripts = alerts = 0
    for line, ev in evs:
        try:
            d = engine.handle(ev)
        except EventError as exc:  # e.g. an account that is not in the tree
            typer.echo(f"error: {events}: line {line}: {exc}", err=True)
            raise typer.Exit(1) from None
        if d.empty:
            continue
        scripts += len(d.scripts)
        alerts += len(d.alerts)
        if fmt is OutFormat.json:
            typer.echo(json.dumps(d.to_dict(), ensure_ascii=False, sort_keys=False))
        else:
            render_text(console, d, ev)
    if fmt is OutFormat.text:
        what = "would be proposed (dry run: nothing sent, nothing stored)" if dry_run else \
            "proposed"
        console.print(f"[bold]{len(evs)} events, policy {ps.short_hash}: {scripts} action "
                      f"script(s) {what}, {alerts} alert(s)[/]")


def register(app: typer.Typer) -> None:
    @app.command("explain")
    def explain(events: EventsOpt, capital: CapitalOpt = None, policies: PoliciesOpt = None,
                fmt: FormatOpt = OutFormat.text) -> None:
        """Run events through the engine and show which rules fired, with their values."""
        run(events, capital, policies, fmt, dry_run=False)

    @app.command("dry-run")
    def dry_run(events: EventsOpt, capital: CapitalOpt = None, policies: PoliciesOpt = None,
                fmt: FormatOpt = OutFormat.text) -> None:
        """Same as explain, framed as 'what would happen': never touches a broker or a store."""
        run(events, capital, policies, fmt, dry_run=True)
