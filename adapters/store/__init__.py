"""The SQL store (SQLAlchemy 2 + Alembic): SQLite by default, PostgreSQL by URL.

    store = Store.open("sqlite:///alluse.db")          # or postgresql+psycopg://user@host/db
    run = store.begin_run("replay-2026-01", "replay", {"from": "2026-01-02"}, policy_hash)
    for cursor, batch in batches_from(run.next_index):
        store.record_batch(run.run_id, cursor, decisions=batch.decisions, alerts=batch.alerts,
                           events=batch.events, snapshot=batch.snapshot)
    store.finish_run(run.run_id)

    snap = store.latest_snapshot(run.run_id)          # restart: restore, then replay the journal
    for ev in store.events(run.run_id, start=snap.event_index + 1 if snap else 0): ...
"""

from alluse.adapters.store.records import (
    AccountRecord,
    AlertRecord,
    ApprovalRecord,
    BatchResult,
    DecisionRecord,
    EventRecord,
    PolicyVersion,
    PositionRecord,
    ProtocolChangeRecord,
    RunState,
    ScriptDecision,
    ScriptRecord,
    SnapshotRecord,
    TaxLotRecord,
    TradeRecord,
)
from alluse.adapters.store.store import Store, alembic_config, make_engine, redact

__all__ = [
    "AccountRecord",
    "AlertRecord",
    "ApprovalRecord",
    "BatchResult",
    "DecisionRecord",
    "EventRecord",
    "PolicyVersion",
    "PositionRecord",
    "ProtocolChangeRecord",
    "RunState",
    "ScriptDecision",
    "ScriptRecord",
    "SnapshotRecord",
    "Store",
    "TaxLotRecord",
    "TradeRecord",
    "alembic_config",
    "make_engine",
    "redact",
]
