"""Replay: the store batches, resuming after kill -9, re-runs, approvals and progress."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from alluse.adapters import marketdata
from alluse.adapters.policy_files import default_policy_dir, load_policy_dir
from alluse.adapters.store import Store
from alluse.engine.errors import DataError
from alluse.engine.events import parse_event
from alluse.engine.policy import PolicySet
from alluse.runtime.replay import Replay, ReplayParams

CLI = [sys.executable, "-c", "from alluse.cli import main; main()"]
KILL_ARGS = ["replay", "--from", "2021-01-04", "--to", "2021-06-30", "--format", "json"]
TIME_LIMIT = 60.0  # seconds for one kill-and-resume round, far above the ~5 s it takes


@pytest.fixture(scope="module")
def policies() -> PolicySet:
    return load_policy_dir(default_policy_dir())


def _cli(db: Path) -> list[str]:
    return [*CLI, *KILL_ARGS, "--db", f"sqlite:///{db}"]


def _run(db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_cli(db), capture_output=True, text=True, timeout=TIME_LIMIT, check=False)


def _cursor(db: Path) -> tuple[int | None, str | None]:
    """The run's (cursor, status) as the replay has committed them; (None, None) before that."""
    if not db.exists():
        return None, None
    con = sqlite3.connect(db, timeout=5)
    try:
        row = con.execute("SELECT cursor, status FROM runs").fetchone()
    except sqlite3.OperationalError:  # the schema is not migrated yet
        return None, None
    finally:
        con.close()
    return (row[0], row[1]) if row else (None, None)


def _contents(db: Path) -> dict[str, list[Any]]:
    """What a replay stored, through the Store readers, without store-assigned ids and seqs."""
    with Store.open(f"sqlite:///{db}") as store:
        (run_id,) = [r.run_id for r in store.runs()]
        return {
            "decisions": [(d.event_index, d.ts, d.event, d.decision) for d in store.decisions(run_id)],
            "trades": [(t.account, t.ts, t.symbol, t.side, t.quantity, t.price, t.commission, t.expiry,
                        t.strike, t.right) for t in store.trades(run_id)],
            "accounts": store.accounts(run_id),
            "alerts": [(a.ts, a.type, a.priority, a.title, a.account, a.suppressed)
                       for a in store.alerts(run_id)],
            "scripts": [(s.id, s.status, s.script) for s in store.scripts(run_id)],
            "protocol_changes": [(c.position, c.ts, c.from_level, c.to_level, c.rule)
                                 for c in store.protocol_changes(run_id)],
            "positions": store.positions(run_id),
            "tax_lots": [dataclasses.replace(lot, id=None) for lot in store.tax_lots(run_id)],
            "events": list(store.events(run_id)),
            "run": [(r.cursor, r.status) for r in [store.run(run_id)] if r is not None],
        }


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, list[Any]]]:
    """The reference: the same replay run start to finish into its own database."""
    db = tmp_path_factory.mktemp("reference") / "ref.db"
    done = _run(db)
    assert (0, "") == (done.returncode, done.stderr)
    return done.stdout, _contents(db)


def test_the_journal_holds_every_input_event_once_in_order(
        uninterrupted: tuple[str, dict[str, list[Any]]]) -> None:
    """Event indexes run 0…cursor without a gap or repeat; each payload parses back to its event."""
    _, contents = uninterrupted
    events = contents["events"]
    cursor = contents["run"][0][0]
    parsed = [parse_event(e.payload) for e in events]
    assert (list(range(cursor + 1)), [e.ts for e in events], [e.type for e in events]) == (
        [e.event_index for e in events], [p.ts for p in parsed], [p.TYPE for p in parsed])


def test_every_decision_is_about_the_journalled_event_of_its_index(
        uninterrupted: tuple[str, dict[str, list[Any]]]) -> None:
    """A decision's stored event equals the journal entry with the same index."""
    _, contents = uninterrupted
    journal = {e.event_index: e.payload for e in contents["events"]}
    mismatched = [i for i, _, event, _ in contents["decisions"] if journal.get(i) != event]
    assert (True, []) == (len(contents["decisions"]) > 0, mismatched)


def _kill_midway(directory: Path, target: int, rng: random.Random) -> tuple[Path, int | None, str | None]:
    """Start the replay and SIGKILL it once its cursor passes `target`, plus a random few ms.

    If the run finishes before the kill, start over in a new database with half the target.
    Returns the database and the (cursor, status) the killed run left there.
    """
    deadline = time.monotonic() + TIME_LIMIT
    for attempt in range(1, 6):
        db = directory / f"killed-{attempt}.db"
        proc = subprocess.Popen(_cli(db), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while proc.poll() is None and time.monotonic() < deadline:
                cursor, _ = _cursor(db)
                if cursor is not None and cursor >= target:
                    break
                time.sleep(0.01)
            # a random few more milliseconds, so the kill may land inside a batch's transaction
            time.sleep(rng.uniform(0.0, 0.15))
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait()
        cursor, status = _cursor(db)
        if status == "running" or time.monotonic() > deadline:
            return db, cursor, status
        target //= 2
    return db, cursor, status


@pytest.mark.parametrize("fraction", [0.1, 0.6], ids=["early", "late"])
def test_a_replay_killed_with_sigkill_resumes_to_the_same_result_and_store(
        tmp_path: Path, uninterrupted: tuple[str, dict[str, list[Any]]], fraction: float) -> None:
    """kill -9 midway, run again: the JSON and every stored row equal an uninterrupted run's."""
    ref_stdout, ref_contents = uninterrupted
    final_cursor = ref_contents["run"][0][0]
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    target = int(final_cursor * rng.uniform(fraction, fraction + 0.3))
    db, killed_at, status = _kill_midway(tmp_path, target, rng)
    assert ("running", True) == (status, killed_at is not None and killed_at <= final_cursor), (
        f"seed {seed}: the run was not caught midway")
    again = _run(db)
    assert (0, f"resumed run {json.loads(ref_stdout)['run_id']} after event {killed_at}\n", True) == (
        again.returncode, again.stderr, again.stdout == ref_stdout), f"seed {seed}"
    resumed = _contents(db)
    assert ref_contents["events"] == resumed["events"], f"seed {seed}, journal, killed at event {killed_at}"
    assert ref_contents == resumed, f"seed {seed}, killed at event {killed_at}"


def test_running_a_finished_replay_again_writes_nothing(tmp_path: Path, policies: PolicySet) -> None:
    """The same inputs a second time: the same result, the store untouched, a note for stderr."""
    params = ReplayParams(dt.date(2021, 3, 1), dt.date(2021, 3, 31), 100_000.0)
    with Store.open(f"sqlite:///{tmp_path / 'r.db'}") as store:
        first = Replay(policies, params, store=store).run()
        run_id = first["run_id"]
        before = (store.decisions(), store.trades(run_id), list(store.events(run_id)), store.run(run_id))
        second = Replay(policies, params, store=store)
        result = second.run()
        after = (store.decisions(), store.trades(run_id), list(store.events(run_id)), store.run(run_id))
    assert (first, before, [f"run {first['run_id']} was already recorded in full; nothing was "
                            "written again"]) == (result, after, second.store_notes)


def test_the_store_holds_every_decision_and_the_final_cursor(tmp_path: Path, policies: PolicySet) -> None:
    """One row per non-empty decision; the run is done with the cursor at the last event."""
    params = ReplayParams(dt.date(2021, 3, 1), dt.date(2021, 3, 31), 100_000.0)
    with Store.open(f"sqlite:///{tmp_path / 'r.db'}") as store:
        replay = Replay(policies, params, store=store)
        result = replay.run()
        stored = store.decisions(result["run_id"])
        run = store.run(result["run_id"])
        trades = store.trades(result["run_id"])
    assert (replay.engine.state.index, "done", result["fills"], True) == (
        run.cursor if run else None, run.status if run else None, len(trades),
        [d.event_index for d in stored] == sorted({d.event_index for d in stored}) and len(stored) > 0)


def test_the_store_holds_the_engines_open_positions_and_tax_lots_at_the_end(
        tmp_path: Path, policies: PolicySet) -> None:
    """Open positions (shorts, stock) and the lots are the engine's; closed ones stay, saying how."""
    # 10M: on as-traded 2021 prices (TSLA near 700, NVDA before its splits) a 100K account can
    # secure AAPL puts only, and none is assigned in the half year; 10M wheels TSLA through all
    # four endings (expired, assigned, closed, called away)
    params = ReplayParams(dt.date(2021, 1, 4), dt.date(2021, 6, 30), 10_000_000.0)
    with Store.open(f"sqlite:///{tmp_path / 'r.db'}") as store:
        replay = Replay(policies, params, store=store)
        replay.run()
        positions = store.positions(replay.run_id)
        lots = store.tax_lots(replay.run_id)
    engine = replay.engine.state
    stock = {(lot.account, lot.symbol) for lot in engine.ledger.lots() if lot.expiry is None}
    expected_open = sorted([*(p.key for p in engine.shorts.values()),
                            *(f"{acc}:{sym}" for acc, sym in stock)])
    closed_states = {p.state for p in positions if p.closed_at is not None}
    held = [(lot.account, lot.symbol, lot.quantity, lot.basis) for lot in engine.ledger.lots()]
    assert (expected_open, held, True) == (
        sorted(p.key for p in positions if p.state == "open"),
        [(lot.account, lot.symbol, lot.quantity, lot.basis) for lot in lots],
        {"expired", "assigned", "closed", "called_away"} <= closed_states)


def test_stored_account_status_follows_every_state_change(tmp_path: Path, policies: PolicySet) -> None:
    """After every day's batch the store's account statuses equal the engine's (suspensions, forks)."""
    params = ReplayParams(dt.date(2021, 1, 4), dt.date(2021, 12, 31), 10_000_000.0)
    stale: list[tuple[int, dict[str, str], dict[str, str]]] = []
    observed: set[tuple[str, str]] = set()
    with Store.open(f"sqlite:///{tmp_path / 'r.db'}") as store:
        replay = Replay(policies, params, store=store)

        def check(day: int, _total: int) -> None:
            engine = {a.id: a.state for a in replay.engine.state.tree.accounts.values()}
            stored = {a.id: a.status for a in store.accounts(replay.run_id)}
            observed.update(engine.items())
            if engine != stored:
                stale.append((day, engine, stored))

        replay.progress = check
        replay.run()
    assert len(observed) > len({acc for acc, _ in observed}), (
        "no account changed state in this range: the test needs one where an account does")
    assert [] == stale[:3]


def test_approve_none_trades_nothing_and_keeps_every_account_at_its_capital(policies: PolicySet) -> None:
    """No script approved: no fills, every account ends where it started, P&L 0."""
    result = Replay(policies, ReplayParams(dt.date(2021, 3, 1), dt.date(2021, 3, 31), 100_000.0,
                                           approve="none")).run()
    assert (0, 0.0, True, [a["initial_capital"] for a in result["accounts"]]) == (
        result["trades"], result["total_pnl"], result["conservation"]["ok"],
        [a["final_equity"] for a in result["accounts"]])


def test_progress_is_reported_once_per_calendar_day(policies: PolicySet) -> None:
    """The callback sees (n, total) for every day of the range, weekends included."""
    seen: list[tuple[int, int]] = []
    Replay(policies, ReplayParams(dt.date(2021, 3, 1), dt.date(2021, 3, 10), 100_000.0),
           progress=lambda n, total: seen.append((n, total))).run()
    assert [(n, 10) for n in range(1, 11)] == seen


def test_the_equity_series_has_one_value_per_session_for_each_account(policies: PolicySet) -> None:
    """Dates are the range's sessions (no weekends); each account's series is as long as the dates."""
    result = Replay(policies, ReplayParams(dt.date(2021, 3, 1), dt.date(2021, 3, 14), 100_000.0)).run()
    dates = result["equity"]["dates"]
    assert (["2021-03-0" + str(d) for d in (1, 2, 3, 4, 5, 8, 9)] + ["2021-03-10", "2021-03-11",
                                                                    "2021-03-12"],
            {a["id"]: len(dates) for a in result["accounts"]}) == (
        dates, {k: len(v) for k, v in result["equity"]["series"].items()})


def test_a_one_minute_file_that_fails_to_load_stops_the_replay(policies: PolicySet,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A refused 1-minute file raises its DataError instead of quietly falling back to daily bars."""
    def refuse(symbol: str, **_: object) -> object:
        raise DataError(f"1min_{symbol}.csv.gz:12: duplicate timestamp (refused)")

    monkeypatch.setattr(marketdata, "read_intraday", refuse)
    with pytest.raises(DataError) as caught:
        Replay(policies, ReplayParams(dt.date(2022, 3, 14), dt.date(2022, 3, 18), 100_000.0, bars="1min"))
    assert "1min_AAPL.csv.gz:12: duplicate timestamp (refused)" == str(caught.value)


def test_a_resumed_replay_starts_from_the_latest_saved_state(tmp_path: Path, policies: PolicySet) -> None:
    """Stopped in March, a replay of the same inputs restores the month's saved state (the engine
    is at the snapshot's event before it feeds anything), then ends equal to an uninterrupted run."""
    params = ReplayParams(dt.date(2021, 1, 4), dt.date(2021, 3, 31), 100_000.0)
    whole = Replay(policies, params).run()
    with Store.open(f"sqlite:///{tmp_path / 'r.db'}") as store:
        first = Replay(policies, params, store=store)
        to_mid_march = sum(len(first.source.events(d)) for d in first.source.days()
                           if d <= dt.date(2021, 3, 15))
        first.advance(stop_after=to_mid_march)  # February's and March's states are saved
        snap = store.latest_snapshot(first.run_id)
        second = Replay(policies, params, store=store)
        second._open_store()
        restored_at = second.engine.state.index
        result = Replay(policies, params, store=store).run()
    assert (True, snap.event_index if snap else None, whole) == (
        snap is not None and snap.ts.month == 3, restored_at, result)


ENGINE_FACTS = ("position.", "wheel.", "ledger.", "data.", "broker.", "protocols.monitor",
                "schedule.")


def test_every_rule_id_a_replay_traces_is_a_policy_rule_or_an_engine_fact(policies: PolicySet) -> None:
    """Ids with '#' are the stable ids of `policy rules` (file#path); the others name engine facts
    (positions, the wheel, the ledger, data order, broker reports, the schedule)."""
    replay = Replay(policies, ReplayParams(dt.date(2021, 1, 4), dt.date(2021, 6, 30), 10_000_000.0))
    seen: set[str] = set()

    def collect(ev: object, d: Any) -> None:
        for r in (*d.fired, *d.not_fired, *d.errors):
            seen.add(r.rule)
        seen.update(t.rule for t in d.transitions if t.rule)
        seen.update(a.rule for a in d.alerts if a.rule)

    replay.driver.observers.append(collect)
    replay.run()
    unknown = sorted(r for r in seen if ("#" in r and r not in policies.rules)
                     or ("#" not in r and not r.startswith(ENGINE_FACTS)))
    assert ([], True) == (unknown, {"accounts#fork/GEN-ACC", "protocols#levels/1",
                                    "strategies/gen_acc#rules/premium_floor"} <= seen)
