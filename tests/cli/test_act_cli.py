"""`alluse act list|show|approve|reject` on stores written by replays and by a (recorded) node run.

Ids, statuses, expiries and the run's clock come from what the replays stored (tests/cli/conftest.py
helpers), never from a run's printed output: the engine changes what a window proposes.
"""

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
from tests.cli.conftest import ReplayStore, a_script, last_event_at, stored_scripts, write_replays

runner = CliRunner()
LATER = dt.datetime(2099, 1, 1, tzinfo=dt.UTC)


def act(*args: str) -> Any:
    return runner.invoke(app, ["act", *args])


def act_json(*args: str) -> Any:
    done = act(*args, "--format", "json")
    assert (0, "") == (done.exit_code, done.stderr), done.output
    return json.loads(done.stdout)


def utc(ts: dt.datetime) -> str:
    return ts.astimezone(dt.UTC).isoformat()


def shown(ts: dt.datetime) -> str:
    """An instant as the commands print it."""
    return ts.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def reopen(url: str, run_id: str, script_id: str, expires_at: dt.datetime = LATER) -> None:
    """Move a script's expiry past its run's clock (a replay's scripts expire within hours)."""
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


def proposed(url: str, run_id: str) -> ScriptRecord:
    """The first proposed script of the run (the --approve none run proposes and approves nothing)."""
    return a_script(url, run_id, "proposed script", lambda s: s.status == "proposed")


def expired(url: str, run_id: str, but: str = "") -> ScriptRecord:
    """A proposed script (other than `but`) whose expiry is before the run's clock, its last event."""
    clock = last_event_at(url, run_id)
    return a_script(url, run_id, "proposed script that expired before the run's last event"
                    + (f" besides {but}" if but else ""),
                    lambda s: s.status == "proposed" and s.expires_at < clock and s.id != but)


def executed(url: str, run_id: str) -> ScriptRecord:
    """A script whose orders the automatic replay handed to its broker."""
    return a_script(url, run_id, "executed script", lambda s: s.status == "executed")


def prefix(script_id: str, url: str, run_id: str) -> str:
    """The shortest prefix (at least 4 characters) that names only this script in its run."""
    others = [s.id for s in stored_scripts(url, run_id) if s.id != script_id]
    n = next(n for n in range(4, len(script_id) + 1)
             if not any(o.startswith(script_id[:n]) for o in others))
    return script_id[:n]


@pytest.fixture(autouse=True)
def operator(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ALLUSE_OPERATOR", "alice")
    return "alice"


@pytest.fixture
def open_script(replay_store: ReplayStore) -> str:
    """The id of the none run's first proposed script, its expiry moved past the run's clock."""
    sid = proposed(replay_store.url, replay_store.none).id
    reopen(replay_store.url, replay_store.none, sid)
    return sid


# -- list and show ----------------------------------------------------------------------------

def test_list_defaults_to_the_most_recent_run_and_shows_its_proposed_scripts(replay_store: ReplayStore):
    """The --approve none replay is the latest run: its scripts by expiry, each flagged expired
    against the run's clock, its last journalled event."""
    clock = last_event_at(replay_store.url, replay_store.none)
    scripts = stored_scripts(replay_store.url, replay_store.none)
    assert scripts, "precondition: the --approve none replay proposed no script"
    out = act_json("list", "--db", replay_store.url)
    expected = [(s.id, s.status, s.expires_at < clock)
                for s in sorted(scripts, key=lambda s: (s.expires_at, s.id))]
    assert (replay_store.none, expected, "last_event", utc(clock)) == (
        out["run_id"], [(s["id"], s["status"], s["expired"]) for s in out["scripts"]],
        out["clock"]["source"], out["clock"]["at"])
    assert {"proposed"} == {s["status"] for s in out["scripts"]}  # nothing approves them


def test_list_filters_by_run_and_status(replay_store: ReplayStore):
    """--run picks the automatic replay; --status executed keeps exactly its executed scripts."""
    scripts = stored_scripts(replay_store.url, replay_store.automatic)
    wanted = [s.id for s in scripts if s.status == "executed"]
    assert wanted and len(wanted) < len(scripts), (
        "precondition: the automatic replay has executed scripts and scripts in another status")
    out = act_json("list", "--db", replay_store.url, "--run", replay_store.automatic, "--status", "executed")
    assert (replay_store.automatic, wanted) == (out["run_id"], [s["id"] for s in out["scripts"]])


def test_list_json_shape_names_every_field(replay_store: ReplayStore):
    """Each listed script carries the same keys, with ISO 8601 instants in UTC."""
    first = stored_scripts(replay_store.url, replay_store.none)[0]
    script = act_json("list", "--db", replay_store.url)["scripts"][0]
    created = dt.datetime.fromisoformat(first.script["created_at"])
    assert ({"id", "status", "expired", "account", "approval", "title", "created_at", "expires_at",
             "decision_seq"}, first.id, utc(first.expires_at), utc(created)) == (
        set(script), script["id"], script["expires_at"], script["created_at"])


def test_list_text_is_a_table_of_the_run(replay_store: ReplayStore):
    """Text: a titled table with each script's id and status, and which clock judged expiry."""
    ids = [s.id for s in stored_scripts(replay_store.url, replay_store.none)]
    expired(replay_store.url, replay_store.none)
    done = act("list", "--db", replay_store.url)
    assert 0 == done.exit_code
    assert [] == [sid for sid in ids if sid not in done.stdout]
    assert f"Action scripts of run {replay_store.none}" in done.stdout
    assert "proposed (expired)" in done.stdout and "simulated clock" in done.stdout


def test_list_refuses_an_unknown_status(replay_store: ReplayStore):
    """A status the store does not know: one line naming the valid ones, exit 2."""
    done = act("list", "--db", replay_store.url, "--status", "pending")
    assert (2, "error: --status: 'pending' is not one of proposed, approved, executed, expired, "
               "rejected\n") == (done.exit_code, done.stderr)


def _step_line(i: int, step: dict[str, Any]) -> str:
    if step["kind"] == "order":
        contract = f" {step['expiry']} {step['strike']:g}{step['right']}" if step.get("right") else ""
        return (f"{i}. {step['action']} {step['quantity']} {step['symbol']}{contract} {step['order_type']}"
                f" limit {step['limit']:.2f}")
    return f"{i}. {step['text']}"


def test_show_renders_the_trigger_steps_and_expiry(replay_store: ReplayStore):
    """Text: title, trigger rule with its values, every step numbered in order, when it was proposed
    and when it expires (both in UTC), no decisions.

    The script shown is the automatic run's with the most steps: a roll's orders and its note."""
    script = max(stored_scripts(replay_store.url, replay_store.automatic),
                 key=lambda s: len(s.script["steps"]))
    steps = script.script["steps"]
    assert len(steps) > 1 and {"order"} <= {s["kind"] for s in steps} <= {"order", "note"}, (
        f"precondition: the automatic replay proposed a script of several orders and notes, not {steps}")
    trigger = script.script["trigger"]
    done = act("show", prefix(script.id, replay_store.url, replay_store.automatic),
               "--run", replay_store.automatic, "--db", replay_store.url)
    assert 0 == done.exit_code
    lines = [line.strip() for line in done.stdout.splitlines()]
    values = ", ".join(f"{k} {v:.10g}" if isinstance(v, float) else f"{k} {v}"
                       for k, v in trigger["values"].items())
    numbered = [_step_line(i, s) for i, s in enumerate(steps, 1)]
    assert (script.script["title"], f"trigger: {trigger['rule']} — {values}", numbered) == (
        lines[0], next(x for x in lines if x.startswith("trigger: ")),
        [x for x in lines if x[:1].isdigit() and x[1:3] == ". "])
    created = dt.datetime.fromisoformat(script.script["created_at"])  # stored in exchange time
    assert f"created {shown(created)} · expires {shown(script.expires_at)}" in done.stdout
    assert "decisions: none yet" in lines


def test_show_json_holds_the_stored_script_and_its_decisions(replay_store: ReplayStore):
    """JSON: the summary fields, the script document as stored (trigger rule, steps), no decisions."""
    script = proposed(replay_store.url, replay_store.none)
    out = act_json("show", script.id, "--db", replay_store.url)
    assert (script.id, "proposed", script.script, script.script["trigger"]["rule"], [],
            replay_store.none) == (out["id"], out["status"], out["script"], out["script"]["trigger"]["rule"],
                                   out["approvals"], out["run_id"])


def test_an_unknown_script_id_is_exit_2(replay_store: ReplayStore):
    """No script starts with the id: one line saying so, exit 2."""
    done = act("show", "no-such-script", "--db", replay_store.url)
    assert (2, 1) == (done.exit_code, len(done.stderr.splitlines()))
    assert done.stderr.startswith(f"error: no action script 'no-such-script' in run {replay_store.none}")


# -- approve and reject -----------------------------------------------------------------------

def test_approve_records_who_and_when_and_moves_the_script_to_approved(replay_store: ReplayStore,
                                                                       open_script: str):
    """An open proposed script: one approvals row (alice, now in UTC), status approved."""
    before = dt.datetime.now(dt.UTC)
    given = prefix(open_script, replay_store.url, replay_store.none)
    out = act_json("approve", given, "--db", replay_store.url)
    after = dt.datetime.now(dt.UTC)
    at = dt.datetime.fromisoformat(out["approval"]["at"])
    assert ({"run_id": replay_store.none, "script_id": open_script, "decision": "approved",
             "recorded": True, "status": "approved", "note": None, "expires_at": utc(LATER),
             "approval": {"decision": "approved", "who": "alice", "at": out["approval"]["at"],
                          "reason": None}},
            True) == (out, before <= at <= after and at.utcoffset() == dt.timedelta(0))
    assert ("approved", [("approved", "alice", None)]) == stored(replay_store.url, replay_store.none,
                                                                 open_script)


def test_approving_twice_is_a_note_and_no_second_row(replay_store: ReplayStore, open_script: str,
                                                     monkeypatch: pytest.MonkeyPatch):
    """The second approval (by someone else) changes nothing and exits 0 with a note."""
    assert 0 == act("approve", open_script, "--db", replay_store.url).exit_code
    monkeypatch.setenv("ALLUSE_OPERATOR", "bob")
    again = act("approve", open_script, "--db", replay_store.url)
    note = f"note: script {open_script} is already approved by alice at "
    assert (0, True, True) == (again.exit_code, again.stdout.startswith(note),
                               again.stdout.endswith(": nothing changed\n"))
    assert ("approved", [("approved", "alice", None)]) == stored(replay_store.url, replay_store.none,
                                                                 open_script)


def test_approving_twice_in_json_says_nothing_was_recorded(replay_store: ReplayStore, open_script: str):
    """JSON of a repeated approval: recorded false, no approval row, the note."""
    act_json("approve", open_script, "--db", replay_store.url)
    out = act_json("approve", open_script, "--db", replay_store.url)
    assert (False, None, "approved") == (out["recorded"], out["approval"], out["status"])
    assert out["note"].startswith(f"script {open_script} is already approved by alice")


def test_approving_an_expired_script_is_exit_1_and_writes_nothing(replay_store: ReplayStore):
    """Its expiry is before the run's clock: one line naming both instants, exit 1, still proposed."""
    script = expired(replay_store.url, replay_store.none)
    clock = last_event_at(replay_store.url, replay_store.none)
    done = act("approve", script.id, "--db", replay_store.url)
    assert (1, "", f"error: script {script.id} expired at {shown(script.expires_at)} (the clock is at "
                   f"{shown(clock)}): it can no longer be approved; run "
                   f"{replay_store.none} is simulated, so its clock is its last event; nothing was "
                   "recorded\n") == (done.exit_code, done.stdout, done.stderr)
    assert ("proposed", []) == stored(replay_store.url, replay_store.none, script.id)


def test_reject_with_a_reason_records_it(replay_store: ReplayStore):
    """A proposed script rejected with --reason: status rejected, the row keeps the reason."""
    sid = proposed(replay_store.url, replay_store.none).id
    done = act("reject", prefix(sid, replay_store.url, replay_store.none), "--reason", "earnings next week",
               "--db", replay_store.url)
    assert 0 == done.exit_code
    assert done.stdout.startswith(f"rejected {sid} as alice at ")
    assert ("rejected", [("rejected", "alice", "earnings next week")]) == stored(
        replay_store.url, replay_store.none, sid)


def test_an_approved_script_not_yet_executed_can_be_rejected(replay_store: ReplayStore, open_script: str):
    """Approve, then change one's mind: two rows in order, the script ends rejected."""
    act_json("approve", open_script, "--db", replay_store.url)
    out = act_json("reject", open_script, "--reason", "changed my mind", "--db", replay_store.url)
    assert ("rejected", [("approved", "alice", None), ("rejected", "alice", "changed my mind")]) == (
        out["status"], stored(replay_store.url, replay_store.none, open_script)[1])


def test_a_rejected_script_cannot_be_approved(replay_store: ReplayStore, open_script: str):
    """Reject then approve: exit 1, the rejection stands."""
    act_json("reject", open_script, "--db", replay_store.url)
    done = act("approve", open_script, "--db", replay_store.url)
    assert 1 == done.exit_code
    assert done.stderr.startswith(f"error: script {open_script} was rejected by alice at ")
    assert ("rejected", [("rejected", "alice", None)]) == stored(replay_store.url, replay_store.none,
                                                                 open_script)


def test_an_executed_script_cannot_be_rejected(replay_store: ReplayStore):
    """A script the automatic replay executed: rejecting it is exit 1 and records nothing."""
    sid = executed(replay_store.url, replay_store.automatic).id
    done = act("reject", prefix(sid, replay_store.url, replay_store.automatic),
               "--run", replay_store.automatic, "--db", replay_store.url)
    assert (1, f"error: script {sid} is executed: its orders were already handed to the broker, "
               "so it cannot be rejected; nothing was recorded\n") == (done.exit_code, done.stderr)
    assert ("executed", []) == stored(replay_store.url, replay_store.automatic, sid)


def test_approving_an_executed_script_is_a_note(replay_store: ReplayStore):
    """What the operator asked for already happened (policy approved it): exit 0, nothing written."""
    sid = executed(replay_store.url, replay_store.automatic).id
    done = act("approve", sid, "--run", replay_store.automatic, "--db", replay_store.url)
    assert (0, f"note: script {sid} is already executed: nothing changed\n") == (
        done.exit_code, done.stdout)
    assert ("executed", []) == stored(replay_store.url, replay_store.automatic, sid)


def test_the_operator_defaults_to_the_os_user(replay_store: ReplayStore, open_script: str,
                                              monkeypatch: pytest.MonkeyPatch):
    """Without ALLUSE_OPERATOR the approval is recorded under getpass.getuser()."""
    monkeypatch.delenv("ALLUSE_OPERATOR")
    assert getpass.getuser() == act_json("approve", open_script, "--db", replay_store.url)["approval"]["who"]


def test_approving_a_replays_script_says_no_node_will_execute_it(replay_store: ReplayStore,
                                                                 open_script: str):
    """Text mode: the decision line, and a note on stderr that a replay's scripts are not executed."""
    done = act("approve", open_script, "--db", replay_store.url)
    assert (0, f"note: run {replay_store.none} is a replay: no node executes its scripts\n") == (
        done.exit_code, done.stderr)
    assert done.stdout.startswith(f"approved {open_script} as alice at ")


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
    ids = [s.id for s in stored_scripts(postgres_url, written.none)]  # before an expiry moves
    sid = proposed(postgres_url, written.none).id
    late = expired(postgres_url, written.none, but=sid).id
    reopen(postgres_url, written.none, sid)
    first = act_json("approve", sid, "--db", postgres_url)
    second = act_json("approve", sid, "--db", postgres_url)
    rejected = act_json("reject", sid, "--reason", "no", "--db", postgres_url)
    refused = act("approve", late, "--db", postgres_url)
    assert (ids, True, False, "rejected", (1, True)) == (
        [s["id"] for s in listed["scripts"]], first["recorded"], second["recorded"], rejected["status"],
        (refused.exit_code, refused.stderr.startswith(f"error: script {late} expired at ")))
    assert ("rejected", [("approved", "alice", None), ("rejected", "alice", "no")], ("proposed", [])) == (
        *stored(postgres_url, written.none, sid), stored(postgres_url, written.none, late))
