"""`alluse act list|show|approve|reject`: the human in the loop, on the store.

Approving or rejecting writes an `approvals` row (who: ALLUSE_OPERATOR, else the OS user; when:
UTC) and moves the script's status in the same transaction; a running node executes approved
scripts (it reads their status), never this command. A script's expiry is measured on its run's
clock: the wall clock for a paper or live node; for a simulation (a replay, or a node in sim
mode) the time of the run's last journalled event, where its simulated clock stands.

Script ids may be shortened to any unique prefix. Exit codes: 0 done (or already done: a note),
1 the script cannot take the decision (expired, rejected, executed), 2 bad input.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from alluse.cli.store_options import (
    DbOpt,
    Fmt,
    FmtOpt,
    RunOpt,
    console,
    fail,
    opened_store,
    pick_run,
    print_json,
    when,
)

if TYPE_CHECKING:
    from alluse.adapters.store import ApprovalRecord, RunState, ScriptRecord, Store

act_app = typer.Typer(help="List, show, approve and reject the action scripts in a store.",
                      no_args_is_help=True)
IdArg = Annotated[str, typer.Argument(help="Script id, or a unique prefix of it", show_default=False)]
SHOWN_CANDIDATES = 8


@dataclass(frozen=True, slots=True)
class RunClock:
    """The instant a run's script expiries are measured against."""

    at: dt.datetime
    simulated: bool  # True: the run's last journalled event; False: the wall clock

    @property
    def source(self) -> str:
        return "last_event" if self.simulated else "wall"

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at, "source": self.source}


def run_clock(store: Store, run: RunState) -> RunClock:
    wall = dt.datetime.now(dt.UTC)
    node = store.node_statuses().get(run.run_id) or {}
    mode = node.get("mode") or run.params.get("mode")
    if (run.kind == "replay" or mode == "sim") and run.cursor is not None:
        last = next(iter(store.events(run.run_id, start=run.cursor, end=run.cursor + 1)), None)
        if last is not None:
            return RunClock(last.ts, True)
    return RunClock(wall, False)


def is_expired(script: ScriptRecord, clock: RunClock) -> bool:
    if script.status == "expired":
        return True
    return script.status in ("proposed", "approved") and script.expires_at < clock.at


def resolve(store: Store, run: RunState, given: str) -> ScriptRecord:
    """The run's script whose id is `given` or starts with it; exit 2 if none or several."""
    prefix = given.strip().lower()
    if not prefix:
        fail("script id: give an id or a prefix of one")
    scripts = store.scripts(run.run_id)
    exact = [s for s in scripts if s.id.lower() == prefix]
    found = exact or [s for s in scripts if s.id.lower().startswith(prefix)]
    if not found:
        fail(f"no action script {given!r} in run {run.run_id} ({len(scripts)} scripts: "
             f"`alluse act list --run {run.run_id}` shows them)")
    if len(found) > 1:
        ids = ", ".join(s.id for s in found[:SHOWN_CANDIDATES])
        more = f" and {len(found) - SHOWN_CANDIDATES} more" if len(found) > SHOWN_CANDIDATES else ""
        fail(f"script id {given!r} is ambiguous in run {run.run_id}: {ids}{more}")
    return found[0]


def operator() -> str:
    """Who decides: ALLUSE_OPERATOR, else the OS user."""
    import getpass

    from alluse.settings import SettingsError, load_settings

    try:
        configured = load_settings().operator
    except SettingsError as exc:
        fail(str(exc))
    if configured and configured.strip():
        return configured.strip()
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        fail("cannot tell who you are (no OS user name): set ALLUSE_OPERATOR")


def created_at(script: ScriptRecord) -> dt.datetime | str | None:
    """When the engine proposed the script, as an aware instant, so it is shown in UTC like every
    other time here (the stored document keeps the exchange's local time); kept as stored when
    it is not an ISO 8601 instant with an offset."""
    raw = script.script.get("created_at")
    if not isinstance(raw, str):
        return None if raw is None else str(raw)
    try:
        parsed = dt.datetime.fromisoformat(raw)
    except ValueError:
        return raw
    return parsed.astimezone(dt.UTC) if parsed.tzinfo is not None else raw


def script_summary(script: ScriptRecord, clock: RunClock) -> dict[str, Any]:
    return {"id": script.id, "status": script.status, "expired": is_expired(script, clock),
            "account": script.account, "approval": script.approval,
            "title": script.script.get("title", ""), "created_at": created_at(script),
            "expires_at": script.expires_at, "decision_seq": script.decision_seq}


def approval_dict(a: ApprovalRecord) -> dict[str, Any]:
    return {"decision": a.decision, "who": a.who, "at": a.at, "reason": a.reason}


def _status_text(script: ScriptRecord, clock: RunClock) -> str:
    if script.status != "expired" and is_expired(script, clock):
        return f"{script.status} (expired)"
    return script.status


def _clock_text(clock: RunClock) -> str:
    if clock.simulated:
        return f"the run's simulated clock, its last event at {when(clock.at)} UTC"
    return f"the wall clock, {when(clock.at)} UTC"


@act_app.command("list")
def list_scripts(
    status: Annotated[str | None, typer.Option(
        "--status", help="Only scripts in this status (proposed, approved, executed, …)",
        show_default=False)] = None,
    run: RunOpt = None,
    db: DbOpt = None,
    fmt: FmtOpt = Fmt.text,
) -> None:
    """The run's action scripts, oldest expiry first, with their status."""
    from alluse.adapters.store.records import SCRIPT_STATUSES

    if status is not None and status not in SCRIPT_STATUSES:
        fail(f"--status: {status!r} is not one of {', '.join(SCRIPT_STATUSES)}")
    with opened_store(db) as store:
        r = pick_run(store, run)
        clock = run_clock(store, r)
        scripts = store.scripts(r.run_id, status=status)
    if fmt is Fmt.json:
        print_json({"run_id": r.run_id, "clock": clock.as_dict(),
                    "scripts": [script_summary(s, clock) for s in scripts]})
        return
    from rich.table import Table

    table = Table(title=f"Action scripts of run {r.run_id}"
                        + (f" ({status})" if status else ""),
                  caption=f"expiry measured on {_clock_text(clock)}; times in UTC")
    for col in ("id", "status", "account", "approval", "expires", "title"):
        table.add_column(col)
    for s in scripts:
        table.add_row(s.id, _status_text(s, clock), s.account, s.approval, when(s.expires_at),
                      str(s.script.get("title", "")))
    console().print(table if scripts else f"No action scripts{f' in status {status}' if status else ''} "
                                    f"in run {r.run_id}.")


@act_app.command("show")
def show(script_id: IdArg, run: RunOpt = None, db: DbOpt = None, fmt: FmtOpt = Fmt.text) -> None:
    """One action script: trigger, steps, approval, expiry and the decisions taken on it."""
    with opened_store(db) as store:
        r = pick_run(store, run)
        script = resolve(store, r, script_id)
        clock = run_clock(store, r)
        decisions = store.approvals(r.run_id, script.id)
    if fmt is Fmt.json:
        print_json({**script_summary(script, clock), "run_id": r.run_id, "clock": clock.as_dict(),
                    "script": script.script, "approvals": [approval_dict(a) for a in decisions]})
        return
    from alluse.cli.script_text import script_lines

    lines = script_lines(script.script)
    typer.echo(lines[0])
    typer.echo(f"  script {script.id} · run {r.run_id} · account {script.account} · "
               f"status {_status_text(script, clock)}")
    created = created_at(script)
    shown = f"{when(created)} UTC" if isinstance(created, dt.datetime) else created or "?"
    typer.echo(f"  approval {script.approval} · created {shown} · "
               f"expires {when(script.expires_at)} UTC ({_clock_text(clock)})")
    for line in lines[1:]:
        typer.echo(f"  {line}")
    if decisions:
        typer.echo("  decisions:")
        for a in decisions:
            typer.echo(f"    {a.decision} by {a.who} at {when(a.at)} UTC"
                       + (f": {a.reason}" if a.reason else ""))
    else:
        typer.echo("  decisions: none yet")


def _decide(given: str, decision: str, reason: str | None, run: str | None, db: str | None,
            fmt: Fmt) -> None:
    from alluse.engine.errors import ApprovalError

    who = operator()
    with opened_store(db) as store:
        r = pick_run(store, run)
        script = resolve(store, r, given)
        clock = run_clock(store, r)
        try:
            done = store.decide_script(r.run_id, script.id, decision, who, now=clock.at,
                                       reason=reason or None)
        except ApprovalError as exc:
            sim = (f"; run {r.run_id} is simulated, so its clock is its last event"
                   if clock.simulated and exc.code == "expired" else "")
            fail(f"{exc}{sim}; nothing was recorded", 1)
    recorded = done.recorded
    if fmt is Fmt.json:
        print_json({"run_id": r.run_id, "script_id": script.id, "decision": decision,
                    "recorded": recorded is not None, "status": done.script.status,
                    "approval": approval_dict(recorded) if recorded else None,
                    "note": done.note or None, "expires_at": script.expires_at})
        return
    title = script.script.get("title", "")
    if recorded is None:
        typer.echo(f"note: {done.note}")
        return
    because = f" (reason: {recorded.reason})" if recorded.reason else ""
    typer.echo(f"{decision} {script.id} as {recorded.who} at {when(recorded.at)} UTC{because}: {title}")
    if decision == "approved":
        if r.kind == "replay":
            typer.echo(f"note: run {r.run_id} is a replay: no node executes its scripts", err=True)
        else:
            typer.echo(f"the node submits its orders if it runs before {when(script.expires_at)} UTC")


@act_app.command("approve")
def approve(script_id: IdArg, run: RunOpt = None, db: DbOpt = None, fmt: FmtOpt = Fmt.text) -> None:
    """Approve a proposed script: the node executes it (once) before it expires."""
    _decide(script_id, "approved", None, run, db, fmt)


@act_app.command("reject")
def reject(
    script_id: IdArg,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (kept with the decision)",
                                               show_default=False)] = None,
    run: RunOpt = None,
    db: DbOpt = None,
    fmt: FmtOpt = Fmt.text,
) -> None:
    """Reject a proposed script, or an approved one the node has not executed yet."""
    _decide(script_id, "rejected", reason, run, db, fmt)


def register(app: typer.Typer) -> None:
    app.add_typer(act_app, name="act")
