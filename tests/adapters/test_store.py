"""The SQL store on SQLite and PostgreSQL: migrations, atomic batches, resume, append-only log."""


from __future__ import annotations

import datetime as dt
import random
import signal
import subprocess
import sys
import textwrap
import time
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect
from sqlalchemy.exc import DBAPIError

from alluse.adapters.store import (
    AccountRecord,
    AlertRecord,
    DecisionRecord,
    ScriptRecord,
    Store,
    TradeRecord,
    alembic_config,
    make_engine,
)
from alluse.adapters.store.models import Base
from alluse.engine.errors import StoreError

T0 = dt.datetime(2026, 1, 8, 15, 30, tzinfo=dt.UTC)
TABLES = {"accounts", "positions", "trades", "decisions", "alerts", "action_scripts", "protocol_changes",
          "policy_versions", "tax_lots", "runs", "events", "snapshots", "approvals", "alembic_version"}


def _decision(i: int, policy_hash: str = "h1") -> DecisionRecord:
    return DecisionRecord(event_index=i, ts=T0 + dt.timedelta(minutes=i), policy_hash=policy_hash,
                          event={"type": "Tick", "i": i}, decision={"fired": [], "notes": [f"event {i}"]})


def _account(acc_id: str = "GEN-ACC-001", capital: str = "40000.00") -> AccountRecord:
    return AccountRecord(id=acc_id, type="GEN", initial_capital=Decimal(capital), status="active",
                         created_at=T0, unit="U1")


def test_open_on_an_empty_database_creates_every_table_at_the_head_revision(store_url):
    """Store.open runs the migrations: every table exists and the revision is the newest."""
    Store.open(store_url).close()
    engine = create_engine(store_url)
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        current = MigrationContext.configure(conn).get_current_revision()
    engine.dispose()
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert (TABLES, head) == (tables, current)


def test_reopening_keeps_the_data_and_the_revision(store_url):
    """A second open finds the schema current and changes nothing."""
    with Store.open(store_url) as first:
        first.begin_run("r1", "replay", {}, "h1")
        first.record_batch("r1", 0, decisions=[_decision(0)])
    with Store.open(store_url) as again:
        assert (1, 0) == (len(again.decisions()), again.run("r1").cursor)


def test_migrated_schema_matches_the_models(store_url):
    """alembic compare_metadata finds no difference between the models and the migrated schema."""
    Store.open(store_url).close()
    engine = create_engine(store_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    engine.dispose()
    assert [] == diff


def test_migrations_downgrade_to_empty_and_upgrade_again(store_url):
    """The initial migration is reversible: downgrade base leaves no table, upgrade restores them."""
    Store.open(store_url).close()
    engine = make_engine(store_url)
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    with engine.connect() as conn:
        after_downgrade = set(inspect(conn).get_table_names())
    engine.dispose()
    Store.open(store_url).close()
    engine = create_engine(store_url)
    with engine.connect() as conn:
        after_upgrade = set(inspect(conn).get_table_names())
    engine.dispose()
    assert ({"alembic_version"}, TABLES) == (after_downgrade, after_upgrade)


@pytest.mark.parametrize("statement", ["UPDATE decisions SET policy_hash = 'forged'",
                                       "DELETE FROM decisions"])
def test_decision_log_refuses_update_and_delete_from_raw_sql(store, store_url, statement):
    """The migration's triggers refuse changes to the decision log from any client."""
    store.begin_run("r1", "replay", {}, "h1")
    store.record_batch("r1", 1, decisions=[_decision(0), _decision(1)])
    engine = create_engine(store_url)
    with pytest.raises(DBAPIError) as refused, engine.begin() as conn:
        conn.exec_driver_sql(statement)
    engine.dispose()
    assert "decisions is append-only" in str(refused.value)
    assert ["h1", "h1"] == [d.policy_hash for d in store.decisions()]


@pytest.mark.postgres
def test_decision_log_refuses_truncate_on_postgresql(postgres_url):
    """On PostgreSQL a statement trigger refuses TRUNCATE too."""
    with Store.open(postgres_url) as store:
        store.begin_run("r1", "replay", {}, "h1")
        store.record_batch("r1", 0, decisions=[_decision(0)])
        engine = create_engine(postgres_url)
        with pytest.raises(DBAPIError) as refused, engine.begin() as conn:
            conn.exec_driver_sql("TRUNCATE decisions CASCADE")
        engine.dispose()
        assert ("decisions is append-only" in str(refused.value), 1) == (True, len(store.decisions()))


def test_sqlite_connections_use_wal_normal_sync_and_foreign_keys(sqlite_url):
    """SQLite runs in WAL mode with synchronous=NORMAL and foreign keys enforced."""
    Store.open(sqlite_url).close()
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        pragmas = tuple(conn.exec_driver_sql(f"PRAGMA {p}").scalar()
                        for p in ("journal_mode", "synchronous", "foreign_keys"))
    engine.dispose()
    assert ("wal", 1, 1) == pragmas


def test_failed_batch_leaves_nothing_and_the_cursor_unchanged(store):
    """A row refused by the database mid-batch rolls the whole batch back, cursor included."""
    store.begin_run("r1", "replay", {}, "h1")
    store.record_batch("r1", 1, decisions=[_decision(0), _decision(1)], accounts=[_account()])
    bad_trade = TradeRecord(account="NO-SUCH-ACC", ts=T0, symbol="TSLA", side="SELL", quantity=-1,
                            price=Decimal("2.15"), source="sim")
    with pytest.raises(StoreError, match="record a batch"):
        store.record_batch("r1", 3, decisions=[_decision(2), _decision(3)],
                           alerts=[AlertRecord(ts=T0, type="SYSTEM_STATUS", priority="LOW", title="x",
                                               event_index=2)],
                           trades=[bad_trade])
    assert (1, [0, 1], [], []) == (store.run("r1").cursor, [d.event_index for d in store.decisions()],
                                  store.alerts("r1"), store.trades("r1"))


def test_bad_value_is_refused_before_writing_with_the_record_and_field_named(store):
    """A naive timestamp is refused with the record's position and field in the message."""
    store.begin_run("r1", "replay", {}, "h1")
    naive = DecisionRecord(event_index=1, ts=dt.datetime(2026, 1, 8, 10, 0), policy_hash="h1",  # noqa: DTZ001
                           event={}, decision={})
    with pytest.raises(StoreError) as refused:
        store.record_batch("r1", 1, decisions=[_decision(0), naive])
    expected = "decisions[1].ts: 2026-01-08T10:00:00 is a naive datetime (a time zone is required)"
    assert (expected, [], None) == (str(refused.value), store.decisions(), store.run("r1").cursor)


def test_unknown_field_in_a_mapping_is_named(store):
    """A mapping with a misspelt field is refused, naming it and listing the known ones."""
    store.begin_run("r1", "replay", {}, "h1")
    with pytest.raises(StoreError, match=r"accounts\[0\]: unknown field\(s\) capital \(known: created_at,"):
        store.record_batch("r1", 0, accounts=[{"id": "GEN-ACC-001", "capital": 1}])


def test_begin_run_on_an_unfinished_run_returns_its_cursor(store_url):
    """A run that was not finished resumes after the last committed event."""
    with Store.open(store_url) as store:
        first = store.begin_run("r1", "replay", {"from": "2026-01-02"}, "h1")
        store.record_batch("r1", 4, decisions=[_decision(i) for i in range(5)])
    with Store.open(store_url) as store:
        resumed = store.begin_run("r1", "replay", {"from": "2026-01-02"}, "h1")
    assert ((None, 0, False), (4, 5, True)) == ((first.cursor, first.next_index, first.resumed),
                                                (resumed.cursor, resumed.next_index, resumed.resumed))


def test_begin_run_refuses_to_resume_under_another_policy(store):
    """Resuming a run with a different policy hash would mix two policies in one run: refused."""
    store.begin_run("r1", "replay", {}, "h1")
    with pytest.raises(StoreError, match="run 'r1' exists with policy_hash 'h1', not 'h2'"):
        store.begin_run("r1", "replay", {}, "h2")


def test_finished_run_takes_no_batches_and_cannot_be_resumed(store):
    """After finish_run the run is done: no more batches, and begin_run asks for a new id."""
    store.begin_run("r1", "node", {}, "h1")
    done = store.finish_run("r1")
    with pytest.raises(StoreError, match="is finished"):
        store.record_batch("r1", 0, decisions=[_decision(0)])
    with pytest.raises(StoreError, match="already finished"):
        store.begin_run("r1", "node", {}, "h1")
    assert ("done", True) == (done.status, done.finished_at is not None)


def test_cursor_must_move_forward_and_decisions_stay_in_the_batch_range(store):
    """A batch cannot rewind the cursor, nor carry events outside (previous cursor, cursor]."""
    store.begin_run("r1", "replay", {}, "h1")
    store.record_batch("r1", 2, decisions=[_decision(i) for i in range(3)])
    with pytest.raises(StoreError, match="cursor 2 does not move past 2"):
        store.record_batch("r1", 2, decisions=[])
    outside = r"decisions\[0\].event_index: 2 is outside this batch's events \(2, 5\]"
    with pytest.raises(StoreError, match=outside):
        store.record_batch("r1", 5, decisions=[_decision(2)])


def test_money_round_trips_exactly(store):
    """Amounts come back as the exact Decimals written, at both scales and at the extremes."""
    amounts = ["0.01", "-1234.56", "99999999999999.99", "40000.00"]
    store.begin_run("r1", "replay", {}, "h1")
    store.record_batch("r1", 0, accounts=[_account(f"ACC-{i}", a) for i, a in enumerate(amounts)],
                       trades=[TradeRecord(account="ACC-0", ts=T0, symbol="TSLA", side="SELL", quantity=-1,
                                           price=Decimal("12345678901234.5678"), commission=0.6502,
                                           source="ib", strike=Decimal("252.5"), right="P")])
    trade = store.trades("r1")[0]
    expected = ([Decimal(a) for a in amounts],
                (Decimal("12345678901234.5678"), Decimal("0.6502"), Decimal("252.5")))
    assert expected == ([a.initial_capital for a in store.accounts("r1")],
                        (trade.price, trade.commission, trade.strike))


def test_amount_with_more_decimals_than_the_column_is_refused_not_rounded(store):
    """An amount that would need rounding is refused, naming the field."""
    store.begin_run("r1", "replay", {}, "h1")
    with pytest.raises(StoreError, match=r"accounts\[0\].initial_capital: 0.005 has more than 2 decimals"):
        store.record_batch("r1", 0, accounts=[_account(capital="0.005")])


def test_timestamps_come_back_aware_and_in_utc(store):
    """A New York time is stored as the same instant and read back in UTC."""
    ny = dt.datetime(2026, 7, 1, 10, 0, tzinfo=ZoneInfo("America/New_York"))
    store.begin_run("r1", "replay", {}, "h1")
    store.record_batch("r1", 0, decisions=[DecisionRecord(0, ny, "h1", {}, {})])
    assert (ny, dt.UTC) == (store.decisions()[0].ts, store.decisions()[0].ts.tzinfo)


def test_alert_outbox_links_to_its_decision_and_records_delivery(store):
    """Alerts point at their decision; the outbox lists pending ones; sent alerts stay sent."""
    store.begin_run("r1", "node", {}, "h1")
    result = store.record_batch("r1", 1, decisions=[_decision(0), _decision(1)], alerts=[
        AlertRecord(ts=T0, type="PROTOCOL_BREACH", priority="HIGH", title="TSLA at L2", event_index=1,
                    channels=("email", "dashboard")),
        AlertRecord(ts=T0, type="SYSTEM_STATUS", priority="LOW", title="quiet", suppressed=True),
    ])
    pending = store.alerts("r1", status="pending")
    store.mark_alert_delivered(pending[0].id, "sent")
    with pytest.raises(StoreError, match="is sent: it cannot become failed"):
        store.mark_alert_delivered(pending[0].id, "failed")
    assert ([result.decision_seqs[1]], ("email", "dashboard"), ["sent", "suppressed"]) == (
        [a.decision_seq for a in pending], pending[0].channels,
        [a.delivery_status for a in store.alerts("r1")])


def test_script_status_moves_only_along_its_lifecycle(store):
    """proposed → approved → executed is allowed; executed → approved is refused."""
    store.begin_run("r1", "node", {}, "h1")
    store.record_batch("r1", 0, decisions=[_decision(0)], scripts=[
        ScriptRecord(id="S-1", account="GEN-ACC-001", approval="required", script={"steps": []},
                     expires_at=T0 + dt.timedelta(hours=1), event_index=0)])
    store.set_script_status("r1", "S-1", "approved")
    store.set_script_status("r1", "S-1", "executed")
    with pytest.raises(StoreError, match="action script 'S-1' is executed: it cannot become approved"):
        store.set_script_status("r1", "S-1", "approved")
    executed = [s.id for s in store.scripts("r1", status="executed")]
    assert (["S-1"], []) == (executed, store.scripts("r1", status="proposed"))


def test_accounts_are_upserted_keeping_their_creation_time(store):
    """Recording an account again updates its status but not when it was created."""
    store.begin_run("r1", "replay", {}, "h1")
    store.record_batch("r1", 0, accounts=[_account()])
    later = AccountRecord(id="GEN-ACC-001", type="GEN", initial_capital=Decimal("40000.00"),
                          status="fork_pending", created_at=T0 + dt.timedelta(days=30), unit="U1")
    store.record_batch("r1", 1, accounts=[later])
    assert [("GEN-ACC-001", "fork_pending", T0)] == [(a.id, a.status, a.created_at)
                                                     for a in store.accounts("r1")]


def test_policy_version_is_recorded_once(store):
    """A content hash is stored the first time only."""
    files = {"protocols.yaml": "ab" * 32}
    first = store.record_policy_version("h1", files, "git:abc123")
    again = store.record_policy_version("h1", files, "git:abc123")
    assert (True, False, files) == (first, again, store.policy_version("h1").files)


def test_password_never_appears_in_error_messages(tmp_path):
    """Connection failures are StoreErrors whose message (and cause) hide the password."""
    url = "postgresql+psycopg://alice:s3cr3t-pw@127.0.0.1:1/alluse?connect_timeout=2"
    with pytest.raises(StoreError) as refused:
        Store.open(url)
    texts = (str(refused.value), repr(refused.value), str(refused.value.__cause__))
    assert ([False] * 3, True) == (["s3cr3t-pw" in t for t in texts], "alice:***@127.0.0.1:1" in texts[0])


def test_missing_sqlite_directory_and_foreign_backend_are_refused_clearly(tmp_path):
    """A SQLite path in a missing directory, or an unsupported backend, is a StoreError."""
    with pytest.raises(StoreError, match=r"directory .* does not exist"):
        Store.open(f"sqlite:///{tmp_path}/missing/alluse.db")
    with pytest.raises(StoreError, match=r"unsupported database 'mysql' in mysql://u:\*\*\*@h/db"):
        Store.open("mysql://u:pw@h/db")


WRITER = textwrap.dedent("""
    import datetime as dt, sys
    from alluse.adapters.store import DecisionRecord, EventRecord, SnapshotRecord, Store
    url, batch = sys.argv[1], int(sys.argv[2])
    store = Store.open(url)
    run = store.begin_run("killed", "replay", {}, "h1")
    t0 = dt.datetime(2026, 1, 8, tzinfo=dt.UTC)
    first = run.next_index  # a resumed writer goes on after the last whole batch
    k = 0
    while True:
        last = first + batch - 1
        store.record_batch("killed", last, decisions=[
            DecisionRecord(i, t0, "h1", {"i": i, "pad": "x" * 200}, {"notes": ["n"] * 20})
            for i in range(first, last + 1)],
            events=[EventRecord(i, t0, "tick", {"i": i}) for i in range(first, last + 1)],
            snapshot=SnapshotRecord(last, t0, "h1", last.to_bytes(8, "big")))
        first = last + 1
        k += 1
        if k == 1:
            print("ready", flush=True)
""")


def _write_then_kill(script: Path, store_url: str, batch: int) -> int:
    """Start the writer, SIGKILL it at a random moment after its first batch; its return code."""
    proc = subprocess.Popen([sys.executable, str(script), store_url, str(batch)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=script.parent)
    try:
        assert "ready\n" == proc.stdout.readline(), proc.stderr.read()
        time.sleep(random.uniform(0.05, 0.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=5)
    finally:
        proc.kill()
        proc.communicate(timeout=5)
    return proc.returncode


def test_kill_9_mid_run_leaves_a_consistent_prefix_of_whole_batches(store_url, tmp_path):
    """A writer SIGKILLed at random, resumed and killed again, leaves whole batches only: decisions,
    the event journal (each event once, in order) and the latest snapshot all match the cursor."""
    batch = 25
    script = tmp_path / "writer.py"
    script.write_text(WRITER, encoding="utf-8")
    Store.open(store_url).close()  # migrate first, so the writer spends its time writing
    started = time.monotonic()
    codes = [_write_then_kill(script, store_url, batch) for _ in range(2)]
    with Store.open(store_url) as store:
        run = store.run("killed")
        indexes = [d.event_index for d in store.decisions(run_id="killed")]
        journal = [(e.event_index, e.payload["i"]) for e in store.events("killed")]
        snapshot = store.latest_snapshot("killed")
        resumed = store.begin_run("killed", "replay", {}, "h1")
    count = len(indexes)
    assert ([-signal.SIGKILL] * 2, True) == (codes, time.monotonic() - started < 20)
    assert (list(range(count)), 0, run.cursor + 1, count) == (indexes, count % batch, count,
                                                              resumed.next_index)
    assert ([(i, i) for i in range(count)], (run.cursor, run.cursor.to_bytes(8, "big"))) == (
        journal, (snapshot.event_index, snapshot.state))
    if store_url.startswith("sqlite"):
        engine = create_engine(store_url)
        with engine.connect() as conn:
            assert "ok" == conn.exec_driver_sql("PRAGMA integrity_check").scalar()
        engine.dispose()
