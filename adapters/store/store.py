"""The SQL store: runs, their decision log, event journal, snapshots, outbox and cursor.

`Store.open(url)` builds the engine and brings the schema to the newest Alembic revision (the
migrations are the only thing that creates tables). One database holds many runs; every row
belongs to one. Every batch of events is written with the run's cursor in one transaction, so a
process killed at any point leaves all of a batch or none of it, and `begin_run` on an unfinished
run returns where to resume.

SQLite runs in WAL mode with `synchronous=NORMAL` and foreign keys on; the store issues BEGIN
itself (the sqlite3 module would otherwise leave DDL and SELECTs outside transactions) and
BEGIN IMMEDIATE for writes, so concurrent writers wait instead of failing on a lock upgrade.

Foreign errors become `StoreError` (`raise … from exc`); messages show the URL without its
password.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any, Self

from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy import URL, Connection, Engine, Select, create_engine, event, make_url, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import ArgumentError

from alluse.adapters.store import batch as batches
from alluse.adapters.store import script_status
from alluse.adapters.store.models import AlertRow, PolicyVersionRow, RunRow
from alluse.adapters.store.queries import Readers
from alluse.adapters.store.records import (
    RUN_KINDS,
    BatchResult,
    RunState,
    ScriptDecision,
)
from alluse.engine.errors import StoreError

MIGRATIONS = Path(str(files("alluse.adapters.store") / "migrations"))
SUPPORTED = ("sqlite", "postgresql")
_WRITE = "alluse_write"  # execution option: BEGIN IMMEDIATE on SQLite
_MIGRATION_LOCK = 0x616C7573  # PostgreSQL advisory lock key serialising concurrent upgrades
_ALERT_MOVES = {"pending": ("sent", "failed", "suppressed"), "failed": ("sent", "failed")}


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def parse_url(url: str | URL) -> URL:
    """The URL with `postgresql://` mapped to psycopg 3; StoreError if it cannot be used."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        # The text is not shown: an unparseable URL may still hold a password.
        raise StoreError("invalid database URL (expected sqlite:///path.db or "
                         "postgresql+psycopg://user@host/db)") from exc
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED:
        raise StoreError(f"unsupported database {backend!r} in {redact(parsed)}: use sqlite or postgresql")
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def redact(url: str | URL) -> str:
    """The URL as text with any password replaced by ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "<invalid URL>"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # the "begin" listener below issues BEGIN
    cur = dbapi_conn.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        cur.execute(f"PRAGMA {pragma}")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")


def make_engine(url: str | URL) -> Engine:
    """An engine for `url` with the store's connection settings (no schema changes)."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database
        if path and path != ":memory:" and not path.startswith("file:") and not Path(path).parent.is_dir():
            raise StoreError(f"cannot open {redact(parsed)}: directory {Path(path).parent} does not exist")
        try:
            engine = create_engine(parsed, connect_args={"timeout": 30})
        except (ImportError, ArgumentError) as exc:
            raise StoreError(f"cannot use {redact(parsed)}: {exc}") from exc
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    try:
        return create_engine(parsed, pool_pre_ping=True)
    except ImportError as exc:
        hint = " (pip install 'alluse[postgres]')" if parsed.drivername == "postgresql+psycopg" else ""
        raise StoreError(f"cannot use {redact(parsed)}: the driver {parsed.drivername!r} is not "
                         f"installed{hint}") from exc
    except ArgumentError as exc:
        raise StoreError(f"cannot use {redact(parsed)}: {exc}") from exc


def _locked_run(run_id: str) -> Select[Any]:
    return select(RunRow.__table__).where(RunRow.run_id == run_id).with_for_update()


@contextmanager
def foreign_keys_checked_at_commit(conn: Connection) -> Iterator[None]:
    """On SQLite, foreign keys off for `conn` (call before its transaction begins), on again after.

    Migrations rebuild tables (create, copy, drop, rename), and dropping a table that others refer
    to fails while foreign keys are enforced; SQLite ignores the pragma inside a transaction. The
    caller runs `check_foreign_keys` before committing. Other backends: nothing to do.
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    raw = conn.connection.driver_connection  # no transaction yet: the pragma takes effect
    assert raw is not None
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        raw.execute("PRAGMA foreign_keys=ON")


def check_foreign_keys(conn: Connection) -> None:
    """StoreError if a row refers to a missing row (SQLite, after a migration with them off)."""
    if conn.dialect.name != "sqlite":
        return
    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        table, rowid, parent = broken[0][:3]
        raise StoreError(f"the migration would leave {len(broken)} row(s) referring to missing rows "
                         f"(first: {table} row {rowid} → {parent}); nothing was changed")


def alembic_config() -> Config:
    """Alembic configuration pointing at the packaged migrations (no URL: pass a connection)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


class Store(Readers):
    """The decision store. Open with `Store.open(url)`; close with `close()` or `with`."""

    @classmethod
    def open(cls, url: str | URL, *, clock: Callable[[], dt.datetime] = _utcnow) -> Store:
        """Connect and upgrade the schema to the newest migration (idempotent)."""
        store = cls(make_engine(url), clock)
        try:
            store._migrate()
        except CommandError as exc:
            store.close()
            raise StoreError(f"cannot migrate {store.url}: {store._scrub(str(exc))} "
                             "(is the database newer than this alluse?)") from exc
        except BaseException:
            store.close()
            raise
        return store

    def _migrate(self) -> None:
        with (self._guard("migrate the schema of"), self._engine.connect() as conn,
              foreign_keys_checked_at_commit(conn)):
            conn.execution_options(**{_WRITE: True})
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
                cfg = alembic_config()
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                check_foreign_keys(conn)

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self, action: str) -> Iterator[Connection]:
        with self._guard(action), self._engine.connect() as conn:
            conn.execution_options(**{_WRITE: True})  # read by the SQLite "begin" listener
            with conn.begin():
                yield conn

    # -- runs ------------------------------------------------------------------------------

    def begin_run(self, run_id: str, kind: str, params: dict[str, Any], policy_hash: str) -> RunState:
        """Start run `run_id`, or resume it if it exists unfinished with the same kind/params/policy."""
        batches.check_choice(kind, RUN_KINDS, "kind")
        try:
            params = json.loads(json.dumps(params))  # compare and store what JSON gives back
        except (TypeError, ValueError) as exc:
            raise StoreError(f"run {run_id!r}: params are not JSON: {exc}") from None
        values = batches.check_row(RunRow.__table__, {"run_id": run_id, "policy_hash": policy_hash}, "run")
        with self._write("begin a run in") as conn:
            row = conn.execute(_locked_run(run_id)).first()
            if row is None:
                started = self._clock()
                conn.execute(RunRow.__table__.insert().values(
                    **values, kind=kind, params=params, cursor=None, status="running", started_at=started))
                return RunState(run_id, kind, params, policy_hash, None, "running", started)
            state = self._run_state(row._mapping)
            if state.status != "running":
                raise StoreError(f"run {run_id!r} already finished at {state.finished_at}: use a new run id")
            for name, mine in (("kind", kind), ("params", params), ("policy_hash", policy_hash)):
                if getattr(state, name) != mine:
                    raise StoreError(f"run {run_id!r} exists with {name} {getattr(state, name)!r}, "
                                     f"not {mine!r}: refusing to resume it")
            return dataclasses.replace(state, resumed=True)

    def finish_run(self, run_id: str) -> RunState:
        with self._write("finish a run in") as conn:
            row = conn.execute(_locked_run(run_id)).first()
            if row is None:
                raise StoreError(f"no run {run_id!r} in {self.url}")
            if row.status == "running":
                conn.execute(update(RunRow).where(RunRow.run_id == run_id)
                             .values(status="done", finished_at=self._clock()))
        state = self.run(run_id)
        assert state is not None
        return state

    def record_batch(
        self,
        run_id: str,
        cursor: int,
        *,
        decisions: Iterable[object] = (),
        alerts: Iterable[object] = (),
        scripts: Iterable[object] = (),
        protocol_changes: Iterable[object] = (),
        trades: Iterable[object] = (),
        accounts: Iterable[object] = (),
        positions: Iterable[object] = (),
        tax_lots: Iterable[object] | None = None,
        events: Iterable[object] = (),
        snapshot: object | None = None,
    ) -> BatchResult:
        """Write one batch of run `run_id` (its events up to index `cursor`) and the cursor, atomically.

        Logs (decisions, alerts, scripts, protocol changes, trades) are appended. `accounts` and
        `positions` are upserted by id/key (a closed position is given with closed_at and state
        set; rows are never deleted). `tax_lots`, when given, is the run's whole set of open lots
        and replaces the stored one (an empty list: none held); None leaves it as it is. `events`
        journals the batch's input events: all of (previous cursor, cursor], in order, or none.
        `snapshot` is the engine state after one of the batch's events.
        """
        parts = {"decisions": decisions, "alerts": alerts, "scripts": scripts,
                 "protocol_changes": protocol_changes, "trades": trades, "accounts": accounts,
                 "positions": positions}
        lots = None if tax_lots is None else list(tax_lots)
        with self._write("record a batch in") as conn:
            row = conn.execute(select(RunRow.status, RunRow.cursor).where(RunRow.run_id == run_id)
                               .with_for_update()).first()
            if row is None:
                raise StoreError(f"no run {run_id!r}: call begin_run first")
            if row.status != "running":
                raise StoreError(f"run {run_id!r} is finished: it takes no more batches")
            if row.cursor is not None and cursor <= row.cursor:
                raise StoreError(f"run {run_id!r}: cursor {cursor} does not move past {row.cursor}")
            prepared = batches.prepare(run_id, row.cursor, cursor, self._clock(), tax_lots=lots,
                                       events=list(events), snapshot=snapshot,
                                       **{k: list(v) for k, v in parts.items()})
            return batches.write(conn, run_id, cursor, prepared)

    # -- the two mutations besides inserts ---------------------------------------------------

    def set_script_status(self, run_id: str, script_id: str, status: str) -> None:
        """Move an action script along proposed → approved|rejected|expired → executed|expired."""
        with self._write("update a script in") as conn:
            script_status.move(conn, run_id, script_id, status)

    def decide_script(self, run_id: str, script_id: str, decision: str, who: str, *,
                      now: dt.datetime, reason: str | None = None) -> ScriptDecision:
        """Record an operator's decision ("approved" or "rejected") and the script's new status,
        atomically; `now` is the run's clock, which the script's expiry is measured against.

        A decision the script already took records nothing (the result's `note` says so); one it
        cannot take (expired, rejected, executed) raises ApprovalError and writes nothing.
        """
        with self._write("record a decision in") as conn:
            return script_status.decide(conn, run_id, script_id, decision, who, at=self._clock(),
                                        now=now, reason=reason)

    def mark_alert_delivered(self, alert_id: int, status: str) -> None:
        """Record a delivery attempt: pending|failed → sent|failed, or pending → suppressed."""
        with self._write("update an alert in") as conn:
            current = conn.execute(select(AlertRow.delivery_status).where(AlertRow.id == alert_id)
                                   .with_for_update()).scalar()
            if current is None:
                raise StoreError(f"no alert {alert_id}")
            if status not in _ALERT_MOVES.get(current, ()):
                raise StoreError(f"alert {alert_id} is {current}: it cannot become {status}")
            conn.execute(update(AlertRow).where(AlertRow.id == alert_id).values(delivery_status=status))

    def record_policy_version(self, policy_hash: str, files: dict[str, str], source: str) -> bool:
        """Remember a policy version (file name → sha256); False if it was already known."""
        values = batches.check_row(
            PolicyVersionRow.__table__,
            {"hash": policy_hash, "files": dict(files), "source": source, "loaded_at": self._clock()},
            "policy_version")
        with self._write("record a policy version in") as conn:
            dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            stmt = dialect_insert(PolicyVersionRow).values(**values).on_conflict_do_nothing()
            # Content-addressed: a hash already stored has the same files, so keeping the first is right.
            return bool(conn.execute(stmt.returning(PolicyVersionRow.hash)).first())
