"""`alluse explain` / `dry-run` on the scenario files, held steady by syrupy snapshots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alluse.cli import app

SCENARIOS = sorted((Path(__file__).resolve().parents[1] / "scenarios").glob("*.jsonl"))
runner = CliRunner()

JSON_KEYS = {"ts", "event_index", "policy_hash", "fired", "not_fired", "transitions", "alerts",
             "scripts"}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.stem)
def test_explain_json_matches_snapshot(scenario, snapshot):
    """JSON Lines: one object per event that produced anything, stable byte for byte."""
    result = runner.invoke(app, ["explain", "--events", str(scenario), "--format", "json"])
    assert 0 == result.exit_code, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(JSON_KEYS <= set(obj) for obj in lines)
    assert snapshot == result.stdout


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.stem)
def test_explain_text_matches_snapshot(scenario, snapshot):
    """Text for people: what fired and why, per event."""
    result = runner.invoke(app, ["explain", "--events", str(scenario)], env={"COLUMNS": "200"})
    assert 0 == result.exit_code, result.output
    assert snapshot == result.stdout


def test_dry_run_says_nothing_was_sent():
    """dry-run has explain's contract and says it touched no broker or store."""
    result = runner.invoke(app, ["dry-run", "--events", str(SCENARIOS[0])], env={"COLUMNS": "200"})
    assert 0 == result.exit_code
    assert "dry run: nothing sent, nothing stored" in result.stdout


def test_bad_event_line_is_an_error_with_line_and_field(tmp_path):
    """A bad event names the line and the field; exit 1, no traceback."""
    f = tmp_path / "e.jsonl"
    f.write_text('{"type":"clock","ts":"2026-11-19T10:00:00-05:00","name":"entry_scan"}\n'
                 '{"type":"price","ts":"2026-11-19T10:00:00-05:00","symbol":"TSLA","price":"x"}\n')
    result = runner.invoke(app, ["explain", "--events", str(f)])
    assert 1 == result.exit_code
    assert "line 2" in result.stderr and "price" in result.stderr
    assert "Traceback" not in result.output


def test_missing_events_file_is_a_usage_error(tmp_path):
    """Exit 2 and a one-line message for a missing file."""
    result = runner.invoke(app, ["explain", "--events", str(tmp_path / "nope.jsonl")])
    assert 2 == result.exit_code
    assert "not found" in result.stderr


def test_capital_outside_policy_bounds_is_a_usage_error():
    """--capital is checked against accounts.yaml capital bounds."""
    result = runner.invoke(app, ["explain", "--events", str(SCENARIOS[0]), "--capital", "5"])
    assert 2 == result.exit_code
    assert "--capital" in result.stderr


def test_policy_graph_prints_mermaid_for_each_machine():
    """`alluse policy graph` shows the protocol, wheel and account machines."""
    result = runner.invoke(app, ["policy", "graph"])
    assert 0 == result.exit_code
    assert 3 == result.stdout.count("stateDiagram-v2")
    assert "L0 --> L1: to_L1" in result.stdout
    assert "short_put --> stock: put_assigned" in result.stdout


def test_event_the_engine_refuses_is_reported_with_its_line(tmp_path):
    """An account not in the tree is an error naming the event's line in the file (blank lines count)."""
    f = tmp_path / "e.jsonl"
    f.write_text('{"type":"clock","ts":"2026-11-19T10:00:00-05:00","name":"fork_check"}\n\n'
                 '{"type":"fill","ts":"2026-11-19T10:05:00-05:00","account":"GEN-ACC-009",'
                 '"symbol":"TSLA","side":"BUY","quantity":100,"price":250.0}\n')
    result = runner.invoke(app, ["explain", "--events", str(f)])
    assert 1 == result.exit_code
    assert "line 3: " in result.stderr and "unknown account 'GEN-ACC-009'" in result.stderr
