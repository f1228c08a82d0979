"""Every command that loads policies honours ALLUSE_POLICIES, and says so when its directory is missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alluse.adapters.policy_files import default_policy_dir, load_policy_dir, read_policy_files
from alluse.cli import app

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "thursday_entry_below_minimum.jsonl"
SHORT_REPLAY = ["replay", "--from", "2025-12-01", "--to", "2025-12-05", "--db", "none", "--format", "json"]
runner = CliRunner()


@pytest.fixture(scope="module")
def edited(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled set with a sample capital of 250K and protocol levels that never step down."""
    target = tmp_path_factory.mktemp("policies")
    for rel, raw in read_policy_files(default_policy_dir()).items():
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        (target / rel).write_bytes(raw)
    for name, old, new in (("accounts.yaml", "  default: 100000 ", "  default: 250000 "),
                           ("protocols.yaml", "  mode: hysteresis\n", "  mode: never\n")):
        text = (target / name).read_text("utf-8")
        assert 1 == text.count(old)
        (target / name).write_text(text.replace(old, new), "utf-8")
    return target


@pytest.fixture(scope="module")
def edited_hash(edited: Path) -> str:
    policy_hash = load_policy_dir(edited).hash
    assert load_policy_dir(default_policy_dir()).hash != policy_hash
    return policy_hash


def _env(directory: Path) -> dict[str, str]:
    return {"ALLUSE_POLICIES": str(directory), "COLUMNS": "200"}


def test_policy_lint_checks_the_alluse_policies_directory(edited, edited_hash):
    """`policy lint` without DIR lints ALLUSE_POLICIES."""
    result = runner.invoke(app, ["policy", "lint"], env=_env(edited))
    assert (0, f"{edited}: ok", f"policy {edited_hash[:12]}") == (
        result.exit_code, result.stdout.split(" — ")[0], result.stdout.strip().rsplit(", ", 1)[1])


def test_policy_summary_shows_the_alluse_policies_values(edited):
    """`policy summary` tabulates the edited set (its sample capital)."""
    result = runner.invoke(app, ["policy", "summary"], env=_env(edited))
    assert 0 == result.exit_code, result.output
    assert "Accounts (sample capital 250,000," in result.stdout


def test_policy_graph_draws_the_alluse_policies_machines(edited):
    """`policy graph` draws the edited protocol machine: levels never step down."""
    default = runner.invoke(app, ["policy", "graph", "--machine", "protocol"], env={"ALLUSE_POLICIES": ""})
    result = runner.invoke(app, ["policy", "graph", "--machine", "protocol"], env=_env(edited))
    assert (0, True, False) == (result.exit_code, "L1 --> L0: to_L0" in default.stdout,
                                "L1 --> L0: to_L0" in result.stdout)


@pytest.mark.parametrize("command", ["explain", "dry-run"])
def test_explain_and_dry_run_evaluate_the_alluse_policies_set(command, edited, edited_hash):
    """explain and dry-run decide under the edited set: every decision carries its hash."""
    result = runner.invoke(app, [command, "--events", str(SCENARIO), "--format", "json"], env=_env(edited))
    assert 0 == result.exit_code, result.output
    hashes = {json.loads(line)["policy_hash"] for line in result.stdout.splitlines()}
    assert {edited_hash} == hashes


def test_replay_runs_under_the_alluse_policies_set(edited, edited_hash):
    """replay takes the edited set: its hash, and its sample capital when --capital is not given."""
    result = runner.invoke(app, SHORT_REPLAY, env=_env(edited))
    assert 0 == result.exit_code, result.output
    out = json.loads(result.stdout)
    assert (edited_hash, "250000.00") == (out["policy_hash"], out["conservation"]["initial_capital"])


def test_policy_watch_watches_the_alluse_policies_directory(edited, edited_hash):
    """`policy watch` without DIR loads ALLUSE_POLICIES first (a subprocess: it runs until stopped).

    Its Ctrl-C exit is tested in test_policy_cli; here it is killed once the first line is read."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "from alluse.cli import main; main()", "policy", "watch", "--format", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "ALLUSE_POLICIES": str(edited)})
    watchdog = threading.Timer(60, proc.kill)  # a hung watch fails the test instead of the run
    watchdog.start()
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
    finally:
        watchdog.cancel()
        proc.kill()
        proc.communicate()
    assert ("accepted", edited_hash) == (first["status"], first["hash"])


COMMANDS = {
    "policy lint": ["policy", "lint"],
    "policy summary": ["policy", "summary"],
    "policy graph": ["policy", "graph"],
    "policy watch": ["policy", "watch"],  # exits before it starts watching
    "explain": ["explain", "--events", str(SCENARIO)],
    "dry-run": ["dry-run", "--events", str(SCENARIO)],
    "replay": SHORT_REPLAY,
}


@pytest.mark.parametrize("args", COMMANDS.values(), ids=COMMANDS.keys())
def test_missing_alluse_policies_directory_is_one_line_and_exit_2(args, tmp_path):
    """A missing ALLUSE_POLICIES directory: one line naming the variable and the path, exit 2."""
    missing = tmp_path / "nope"
    result = runner.invoke(app, args, env=_env(missing))
    assert (2, f"error: ALLUSE_POLICIES: policy directory '{missing}' not found\n", "") == (
        result.exit_code, result.stderr, result.stdout)


def test_alluse_policies_naming_a_file_says_it_is_not_a_directory(tmp_path):
    """A file where a directory is expected gets its own words, still one line and exit 2."""
    file = tmp_path / "accounts.yaml"
    file.write_text("capital: {}\n", "utf-8")
    result = runner.invoke(app, ["policy", "lint"], env=_env(file))
    assert (2, f"error: ALLUSE_POLICIES: policy directory '{file}' is not a directory\n") == (
        result.exit_code, result.stderr)


@pytest.mark.parametrize("args", [["policy", "lint", "{dir}"], ["explain", "--events", str(SCENARIO),
                                                                "--policies", "{dir}"]],
                         ids=["DIR", "--policies"])
def test_the_commands_own_directory_wins_over_alluse_policies(args, tmp_path):
    """DIR or --policies beats the variable, and a missing one is named by its flag."""
    missing = tmp_path / "nope"
    given = [str(missing) if a == "{dir}" else a for a in args]
    result = runner.invoke(app, given, env=_env(default_policy_dir()))
    label = "--policies: " if "--policies" in args else ""
    assert (2, f"error: {label}policy directory '{missing}' not found\n") == (result.exit_code, result.stderr)


def test_bad_setting_in_the_environment_is_one_line_and_exit_2():
    """Reading ALLUSE_POLICIES reads the settings: another bad variable is named, not a traceback."""
    result = runner.invoke(app, ["policy", "lint"], env={"ALLUSE_LIVE_TRADING": "maybe"})
    assert 2 == result.exit_code
    assert [True] == ["ALLUSE_LIVE_TRADING='maybe'" in line for line in result.stderr.splitlines()]


def test_invalid_alluse_policies_set_prints_every_problem_and_exits_1(edited, tmp_path):
    """A set with problems is not loaded: file:line:col under the variable's directory, exit 1."""
    broken = tmp_path / "p"
    for path in edited.rglob("*.yaml"):
        (broken / path.relative_to(edited)).parent.mkdir(parents=True, exist_ok=True)
        (broken / path.relative_to(edited)).write_bytes(path.read_bytes())
    accounts = broken / "accounts.yaml"
    accounts.write_text(accounts.read_text("utf-8").replace("COM-ACC: 30\n", "COM-ACC: 20\n", 1), "utf-8")
    result = runner.invoke(app, ["policy", "summary"], env=_env(broken))
    assert 1 == result.exit_code
    assert result.stdout.startswith(f"{accounts}:")
