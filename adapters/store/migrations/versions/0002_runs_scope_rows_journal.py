"""Scope every row by run; journal input events and engine snapshots.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

Before this revision a second run in the same database collided with the first (action script
ids, account ids) and overwrote its accounts. Now accounts, positions and action scripts are
keyed by (run_id, id); trades, tax lots, alerts and protocol changes carry run_id; trades,
positions and tax lots refer to an account of their own run.

Existing rows keep their data. Their run_id is the run of the decision they link to when they
have one (alerts, scripts, protocol changes), else the only run in `runs` if there is exactly
one, else '' (which run wrote them cannot be known). That is also why these run_id columns have
no foreign key to `runs`.

New tables: `events` (the journal of every input event, append-only through triggers like the
decision log) and `snapshots` (engine state after an event).

SQLite cannot alter keys, so each table is rebuilt (batch mode). A rebuild drops and renames
tables that others refer to, which SQLite allows only with foreign keys off: `Store.open` turns
them off around the migration and runs `PRAGMA foreign_key_check` before it commits.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from alluse.adapters.store.types import UtcDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUN_ID = sa.String(128)
REFUSED = "events is append-only"
# (table, old primary key, new primary key); None: the primary key stays `id`
KEYED = (("accounts", ["id"], ["run_id", "id"]),
         ("positions", ["key"], ["run_id", "key"]),
         ("action_scripts", ["id"], ["run_id", "id"]))
SCOPED = ("accounts", "positions", "action_scripts", "trades", "tax_lots", "alerts", "protocol_changes")
LINKED = ("action_scripts", "alerts", "protocol_changes")  # rows that may point at a decision
# child table -> (old foreign key to accounts.id, old index on account)
ACCOUNT_CHILDREN = {"positions": ("fk_positions_account_accounts", ["ix_positions_account"]),
                    "trades": ("fk_trades_account_accounts", ["ix_trades_account"]),
                    "tax_lots": ("fk_tax_lots_account_accounts",
                                 ["ix_tax_lots_account", "ix_tax_lots_as_of"])}
# table -> (old index, its columns, new index, its columns)
REINDEXED = {"alerts": ("ix_alerts_delivery_status_id", ["delivery_status", "id"],
                        "ix_alerts_run_id_delivery_status_id", ["run_id", "delivery_status", "id"]),
             "protocol_changes": ("ix_protocol_changes_position", ["position"],
                                  "ix_protocol_changes_run_id_position", ["run_id", "position"])}


def _legacy_run_id() -> str:
    runs = op.get_bind().execute(sa.text("SELECT run_id FROM runs")).scalars().all()
    return str(runs[0]) if len(runs) == 1 else ""


def upgrade() -> None:
    for table in SCOPED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("run_id", RUN_ID, nullable=True))
    bind = op.get_bind()
    for table in LINKED:
        bind.execute(sa.text(f"UPDATE {table} SET run_id = (SELECT d.run_id FROM decisions d "
                             f"WHERE d.seq = {table}.decision_seq) WHERE decision_seq IS NOT NULL"))
    legacy = _legacy_run_id()
    for table in SCOPED:
        bind.execute(sa.text(f"UPDATE {table} SET run_id = :run WHERE run_id IS NULL"),
                     {"run": legacy})

    # PostgreSQL applies each step at once: the foreign keys on accounts.id go before its key does.
    for child, (fk, _) in ACCOUNT_CHILDREN.items():
        with op.batch_alter_table(child) as batch:
            batch.drop_constraint(fk, type_="foreignkey")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_constraint("fk_accounts_parent_id_accounts", type_="foreignkey")
    for table, _, key in KEYED:
        with op.batch_alter_table(table) as batch:
            batch.alter_column("run_id", existing_type=RUN_ID, nullable=False)
            batch.drop_constraint(f"pk_{table}", type_="primary")
            batch.create_primary_key(f"pk_{table}", key)
    with op.batch_alter_table("accounts") as batch:
        batch.create_foreign_key("fk_accounts_run_id_accounts", "accounts",
                                 ["run_id", "parent_id"], ["run_id", "id"])
    for child, (_, indexes) in ACCOUNT_CHILDREN.items():
        with op.batch_alter_table(child) as batch:
            if child != "positions":
                batch.alter_column("run_id", existing_type=RUN_ID, nullable=False)
            for index in indexes:
                batch.drop_index(index)
            batch.create_index(f"ix_{child}_run_id_account", ["run_id", "account"])
            batch.create_foreign_key(f"fk_{child}_run_id_accounts", "accounts",
                                     ["run_id", "account"], ["run_id", "id"])
    for table, (old, _, new, columns) in REINDEXED.items():
        with op.batch_alter_table(table) as batch:
            batch.alter_column("run_id", existing_type=RUN_ID, nullable=False)
            batch.drop_index(old)
            batch.create_index(new, columns)

    op.create_table(
        "events",
        sa.Column("run_id", RUN_ID, nullable=False),
        sa.Column("event_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("ts", UtcDateTime(), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], name="fk_events_run_id_runs"),
        sa.PrimaryKeyConstraint("run_id", "event_index", name="pk_events"),
        sqlite_with_rowid=False,  # the journal is the biggest table: no second copy of its key
    )
    op.create_table(
        "snapshots",
        sa.Column("run_id", RUN_ID, nullable=False),
        sa.Column("event_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("ts", UtcDateTime(), nullable=False),
        sa.Column("policy_hash", sa.String(128), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], name="fk_snapshots_run_id_runs"),
        sa.PrimaryKeyConstraint("run_id", "event_index", name="pk_snapshots"),
    )
    _create_append_only_triggers()


def _create_append_only_triggers() -> None:
    dialect = op.get_context().dialect.name
    if dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER events_no_{verb.lower()} BEFORE {verb} ON events "
                       f"BEGIN SELECT RAISE(ABORT, '{REFUSED}: {verb} refused'); END")
    elif dialect == "postgresql":
        op.execute("CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
                   f"BEGIN RAISE EXCEPTION '{REFUSED}: % refused', TG_OP; END $$")
        op.execute("CREATE TRIGGER events_no_change BEFORE UPDATE OR DELETE ON events "
                   "FOR EACH ROW EXECUTE FUNCTION events_append_only()")
        op.execute("CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events "
                   "FOR EACH STATEMENT EXECUTE FUNCTION events_append_only()")
    else:
        raise NotImplementedError(f"the event journal needs append-only triggers for {dialect}")


def downgrade() -> None:
    """Back to one unscoped set of rows: refused when the tables hold rows of several runs."""
    bind = op.get_bind()
    for table in SCOPED:
        runs = bind.execute(sa.text(f"SELECT COUNT(DISTINCT run_id) FROM {table}")).scalar()
        if runs and runs > 1:
            raise RuntimeError(f"cannot downgrade below 0002: {table} holds rows of {runs} runs "
                               "and revision 0001 keeps only one")
    dialect = op.get_context().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS events_no_update")
        op.execute("DROP TRIGGER IF EXISTS events_no_delete")
    op.drop_table("snapshots")
    op.drop_table("events")  # PostgreSQL's triggers go with the table
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS events_append_only()")

    for table, (old, old_columns, new, _) in REINDEXED.items():
        with op.batch_alter_table(table) as batch:
            batch.drop_index(new)
            batch.create_index(old, old_columns)
            batch.drop_column("run_id")
    for child, (_, indexes) in ACCOUNT_CHILDREN.items():
        with op.batch_alter_table(child) as batch:
            batch.drop_constraint(f"fk_{child}_run_id_accounts", type_="foreignkey")
            batch.drop_index(f"ix_{child}_run_id_account")
            for index in indexes:
                batch.create_index(index, ["as_of"] if index.endswith("as_of") else ["account"])
    with op.batch_alter_table("accounts") as batch:
        batch.drop_constraint("fk_accounts_run_id_accounts", type_="foreignkey")
    for table, key, _ in KEYED:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"pk_{table}", type_="primary")
            batch.create_primary_key(f"pk_{table}", key)
    with op.batch_alter_table("accounts") as batch:
        batch.create_foreign_key("fk_accounts_parent_id_accounts", "accounts", ["parent_id"], ["id"])
        batch.drop_column("run_id")
    for child, (fk, _) in ACCOUNT_CHILDREN.items():
        with op.batch_alter_table(child) as batch:
            batch.create_foreign_key(fk, "accounts", ["account"], ["id"])
            batch.drop_column("run_id")
    with op.batch_alter_table("action_scripts") as batch:
        batch.drop_column("run_id")
