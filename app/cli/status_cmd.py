"""`alluse status`: how a run stands, and what its node last said about itself.

A node keeps one `node_status` row per run (its migration creates the table): active policy
hash, last reload and its error, broker connection, the scheduler's next jobs, outbox depth and
a heartbeat. This command reads that row when there is one; for a replay-only store (or before
any node ran) it says so and shows the run's own policy hash and status. Both also count the
run's scripts by status and the alerts still pending in the store.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from alluse.cli.store_options import (
    DbOpt,
    Fmt,
    FmtOpt,
    RunOpt,
    console,
    opened_store,
    pick_run,
    print_json,
    when,
)

if TYPE_CHECKING:
    from alluse.adapters.store import RunState

NO_NODE = "no node has run on this store"


def _instant(value: Any) -> str:
    return f"{when(value)} UTC" if isinstance(value, dt.datetime) else str(value)


def next_jobs(value: Any) -> list[tuple[str, str]]:
    """The node's next jobs as (job, when) pairs, from a list of {"job", "at"} objects or a mapping."""
    if isinstance(value, dict):
        return [(str(k), str(v)) for k, v in value.items()]
    if not isinstance(value, list):
        return []
    pairs = []
    for item in value:
        if isinstance(item, dict):
            name = item.get("job") or item.get("name") or item.get("id") or "?"
            at = item.get("at") or item.get("next_run") or item.get("next_fire_time") or "?"
            pairs.append((str(name), str(at)))
        else:
            pairs.append((str(item), ""))
    return pairs


def run_dict(run: RunState) -> dict[str, Any]:
    return {"run_id": run.run_id, "kind": run.kind, "status": run.status, "policy_hash": run.policy_hash,
            "params": run.params, "cursor": run.cursor, "started_at": run.started_at,
            "finished_at": run.finished_at}


def _message(run: RunState, nodes: dict[str, dict[str, Any]]) -> str | None:
    if run.run_id in nodes:
        return None
    if not nodes:
        return NO_NODE
    return f"no node has run run {run.run_id} (node runs in this store: {', '.join(sorted(nodes))})"


def status(run: RunOpt = None, db: DbOpt = None, fmt: FmtOpt = Fmt.text) -> None:
    """The run's status; with a node: active policy, reloads, broker, next jobs, outbox depth."""
    with opened_store(db) as store:
        r = pick_run(store, run)
        nodes = store.node_statuses()
        scripts: dict[str, int] = {}
        for s in store.scripts(r.run_id):
            scripts[s.status] = scripts.get(s.status, 0) + 1
        pending = len(store.alerts(r.run_id, status="pending"))
    node = nodes.get(r.run_id)
    message = _message(r, nodes)
    if fmt is Fmt.json:
        print_json({"run": run_dict(r), "node": node, "message": message, "scripts": scripts,
                    "pending_alerts": pending})
        return
    out = console()
    out.print(f"Run {r.run_id} ({r.kind}, {r.status}) — started {_instant(r.started_at)}"
              + (f", finished {_instant(r.finished_at)}" if r.finished_at else ""), style="bold")
    journalled = 0 if r.cursor is None else r.cursor + 1
    out.print(f"  run policy {r.policy_hash[:12]} · {journalled} events journalled")
    counts = ", ".join(f"{n} {k}" for k, n in sorted(scripts.items())) or "none"
    out.print(f"  action scripts: {counts} · alerts pending in the store: {pending}")
    if node is None:
        text = message or NO_NODE
        out.print(text[0].upper() + text[1:] + ".")
        return
    policy = str(node.get("policy_hash") or "?")
    out.print(f"Node {node.get('node') or '?'} (mode {node.get('mode') or '?'}) — started "
              f"{_instant(node.get('started_at'))}, last heartbeat {_instant(node.get('heartbeat_at'))}",
              style="bold")
    out.print(f"  active policy {policy[:12]}"
              + (" (as the run began)" if policy == r.policy_hash else f" (the run began on "
                                                                        f"{r.policy_hash[:12]})"))
    reload_at = node.get("last_reload_at")
    error = node.get("last_reload_error")
    if reload_at is None:
        out.print("  last reload: none")
    else:
        out.print(f"  last reload {_instant(reload_at)}: " + (f"rejected: {error}" if error
                                                                else "accepted"))
    out.print(f"  broker: {node.get('broker_state') or '?'} · outbox depth: {node.get('outbox_depth', '?')}")
    jobs = next_jobs(node.get("next_jobs"))
    if not jobs:
        out.print("  next jobs: none scheduled")
        return
    table = Table(title="Next jobs")
    table.add_column("job")
    table.add_column("at")
    for name, at in jobs:
        table.add_row(name, at)
    out.print(table)


def register(app: typer.Typer) -> None:
    app.command("status")(status)
