"""The operators' decisions on action scripts: the `approvals` table.

Revision ID: 0003_hitl
Revises: 0002
Create Date: 2026-11-23

One row per decision (approved or rejected) with who made it, when (UTC) and, for a rejection,
why; at most one row per script and decision. Like the decision log, the table refuses UPDATE
and DELETE (and TRUNCATE on PostgreSQL) through triggers: who approved what is an audit record.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from alluse.adapters.store.types import UtcDateTime

revision: str = "0003_hitl"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SeqId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
REFUSED = "approvals is append-only"


def upgrade() -> None:
    op.create_table(
        "approvals",
        sa.Column("id", SeqId, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(128), nullable=False),
        sa.Column("script_id", sa.String(128), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("who", sa.String(128), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["run_id", "script_id"], ["action_scripts.run_id", "action_scripts.id"],
                                name="fk_approvals_run_id_action_scripts"),
        sa.PrimaryKeyConstraint("id", name="pk_approvals"),
        sa.UniqueConstraint("run_id", "script_id", "decision", name="uq_approvals_run_id_script_id_decision"),
    )
    dialect = op.get_context().dialect.name
    if dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER approvals_no_{verb.lower()} BEFORE {verb} ON approvals "
                       f"BEGIN SELECT RAISE(ABORT, '{REFUSED}: {verb} refused'); END")
    elif dialect == "postgresql":
        op.execute("CREATE FUNCTION approvals_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
                   f"BEGIN RAISE EXCEPTION '{REFUSED}: % refused', TG_OP; END $$")
        op.execute("CREATE TRIGGER approvals_no_change BEFORE UPDATE OR DELETE ON approvals "
                   "FOR EACH ROW EXECUTE FUNCTION approvals_append_only()")
        op.execute("CREATE TRIGGER approvals_no_truncate BEFORE TRUNCATE ON approvals "
                   "FOR EACH STATEMENT EXECUTE FUNCTION approvals_append_only()")
    else:
        raise NotImplementedError(f"the approvals table needs append-only triggers for {dialect}")


def downgrade() -> None:
    op.drop_table("approvals")  # its triggers go with it
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS approvals_append_only()")
