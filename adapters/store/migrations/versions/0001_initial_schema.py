"""Initial schema: accounts, positions, trades, runs, the append-only decision log and its outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-21

The decision log refuses UPDATE and DELETE (and TRUNCATE on PostgreSQL) through triggers, so the
guarantee holds for any client, not only for the Store API.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from alluse.adapters.store.types import Money, UtcDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SeqId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
REFUSED = "decisions is append-only"


def _id(name: str = "id") -> sa.Column[int]:
    return sa.Column(name, SeqId, autoincrement=True, nullable=False)


def _decision_link(table: str) -> tuple[sa.Column[int], sa.ForeignKeyConstraint]:
    fk_name = f"fk_{table}_decision_seq_decisions"
    return (
        sa.Column("decision_seq", SeqId, nullable=True),
        sa.ForeignKeyConstraint(["decision_seq"], ["decisions.seq"], name=fk_name),
    )


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("parent_id", sa.String(64), nullable=True),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("initial_capital", Money(2), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["parent_id"], ["accounts.id"], name="fk_accounts_parent_id_accounts"),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
    )
    op.create_table(
        "policy_versions",
        sa.Column("hash", sa.String(128), nullable=False),
        sa.Column("loaded_at", UtcDateTime(), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("hash", name="pk_policy_versions"),
    )
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("policy_hash", sa.String(128), nullable=False),
        sa.Column("cursor", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", name="pk_runs"),
    )
    op.create_table(
        "decisions",
        _id("seq"),
        sa.Column("run_id", sa.String(128), nullable=False),
        sa.Column("event_index", sa.BigInteger(), nullable=False),
        sa.Column("ts", UtcDateTime(), nullable=False),
        sa.Column("policy_hash", sa.String(128), nullable=False),
        sa.Column("event", sa.JSON(), nullable=False),
        sa.Column("decision", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], name="fk_decisions_run_id_runs"),
        sa.PrimaryKeyConstraint("seq", name="pk_decisions"),
        sa.UniqueConstraint("run_id", "event_index", name="uq_decisions_run_id_event_index"),
    )
    op.create_table(
        "positions",
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("expiry", sa.Date(), nullable=True),
        sa.Column("strike", Money(4), nullable=True),
        sa.Column("right", sa.String(1), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("opened_at", UtcDateTime(), nullable=False),
        sa.Column("closed_at", UtcDateTime(), nullable=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("protocol_level", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["account"], ["accounts.id"], name="fk_positions_account_accounts"),
        sa.PrimaryKeyConstraint("key", name="pk_positions"),
    )
    op.create_index("ix_positions_account", "positions", ["account"])
    op.create_table(
        "tax_lots",
        _id(),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("basis", Money(2), nullable=False),
        sa.Column("holding_period_start", sa.Date(), nullable=False),
        sa.Column("expiry", sa.Date(), nullable=True),
        sa.Column("strike", Money(4), nullable=True),
        sa.Column("right", sa.String(1), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["account"], ["accounts.id"], name="fk_tax_lots_account_accounts"),
        sa.PrimaryKeyConstraint("id", name="pk_tax_lots"),
    )
    op.create_index("ix_tax_lots_account", "tax_lots", ["account"])
    op.create_index("ix_tax_lots_as_of", "tax_lots", ["as_of"])
    op.create_table(
        "trades",
        _id(),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("ts", UtcDateTime(), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("expiry", sa.Date(), nullable=True),
        sa.Column("strike", Money(4), nullable=True),
        sa.Column("right", sa.String(1), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("price", Money(4), nullable=False),
        sa.Column("commission", Money(4), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.ForeignKeyConstraint(["account"], ["accounts.id"], name="fk_trades_account_accounts"),
        sa.PrimaryKeyConstraint("id", name="pk_trades"),
    )
    op.create_index("ix_trades_account", "trades", ["account"])
    op.create_table(
        "action_scripts",
        sa.Column("id", sa.String(128), nullable=False),
        *_decision_link("action_scripts"),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("approval", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("script", sa.JSON(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_action_scripts"),
    )
    op.create_index("ix_action_scripts_decision_seq", "action_scripts", ["decision_seq"])
    op.create_index("ix_action_scripts_status", "action_scripts", ["status"])
    op.create_table(
        "alerts",
        _id(),
        *_decision_link("alerts"),
        sa.Column("ts", UtcDateTime(), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("suppressed", sa.Boolean(), nullable=False),
        sa.Column("delivery_status", sa.String(16), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
    )
    op.create_index("ix_alerts_decision_seq", "alerts", ["decision_seq"])
    op.create_index("ix_alerts_delivery_status_id", "alerts", ["delivery_status", "id"])
    op.create_table(
        "protocol_changes",
        _id(),
        *_decision_link("protocol_changes"),
        sa.Column("position", sa.String(128), nullable=False),
        sa.Column("ts", UtcDateTime(), nullable=False),
        sa.Column("from_level", sa.Integer(), nullable=False),
        sa.Column("to_level", sa.Integer(), nullable=False),
        sa.Column("atr_multiple", sa.Float(), nullable=False),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_protocol_changes"),
    )
    op.create_index("ix_protocol_changes_decision_seq", "protocol_changes", ["decision_seq"])
    op.create_index("ix_protocol_changes_position", "protocol_changes", ["position"])
    _create_append_only_triggers()


def _create_append_only_triggers() -> None:
    dialect = op.get_context().dialect.name
    if dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER decisions_no_{verb.lower()} BEFORE {verb} ON decisions "
                       f"BEGIN SELECT RAISE(ABORT, '{REFUSED}: {verb} refused'); END")
    elif dialect == "postgresql":
        op.execute("CREATE FUNCTION decisions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
                   f"BEGIN RAISE EXCEPTION '{REFUSED}: % refused', TG_OP; END $$")
        op.execute("CREATE TRIGGER decisions_no_change BEFORE UPDATE OR DELETE ON decisions "
                   "FOR EACH ROW EXECUTE FUNCTION decisions_append_only()")
        op.execute("CREATE TRIGGER decisions_no_truncate BEFORE TRUNCATE ON decisions "
                   "FOR EACH STATEMENT EXECUTE FUNCTION decisions_append_only()")
    else:
        raise NotImplementedError(f"the decision log needs append-only triggers for {dialect}")


def downgrade() -> None:
    dialect = op.get_context().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS decisions_no_update")
        op.execute("DROP TRIGGER IF EXISTS decisions_no_delete")
    for table in ("protocol_changes", "alerts", "action_scripts", "trades", "tax_lots", "positions",
                  "decisions", "runs", "policy_versions", "accounts"):
        op.drop_table(table)  # indexes and PostgreSQL row triggers go with their table
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS decisions_append_only()")
