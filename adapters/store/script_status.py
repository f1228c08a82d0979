"""An action script's status in the store, and the operator's decisions that move it.

    proposed ──approve──► approved ──(node)──► executed
        │                    │
        ├──reject──► rejected ◄──reject── (until it is executed)
        └──(node, or its clock)──► expired

Both functions run inside the caller's transaction and lock the script's row first, so the
decision row and the new status are written together or not at all, and an operator and the
node never move one script at the same time. A decision the script cannot take raises
`ApprovalError` (nothing is written); one it already took is a note, not a second row.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, insert, select, update

from alluse.adapters.store import batch as batches
from alluse.adapters.store import records as rec
from alluse.adapters.store.models import ActionScriptRow, ApprovalRow
from alluse.engine.errors import ApprovalError, StoreError

MOVES = {
    "proposed": ("approved", "rejected", "expired"),
    "approved": ("executed", "expired", "rejected"),
}


def _this(run_id: str, script_id: str) -> Any:
    return (ActionScriptRow.run_id == run_id) & (ActionScriptRow.id == script_id)


def _locked(conn: Connection, run_id: str, script_id: str) -> rec.ScriptRecord:
    row = conn.execute(select(ActionScriptRow.__table__).where(_this(run_id, script_id))
                       .with_for_update()).first()
    if row is None:
        raise StoreError(f"no action script {script_id!r} in run {run_id!r}")
    values = {k: v for k, v in row._mapping.items() if k != "run_id"}
    return rec.ScriptRecord(**values)


def move(conn: Connection, run_id: str, script_id: str, status: str) -> None:
    """Move the script to `status` if its current status allows it; StoreError if not."""
    batches.check_choice(status, rec.SCRIPT_STATUSES, "status")
    current = _locked(conn, run_id, script_id).status
    if status not in MOVES.get(current, ()):
        raise StoreError(f"action script {script_id!r} is {current}: it cannot become {status}")
    conn.execute(update(ActionScriptRow).where(_this(run_id, script_id)).values(status=status))


def history(conn: Connection, run_id: str, script_id: str) -> tuple[rec.ApprovalRecord, ...]:
    stmt = (select(ApprovalRow.__table__)
            .where(ApprovalRow.run_id == run_id, ApprovalRow.script_id == script_id)
            .order_by(ApprovalRow.id))
    return tuple(rec.ApprovalRecord(**row._mapping) for row in conn.execute(stmt))


def _when(ts: dt.datetime) -> str:
    return ts.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _by(past: tuple[rec.ApprovalRecord, ...], decision: str) -> str:
    row = next((a for a in past if a.decision == decision), None)
    return f" by {row.who} at {_when(row.at)}" if row else ""


def _refusal_or_note(script: rec.ScriptRecord, decision: str, past: tuple[rec.ApprovalRecord, ...],
                     now: dt.datetime) -> str | None:
    """None if `decision` is to be recorded; a note if it was already taken; ApprovalError if refused."""
    sid, status = script.id, script.status
    if decision == "approved":
        if status in ("approved", "executed"):
            by = _by(past, "approved")
            return (f"script {sid} is already {status}"
                    f"{f' (approved{by})' if by and status != 'approved' else by}: nothing changed")
        if status == "rejected":
            raise ApprovalError(f"script {sid} was rejected{_by(past, 'rejected')}: "
                                "a rejected script cannot be approved", code="rejected")
        if status == "expired" or (status == "proposed" and script.expires_at < now):
            raise ApprovalError(f"script {sid} expired at {_when(script.expires_at)} "
                                f"(the clock is at {_when(now)}): it can no longer be approved",
                                code="expired")
        if status != "proposed":  # e.g. failed: a script is executed at most once
            raise ApprovalError(f"script {sid} is {status}: it cannot be approved", code=status)
        return None
    if status == "rejected":
        return f"script {sid} is already rejected{_by(past, 'rejected')}: nothing changed"
    if status == "expired":
        return f"script {sid} expired at {_when(script.expires_at)}: it will not run; nothing changed"
    if status not in ("proposed", "approved"):
        raise ApprovalError(f"script {sid} is {status}: its orders were already handed to the broker, "
                            "so it cannot be rejected", code=status)
    return None


def decide(conn: Connection, run_id: str, script_id: str, decision: str, who: str, *,
           at: dt.datetime, now: dt.datetime, reason: str | None = None) -> rec.ScriptDecision:
    """Record `who`'s `decision` on the script at `at` and move its status to match.

    `now` is the instant on the run's clock that the script's expiry is measured against (the
    wall clock for a live node, the simulated clock for a simulation); `at` is when the
    operator decided.
    """
    batches.check_choice(decision, rec.APPROVAL_DECISIONS, "decision")
    script = _locked(conn, run_id, script_id)
    past = history(conn, run_id, script_id)
    note = _refusal_or_note(script, decision, past, now)
    if note is not None:
        return rec.ScriptDecision(script, None, note, past)
    values = batches.check_row(
        ApprovalRow.__table__,
        {"run_id": run_id, "script_id": script_id, "decision": decision, "who": who, "at": at,
         "reason": reason}, "approval")
    if not values["who"].strip():
        raise StoreError("approval.who: a name is required")
    new_id = conn.execute(insert(ApprovalRow).returning(ApprovalRow.id), values).scalar_one()
    move(conn, run_id, script_id, decision)
    recorded = rec.ApprovalRecord(script_id, decision, values["who"], values["at"], reason, run_id, new_id)
    after = rec.ScriptRecord(**{**rec.row_values(script), "status": decision})
    return rec.ScriptDecision(after, recorded, "", past)
