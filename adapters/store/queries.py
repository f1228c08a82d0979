"""The reading half of the store, and the error translation both halves share.

Readers return the frozen records of `records.py`, oldest first, of one run: each takes the run
id first (`decisions` also reads across runs with None). `Store` (store.py) adds the writes on
top of this class.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, MetaData, Select, Table, inspect, select
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from alluse.adapters.store import records as rec
from alluse.adapters.store.models import (
    AccountRow,
    ActionScriptRow,
    AlertRow,
    ApprovalRow,
    DecisionRow,
    EventRow,
    PolicyVersionRow,
    PositionRow,
    ProtocolChangeRow,
    RunRow,
    SnapshotRow,
    TaxLotRow,
    TradeRow,
)
from alluse.engine.errors import StoreError

R = TypeVar("R")
_PAGE = 2000  # events per read


def _record(kind: type[R], row: Mapping[Any, Any]) -> R:
    names = {f.name for f in dataclasses.fields(kind)}  # type: ignore[arg-type]
    values = {k: v for k, v in row.items() if k in names}
    if "channels" in values:
        values["channels"] = tuple(values["channels"])
    return kind(**values)


def _plain(value: Any) -> Any:
    """A reflected column's value as the typed readers return it: aware UTC instants, decoded JSON."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class Readers:
    def __init__(self, engine: Engine, clock: Callable[[], dt.datetime]) -> None:
        self._engine = engine
        self._clock = clock
        self._password = engine.url.password

    @property
    def url(self) -> str:
        """The database URL without its password."""
        return self._engine.url.render_as_string(hide_password=True)

    # -- error translation ------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        return text.replace(self._password, "***") if self._password else text

    def _describe(self, action: str, exc: BaseException) -> str:
        cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        reason = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        return self._scrub(f"cannot {action} {self.url}: {reason}")

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            raise StoreError(self._describe(action, exc)) from exc

    @contextmanager
    def _read(self, action: str) -> Iterator[Connection]:
        with self._guard(action), self._engine.connect() as conn, conn.begin():
            yield conn

    def _all(self, kind: type[R], stmt: Select[Any], action: str) -> list[R]:
        with self._read(action) as conn:
            return [_record(kind, row._mapping) for row in conn.execute(stmt)]

    @staticmethod
    def _run_state(row: Mapping[Any, Any]) -> rec.RunState:
        return _record(rec.RunState, row)

    # -- readers ----------------------------------------------------------------------------

    def run(self, run_id: str) -> rec.RunState | None:
        with self._read("read a run from") as conn:
            row = conn.execute(select(RunRow.__table__).where(RunRow.run_id == run_id)).first()
        return None if row is None else self._run_state(row._mapping)

    def runs(self, kind: str | None = None) -> list[rec.RunState]:
        """Every run (optionally of one kind), oldest first."""
        stmt = select(RunRow.__table__).order_by(RunRow.started_at, RunRow.run_id)
        if kind is not None:
            stmt = stmt.where(RunRow.kind == kind)
        with self._read("read runs from") as conn:
            return [self._run_state(row._mapping) for row in conn.execute(stmt)]

    def decisions(self, run_id: str | None = None, since_seq: int = 0,
                  limit: int | None = None) -> list[rec.DecisionRecord]:
        """Decisions with seq > `since_seq`, in log order, of run `run_id` (None: of every run)."""
        stmt = select(DecisionRow.__table__).where(DecisionRow.seq > since_seq).order_by(DecisionRow.seq)
        if run_id is not None:
            stmt = stmt.where(DecisionRow.run_id == run_id)
        return self._all(rec.DecisionRecord, stmt.limit(limit), "read decisions from")

    def events(self, run_id: str, start: int = 0, end: int | None = None) -> Iterator[rec.EventRecord]:
        """The run's journalled events with start <= event_index < end, in order.

        Read a page at a time, each in its own short transaction, so a long journal neither sits
        in memory nor holds a read transaction open while the caller works through it.
        """
        after = start - 1
        while True:
            stmt = (select(EventRow.__table__)
                    .where(EventRow.run_id == run_id, EventRow.event_index > after)
                    .order_by(EventRow.event_index).limit(_PAGE))
            if end is not None:
                stmt = stmt.where(EventRow.event_index < end)
            page = self._all(rec.EventRecord, stmt, "read events from")
            yield from page
            if len(page) < _PAGE:
                return
            after = page[-1].event_index

    def latest_snapshot(self, run_id: str, at_or_before: int | None = None) -> rec.SnapshotRecord | None:
        """The run's snapshot with the greatest event_index (at most `at_or_before`), or None."""
        stmt = (select(SnapshotRow.__table__).where(SnapshotRow.run_id == run_id)
                .order_by(SnapshotRow.event_index.desc()).limit(1))
        if at_or_before is not None:
            stmt = stmt.where(SnapshotRow.event_index <= at_or_before)
        found = self._all(rec.SnapshotRecord, stmt, "read a snapshot from")
        return found[0] if found else None

    def alerts(self, run_id: str, status: str | None = None, since_id: int = 0,
               limit: int | None = None, *, since: dt.datetime | None = None,
               alert_type: str | None = None) -> list[rec.AlertRecord]:
        """The run's alerts with id > `since_id`, optionally only those in delivery `status` (the
        outbox), raised at or after `since`, of type `alert_type`."""
        stmt = (select(AlertRow.__table__).where(AlertRow.run_id == run_id, AlertRow.id > since_id)
                .order_by(AlertRow.id))
        if status is not None:
            stmt = stmt.where(AlertRow.delivery_status == status)
        if since is not None:
            stmt = stmt.where(AlertRow.ts >= since)
        if alert_type is not None:
            stmt = stmt.where(AlertRow.type == alert_type)
        return self._all(rec.AlertRecord, stmt.limit(limit), "read alerts from")

    def scripts(self, run_id: str, status: str | None = None) -> list[rec.ScriptRecord]:
        stmt = (select(ActionScriptRow.__table__).where(ActionScriptRow.run_id == run_id)
                .order_by(ActionScriptRow.expires_at, ActionScriptRow.id))
        if status is not None:
            stmt = stmt.where(ActionScriptRow.status == status)
        return self._all(rec.ScriptRecord, stmt, "read action scripts from")

    def approvals(self, run_id: str, script_id: str | None = None) -> list[rec.ApprovalRecord]:
        """Operators' decisions on the run's scripts (or on one script), in the order taken."""
        stmt = select(ApprovalRow.__table__).where(ApprovalRow.run_id == run_id).order_by(ApprovalRow.id)
        if script_id is not None:
            stmt = stmt.where(ApprovalRow.script_id == script_id)
        return self._all(rec.ApprovalRecord, stmt, "read approvals from")

    def node_statuses(self) -> dict[str, dict[str, Any]]:
        """The `node_status` rows by run id (what a node reports about itself); {} without the table.

        The node's migration creates that table, so this reads whatever columns it has; instants
        come back aware in UTC and JSON text is decoded, as on the other readers.
        """
        with self._read("read the node status from") as conn:
            if not inspect(conn).has_table("node_status"):
                return {}
            table = Table("node_status", MetaData(), autoload_with=conn)
            rows = [dict(row._mapping) for row in conn.execute(select(table))]
        return {str(row["run_id"]): {k: _plain(v) for k, v in row.items()} for row in rows}

    def accounts(self, run_id: str) -> list[rec.AccountRecord]:
        stmt = (select(AccountRow.__table__).where(AccountRow.run_id == run_id)
                .order_by(AccountRow.created_at, AccountRow.id))
        return self._all(rec.AccountRecord, stmt, "read accounts from")

    def positions(self, run_id: str, account: str | None = None,
                  open_only: bool = False) -> list[rec.PositionRecord]:
        stmt = (select(PositionRow.__table__).where(PositionRow.run_id == run_id)
                .order_by(PositionRow.opened_at, PositionRow.key))
        if account is not None:
            stmt = stmt.where(PositionRow.account == account)
        if open_only:
            stmt = stmt.where(PositionRow.closed_at.is_(None))
        return self._all(rec.PositionRecord, stmt, "read positions from")

    def trades(self, run_id: str, account: str | None = None) -> list[rec.TradeRecord]:
        stmt = select(TradeRow.__table__).where(TradeRow.run_id == run_id).order_by(TradeRow.ts, TradeRow.id)
        if account is not None:
            stmt = stmt.where(TradeRow.account == account)
        return self._all(rec.TradeRecord, stmt, "read trades from")

    def protocol_changes(self, run_id: str, position: str | None = None) -> list[rec.ProtocolChangeRecord]:
        stmt = (select(ProtocolChangeRow.__table__).where(ProtocolChangeRow.run_id == run_id)
                .order_by(ProtocolChangeRow.id))
        if position is not None:
            stmt = stmt.where(ProtocolChangeRow.position == position)
        return self._all(rec.ProtocolChangeRecord, stmt, "read protocol changes from")

    def tax_lots(self, run_id: str, account: str | None = None) -> list[rec.TaxLotRecord]:
        """The run's open lots as of its latest batch that gave them, in the order given."""
        stmt = select(TaxLotRow.__table__).where(TaxLotRow.run_id == run_id).order_by(TaxLotRow.id)
        if account is not None:
            stmt = stmt.where(TaxLotRow.account == account)
        return self._all(rec.TaxLotRecord, stmt, "read tax lots from")

    def policy_version(self, policy_hash: str) -> rec.PolicyVersion | None:
        stmt = select(PolicyVersionRow.__table__).where(PolicyVersionRow.hash == policy_hash)
        found = self._all(rec.PolicyVersion, stmt, "read a policy version from")
        return found[0] if found else None
