"""`alluse accounts`, `alluse positions`, `alluse alerts` on the store of two short replays.

What to expect is read from the store the replays wrote (Store API), never copied from a run.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from alluse.adapters.store import AccountRecord, AlertRecord, PositionRecord, Store, TradeRecord
from alluse.cli import app
from tests.cli.conftest import WINDOW, ReplayStore

runner = CliRunner()


def run_json(*args: str) -> Any:
    done = runner.invoke(app, [*args, "--format", "json"])
    assert (0, "") == (done.exit_code, done.stderr), done.output
    return json.loads(done.stdout)


def _holdings(url: str, run_id: str) -> tuple[list[AccountRecord], list[PositionRecord], list[TradeRecord]]:
    with Store.open(url) as store:
        return store.accounts(run_id), store.positions(run_id), store.trades(run_id)


def _iso(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def test_accounts_lists_the_runs_accounts_with_open_positions_and_trades(replay_store: ReplayStore):
    """The automatic replay: every stored account, with its open positions and trades counted."""
    accounts, positions, trades = _holdings(replay_store.url, replay_store.automatic)
    still = Counter(p.account for p in positions if p.closed_at is None)
    traded = Counter(t.account for t in trades)
    assert still and traded, (f"precondition: the automatic replay ({' '.join(WINDOW)}) traded and "
                              "still holds a position at its end")
    out = run_json("accounts", "--run", replay_store.automatic, "--db", replay_store.url)
    assert (replay_store.automatic, [
        (a.id, a.type, a.parent_id, float(a.initial_capital), a.status, still[a.id], traded[a.id])
        for a in accounts]) == (out["run_id"], [
            (a["id"], a["type"], a["parent_id"], a["initial_capital"], a["status"], a["open_positions"],
             a["trades"]) for a in out["accounts"]])


def test_accounts_text_is_a_table(replay_store: ReplayStore):
    """Text: a table titled with the run, a row per account, the capital with separators."""
    accounts, _, _ = _holdings(replay_store.url, replay_store.none)
    assert accounts, "precondition: the --approve none replay stored its accounts"
    done = runner.invoke(app, ["accounts", "--db", replay_store.url])
    assert 0 == done.exit_code
    assert f"Accounts of run {replay_store.none}" in done.stdout
    assert [] == [a.id for a in accounts if a.id not in done.stdout]
    assert [] == [a.id for a in accounts if f"{a.initial_capital:,.2f}" not in done.stdout]


def test_positions_lists_open_and_closed_positions(replay_store: ReplayStore):
    """Every stored position with how it stands; --open keeps only those not closed."""
    _, positions, _ = _holdings(replay_store.url, replay_store.automatic)
    assert {True, False} == {p.closed_at is None for p in positions}, (
        "precondition: the automatic replay ends with open positions and closed ones")
    every = run_json("positions", "--run", replay_store.automatic, "--db", replay_store.url)["positions"]
    still = run_json("positions", "--open", "--run", replay_store.automatic, "--db", replay_store.url)
    assert ([(p.key, p.symbol, _iso(p.expiry), None if p.strike is None else float(p.strike), p.quantity,
              p.state) for p in positions],
            [p.key for p in positions if p.closed_at is None]) == (
        [(p["key"], p["symbol"], p["expiry"], p["strike"], p["quantity"], p["state"]) for p in every],
        [p["key"] for p in still["positions"]])


def test_positions_json_shape(replay_store: ReplayStore):
    """Every position carries the same keys; instants are ISO 8601 in UTC."""
    _, positions, _ = _holdings(replay_store.url, replay_store.automatic)
    assert positions, "precondition: the automatic replay opened a position"
    out = run_json("positions", "--run", replay_store.automatic, "--db", replay_store.url)
    assert ([{"key", "account", "symbol", "right", "strike", "expiry", "quantity", "opened_at", "closed_at",
              "state", "protocol_level"}] * len(positions),
            [p.opened_at.astimezone(dt.UTC).isoformat() for p in positions]) == (
        [set(p) for p in out["positions"]], [p["opened_at"] for p in out["positions"]])


def test_positions_text_says_when_there_are_none(replay_store: ReplayStore):
    """The --approve none replay executed nothing, so holds nothing: one line instead of an empty table."""
    _, positions, _ = _holdings(replay_store.url, replay_store.none)
    assert [] == positions, "precondition: a replay that approves nothing opens no position"
    done = runner.invoke(app, ["positions", "--db", replay_store.url])
    assert (0, f"No positions in run {replay_store.none}.\n") == (done.exit_code, done.stdout)


def _stored_alerts(url: str, run_id: str) -> list[AlertRecord]:
    with Store.open(url) as store:
        return store.alerts(run_id)


def test_alerts_lists_every_alert_of_the_run_in_order(replay_store: ReplayStore):
    """Without filters: every stored alert of the run, by id."""
    stored = _stored_alerts(replay_store.url, replay_store.automatic)
    assert stored, "precondition: the automatic replay raised alerts"
    out = run_json("alerts", "--run", replay_store.automatic, "--db", replay_store.url)
    assert [a.id for a in stored] == [a["id"] for a in out["alerts"]]


def test_alerts_pending_leaves_out_the_others(replay_store: ReplayStore):
    """--pending: only the outbox (delivery status pending), not the suppressed ones."""
    stored = _stored_alerts(replay_store.url, replay_store.automatic)
    statuses = {a.delivery_status for a in stored}
    assert "pending" in statuses and len(statuses) > 1, (
        f"precondition: the automatic replay has pending alerts and others, not only {statuses}")
    out = run_json("alerts", "--pending", "--run", replay_store.automatic, "--db", replay_store.url)
    assert [a.id for a in stored if a.delivery_status == "pending"] == [a["id"] for a in out["alerts"]]


def test_alerts_by_type_and_since(replay_store: ReplayStore):
    """--type (any case) keeps that type's alerts; --since (with an offset) keeps those from then on."""
    stored = _stored_alerts(replay_store.url, replay_store.automatic)
    kinds = Counter(a.type for a in stored)
    assert len(kinds) > 1, f"precondition: the automatic replay raised alerts of several types, not {kinds}"
    kind = min(kinds, key=lambda k: (kinds[k], k))  # the rarest type: the filter leaves most out
    times = sorted({a.ts for a in stored})
    assert len(times) > 1, "precondition: the automatic replay raised alerts at several instants"
    cut = times[len(times) // 2]
    breach = run_json("alerts", "--type", kind.lower(), "--run", replay_store.automatic,
                      "--db", replay_store.url)["alerts"]
    since = run_json("alerts", "--since", cut.astimezone(ZoneInfo("America/New_York")).isoformat(),
                     "--run", replay_store.automatic, "--db", replay_store.url)["alerts"]
    assert ([(a.id, a.type, a.ts.astimezone(dt.UTC).isoformat()) for a in stored if a.type == kind],
            [a.id for a in stored if a.ts >= cut]) == (
        [(a["id"], a["type"], a["ts"]) for a in breach], [a["id"] for a in since])


def test_alerts_limit_keeps_the_most_recent(replay_store: ReplayStore):
    """--limit 2: the last two alerts, still oldest first."""
    stored = _stored_alerts(replay_store.url, replay_store.none)
    assert len(stored) > 2, "precondition: the --approve none replay raised more than two alerts"
    out = run_json("alerts", "--limit", "2", "--db", replay_store.url)
    assert [a.id for a in stored][-2:] == [a["id"] for a in out["alerts"]]


def test_alerts_json_shape(replay_store: ReplayStore):
    """Every alert carries the same keys."""
    alert = run_json("alerts", "--limit", "1", "--db", replay_store.url)["alerts"][0]
    assert {"id", "ts", "type", "priority", "account", "title", "body", "suppressed", "delivery_status",
            "channels", "decision_seq"} == set(alert)


def test_alerts_text_is_a_table(replay_store: ReplayStore):
    """Text: a table of the pending alerts with their type and delivery status."""
    pending = [a for a in _stored_alerts(replay_store.url, replay_store.automatic)
               if a.delivery_status == "pending"]
    assert pending, "precondition: the automatic replay left alerts in the outbox"
    kind = pending[-1].type
    done = runner.invoke(app, ["alerts", "--pending", "--type", kind, "--run", replay_store.automatic,
                               "--db", replay_store.url])
    assert 0 == done.exit_code
    assert f"Pending alerts of run {replay_store.automatic}" in done.stdout and kind in done.stdout
    assert [] == [a.id for a in pending if a.type == kind and f" {a.id} " not in done.stdout]
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
