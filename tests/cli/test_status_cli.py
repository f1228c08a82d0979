"""`alluse status`: a replay-only store, and a store whose node wrote its `node_status` row.

The node (another module) creates `node_status` in its own migration; these tests create the
same columns themselves, on SQLite and PostgreSQL, to read it both with and without the table.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from alluse.adapters.store import Store
from alluse.adapters.store.types import UtcDateTime
from alluse.cli import app
from tests.cli.conftest import ReplayStore

runner = CliRunner()
T0 = dt.datetime(2026, 3, 2, 14, 30, tzinfo=dt.UTC)
NODE_STATUS = sa.Table(
    "node_status", sa.MetaData(),
    sa.Column("run_id", sa.String(128), primary_key=True),
    sa.Column("node", sa.String(128)), sa.Column("mode", sa.String(16)),
    sa.Column("started_at", UtcDateTime()), sa.Column("heartbeat_at", UtcDateTime()),
    sa.Column("policy_hash", sa.String(128)), sa.Column("last_reload_at", UtcDateTime()),
    sa.Column("last_reload_error", sa.Text()), sa.Column("broker_state", sa.String(32)),
    sa.Column("next_jobs", sa.JSON()), sa.Column("outbox_depth", sa.Integer()))
JOBS = [{"job": "protocol_check", "at": "2026-03-02T14:45:00+00:00"},
        {"job": "entry_scan", "at": "2026-03-05T15:00:00+00:00"}]


def status_json(url: str, *args: str) -> Any:
    done = runner.invoke(app, ["status", "--db", url, "--format", "json", *args])
    assert (0, "") == (done.exit_code, done.stderr), done.output
    return json.loads(done.stdout)


def with_node(url: str, *, error: str | None = None) -> str:
    """A node run in the store and the node's status row for it (the table created if missing)."""
    with Store.open(url) as store:
        store.begin_run("node-paper", "node", {"mode": "paper"}, "h-new")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        NODE_STATUS.create(conn, checkfirst=True)
        conn.execute(NODE_STATUS.insert().values(
            run_id="node-paper", node="trader-box", mode="paper", started_at=T0,
            heartbeat_at=T0 + dt.timedelta(minutes=5), policy_hash="h-newer", last_reload_at=T0,
            last_reload_error=error, broker_state="connected", next_jobs=JOBS, outbox_depth=3))
    engine.dispose()
    return "node-paper"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """An empty store, once per backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'alluse.db'}"
    else:
        url = str(request.getfixturevalue("postgres_url"))
    Store.open(url).close()
    return url


def test_a_replay_only_store_says_no_node_ran_and_shows_the_run(replay_store: ReplayStore):
    """No node_status table: the message, no node, the run's policy hash and status, script counts."""
    out = status_json(replay_store.url)
    with Store.open(replay_store.url) as store:
        run = store.run(replay_store.none)
        pending = len(store.alerts(replay_store.none, status="pending"))
        scripts = Counter(s.status for s in store.scripts(replay_store.none))
    assert run is not None and scripts, "precondition: the --approve none replay proposed scripts"
    assert ("no node has run on this store", None, replay_store.none, "replay", "done", run.policy_hash,
            dict(scripts), pending) == (
        out["message"], out["node"], out["run"]["run_id"], out["run"]["kind"], out["run"]["status"],
        out["run"]["policy_hash"], out["scripts"], out["pending_alerts"])


def test_a_replay_only_store_in_text(replay_store: ReplayStore):
    """Text: the run line with its status, policy hash, journalled events and script counts, and
    the no-node sentence."""
    with Store.open(replay_store.url) as store:
        run = store.run(replay_store.none)
        journalled = sum(1 for _ in store.events(replay_store.none))
        scripts = Counter(s.status for s in store.scripts(replay_store.none))
        pending = len(store.alerts(replay_store.none, status="pending"))
    assert run is not None
    counts = ", ".join(f"{n} {status}" for status, n in sorted(scripts.items()))
    done = runner.invoke(app, ["status", "--db", replay_store.url])
    assert 0 == done.exit_code
    assert f"Run {replay_store.none} (replay, done)" in done.stdout
    assert f"run policy {run.policy_hash[:12]} · {journalled} events journalled" in done.stdout
    assert f"action scripts: {counts} · alerts pending in the store: {pending}" in done.stdout
    assert done.stdout.endswith("No node has run on this store.\n")


def test_the_node_status_row_is_read_with_its_types(empty_url: str):
    """The node's row: instants aware in UTC, next jobs decoded, every column there (both backends)."""
    run = with_node(empty_url)
    out = status_json(empty_url, "--run", run)
    assert ({"run_id": "node-paper", "node": "trader-box", "mode": "paper",
             "started_at": "2026-03-02T14:30:00+00:00", "heartbeat_at": "2026-03-02T14:35:00+00:00",
             "policy_hash": "h-newer", "last_reload_at": "2026-03-02T14:30:00+00:00",
             "last_reload_error": None, "broker_state": "connected", "next_jobs": JOBS, "outbox_depth": 3},
            None) == (out["node"], out["message"])


def test_the_node_status_in_text_shows_reload_errors_and_next_jobs(empty_url: str):
    """Text: active policy against the run's, the rejected reload with its error, broker, outbox, jobs."""
    with_node(empty_url, error="protocols.yaml:12:3: levels.1.min_atr_multiple: must be > 0")
    done = runner.invoke(app, ["status", "--db", empty_url])
    assert 0 == done.exit_code
    for expected in ("Node trader-box (mode paper)", "active policy h-newer (the run began on h-new)",
                     "last reload 2026-03-02 14:30:00 UTC: rejected: protocols.yaml:12:3: "
                     "levels.1.min_atr_multiple: must be > 0",
                     "broker: connected · outbox depth: 3", "protocol_check", "2026-03-05T15:00:00+00:00"):
        assert expected in done.stdout


def test_a_run_the_node_did_not_run_names_the_nodes_runs(replay_store: ReplayStore):
    """The table exists but has no row for the chosen replay: the message names the node's runs."""
    with_node(replay_store.url)
    out = status_json(replay_store.url, "--run", replay_store.none)
    assert (f"no node has run run {replay_store.none} (node runs in this store: node-paper)", None) == (
        out["message"], out["node"])


def test_status_of_a_store_that_is_not_there_is_exit_2(tmp_path: Any):
    """A SQLite path with no database: one line, exit 2, and no database created."""
    missing = tmp_path / "missing.db"
    done = runner.invoke(app, ["status", "--db", f"sqlite:///{missing}"])
    assert (2, f"error: --db: no database at {missing} (sqlite:///{missing})\n", False) == (
        done.exit_code, done.stderr, missing.exists())
