"""`alluse act list|show|approve|reject` on stores written by replays and by a (recorded) node run."""

from __future__ import annotations

import datetime as dt
import getpass
import json
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from alluse.adapters.store import DecisionRecord, EventRecord, ScriptRecord, Store
from alluse.adapters.store.models import ActionScriptRow
from alluse.cli import app
from tests.cli.conftest import ReplayStore, write_replays

runner = CliRunner()
NONE_IDS = ["4f71ea36cfb0", "3a5fd1f80f1b", "757506ebba3c"]  # the --approve none run's scripts
LATER = dt.datetime(2099, 1, 1, tzinfo=dt.UTC)


def act(*args: str) -> Any:
    return runner.invoke(app, ["act", *args])


def act_json(*args: str) -> Any:
    done = act(*args, "--format", "json")
    assert (0, "") == (done.exit_code, done.stderr), done.output
    return json.loads(done.stdout)


def reopen(url: str, run_id: str, script_id: str, expires_at: dt.datetime = LATER) -> None:
    """Move a script's expiry past its run's clock (a replay's scripts expire within the hour)."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.update(ActionScriptRow)
                     .where(ActionScriptRow.run_id == run_id, ActionScriptRow.id == script_id)
                     .values(expires_at=expires_at))
    engine.dispose()


def stored(url: str, run_id: str, script_id: str) -> tuple[str, list[tuple[str, str, str | None]]]:
    with Store.open(url) as store:
        status = next(s.status for s in store.scripts(run_id) if s.id == script_id)
        rows = [(a.decision, a.who, a.reason) for a in store.approvals(run_id, script_id)]
    return status, rows


@pytest.fixture(autouse=True)
def operator(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ALLUSE_OPERATOR", "alice")
    return "alice"


# -- list and show ----------------------------------------------------------------------------

def test_list_defaults_to_the_most_recent_run_and_shows_its_proposed_scripts(replay_store: ReplayStore):
    """The --approve none replay is the latest run: its three scripts, proposed and past the run's clock."""
    out = act_json("list", "--db", replay_store.url)
    seen = [(s["id"], s["status"], s["expired"]) for s in out["scripts"]]
    expected = [(sid, "proposed", True) for sid in NONE_IDS]
    assert (replay_store.none, expected, "last_event", "2024-04-19T20:45:00+00:00") == (
        out["run_id"], seen, out["clock"]["source"], out["clock"]["at"])


def test_list_filters_by_run_and_status(replay_store: ReplayStore):
    """--run picks the automatic replay; --status executed keeps its two executed wheel puts."""
    out = act_json("list", "--db", replay_store.url, "--run", replay_store.automatic, "--status", "executed")
    assert (replay_store.automatic, ["4f71ea36cfb0", "d352566b90c8"]) == (
        out["run_id"], [s["id"] for s in out["scripts"]])


def test_list_json_shape_names_every_field(replay_store: ReplayStore):
    """Each listed script carries the same keys, with ISO 8601 instants in UTC."""
    script = act_json("list", "--db", replay_store.url)["scripts"][0]
    assert ({"id", "status", "expired", "account", "approval", "title", "created_at", "expires_at",
             "decision_seq"}, "2024-04-04T15:00:00+00:00") == (set(script), script["expires_at"])


def test_list_text_is_a_table_of_the_run(replay_store: ReplayStore):
    """Text: a titled table with each script's id and status, and which clock judged expiry."""
    done = act("list", "--db", replay_store.url)
    assert 0 == done.exit_code
    assert all(sid in done.stdout for sid in NONE_IDS)
    assert f"Action scripts of run {replay_store.none}" in done.stdout
    assert "proposed (expired)" in done.stdout and "simulated clock" in done.stdout


def test_list_refuses_an_unknown_status(replay_store: ReplayStore):
    """A status the store does not know: one line naming the valid ones, exit 2."""
    done = act("list", "--db", replay_store.url, "--status", "pending")
    assert (2, "error: --status: 'pending' is not one of proposed, approved, executed, expired, "
               "rejected\n") == (done.exit_code, done.stderr)


def test_show_renders_the_trigger_steps_and_expiry(replay_store: ReplayStore):
    """Text: title, trigger rule with its values, the numbered order step, expiry and no decisions."""
    done = act("show", "4f71", "--db", replay_store.url)
    assert 0 == done.exit_code
    lines = [line.strip() for line in done.stdout.splitlines()]
    assert "COM-ACC wheel: sell 1 AAPL 2024-04-12 167.5P for ~0.49" == lines[0]
    assert "1. SELL_TO_OPEN 1 AAPL 2024-04-12 167.5P LMT limit 0.49" in lines
    assert any(line.startswith("trigger: com_acc.entry — symbol AAPL") for line in lines)
    assert "expires 2024-04-04 15:00:00 UTC" in done.stdout and "decisions: none yet" in lines


def test_show_json_holds_the_stored_script_and_its_decisions(replay_store: ReplayStore):
    """JSON: the summary fields, the script document as stored, and the (empty) decisions."""
    out = act_json("show", "4f71ea36cfb0", "--db", replay_store.url)
    assert ("4f71ea36cfb0", "com_acc.entry", [{"kind": "order", "action": "SELL_TO_OPEN", "symbol": "AAPL",
                                               "right": "P", "strike": 167.5, "expiry": "2024-04-12",
                                               "quantity": 1, "order_type": "LMT", "limit": 0.49}],
            [], replay_store.none) == (out["id"], out["script"]["trigger"]["rule"], out["script"]["steps"],
                                       out["approvals"], out["run_id"])


def test_an_unknown_script_id_is_exit_2(replay_store: ReplayStore):
    """No script starts with the id: one line saying so, exit 2."""
    done = act("show", "ffff", "--db", replay_store.url)
    assert (2, 1) == (done.exit_code, len(done.stderr.splitlines()))
    assert done.stderr.startswith("error: no action script 'ffff' in run")


# -- approve and reject -----------------------------------------------------------------------

def test_approve_records_who_and_when_and_moves_the_script_to_approved(replay_store: ReplayStore):
    """An open proposed script: one approvals row (alice, now in UTC), status approved."""
    reopen(replay_store.url, replay_store.none, "3a5fd1f80f1b")
    before = dt.datetime.now(dt.UTC)
    out = act_json("approve", "3a5f", "--db", replay_store.url)
    after = dt.datetime.now(dt.UTC)
    at = dt.datetime.fromisoformat(out["approval"]["at"])
    assert ({"run_id": replay_store.none, "script_id": "3a5fd1f80f1b", "decision": "approved",
             "recorded": True, "status": "approved", "note": None, "expires_at": "2099-01-01T00:00:00+00:00",
             "approval": {"decision": "approved", "who": "alice", "at": out["approval"]["at"],
                          "reason": None}},
            True) == (out, before <= at <= after and at.utcoffset() == dt.timedelta(0))
    assert ("approved", [("approved", "alice", None)]) == stored(replay_store.url, replay_store.none,
                                                                 "3a5fd1f80f1b")


def test_approving_twice_is_a_note_and_no_second_row(replay_store: ReplayStore,
                                                     monkeypatch: pytest.MonkeyPatch):
    """The second approval (by someone else) changes nothing and exits 0 with a note."""
    reopen(replay_store.url, replay_store.none, "3a5fd1f80f1b")
    assert 0 == act("approve", "3a5f", "--db", replay_store.url).exit_code
    monkeypatch.setenv("ALLUSE_OPERATOR", "bob")
    again = act("approve", "3a5f", "--db", replay_store.url)
    note = "note: script 3a5fd1f80f1b is already approved by alice at "
    assert (0, True, True) == (again.exit_code, again.stdout.startswith(note),
                               again.stdout.endswith(": nothing changed\n"))
    assert ("approved", [("approved", "alice", None)]) == stored(replay_store.url, replay_store.none,
                                                                 "3a5fd1f80f1b")


def test_approving_twice_in_json_says_nothing_was_recorded(replay_store: ReplayStore):
    """JSON of a repeated approval: recorded false, no approval row, the note."""
    reopen(replay_store.url, replay_store.none, "3a5fd1f80f1b")
    act_json("approve", "3a5f", "--db", replay_store.url)
    out = act_json("approve", "3a5f", "--db", replay_store.url)
    assert (False, None, "approved") == (out["recorded"], out["approval"], out["status"])
    assert out["note"].startswith("script 3a5fd1f80f1b is already approved by alice")


def test_approving_an_expired_script_is_exit_1_and_writes_nothing(replay_store: ReplayStore):
    """Its expiry is before the run's clock: one line naming both instants, exit 1, still proposed."""
    done = act("approve", "757506ebba3c", "--db", replay_store.url)
    assert (1, "", "error: script 757506ebba3c expired at 2024-04-18 15:00:00 UTC (the clock is at "
                   "2024-04-19 20:45:00 UTC): it can no longer be approved; run "
                   f"{replay_store.none} is simulated, so its clock is its last event; nothing was "
                   "recorded\n") == (done.exit_code, done.stdout, done.stderr)
    assert ("proposed", []) == stored(replay_store.url, replay_store.none, "757506ebba3c")


def test_reject_with_a_reason_records_it(replay_store: ReplayStore):
    """A proposed script rejected with --reason: status rejected, the row keeps the reason."""
    done = act("reject", "4f71", "--reason", "earnings next week", "--db", replay_store.url)
    assert 0 == done.exit_code
    assert done.stdout.startswith("rejected 4f71ea36cfb0 as alice at ")
    assert ("rejected", [("rejected", "alice", "earnings next week")]) == stored(
        replay_store.url, replay_store.none, "4f71ea36cfb0")


def test_an_approved_script_not_yet_executed_can_be_rejected(replay_store: ReplayStore):
    """Approve, then change one's mind: two rows in order, the script ends rejected."""
    reopen(replay_store.url, replay_store.none, "3a5fd1f80f1b")
    act_json("approve", "3a5f", "--db", replay_store.url)
    out = act_json("reject", "3a5f", "--reason", "changed my mind", "--db", replay_store.url)
    assert ("rejected", [("approved", "alice", None), ("rejected", "alice", "changed my mind")]) == (
        out["status"], stored(replay_store.url, replay_store.none, "3a5fd1f80f1b")[1])


def test_a_rejected_script_cannot_be_approved(replay_store: ReplayStore):
    """Reject then approve: exit 1, the rejection stands."""
    reopen(replay_store.url, replay_store.none, "3a5fd1f80f1b")
    act_json("reject", "3a5f", "--db", replay_store.url)
    done = act("approve", "3a5f", "--db", replay_store.url)
    assert 1 == done.exit_code
    assert done.stderr.startswith("error: script 3a5fd1f80f1b was rejected by alice at ")
    assert ("rejected", [("rejected", "alice", None)]) == stored(replay_store.url, replay_store.none,
                                                                 "3a5fd1f80f1b")


def test_an_executed_script_cannot_be_rejected(replay_store: ReplayStore):
    """The automatic replay executed 4f71ea36cfb0: rejecting it is exit 1 and records nothing."""
    done = act("reject", "4f71", "--run", replay_store.automatic, "--db", replay_store.url)
    assert (1, "error: script 4f71ea36cfb0 is executed: its orders were already handed to the broker, "
               "so it cannot be rejected; nothing was recorded\n") == (done.exit_code, done.stderr)
    assert ("executed", []) == stored(replay_store.url, replay_store.automatic, "4f71ea36cfb0")


def test_approving_an_executed_script_is_a_note(replay_store: ReplayStore):
    """What the operator asked for already happened: exit 0, nothing written."""
    done = act("approve", "d352", "--run", replay_store.automatic, "--db", replay_store.url)
    assert (0, "note: script d352566b90c8 is already executed: nothing changed\n") == (
        done.exit_code, done.stdout)


def test_the_operator_defaults_to_the_os_user(replay_store: ReplayStore, monkeypatch: pytest.MonkeyPatch):
    """Without ALLUSE_OPERATOR the approval is recorded under getpass.getuser()."""
    monkeypatch.delenv("ALLUSE_OPERATOR")
    reopen(replay_store.url, replay_store.none, "3a5fd1f80f1b")
    assert getpass.getuser() == act_json("approve", "3a5f", "--db", replay_store.url)["approval"]["who"]


def test_approving_a_replays_script_says_no_node_will_execute_it(replay_store: ReplayStore):
    """Text mode: the decision line, and a note on stderr that a replay's scripts are not executed."""
    reopen(replay_store.url, replay_store.none, "3a5fd1f80f1b")
    done = act("approve", "3a5f", "--db", replay_store.url)
    assert (0, f"note: run {replay_store.none} is a replay: no node executes its scripts\n") == (
        done.exit_code, done.stderr)
    assert done.stdout.startswith("approved 3a5fd1f80f1b as alice at ")


# -- a node's run: the wall clock, prefixes --------------------------------------------------------

T0 = dt.datetime(2024, 4, 4, 14, 0, tzinfo=dt.UTC)


def node_run(url: str, mode: str, scripts: dict[str, dt.datetime]) -> str:
    """A node run holding one event and the given scripts (id → expiry), written like a node would."""
    run_id = f"node-{mode}"
    with Store.open(url) as store:
        store.begin_run(run_id, "node", {"mode": mode}, "h1")
        store.record_batch(
            run_id, 0,
            decisions=[DecisionRecord(0, T0, "h1", {"type": "clock"}, {})],
            events=[EventRecord(0, T0, "clock", {"type": "clock", "ts": T0.isoformat(),
                                                 "name": "entry_scan"})],
            scripts=[ScriptRecord(sid, "GEN-ACC-001", "required", {"id": sid, "title": f"script {sid}",
                                                                   "steps": []}, expires, event_index=0)
                     for sid, expires in scripts.items()])
    return run_id


def test_a_paper_nodes_scripts_expire_on_the_wall_clock(replay_store: ReplayStore):
    """Paper mode: a script expiring in an hour is approved; one that expired a minute ago is refused."""
    now = dt.datetime.now(dt.UTC)
    run = node_run(replay_store.url, "paper", {"aaaa11110000": now + dt.timedelta(hours=1),
                                               "bbbb22220000": now - dt.timedelta(minutes=1)})
    ok = act("approve", "aaaa", "--db", replay_store.url)
    late = act("approve", "bbbb", "--db", replay_store.url)
    assert (0, 1, True, False) == (ok.exit_code, late.exit_code,
                                   late.stderr.startswith("error: script bbbb22220000 expired at "),
                                   "simulated" in late.stderr)
    assert ("approved", "proposed") == (stored(replay_store.url, run, "aaaa11110000")[0],
                                        stored(replay_store.url, run, "bbbb22220000")[0])


def test_a_sim_nodes_scripts_expire_on_its_last_event(replay_store: ReplayStore):
    """Sim mode: expiry is measured at the journal's last event (2024-04-04 14:00), not today."""
    node_run(replay_store.url, "sim", {"cccc33330000": T0 + dt.timedelta(hours=1)})
    out = act_json("approve", "cccc", "--db", replay_store.url)
    assert ("approved", True) == (out["status"], out["recorded"])


def test_an_ambiguous_prefix_lists_the_candidates(replay_store: ReplayStore):
    """Two ids share the prefix: one line naming both, exit 2, nothing approved."""
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    node_run(replay_store.url, "paper", {"abc123000000": later, "abc456000000": later})
    done = act("approve", "abc", "--db", replay_store.url)
    assert (2, "error: script id 'abc' is ambiguous in run node-paper: abc123000000, abc456000000\n") == (
        done.exit_code, done.stderr)


# -- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "message"), [
    (["list", "--run", "replay-nope"], "error: --run: no run 'replay-nope' in sqlite:///"),
    (["list", "--db", "sqlite:///nowhere/alluse.db"], "error: --db: no database at nowhere/alluse.db"),
    (["list", "--db", "postgresql+psycopg://u:secret@127.0.0.1:1/x"],
     "error: cannot migrate the schema of postgresql+psycopg://u:***@127.0.0.1:1/x: "),
    (["list", "--db", "none"], "error: --db none: this command reads a store; give its URL"),
])
def test_bad_input_is_one_line_and_exit_2(replay_store: ReplayStore, args: list[str], message: str):
    """Unknown run, missing or unreachable database: one line (no password, no traceback), exit 2."""
    done = act(*args, *([] if "--db" in args else ["--db", replay_store.url]))
    assert (2, 1, True, False) == (done.exit_code, len(done.stderr.splitlines()),
                                   done.stderr.startswith(message), "secret" in done.stderr)


def test_a_store_without_runs_is_exit_2(tmp_path: Any):
    """An empty (but existing) store: one line saying there is no run yet."""
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    Store.open(url).close()
    done = act("list", "--db", url)
    assert (2, True) == (done.exit_code, done.stderr.startswith(f"error: no runs in {url}"))


# -- PostgreSQL --------------------------------------------------------------------------------

@pytest.mark.postgres
def test_the_same_decisions_on_postgresql(postgres_url: str):
    """Replays into PostgreSQL; list, approve (twice), reject and the expired refusal behave alike."""
    written = write_replays(postgres_url)
    listed = act_json("list", "--db", postgres_url)
    reopen(postgres_url, written.none, "3a5fd1f80f1b")
    first = act_json("approve", "3a5f", "--db", postgres_url)
    second = act_json("approve", "3a5f", "--db", postgres_url)
    rejected = act_json("reject", "3a5f", "--reason", "no", "--db", postgres_url)
    expired = act("approve", "7575", "--db", postgres_url)
    assert ([s["id"] for s in listed["scripts"]], True, False, "rejected", 1) == (
        NONE_IDS, first["recorded"], second["recorded"], rejected["status"], expired.exit_code)
    assert ("rejected", [("approved", "alice", None), ("rejected", "alice", "no")]) == stored(
        postgres_url, written.none, "3a5fd1f80f1b")
