"""`alluse accounts`, `alluse positions`, `alluse alerts` on the store of two short replays."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from alluse.adapters.store import Store
from alluse.cli import app
from tests.cli.conftest import ReplayStore

runner = CliRunner()


def run_json(*args: str) -> Any:
    done = runner.invoke(app, [*args, "--format", "json"])
    assert (0, "") == (done.exit_code, done.stderr), done.output
    return json.loads(done.stdout)


def test_accounts_lists_the_runs_accounts_with_open_positions_and_trades(replay_store: ReplayStore):
    """The automatic replay: three root accounts; COM-ACC traded twice and holds one open put."""
    out = run_json("accounts", "--run", replay_store.automatic, "--db", replay_store.url)
    seen = [(a["id"], a["type"], a["parent_id"], a["initial_capital"], a["status"], a["open_positions"],
             a["trades"]) for a in out["accounts"]]
    assert (replay_store.automatic, [
        ("GEN-ACC-001", "GEN-ACC", None, 40000.0, "active", 0, 0),
        ("REV-ACC-001", "REV-ACC", None, 30000.0, "active", 0, 0),
        ("COM-ACC-001", "COM-ACC", None, 30000.0, "active", 1, 2),
    ]) == (out["run_id"], sorted(seen, key=lambda a: ["GEN", "REV", "COM"].index(a[0][:3])))


def test_accounts_text_is_a_table(replay_store: ReplayStore):
    """Text: a table titled with the run, a row per account, the capital with separators."""
    done = runner.invoke(app, ["accounts", "--db", replay_store.url])
    assert 0 == done.exit_code
    assert f"Accounts of run {replay_store.none}" in done.stdout
    assert all(f"{t}-ACC-001" in done.stdout for t in ("GEN", "REV", "COM")) and "40,000.00" in done.stdout


def test_positions_lists_open_and_closed_puts(replay_store: ReplayStore):
    """Two wheel puts: the first expired, the second still open; --open keeps only it."""
    every = run_json("positions", "--run", replay_store.automatic, "--db", replay_store.url)["positions"]
    still = run_json("positions", "--open", "--run", replay_store.automatic, "--db", replay_store.url)
    assert ([("AAPL", "2024-04-12", 167.5, -1, "expired"), ("AAPL", "2024-04-26", 160.0, -1, "open")],
            [p["key"] for p in every if p["state"] == "open"]) == (
        [(p["symbol"], p["expiry"], p["strike"], p["quantity"], p["state"]) for p in every],
        [p["key"] for p in still["positions"]])


def test_positions_json_shape(replay_store: ReplayStore):
    """Every position carries the same keys; instants are ISO 8601 in UTC."""
    out = run_json("positions", "--run", replay_store.automatic, "--db", replay_store.url)
    position = out["positions"][0]
    assert ({"key", "account", "symbol", "right", "strike", "expiry", "quantity", "opened_at", "closed_at",
             "state", "protocol_level"}, "2024-04-04T14:00:00+00:00") == (
        set(position), position["opened_at"])


def test_positions_text_says_when_there_are_none(replay_store: ReplayStore):
    """The --approve none replay traded nothing: one line instead of an empty table."""
    done = runner.invoke(app, ["positions", "--db", replay_store.url])
    assert (0, f"No positions in run {replay_store.none}.\n") == (done.exit_code, done.stdout)


def _stored_alerts(url: str, run_id: str) -> list[Any]:
    with Store.open(url) as store:
        return store.alerts(run_id)


def test_alerts_lists_every_alert_of_the_run_in_order(replay_store: ReplayStore):
    """Without filters: every stored alert of the run, by id."""
    out = run_json("alerts", "--run", replay_store.automatic, "--db", replay_store.url)
    assert [a.id for a in _stored_alerts(replay_store.url, replay_store.automatic)] == [
        a["id"] for a in out["alerts"]]


def test_alerts_pending_leaves_out_suppressed_ones(replay_store: ReplayStore):
    """--pending: only the outbox (delivery status pending), and there are fewer of them."""
    stored = _stored_alerts(replay_store.url, replay_store.automatic)
    out = run_json("alerts", "--pending", "--run", replay_store.automatic, "--db", replay_store.url)
    assert [a.id for a in stored if a.delivery_status == "pending"] == [a["id"] for a in out["alerts"]]
    assert len(out["alerts"]) < len(stored)


def test_alerts_by_type_and_since(replay_store: ReplayStore):
    """--type (any case) keeps the protocol breach; --since keeps the alerts from that instant on."""
    breach = run_json("alerts", "--type", "protocol_breach", "--run", replay_store.automatic,
                      "--db", replay_store.url)["alerts"]
    since = run_json("alerts", "--since", "2024-04-18T10:00:00-04:00", "--run", replay_store.automatic,
                     "--db", replay_store.url)["alerts"]
    stored = _stored_alerts(replay_store.url, replay_store.automatic)
    assert ([("PROTOCOL_BREACH", "2024-04-19T20:00:00+00:00")],
            [a.id for a in stored if a.ts.isoformat() >= "2024-04-18T14:00:00+00:00"]) == (
        [(a["type"], a["ts"]) for a in breach], [a["id"] for a in since])


def test_alerts_limit_keeps_the_most_recent(replay_store: ReplayStore):
    """--limit 2: the last two alerts, still oldest first."""
    out = run_json("alerts", "--limit", "2", "--db", replay_store.url)
    assert [a.id for a in _stored_alerts(replay_store.url, replay_store.none)][-2:] == [
        a["id"] for a in out["alerts"]]


def test_alerts_json_shape(replay_store: ReplayStore):
    """Every alert carries the same keys."""
    alert = run_json("alerts", "--limit", "1", "--db", replay_store.url)["alerts"][0]
    assert {"id", "ts", "type", "priority", "account", "title", "body", "suppressed", "delivery_status",
            "channels", "decision_seq"} == set(alert)


def test_alerts_text_is_a_table(replay_store: ReplayStore):
    """Text: a table of the pending alerts with their type and delivery status."""
    done = runner.invoke(app, ["alerts", "--pending", "--type", "PROTOCOL_BREACH", "--run",
                               replay_store.automatic, "--db", replay_store.url])
    assert 0 == done.exit_code
    assert "Pending alerts of run" in done.stdout and "PROTOCOL_BREACH" in done.stdout
    assert "pending" in done.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["alerts", "--since", "last tuesday"], "error: --since: 'last tuesday' is not a date or date-time"),
    (["alerts", "--run", "nope"], "error: --run: no run 'nope' in "),
    (["positions", "--run", "nope"], "error: --run: no run 'nope' in "),
    (["accounts", "--run", "nope"], "error: --run: no run 'nope' in "),
])
def test_bad_input_is_one_line_and_exit_2(replay_store: ReplayStore, args: list[str], message: str):
    """A bad date-time or an unknown run: one line, exit 2, no traceback."""
    done = runner.invoke(app, [*args, "--db", replay_store.url])
    assert (2, 1, True) == (done.exit_code, len(done.stderr.splitlines()), done.stderr.startswith(message))
