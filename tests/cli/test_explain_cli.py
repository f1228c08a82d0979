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


ENTRY = Path(__file__).resolve().parents[1] / "scenarios" / "thursday_entry_clears_minimum.jsonl"
PUT = '"symbol":"TSLA","expiry":"2026-11-20","strike":245.0,"right":"P"'


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (f'{{"type":"option_quote","ts":"2026-11-19T10:01:00-05:00",{PUT},"bid":4.3,"ask":4.1}}',
         "field 'bid': bid 4.3 is above ask 4.1 (a crossed quote)"),
        ('{"type":"bar","ts":"2026-11-19T16:00:00-05:00","symbol":"TSLA","open":256.0,'
         '"high":255.0,"low":245.0,"close":250.0,"volume":1000000}',
         "field 'open': open 256.0 is outside the bar's range [low 245.0, high 255.0]"),
        ('{"type":"bar","ts":"2026-11-19T16:00:00-05:00","symbol":"TSLA","open":250.0,'
         '"high":255.0,"low":245.0,"close":244.0,"volume":1000000}',
         "field 'close': close 244.0 is outside the bar's range [low 245.0, high 255.0]"),
        ('{"type":"price","ts":"2026-11-19T10:01:00-05:00","symbol":"TSLA","price":0}',
         "field 'price': must be positive, got 0"),
        ('{"type":"bar","ts":"2026-11-19T16:00:00-05:00","symbol":"TSLA","open":250.0,'
         '"high":255.0,"low":0,"close":250.0,"volume":1000000}',
         "field 'low': must be positive, got 0"),
        ('{"type":"fill","ts":"2026-11-19T10:05:00-05:00","account":"GEN-ACC-001",'
         '"symbol":"TSLA","side":"BUY","quantity":100,"price":0.0}',
         "field 'price': must be positive, got 0.0"),
        (f'{{"type":"fill","ts":"2026-11-19T10:05:00-05:00","account":"GEN-ACC-001",{PUT},'
         '"side":"SELL","quantity":1,"price":0}', "field 'price': must be positive, got 0"),
        (f'{{"type":"fill","ts":"2026-11-23T10:05:00-05:00","account":"GEN-ACC-001",{PUT},'
         '"side":"SELL","quantity":1,"price":4.0}',
         "field 'ts': option fill on 2026-11-23 (New York) is after the contract's expiry "
         "2026-11-20: an expired option cannot trade"),
        (f'{{"type":"expiration","ts":"2026-11-19T16:00:00-05:00","account":"GEN-ACC-001",{PUT},'
         '"quantity":1}', "field 'ts': expiration on 2026-11-19 (New York) is before the "
         "contract's expiry 2026-11-20: only an assignment can come early"),
        (f'{{"type":"assignment","ts":"2026-11-27T16:00:00-05:00","account":"GEN-ACC-001",{PUT},'
         '"quantity":1}', "field 'ts': assignment on 2026-11-27 (New York) is 7 days after the "
         "contract's expiry 2026-11-20; brokers report it within 5"),
    ],
    ids=["crossed_quote", "open_above_high", "close_below_low", "zero_price", "zero_bar_low",
         "zero_stock_fill", "zero_option_fill", "fill_after_expiry", "expiration_before_expiry",
         "assignment_long_after_expiry"],
)
def test_impossible_event_is_refused_with_line_and_field_before_any_output(tmp_path, bad, message):
    """The user sees `line N: field 'X': …`, exit 1, and no decision from the lines before it."""
    f = tmp_path / "e.jsonl"
    good = ENTRY.read_text(encoding="utf-8")  # on its own, proposes an entry script (exit 0)
    f.write_text(good + bad + "\n", encoding="utf-8")
    result = runner.invoke(app, ["explain", "--events", str(f), "--format", "json"])
    line = len(good.splitlines()) + 1
    assert (1, f"error: {f}: line {line}: {message}\n", "") == (
        result.exit_code, result.stderr, result.stdout)


def test_a_price_that_goes_back_in_time_is_refused_with_its_line(tmp_path):
    """A 10:00 TSLA price after a 15:00 one (an old move replayed against the positions): line 2,
    field ts, exit 1; another symbol's stream is not held to TSLA's clock."""
    f = tmp_path / "back.jsonl"
    f.write_text(
        '{"type":"price","ts":"2026-11-19T15:00:00-05:00","symbol":"TSLA","price":250.0}\n'
        '{"type":"price","ts":"2026-11-19T10:00:00-05:00","symbol":"NVDA","price":130.0}\n'
        '{"type":"price","ts":"2026-11-19T10:00:00-05:00","symbol":"TSLA","price":230.0}\n')
    result = runner.invoke(app, ["explain", "--events", str(f)])
    assert (1, f"error: {f}: line 3: field 'ts': 2026-11-19T10:00:00-05:00 is earlier than the "
               "previous price:TSLA event (2026-11-19T15:00:00-05:00): events of one stream must "
               "come in time order") == (result.exit_code, result.stderr.strip().replace("\n", " "))
