"""Operators' decisions in the store (`decide_script`, the `approvals` table) and the node-status
reader, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.exc import DBAPIError

from alluse.adapters.store import ApprovalRecord, DecisionRecord, ScriptRecord, Store, alembic_config
from alluse.adapters.store.store import foreign_keys_checked_at_commit, make_engine
from alluse.engine.errors import ApprovalError, StoreError

T0 = dt.datetime(2026, 1, 8, 15, 30, tzinfo=dt.UTC)
DECIDED = dt.datetime(2026, 1, 8, 15, 40, tzinfo=dt.UTC)  # the store's clock: when the operator decided
RUN = "r1"


def _with_scripts(store: Store, *expiries: dt.datetime) -> list[str]:
    """Run r1 with one proposed script per expiry (ids S-0, S-1 …)."""
    store.begin_run(RUN, "node", {"mode": "paper"}, "h1")
    ids = [f"S-{i}" for i in range(len(expiries))]
    store.record_batch(RUN, 0, decisions=[DecisionRecord(0, T0, "h1", {}, {})], scripts=[
        ScriptRecord(sid, "GEN-ACC-001", "required", {"id": sid, "steps": []}, expires, event_index=0)
        for sid, expires in zip(ids, expiries, strict=True)])
    return ids


@pytest.fixture
def clocked(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url, clock=lambda: DECIDED)
    yield opened
    opened.close()


def _status(store: Store, script_id: str) -> str:
    return next(s.status for s in store.scripts(RUN) if s.id == script_id)


def test_approving_writes_one_row_with_who_and_when_and_moves_the_status(clocked: Store):
    """The row holds the operator and the store's clock; the script is approved; nothing before it."""
    (sid,) = _with_scripts(clocked, T0 + dt.timedelta(hours=1))
    done = clocked.decide_script(RUN, sid, "approved", "alice", now=T0)
    assert done.recorded is not None
    row = ApprovalRecord(sid, "approved", "alice", DECIDED, None, RUN, done.recorded.id)
    assert (row, "approved", "", (), [row], "approved") == (
        done.recorded, done.script.status, done.note, done.history, clocked.approvals(RUN),
        _status(clocked, sid))


def test_a_second_approval_is_a_note_and_writes_nothing(clocked: Store):
    """Approving an approved script returns a note naming who approved it, and no new row."""
    (sid,) = _with_scripts(clocked, T0 + dt.timedelta(hours=1))
    clocked.decide_script(RUN, sid, "approved", "alice", now=T0)
    again = clocked.decide_script(RUN, sid, "approved", "bob", now=T0)
    assert (None, f"script {sid} is already approved by alice at {DECIDED:%Y-%m-%d %H:%M:%S} UTC: "
                  "nothing changed",
            1) == (again.recorded, again.note, len(clocked.approvals(RUN)))


def test_an_expired_script_is_refused_and_nothing_is_written(clocked: Store):
    """Expiry before `now`: ApprovalError with code expired; status and table unchanged."""
    (sid,) = _with_scripts(clocked, T0)
    with pytest.raises(ApprovalError, match=f"expired at {T0:%Y-%m-%d %H:%M:%S} UTC") as refused:
        clocked.decide_script(RUN, sid, "approved", "alice", now=T0 + dt.timedelta(seconds=1))
    assert ("expired", "proposed", []) == (refused.value.code, _status(clocked, sid), clocked.approvals(RUN))


def test_expiry_at_exactly_now_still_takes_the_approval(clocked: Store):
    """Expired means expires_at < now: at the instant itself the script can still be approved."""
    (sid,) = _with_scripts(clocked, T0)
    assert "approved" == clocked.decide_script(RUN, sid, "approved", "alice", now=T0).script.status


def test_reject_after_approve_and_never_after_execution(clocked: Store):
    """Approved → rejected is allowed (with the reason kept); executed → rejected is refused."""
    first, second = _with_scripts(clocked, T0 + dt.timedelta(hours=1), T0 + dt.timedelta(hours=1))
    for sid in (first, second):
        clocked.decide_script(RUN, sid, "approved", "alice", now=T0)
    rejected = clocked.decide_script(RUN, first, "rejected", "bob", now=T0, reason="earnings")
    clocked.set_script_status(RUN, second, "executed")
    with pytest.raises(ApprovalError, match="is executed") as refused:
        clocked.decide_script(RUN, second, "rejected", "bob", now=T0)
    assert (("rejected", "earnings"), "executed", [("approved", first), ("approved", second),
                                                   ("rejected", first)]) == (
        (rejected.script.status, rejected.recorded.reason if rejected.recorded else None), refused.value.code,
        [(a.decision, a.script_id) for a in clocked.approvals(RUN)])


@pytest.mark.parametrize(("decision", "who", "message"), [
    ("maybe", "alice", "decision: 'maybe' is not one of approved, rejected"),
    ("approved", "   ", "approval.who: a name is required"),
    ("approved", "x" * 129, "approval.who: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'… is longer than 128"),
])
def test_bad_decisions_are_refused_before_writing(clocked: Store, decision: str, who: str, message: str):
    """An unknown decision, a blank or too long name: StoreError naming the field, nothing written."""
    (sid,) = _with_scripts(clocked, T0 + dt.timedelta(hours=1))
    with pytest.raises(StoreError, match=message.replace("(", r"\(")):
        clocked.decide_script(RUN, sid, decision, who, now=T0)
    assert ("proposed", []) == (_status(clocked, sid), clocked.approvals(RUN))


def test_an_unknown_script_is_a_store_error(clocked: Store):
    """No such script in the run: StoreError naming it."""
    _with_scripts(clocked)
    with pytest.raises(StoreError, match="no action script 'S-9' in run 'r1'"):
        clocked.decide_script(RUN, "S-9", "approved", "alice", now=T0)


@pytest.mark.parametrize("statement", ["UPDATE approvals SET who = 'mallory'", "DELETE FROM approvals"])
def test_the_approvals_table_is_append_only(clocked: Store, store_url: str, statement: str):
    """Who approved what cannot be rewritten or erased with raw SQL either."""
    (sid,) = _with_scripts(clocked, T0 + dt.timedelta(hours=1))
    clocked.decide_script(RUN, sid, "approved", "alice", now=T0)
    engine = sa.create_engine(store_url)
    with pytest.raises(DBAPIError) as refused, engine.begin() as conn:
        conn.exec_driver_sql(statement)
    engine.dispose()
    assert ("approvals is append-only" in str(refused.value), ["alice"]) == (
        True, [a.who for a in clocked.approvals(RUN)])


def test_two_operators_approving_at_once_write_one_row(store_url: str):
    """Two stores approve the same script concurrently: one row, one decision recorded, one note."""
    with Store.open(store_url) as setup:
        (sid,) = _with_scripts(setup, T0 + dt.timedelta(hours=1))
    stores = [Store.open(store_url) for _ in range(2)]
    results: list[bool] = []
    barrier = threading.Barrier(2)

    def approve(store: Store, who: str) -> None:
        barrier.wait()
        results.append(store.decide_script(RUN, sid, "approved", who, now=T0).recorded is not None)

    threads = [threading.Thread(target=approve, args=(s, w)) for s, w in zip(stores, ("alice", "bob"),
                                                                              strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = stores[0].approvals(RUN)
    for s in stores:
        s.close()
    assert ([False, True], 1) == (sorted(results), len(rows))


def test_node_statuses_is_empty_without_the_nodes_table(store: Store):
    """Before any node's migration: no table, no rows, no error."""
    assert {} == store.node_statuses()


def test_downgrading_below_0003_drops_the_approvals_and_upgrading_brings_them_back(store_url: str):
    """0003_hitl → 0002 → head: the table goes and comes back empty."""
    Store.open(store_url).close()
    engine = make_engine(store_url)
    cfg = alembic_config()
    for target in ("0002", "head"):
        with engine.connect() as conn, foreign_keys_checked_at_commit(conn), conn.begin():
            cfg.attributes["connection"] = conn
            (command.downgrade if target == "0002" else command.upgrade)(cfg, target)
            present = sa.inspect(conn).has_table("approvals")
        assert (target == "head") == present
    engine.dispose()
