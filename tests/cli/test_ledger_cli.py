"""`alluse ledger`: the tax_rules examples through the command line, output formats, errors."""


from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from alluse.cli import ledger_cmd
from alluse.cli.ledger_cmd import default_accounts

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ledger"
runner = CliRunner()


def _app() -> typer.Typer:
    """A tiny app with only this command (plus a no-op so Typer keeps sub-command names)."""
    app = typer.Typer()
    ledger_cmd.register(app)

    @app.command("noop")
    def noop() -> None:
        """Keeps `ledger` a sub-command."""

    return app


def run(*args: str, app: typer.Typer | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(app or _app(), ["ledger", *args])


def run_json(fixture: str) -> dict[str, object]:
    result = run("--events", str(FIXTURES / fixture), "--format", "json")
    assert (0, "") == (result.exit_code, result.stderr)
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_example_a_wash_sale_through_the_cli():
    """A: the $250 loss is disallowed and the rebought shares carry a $1,050 basis."""
    assert {"realized": [{"date": "2026-02-02", "account": "GEN-ACC-001", "symbol": "X",
                          "amount": 0.0, "character": "ST", "disallowed": 250.0}],
            "lots": [{"account": "GEN-ACC-001", "symbol": "X", "quantity": 100, "basis": 1050.0,
                      "holding_period_start": "2026-01-23"}]} == run_json("example_a_wash_sale.jsonl")


def test_example_b_put_assigned_through_the_cli():
    """B: 100 shares at a $7,100 basis held from the assignment date, nothing realized."""
    assert {"realized": [],
            "lots": [{"account": "COM-ACC-001", "symbol": "X", "quantity": 100, "basis": 7100.0,
                      "holding_period_start": "2026-03-20"}]} == run_json("example_b_put_assigned.jsonl")


def test_example_c_put_expiring_in_next_year_through_the_cli():
    """C: the $235 premium is a short-term gain dated in January of the next year."""
    assert {"realized": [{"date": "2027-01-15", "account": "REV-ACC-001", "symbol": "X",
                          "amount": 235.0, "character": "ST", "disallowed": 0.0}],
            "lots": []} == run_json("example_c_put_expires_next_year.jsonl")


def test_example_d_called_away_through_the_cli():
    """D: $8,750 realized on a $7,100 basis: a $1,650 short-term gain, nothing left."""
    assert {"realized": [{"date": "2026-04-17", "account": "COM-ACC-001", "symbol": "X",
                          "amount": 1650.0, "character": "ST", "disallowed": 0.0}],
            "lots": []} == run_json("example_d_called_away.jsonl")


def test_json_amounts_are_written_with_two_decimals():
    """Amounts are JSON numbers printed from cents, e.g. 1650.00 and 0.00."""
    result = run("--events", str(FIXTURES / "example_d_called_away.jsonl"), "--format", "json")
    assert '"amount": 1650.00, "character": "ST", "disallowed": 0.00}' in result.stdout


def test_open_option_lot_carries_expiry_strike_and_right(tmp_path: Path):
    """A short put still open is listed with its contract, negative quantity and premium."""
    events = tmp_path / "open.jsonl"
    events.write_text(
        '{"type":"fill","ts":"2026-12-15T10:30:00-05:00","account":"REV-ACC-001","symbol":"TSLA",'
        '"expiry":"2027-01-15","strike":240.5,"right":"P","side":"SELL","quantity":2,"price":2.35,'
        '"commission":1.3}\n', encoding="utf-8")
    result = run("--events", str(events), "--format", "json")
    assert {"realized": [], "lots": [{"account": "REV-ACC-001", "symbol": "TSLA", "quantity": -2,
                                      "basis": 468.7, "holding_period_start": "2026-12-15",
                                      "expiry": "2027-01-15", "strike": 240.5, "right": "P"}]} \
        == json.loads(result.stdout)


def test_text_output_shows_realized_held_and_cash():
    """The text report has the realized gain, the remaining lot and each account's cash."""
    result = run("--events", str(FIXTURES / "example_a_wash_sale.jsonl"))
    assert 0 == result.exit_code
    for expected in ("Realized — GEN-ACC-001", "sold", "250.00", "Held", "1,050.00",
                     "2026-01-23", "38,950.00", "Accounts (capital 100,000.00)"):
        assert expected in result.stdout


def test_capital_sets_the_account_split():
    """--capital splits 40/30/30 and the text report shows the starting cash."""
    result = run("--events", str(FIXTURES / "example_c_put_expires_next_year.jsonl"),
                 "--capital", "250000")
    assert all(s in result.stdout for s in ("100,000.00", "75,235.00", "Held: nothing"))


def test_default_accounts_split_40_30_30_to_the_cent():
    """The split adds up to the capital exactly; the last account takes the rounding."""
    assert {"GEN-ACC-001": Decimal("40000.00"), "REV-ACC-001": Decimal("30000.00"),
            "COM-ACC-001": Decimal("30000.00")} == default_accounts(Decimal(100000))
    odd = default_accounts(Decimal("100000.05"))
    assert (Decimal("40000.02"), Decimal("30000.02"), Decimal("30000.01")) == tuple(odd.values())
    assert Decimal("100000.05") == sum(odd.values())


def test_missing_events_file_is_a_usage_error(tmp_path: Path):
    """A file that does not exist: one line on stderr, exit 2."""
    missing = tmp_path / "nope.jsonl"
    result = run("--events", str(missing))
    assert (2, f"error: --events: file '{missing}' not found\n", "") == (
        result.exit_code, result.stderr, result.stdout)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"type":"fill","ts":"2026-01-05T10:00:00-05:00","account":"GEN-ACC-009","symbol":"X",'
         '"side":"BUY","quantity":1,"price":1.0}',
         "line 2: field 'account': unknown account 'GEN-ACC-009' (known: COM-ACC-001, GEN-ACC-001, "
         "REV-ACC-001)"),
        ('{"type":"fill","ts":"2026-01-05T10:00:00-05:00","account":"GEN-ACC-001","symbol":"X",'
         '"side":"BUY","quantity":1,"price":-1.0}',
         "line 2: field 'price': must be positive, got -1.0"),
        ('{"type":"expiration","ts":"2026-01-16T17:00:00-05:00","account":"GEN-ACC-001",'
         '"symbol":"X","expiry":"2026-01-16","strike":80,"right":"P","quantity":1}',
         "line 2: field 'quantity': expiration of 1 X 2026-01-16 80P in 'GEN-ACC-001', which holds "
         "0: needs a position of at least 1"),
        ('{"type":"fill",', "line 2: invalid JSON: Expecting property name enclosed in double "
         "quotes (column 16)"),
    ],
)
def test_bad_input_is_one_error_line_and_exit_1(tmp_path: Path, line: str, message: str):
    """Bad event lines and impossible events: `error: FILE: line N: …` on stderr, exit 1."""
    events = tmp_path / "bad.jsonl"
    events.write_text('{"type":"clock","ts":"2026-01-02T09:00:00-05:00","name":"entry_scan"}\n'
                      + line + "\n", encoding="utf-8")
    result = run("--events", str(events))
    assert (1, f"error: {events}: {message}\n", "") == (result.exit_code, result.stderr, result.stdout)


def test_non_utf8_file_is_bad_input(tmp_path: Path):
    """Bytes that are not UTF-8 are reported, not a traceback."""
    events = tmp_path / "latin1.jsonl"
    events.write_bytes(b'\n{"type":"clock","ts":"2026-01-02T09:00:00-05:00","name":"caf\xe9"}\n')
    result = run("--events", str(events))
    assert (1, f"error: {events}: line 2: not UTF-8 text (byte 0xe9 at offset 61)\n") == (
        result.exit_code, result.stderr)


def test_non_positive_capital_is_a_usage_error():
    """--capital must be a positive amount."""
    result = run("--events", str(FIXTURES / "example_a_wash_sale.jsonl"), "--capital", "0")
    assert (2, "error: --capital: must be a positive amount, got 0.0\n") == (
        result.exit_code, result.stderr)


def test_events_from_stdin():
    """--events - reads the events from standard input."""
    text = (FIXTURES / "example_d_called_away.jsonl").read_text(encoding="utf-8")
    result = runner.invoke(_app(), ["ledger", "--events", "-", "--format", "json"], input=text)
    assert 1650.0 == json.loads(result.stdout)["realized"][0]["amount"]


def test_real_alluse_app_has_the_ledger_command():
    """The command is registered on the `alluse` application."""
    from alluse.cli.main import app

    result = run("--events", str(FIXTURES / "example_b_put_assigned.jsonl"), "--format", "json",
                 app=app)
    assert (0, 7100.0) == (result.exit_code, json.loads(result.stdout)["lots"][0]["basis"])
