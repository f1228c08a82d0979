"""Migration 0002 (rows scoped by run, the event journal) upgrades a 0001 database without losing
rows, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.exc import DBAPIError

from alluse.adapters.store import EventRecord, Store, alembic_config, make_engine
from alluse.adapters.store.models import Base
from alluse.adapters.store.store import foreign_keys_checked_at_commit
from alluse.adapters.store.types import Money, UtcDateTime

T0 = dt.datetime(2026, 1, 8, 15, 30, tzinfo=dt.UTC)
RUN = "replay-0001"
GEN, CHILD = "GEN-ACC-001", "GEN-ACC-002"
KEY = f"{GEN}:TSLA:2026-01-09:245P"

_meta = sa.MetaData()
# the 0001 tables, as much of them as the rows below fill in
RUNS = sa.Table("runs", _meta, sa.Column("run_id", sa.String), sa.Column("kind", sa.String),
                sa.Column("params", sa.JSON), sa.Column("policy_hash", sa.String),
                sa.Column("cursor", sa.BigInteger), sa.Column("status", sa.String),
                sa.Column("started_at", UtcDateTime()))
ACCOUNTS = sa.Table("accounts", _meta, sa.Column("id", sa.String), sa.Column("type", sa.String),
                    sa.Column("parent_id", sa.String), sa.Column("unit", sa.String),
                    sa.Column("initial_capital", Money(2)), sa.Column("status", sa.String),
                    sa.Column("created_at", UtcDateTime()))
DECISIONS = sa.Table("decisions", _meta, sa.Column("seq", sa.Integer, primary_key=True),
                     sa.Column("run_id", sa.String), sa.Column("event_index", sa.BigInteger),
                     sa.Column("ts", UtcDateTime()), sa.Column("policy_hash", sa.String),
                     sa.Column("event", sa.JSON), sa.Column("decision", sa.JSON))
POSITIONS = sa.Table("positions", _meta, sa.Column("key", sa.String), sa.Column("account", sa.String),
                     sa.Column("symbol", sa.String), sa.Column("expiry", sa.Date),
                     sa.Column("strike", Money(4)),
                     sa.Column("right", sa.String), sa.Column("quantity", sa.Integer),
                     sa.Column("opened_at", UtcDateTime()), sa.Column("state", sa.String),
                     sa.Column("protocol_level", sa.Integer))
TRADES = sa.Table("trades", _meta, sa.Column("account", sa.String), sa.Column("ts", UtcDateTime()),
                  sa.Column("symbol", sa.String), sa.Column("right", sa.String), sa.Column("side", sa.String),
                  sa.Column("quantity", sa.Integer), sa.Column("price", Money(4)),
                  sa.Column("commission", Money(4)), sa.Column("source", sa.String))
TAX_LOTS = sa.Table("tax_lots", _meta, sa.Column("account", sa.String), sa.Column("symbol", sa.String),
                    sa.Column("quantity", sa.Integer), sa.Column("basis", Money(2)),
                    sa.Column("holding_period_start", sa.Date), sa.Column("right", sa.String),
                    sa.Column("as_of", sa.Date))
ALERTS = sa.Table("alerts", _meta, sa.Column("decision_seq", sa.Integer), sa.Column("ts", UtcDateTime()),
                  sa.Column("type", sa.String), sa.Column("priority", sa.String),
                  sa.Column("account", sa.String), sa.Column("title", sa.Text), sa.Column("body", sa.Text),
                  sa.Column("suppressed", sa.Boolean),
                  sa.Column("delivery_status", sa.String), sa.Column("channels", sa.JSON))
SCRIPTS = sa.Table("action_scripts", _meta, sa.Column("id", sa.String), sa.Column("decision_seq", sa.Integer),
                   sa.Column("account", sa.String), sa.Column("approval", sa.String),
                   sa.Column("status", sa.String), sa.Column("script", sa.JSON),
                   sa.Column("expires_at", UtcDateTime()))
CHANGES = sa.Table("protocol_changes", _meta, sa.Column("decision_seq", sa.Integer),
                   sa.Column("position", sa.String), sa.Column("ts", UtcDateTime()),
                   sa.Column("from_level", sa.Integer), sa.Column("to_level", sa.Integer),
                   sa.Column("atr_multiple", sa.Float), sa.Column("rule", sa.String))


def _alembic(url: str, verb: str, revision: str) -> None:
    engine = make_engine(url)
    cfg = alembic_config()
    try:
        with engine.connect() as conn, foreign_keys_checked_at_commit(conn), conn.begin():
            cfg.attributes["connection"] = conn
            getattr(command, verb)(cfg, revision)
    finally:
        engine.dispose()


def _alert(seq: int | None, title: str) -> dict[str, Any]:
    return {"decision_seq": seq, "ts": T0, "type": "SYSTEM_STATUS", "priority": "LOW", "account": GEN,
            "title": title, "body": "", "suppressed": False, "delivery_status": "pending", "channels": []}


def _fill_0001(url: str, runs: tuple[str, ...]) -> None:
    """A 0001 database holding `runs` and one set of rows; linked rows point at the last run's decision."""
    _alembic(url, "upgrade", "0001")
    engine = make_engine(url)
    with engine.begin() as conn:
        for run in runs:
            conn.execute(RUNS.insert().values(run_id=run, kind="replay", params={"capital": 1},
                                              policy_hash="h1", cursor=1, status="running", started_at=T0))
            seq = conn.execute(DECISIONS.insert().returning(DECISIONS.c.seq).values(
                run_id=run, event_index=1, ts=T0, policy_hash="h1", event={"i": 1}, decision={})).scalar()
        conn.execute(ACCOUNTS.insert(), [
            {"id": GEN, "type": "GEN", "parent_id": None, "unit": "U1",
             "initial_capital": Decimal("40000.00"), "status": "active", "created_at": T0},
            {"id": CHILD, "type": "GEN", "parent_id": GEN, "unit": "U2",
             "initial_capital": Decimal("25000.00"), "status": "active", "created_at": T0}])
        conn.execute(POSITIONS.insert().values(key=KEY, account=GEN, symbol="TSLA", right="P",
                                               expiry=dt.date(2026, 1, 9), strike=Decimal("245"),
                                               quantity=-1, opened_at=T0, state="open", protocol_level=1))
        conn.execute(TRADES.insert().values(account=GEN, ts=T0, symbol="TSLA", right="", side="BUY",
                                            quantity=100, price=Decimal("245.1234"), commission=Decimal("1"),
                                            source="sim"))
        conn.execute(TAX_LOTS.insert().values(account=GEN, symbol="TSLA", quantity=100,
                                              basis=Decimal("24512.34"), right="",
                                              holding_period_start=dt.date(2026, 1, 8),
                                              as_of=dt.date(2026, 1, 8)))
        conn.execute(ALERTS.insert(), [_alert(seq, "linked"), _alert(None, "unlinked")])
        conn.execute(SCRIPTS.insert().values(id="S-1", decision_seq=seq, account=GEN, approval="required",
                                             status="proposed", script={"steps": []}, expires_at=T0))
        conn.execute(CHANGES.insert().values(decision_seq=seq, position=KEY, ts=T0, from_level=0, to_level=1,
                                             atr_multiple=1.2, rule="protocols.L1"))
    engine.dispose()


def _rows(store: Store, run: str) -> dict[str, Any]:
    return {
        "accounts": [(a.id, a.parent_id, a.initial_capital) for a in store.accounts(run)],
        "positions": [(p.key, p.quantity, p.strike, p.protocol_level) for p in store.positions(run)],
        "trades": [(t.account, t.quantity, t.price) for t in store.trades(run)],
        "tax_lots": [(lot.account, lot.quantity, lot.basis) for lot in store.tax_lots(run)],
        "alerts": [a.title for a in store.alerts(run)],
        "scripts": [s.id for s in store.scripts(run)],
        "protocol_changes": [(c.position, c.to_level) for c in store.protocol_changes(run)],
        "decisions": [d.event_index for d in store.decisions(run)],
    }


EVERY_ROW = {
    "accounts": [(GEN, None, Decimal("40000.00")), (CHILD, GEN, Decimal("25000.00"))],
    "positions": [(KEY, -1, Decimal("245"), 1)],
    "trades": [(GEN, 100, Decimal("245.1234"))],
    "tax_lots": [(GEN, 100, Decimal("24512.34"))],
    "alerts": ["linked", "unlinked"],
    "scripts": ["S-1"],
    "protocol_changes": [(KEY, 1)],
    "decisions": [1],
}


def test_upgrading_a_0001_database_gives_every_row_to_its_only_run(store_url: str) -> None:
    """One run in `runs`: after Store.open every old row belongs to it, values unchanged."""
    _fill_0001(store_url, (RUN,))
    with Store.open(store_url) as store:
        rows = _rows(store, RUN)
    assert EVERY_ROW == rows


def test_a_run_from_0001_resumes_after_the_upgrade_and_journals_on(store_url: str) -> None:
    """The unfinished old run resumes at its cursor and its next batch writes events and a trade."""
    _fill_0001(store_url, (RUN,))
    with Store.open(store_url) as store:
        state = store.begin_run(RUN, "replay", {"capital": 1}, "h1")
        event = EventRecord(2, T0, "clock", {"type": "clock", "ts": T0.isoformat(), "name": "entry_scan"})
        store.record_batch(RUN, 2, events=[event], trades=[
            {"account": CHILD, "ts": T0, "symbol": "TSLA", "side": "SELL", "quantity": 1,
             "price": Decimal("2"), "source": "sim"}])
        seen = (state.next_index, list(store.events(RUN)), [t.account for t in store.trades(RUN)])
    assert (2, [event], [GEN, CHILD]) == seen


def test_the_upgraded_schema_equals_a_new_one_and_keeps_the_decision_log_append_only(store_url: str) -> None:
    """No difference from the models after 0001 → 0002 with rows, and the log's triggers still refuse."""
    _fill_0001(store_url, (RUN,))
    Store.open(store_url).close()
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    with pytest.raises(DBAPIError) as refused, engine.begin() as conn:
        conn.exec_driver_sql("UPDATE decisions SET policy_hash = 'forged'")
    engine.dispose()
    assert ([], True) == (diff, "decisions is append-only" in str(refused.value))


def test_rows_of_an_ambiguous_0001_database_go_to_the_empty_run_id_unless_linked(store_url: str) -> None:
    """Two runs: rows linked to a decision take its run; the rest get run id ''."""
    _fill_0001(store_url, ("r1", "r2"))
    with Store.open(store_url) as store:
        linked, unowned = _rows(store, "r2"), _rows(store, "")
    expected_linked = {**{k: [] for k in EVERY_ROW}, "alerts": ["linked"], "scripts": ["S-1"],
                       "protocol_changes": [(KEY, 1)], "decisions": [1]}
    expected_unowned = {**EVERY_ROW, "alerts": ["unlinked"], "scripts": [], "protocol_changes": [],
                        "decisions": []}
    assert (expected_linked, expected_unowned) == (linked, unowned)


def test_downgrading_to_0001_keeps_one_runs_rows(store_url: str) -> None:
    """0001 → 0002 → 0001 with one run's rows: every row is still there, without run ids."""
    _fill_0001(store_url, (RUN,))
    Store.open(store_url).close()
    _alembic(store_url, "downgrade", "0001")
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        counts = {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()
                  for t in (ACCOUNTS, POSITIONS, TRADES, TAX_LOTS, ALERTS, SCRIPTS, CHANGES)}
        columns = {c["name"] for c in sa.inspect(conn).get_columns("accounts")}
    engine.dispose()
    assert ({"accounts": 2, "positions": 1, "trades": 1, "tax_lots": 1, "alerts": 2, "action_scripts": 1,
             "protocol_changes": 1}, False) == (counts, "run_id" in columns)


def test_downgrading_to_0001_is_refused_while_two_runs_hold_rows(store: Store, store_url: str) -> None:
    """0001 keys accounts by id alone: with two runs' accounts the downgrade stops and changes nothing."""
    for run in ("r1", "r2"):
        store.begin_run(run, "replay", {}, "h1")
        store.record_batch(run, 0, accounts=[{"id": GEN, "type": "GEN", "initial_capital": 1,
                                              "status": "active", "created_at": T0}])
    with pytest.raises(RuntimeError, match="cannot downgrade below 0002: accounts holds rows of 2 runs"):
        _alembic(store_url, "downgrade", "0001")
    assert (1, 1) == (len(store.accounts("r1")), len(store.accounts("r2")))
