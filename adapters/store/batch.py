"""Checking records against the tables, and writing one batch inside a caller's transaction.

SQLite accepts any value in any column; checking every value here (type, length, decimals,
time zone) makes both backends refuse the same input with the same message, naming the record
(`trades[2]`) and the field, before anything is written. Every row gets the batch's run id.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Date,
    Float,
    Insert,
    Integer,
    LargeBinary,
    String,
    Table,
    delete,
    insert,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from alluse.adapters.store import records as rec
from alluse.adapters.store.models import (
    AccountRow,
    ActionScriptRow,
    AlertRow,
    DecisionRow,
    EventRow,
    PositionRow,
    ProtocolChangeRow,
    RunRow,
    SnapshotRow,
    TaxLotRow,
    TradeRow,
)
from alluse.adapters.store.types import Money, UtcDateTime, to_decimal, to_utc
from alluse.engine.errors import StoreError

Checker = Callable[[Any], Any]


def _typed(kind: type | tuple[type, ...], what: str) -> Checker:
    def check(value: Any) -> Any:
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise ValueError(f"{value!r} is not {what}")
        return value
    return check


def _date(value: Any) -> dt.date:
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise ValueError(f"{value!r} is not a date")
    return value


def _string(length: int | None) -> Checker:
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"{value!r} is not a string")
        if length is not None and len(value) > length:
            raise ValueError(f"{value[:40]!r}… is longer than {length} characters")
        return value
    return check


def _bytes(value: Any) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise ValueError(f"expected bytes, got {type(value).__name__}")
    return bytes(value)


def _json(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if not isinstance(value, dict | list):
        raise ValueError(f"expected a JSON object or list, got {type(value).__name__}")
    return value


def _checker(col_type: Any) -> Checker:
    """The function giving the value to bind for a column of `col_type` (ValueError if wrong)."""
    if isinstance(col_type, Money):
        scale = col_type.scale
        return lambda value: to_decimal(value, scale)
    if isinstance(col_type, UtcDateTime):
        return to_utc
    if isinstance(col_type, Date):
        return _date
    if isinstance(col_type, Boolean):
        return _typed(bool, "a boolean")
    if isinstance(col_type, Integer):
        return _typed(int, "an integer")
    if isinstance(col_type, Float):
        number = _typed((int, float), "a number")
        return lambda value: float(number(value))
    if isinstance(col_type, String):
        return _string(col_type.length)
    if isinstance(col_type, JSON):
        return _json
    if isinstance(col_type, LargeBinary):
        return _bytes
    raise TypeError(f"no checker for column type {col_type!r}")  # a new column type needs one


@functools.cache
def _checkers(table: Table) -> tuple[tuple[str, Checker, bool, bool], ...]:
    """Per column: name, checker, whether None is allowed, whether None means "database assigns"."""
    return tuple((col.name, _checker(col.type), bool(col.nullable),
                  col.primary_key and col.autoincrement is True) for col in table.columns)


def check_row(table: Table, values: dict[str, Any], where: str) -> dict[str, Any]:
    """`values` restricted to `table`'s columns, each checked; StoreError names `where`.field."""
    out: dict[str, Any] = {}
    for name, check, nullable, assigned in _checkers(table):
        if name not in values:
            continue
        value = values[name]
        if value is None:
            if assigned:
                continue
            if not nullable:
                raise StoreError(f"{where}.{name}: a value is required")
            out[name] = None
            continue
        try:
            out[name] = check(value)
        except ValueError as exc:
            raise StoreError(f"{where}.{name}: {exc}") from None
    return out


def check_choice(value: str, choices: Sequence[str], where: str) -> None:
    if value not in choices:
        raise StoreError(f"{where}: {value!r} is not one of {', '.join(choices)}")


@dataclass(frozen=True, slots=True)
class Batch:
    """A batch checked and converted to column values, ready to write."""

    decisions: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    alert_links: list[int | None]  # event_index per alert, resolved after the decisions are in
    scripts: list[dict[str, Any]]
    script_links: list[int | None]
    protocol_changes: list[dict[str, Any]]
    change_links: list[int | None]
    trades: list[dict[str, Any]]
    accounts: list[dict[str, Any]]
    positions: list[dict[str, Any]]
    tax_lots: list[dict[str, Any]] | None  # None: keep the run's stored lots
    events: list[dict[str, Any]]
    snapshot: dict[str, Any] | None


def _rows(kind: type[Any], table: Table, items: Iterable[object], name: str,
          run_id: str) -> list[tuple[Any, dict[str, Any]]]:
    out = []
    for i, item in enumerate(items):
        where = f"{name}[{i}]"
        record = rec.coerce(kind, item, where)
        row = check_row(table, rec.row_values(record), where)
        row["run_id"] = run_id
        out.append((record, row))
    return out


def _events(run_id: str, prev: int | None, cursor: int, items: Iterable[object]) -> list[dict[str, Any]]:
    """The journal rows of a batch: none, or every event of (prev, cursor] once and in order."""
    rows = [row for _, row in _rows(rec.EventRecord, EventRow.__table__, items, "events", run_id)]
    first = 0 if prev is None else prev + 1
    span = f"({'start' if prev is None else prev}, {cursor}]"
    for i, row in enumerate(rows):
        if row["event_index"] != first + i:
            raise StoreError(f"events[{i}].event_index: {row['event_index']} where {first + i} was expected "
                             f"(a batch journals every event of {span} once, in order)")
    if rows and len(rows) != cursor - first + 1:
        raise StoreError(f"events: {len(rows)} event(s) for the {cursor - first + 1} of this batch's "
                         f"events {span} (a batch journals all of them or none)")
    return rows


def _snapshot(run_id: str, prev: int | None, cursor: int, item: object | None,
              now: dt.datetime) -> dict[str, Any] | None:
    if item is None:
        return None
    record = rec.coerce(rec.SnapshotRecord, item, "snapshot")
    row = check_row(SnapshotRow.__table__, {**rec.row_values(record), "created_at": now}, "snapshot")
    idx = record.event_index
    if (prev is not None and idx <= prev) or idx > cursor or idx < 0:
        raise StoreError(f"snapshot.event_index: {idx} is outside this batch's events "
                         f"({'start' if prev is None else prev}, {cursor}]")
    row["run_id"] = run_id
    return row


def prepare(run_id: str, prev: int | None, cursor: int, now: dt.datetime, *,
            tax_lots: Iterable[object] | None, events: Iterable[object], snapshot: object | None,
            **parts: Iterable[object]) -> Batch:
    """Check every record of a batch for run `run_id` whose events are (prev, cursor]."""
    decisions: list[dict[str, Any]] = []
    seen: set[int] = set()
    for record, row in _rows(rec.DecisionRecord, DecisionRow.__table__, parts["decisions"], "decisions",
                             run_id):
        i = len(decisions)
        if record.run_id and record.run_id != run_id:
            raise StoreError(f"decisions[{i}].run_id: {record.run_id!r} is not this batch's run {run_id!r}")
        idx = record.event_index
        if (prev is not None and idx <= prev) or idx > cursor or idx < 0 or idx in seen:
            raise StoreError(f"decisions[{i}].event_index: {idx} is outside this batch's events "
                             f"({'start' if prev is None else prev}, {cursor}] or repeated")
        seen.add(idx)
        row.pop("seq", None)
        decisions.append(row)

    def linked(kind: type[Any], table: Table, name: str) -> tuple[list[dict[str, Any]], list[int | None]]:
        rows, links = [], []
        for i, (record, row) in enumerate(_rows(kind, table, parts[name], name, run_id)):
            if record.event_index is not None:
                if record.decision_seq is not None:
                    raise StoreError(f"{name}[{i}]: give event_index or decision_seq, not both")
                if record.event_index not in seen:
                    raise StoreError(f"{name}[{i}].event_index: no decision for event {record.event_index} "
                                     "in this batch")
            if kind is rec.AlertRecord:
                if not row.get("delivery_status"):
                    row["delivery_status"] = "suppressed" if record.suppressed else "pending"
                check_choice(row["delivery_status"], rec.DELIVERY_STATUSES, f"{name}[{i}].delivery_status")
            if kind is rec.ScriptRecord:
                check_choice(record.status, rec.SCRIPT_STATUSES, f"{name}[{i}].status")
            rows.append(row)
            links.append(record.event_index)
        return rows, links

    def plain(kind: type[Any], table: Table, name: str, items: Iterable[object]) -> list[dict[str, Any]]:
        return [row for _, row in _rows(kind, table, items, name, run_id)]

    alerts, alert_links = linked(rec.AlertRecord, AlertRow.__table__, "alerts")
    scripts, script_links = linked(rec.ScriptRecord, ActionScriptRow.__table__, "scripts")
    changes, change_links = linked(rec.ProtocolChangeRecord, ProtocolChangeRow.__table__, "protocol_changes")
    return Batch(
        decisions=decisions,
        alerts=alerts, alert_links=alert_links,
        scripts=scripts, script_links=script_links,
        protocol_changes=changes, change_links=change_links,
        trades=plain(rec.TradeRecord, TradeRow.__table__, "trades", parts["trades"]),
        accounts=plain(rec.AccountRecord, AccountRow.__table__, "accounts", parts["accounts"]),
        positions=plain(rec.PositionRecord, PositionRow.__table__, "positions", parts["positions"]),
        tax_lots=None if tax_lots is None else plain(rec.TaxLotRecord, TaxLotRow.__table__, "tax_lots",
                                                     tax_lots),
        events=_events(run_id, prev, cursor, events),
        snapshot=_snapshot(run_id, prev, cursor, snapshot, now),
    )


def _upsert(conn: Connection, table: Table, rows: list[dict[str, Any]], keep: tuple[str, ...]) -> None:
    """Insert rows, or update the existing row with the same primary key (except `keep` columns)."""
    if not rows:
        return
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = dialect_insert(table)
    key = [c.name for c in table.primary_key.columns]
    changed = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in (*key, *keep)}
    conn.execute(stmt.on_conflict_do_update(index_elements=key, set_=changed), rows)


def _insert_returning(conn: Connection, stmt: Insert, rows: list[dict[str, Any]]) -> list[int]:
    if not rows:
        return []
    return list(conn.execute(stmt, rows).scalars())


def _link(rows: list[dict[str, Any]], links: list[int | None], seqs: dict[int, int]) -> list[dict[str, Any]]:
    return [row if link is None else {**row, "decision_seq": seqs[link]} for row, link in zip(rows, links,
                                                                                              strict=True)]


def write(conn: Connection, run_id: str, cursor: int, batch: Batch) -> rec.BatchResult:
    """Write `batch` and move the run's cursor, inside the caller's transaction."""
    _upsert(conn, AccountRow.__table__, batch.accounts, keep=("created_at",))
    _upsert(conn, PositionRow.__table__, batch.positions, keep=("opened_at",))
    seq_list = _insert_returning(
        conn, insert(DecisionRow).returning(DecisionRow.seq, sort_by_parameter_order=True), batch.decisions)
    seqs = {row["event_index"]: seq for row, seq in zip(batch.decisions, seq_list, strict=True)}
    alert_ids = _insert_returning(
        conn, insert(AlertRow).returning(AlertRow.id, sort_by_parameter_order=True),
        _link(batch.alerts, batch.alert_links, seqs))
    if batch.tax_lots is not None:
        conn.execute(delete(TaxLotRow).where(TaxLotRow.run_id == run_id))
    for model, rows in (
        (ActionScriptRow, _link(batch.scripts, batch.script_links, seqs)),
        (ProtocolChangeRow, _link(batch.protocol_changes, batch.change_links, seqs)),
        (TradeRow, batch.trades),
        (TaxLotRow, batch.tax_lots or []),
        (EventRow, batch.events),
        (SnapshotRow, [batch.snapshot] if batch.snapshot is not None else []),
    ):
        if rows:
            conn.execute(insert(model), rows)
    conn.execute(update(RunRow).where(RunRow.run_id == run_id).values(cursor=cursor))
    return rec.BatchResult(decision_seqs=tuple(seq_list), alert_ids=tuple(alert_ids))
