"""The store holds many runs, journals their input events and snapshots, and keeps positions and
tax lots per run: on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import DBAPIError

from alluse.adapters.store import (
    AccountRecord,
    DecisionRecord,
    EventRecord,
    PositionRecord,
    ScriptRecord,
    SnapshotRecord,
    Store,
    TaxLotRecord,
    TradeRecord,
)
from alluse.engine.errors import StoreError

T0 = dt.datetime(2026, 1, 8, 15, 30, tzinfo=dt.UTC)
GEN = "GEN-ACC-001"


def _events(start: int, stop: int) -> list[EventRecord]:
    return [EventRecord(i, T0 + dt.timedelta(seconds=i), "price",
                        {"type": "price", "ts": (T0 + dt.timedelta(seconds=i)).isoformat(), "symbol": "TSLA",
                         "price": 245.0 + i / 100}) for i in range(start, stop)]


def _account(capital: str, acc_id: str = GEN, parent: str | None = None) -> AccountRecord:
    return AccountRecord(id=acc_id, type="GEN", initial_capital=Decimal(capital), status="active",
                         created_at=T0, unit="U1", parent_id=parent)


def _trade(quantity: int) -> TradeRecord:
    return TradeRecord(account=GEN, ts=T0, symbol="TSLA", side="SELL", quantity=quantity,
                       price=Decimal("2.15"), source="sim", expiry=dt.date(2026, 1, 9),
                       strike=Decimal("245"), right="P")


def _script(run: str) -> ScriptRecord:
    return ScriptRecord(id="S-000001", account=GEN, approval="required", script={"run": run},
                        expires_at=T0 + dt.timedelta(hours=1), event_index=0)


def _lot(quantity: int, as_of: dt.date = dt.date(2026, 1, 8)) -> TaxLotRecord:
    return TaxLotRecord(account=GEN, symbol="TSLA", quantity=quantity, basis=Decimal("215.00"),
                        holding_period_start=dt.date(2026, 1, 8), as_of=as_of,
                        expiry=dt.date(2026, 1, 9), strike=Decimal("245"), right="P")


def _position(**changes: object) -> PositionRecord:
    values: dict[str, object] = {"key": f"{GEN}:TSLA:2026-01-09:245P", "account": GEN, "symbol": "TSLA",
                                 "quantity": -1, "opened_at": T0, "state": "open", "protocol_level": 0,
                                 "expiry": dt.date(2026, 1, 9), "strike": Decimal("245"), "right": "P"}
    return PositionRecord(**{**values, **changes})  # type: ignore[arg-type]


def test_two_runs_with_the_same_ids_keep_their_own_accounts_scripts_and_trades(store: Store) -> None:
    """Account and script ids repeat across runs without a collision; each reader sees its run only."""
    for run, capital, quantity in (("r1", "40000.00", 1), ("r2", "4000000.00", 100)):
        store.begin_run(run, "replay", {"capital": capital}, "h1")
        store.record_batch(run, 0, decisions=[DecisionRecord(0, T0, "h1", {}, {})],
                           accounts=[_account(capital), _account("0.00", "GEN-ACC-002", GEN)],
                           scripts=[_script(run)], trades=[_trade(quantity)])
    seen = {run: ([(a.id, a.initial_capital, a.parent_id) for a in store.accounts(run)],
                  [(s.id, s.script) for s in store.scripts(run)],
                  [t.quantity for t in store.trades(run)]) for run in ("r1", "r2")}
    assert {
        "r1": ([(GEN, Decimal("40000.00"), None), ("GEN-ACC-002", Decimal("0.00"), GEN)],
               [("S-000001", {"run": "r1"})], [1]),
        "r2": ([(GEN, Decimal("4000000.00"), None), ("GEN-ACC-002", Decimal("0.00"), GEN)],
               [("S-000001", {"run": "r2"})], [100]),
    } == seen


def test_script_status_changes_only_the_named_runs_script(store: Store) -> None:
    """Approving S-000001 of one run leaves the other run's S-000001 proposed."""
    for run in ("r1", "r2"):
        store.begin_run(run, "node", {}, "h1")
        store.record_batch(run, 0, decisions=[DecisionRecord(0, T0, "h1", {}, {})], scripts=[_script(run)])
    store.set_script_status("r2", "S-000001", "approved")
    with pytest.raises(StoreError, match="no action script 'S-000001' in run 'r3'"):
        store.set_script_status("r3", "S-000001", "approved")
    assert (["proposed"], ["approved"]) == ([s.status for s in store.scripts("r1")],
                                            [s.status for s in store.scripts("r2")])


def test_a_trade_must_name_an_account_of_its_own_run(store: Store) -> None:
    """The account of another run does not satisfy the trade's foreign key: the batch is refused."""
    store.begin_run("r1", "replay", {}, "h1")
    store.record_batch("r1", 0, accounts=[_account("40000.00")])
    store.begin_run("r2", "replay", {}, "h1")
    with pytest.raises(StoreError, match="record a batch"):
        store.record_batch("r2", 0, trades=[_trade(1)])
    assert (None, []) == (store.run("r2").cursor, store.trades("r2"))


def test_events_come_back_in_order_across_batches_and_pages(store: Store) -> None:
    """5,000 events in three batches read back whole, and by [start, end), one run at a time."""
    store.begin_run("r1", "replay", {}, "h1")
    store.begin_run("r2", "replay", {}, "h1")
    for first, last in ((0, 2499), (2500, 2500), (2501, 4999)):
        store.record_batch("r1", last, events=_events(first, last + 1))
    store.record_batch("r2", 0, events=_events(0, 1))
    everything = list(store.events("r1"))
    assert (_events(0, 5000), _events(1999, 2003), _events(4998, 5000), _events(0, 1)) == (
        everything, list(store.events("r1", 1999, 2003)), list(store.events("r1", start=4998)),
        list(store.events("r2")))


@pytest.mark.parametrize(("indexes", "message"), [
    ([0, 2, 3], r"events\[1\].event_index: 2 where 1 was expected"),
    ([1, 2, 3], r"events\[0\].event_index: 1 where 0 was expected"),
    ([0, 1, 1], r"events\[2\].event_index: 1 where 2 was expected"),
    ([0, 1], r"events: 2 event\(s\) for the 4 of this batch's events \(start, 3\]"),
])
def test_a_batch_journals_every_one_of_its_events_once_in_order_or_none(
        store: Store, indexes: list[int], message: str) -> None:
    """A gap, a repeat, a wrong start or a partial journal is refused and nothing is written."""
    store.begin_run("r1", "replay", {}, "h1")
    events = [_events(i, i + 1)[0] for i in indexes]
    with pytest.raises(StoreError, match=message):
        store.record_batch("r1", 3, events=events)
    assert ([], None) == (list(store.events("r1")), store.run("r1").cursor)


@pytest.mark.parametrize("statement", ["UPDATE events SET type = 'forged'", "DELETE FROM events"])
def test_event_journal_refuses_update_and_delete_from_raw_sql(store: Store, store_url: str,
                                                              statement: str) -> None:
    """Triggers make the journal append-only for any client."""
    store.begin_run("r1", "replay", {}, "h1")
    store.record_batch("r1", 1, events=_events(0, 2))
    engine = create_engine(store_url)
    with pytest.raises(DBAPIError) as refused, engine.begin() as conn:
        conn.exec_driver_sql(statement)
    engine.dispose()
    assert ("events is append-only" in str(refused.value), _events(0, 2)) == (True, list(store.events("r1")))


@pytest.mark.postgres
def test_event_journal_refuses_truncate_on_postgresql(postgres_url: str) -> None:
    """On PostgreSQL a statement trigger refuses TRUNCATE of the journal too."""
    with Store.open(postgres_url) as store:
        store.begin_run("r1", "replay", {}, "h1")
        store.record_batch("r1", 0, events=_events(0, 1))
        engine = create_engine(postgres_url)
        with pytest.raises(DBAPIError) as refused, engine.begin() as conn:
            conn.exec_driver_sql("TRUNCATE events CASCADE")
        engine.dispose()
        assert ("events is append-only" in str(refused.value), 1) == (True, len(list(store.events("r1"))))


def test_snapshots_round_trip_their_bytes_and_the_latest_is_found(store: Store) -> None:
    """Every byte value comes back; latest_snapshot picks the greatest index at or before the bound."""
    state = bytes(range(256)) * 40 + b"\x00"
    store.begin_run("r1", "node", {}, "h1")
    for cursor in (9, 19, 29):
        snapshot = SnapshotRecord(cursor, T0, f"h{cursor}", state + bytes([cursor]))
        store.record_batch("r1", cursor, snapshot=snapshot)
    latest, bounded, before_any = (store.latest_snapshot("r1"), store.latest_snapshot("r1", at_or_before=25),
                                   store.latest_snapshot("r1", at_or_before=8))
    assert ((29, "h29", state + b"\x1d", True), (19, state + b"\x13"), None, None) == (
        (latest.event_index, latest.policy_hash, latest.state, latest.created_at is not None),
        (bounded.event_index, bounded.state), before_any, store.latest_snapshot("other"))


def test_a_snapshot_outside_its_batch_or_not_bytes_is_refused(store: Store) -> None:
    """The snapshot must follow one of the batch's events, and its state must be bytes."""
    store.begin_run("r1", "node", {}, "h1")
    store.record_batch("r1", 9)
    with pytest.raises(StoreError, match=r"snapshot.event_index: 9 is outside this batch's events \(9, 19\]"):
        store.record_batch("r1", 19, snapshot=SnapshotRecord(9, T0, "h1", b"x"))
    with pytest.raises(StoreError, match=r"snapshot\.state: expected bytes, got str"):
        store.record_batch("r1", 19, snapshot=SnapshotRecord(19, T0, "h1", "x"))  # type: ignore[arg-type]
    assert (9, None) == (store.run("r1").cursor, store.latest_snapshot("r1"))


def test_positions_are_upserted_and_a_closed_one_keeps_its_row(store: Store) -> None:
    """Level changes update the row, opened_at stays, closing sets closed_at and state; open_only hides it."""
    closed_at = T0 + dt.timedelta(days=1)
    store.begin_run("r1", "replay", {}, "h1")
    store.record_batch("r1", 0, accounts=[_account("40000.00")], positions=[_position()])
    store.record_batch("r1", 1, positions=[_position(protocol_level=2, opened_at=T0 + dt.timedelta(hours=1))])
    after_level = store.positions("r1")
    store.record_batch("r1", 2, positions=[_position(protocol_level=2, state="expired", closed_at=closed_at)])
    closed = _position(protocol_level=2, state="expired", closed_at=closed_at)
    assert ([_position(protocol_level=2)], [closed], [], []) == (
        after_level, store.positions("r1"), store.positions("r1", open_only=True), store.positions("r2"))


def test_tax_lots_given_replace_the_runs_set_and_none_keeps_it(store: Store) -> None:
    """Each batch's lots are the run's whole set; a batch without lots keeps it; an empty set clears it."""
    store.begin_run("r1", "replay", {}, "h1")
    store.begin_run("r2", "replay", {}, "h1")
    for run in ("r1", "r2"):
        store.record_batch(run, 0, accounts=[_account("40000.00")], tax_lots=[_lot(-1), _lot(-2)])
    store.record_batch("r1", 1, tax_lots=[_lot(-3, dt.date(2026, 1, 9))])
    store.record_batch("r1", 2)
    kept = [(lot.quantity, lot.as_of) for lot in store.tax_lots("r1")]
    store.record_batch("r1", 3, tax_lots=[])
    assert ([(-3, dt.date(2026, 1, 9))], [], [-1, -2]) == (
        kept, store.tax_lots("r1"), [lot.quantity for lot in store.tax_lots("r2")])


def test_runs_lists_every_run_oldest_first(store_url: str) -> None:
    """runs() gives every run by start time; runs(kind) only that kind."""
    ticks = iter(T0 + dt.timedelta(minutes=i) for i in range(10))
    with Store.open(store_url, clock=lambda: next(ticks)) as store:
        store.begin_run("r1", "replay", {}, "h1")
        store.begin_run("n1", "node", {}, "h1")
        listed = ([r.run_id for r in store.runs()], [r.run_id for r in store.runs("node")])
    assert (["r1", "n1"], ["n1"]) == listed
