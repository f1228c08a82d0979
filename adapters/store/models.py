"""The store's tables as SQLAlchemy 2 typed declarative models.

The schema is created only by the Alembic migrations in `migrations/`; these models describe it
and a test checks that the two agree (`alembic.autogenerate.compare_metadata` finds no diff).
Every row belongs to a run: the state tables (accounts, positions, action scripts) are keyed by
(run_id, id), so two runs in one database never overwrite each other. Their run_id has no foreign
key to `runs` because rows from before runs were scoped (migration 0002) may carry run_id ''.
Money is `Money(2)` (account amounts, tax basis) or `Money(4)` (per-unit prices, strikes and
commissions, which IB reports below the cent); instants are `UtcDateTime`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from alluse.adapters.store.types import Money, UtcDateTime

# Deterministic constraint names, so migrations can refer to them on every backend.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL gets 64-bit sequences.
SeqId = BigInteger().with_variant(Integer(), "sqlite")

PRICE = 4
AMOUNT = 2


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    # Declarative types __table__ as FromClause (a model may map a join or a select); every model
    # here maps one Table, and saying so is SQLAlchemy's own advice (sqlalchemy#9130).
    __table__: ClassVar[Table]


class AccountRow(Base):
    __tablename__ = "accounts"
    __table_args__ = (ForeignKeyConstraint(["run_id", "parent_id"], ["accounts.run_id", "accounts.id"]),)

    run_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    type: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[str | None] = mapped_column(String(64))
    unit: Mapped[str] = mapped_column(String(64))
    initial_capital: Mapped[Decimal] = mapped_column(Money(AMOUNT))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


def _account_of_run() -> tuple[ForeignKeyConstraint, Index]:
    """A row's (run_id, account) must name an account of the same run; indexed for the join."""
    return (ForeignKeyConstraint(["run_id", "account"], ["accounts.run_id", "accounts.id"]),
            Index(None, "run_id", "account"))


class PositionRow(Base):
    """One row per position and run; a closed position keeps its row with closed_at and state set."""

    __tablename__ = "positions"
    __table_args__ = _account_of_run()

    run_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    account: Mapped[str] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(32))
    expiry: Mapped[dt.date | None] = mapped_column(Date)
    strike: Mapped[Decimal | None] = mapped_column(Money(PRICE))
    right: Mapped[str] = mapped_column(String(1))
    quantity: Mapped[int] = mapped_column(Integer)
    opened_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    closed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    state: Mapped[str] = mapped_column(String(32))
    protocol_level: Mapped[int] = mapped_column(Integer)


class TradeRow(Base):
    __tablename__ = "trades"
    __table_args__ = _account_of_run()

    id: Mapped[int] = mapped_column(SeqId, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(128))
    account: Mapped[str] = mapped_column(String(64))
    ts: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    symbol: Mapped[str] = mapped_column(String(32))
    expiry: Mapped[dt.date | None] = mapped_column(Date)
    strike: Mapped[Decimal | None] = mapped_column(Money(PRICE))
    right: Mapped[str] = mapped_column(String(1))
    side: Mapped[str] = mapped_column(String(8))
    quantity: Mapped[int] = mapped_column(Integer)
    price: Mapped[Decimal] = mapped_column(Money(PRICE))
    commission: Mapped[Decimal] = mapped_column(Money(PRICE))
    source: Mapped[str] = mapped_column(String(32))


class RunRow(Base):
    __tablename__ = "runs"

    run_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    policy_hash: Mapped[str] = mapped_column(String(128))
    cursor: Mapped[int | None] = mapped_column(BigInteger)  # last event index committed
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class DecisionRow(Base):
    """The append-only decision log: the migration adds triggers refusing UPDATE and DELETE."""

    __tablename__ = "decisions"
    __table_args__ = (UniqueConstraint("run_id", "event_index"),)

    seq: Mapped[int] = mapped_column(SeqId, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id"))
    event_index: Mapped[int] = mapped_column(BigInteger)
    ts: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    policy_hash: Mapped[str] = mapped_column(String(128))
    event: Mapped[dict[str, Any]] = mapped_column(JSON)
    decision: Mapped[dict[str, Any]] = mapped_column(JSON)


class AlertRow(Base):
    __tablename__ = "alerts"
    __table_args__ = (Index(None, "run_id", "delivery_status", "id"),)

    id: Mapped[int] = mapped_column(SeqId, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(128))
    decision_seq: Mapped[int | None] = mapped_column(ForeignKey("decisions.seq"), index=True)
    ts: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    type: Mapped[str] = mapped_column(String(32))
    priority: Mapped[str] = mapped_column(String(16))
    account: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    suppressed: Mapped[bool] = mapped_column(Boolean)
    delivery_status: Mapped[str] = mapped_column(String(16))
    channels: Mapped[list[str]] = mapped_column(JSON)


class ActionScriptRow(Base):
    __tablename__ = "action_scripts"

    run_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    decision_seq: Mapped[int | None] = mapped_column(ForeignKey("decisions.seq"), index=True)
    account: Mapped[str] = mapped_column(String(64))
    approval: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    script: Mapped[dict[str, Any]] = mapped_column(JSON)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class ApprovalRow(Base):
    """Operators' decisions on action scripts; append-only (the migration adds triggers).

    At most one row per script and decision: approving twice records nothing the second time,
    and a script can be approved, then rejected before it runs, but never the other way round.
    """

    __tablename__ = "approvals"
    __table_args__ = (
        ForeignKeyConstraint(["run_id", "script_id"], ["action_scripts.run_id", "action_scripts.id"]),
        UniqueConstraint("run_id", "script_id", "decision"),
    )

    id: Mapped[int] = mapped_column(SeqId, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(128))
    script_id: Mapped[str] = mapped_column(String(128))
    decision: Mapped[str] = mapped_column(String(16))
    who: Mapped[str] = mapped_column(String(128))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    reason: Mapped[str | None] = mapped_column(Text)


class ProtocolChangeRow(Base):
    __tablename__ = "protocol_changes"
    __table_args__ = (Index(None, "run_id", "position"),)

    id: Mapped[int] = mapped_column(SeqId, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(128))
    decision_seq: Mapped[int | None] = mapped_column(ForeignKey("decisions.seq"), index=True)
    position: Mapped[str] = mapped_column(String(128))
    ts: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    from_level: Mapped[int] = mapped_column(Integer)
    to_level: Mapped[int] = mapped_column(Integer)
    atr_multiple: Mapped[float] = mapped_column(Float)  # a ratio, not money
    rule: Mapped[str] = mapped_column(String(128))


class PolicyVersionRow(Base):
    __tablename__ = "policy_versions"

    hash: Mapped[str] = mapped_column(String(128), primary_key=True)
    loaded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    files: Mapped[dict[str, str]] = mapped_column(JSON)  # file name -> sha256
    source: Mapped[str] = mapped_column(Text)


class TaxLotRow(Base):
    """A run's open lots as of its latest batch (each batch that gives lots replaces the set)."""

    __tablename__ = "tax_lots"
    __table_args__ = _account_of_run()

    id: Mapped[int] = mapped_column(SeqId, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(128))
    account: Mapped[str] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[int] = mapped_column(Integer)
    basis: Mapped[Decimal] = mapped_column(Money(AMOUNT))
    holding_period_start: Mapped[dt.date] = mapped_column(Date)
    expiry: Mapped[dt.date | None] = mapped_column(Date)
    strike: Mapped[Decimal | None] = mapped_column(Money(PRICE))
    right: Mapped[str] = mapped_column(String(1))
    as_of: Mapped[dt.date] = mapped_column(Date)


class EventRow(Base):
    """The journal of a run's input events, in engine order; append-only like the decision log."""

    __tablename__ = "events"
    # SQLite: the rows live in the primary key's b-tree instead of beside a copy of the key
    __table_args__ = {"sqlite_with_rowid": False}

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id"), primary_key=True)
    event_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    ts: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    type: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class SnapshotRow(Base):
    """Engine state after event `event_index`: restore it, then replay the journal from there."""

    __tablename__ = "snapshots"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id"), primary_key=True)
    event_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    ts: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    policy_hash: Mapped[str] = mapped_column(String(128))
    state: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
