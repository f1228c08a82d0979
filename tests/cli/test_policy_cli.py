"""`alluse policy lint|init|watch` through the real entry point (a subprocess): exit codes, formats."""

# house style (STYLE.md): assert expected == actual

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from alluse.adapters.policy_files import default_policy_dir, read_policy_files

CORPUS = Path(__file__).resolve().parents[1] / "policies"
ENTRY = "from alluse.cli import main; main()"


def alluse(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", ENTRY, *args], capture_output=True, text=True,
                          cwd=cwd, timeout=60, env={**os.environ, "COLUMNS": "200"})


def policy_copy(target: Path, *cases: str) -> Path:
    """The default set in ``target`` with the named corpus overlays applied."""
    for rel, raw in read_policy_files(default_policy_dir()).items():
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        (target / rel).write_bytes(raw)
    for name in cases:
        case = CORPUS / "bad" / name
        for src in case.rglob("*.yaml"):
            (target / src.relative_to(case)).write_bytes(src.read_bytes())
    return target


def expected(name: str, prefix: str) -> list[str]:
    lines = (CORPUS / "bad" / name / "expected.txt").read_text("utf-8").splitlines()
    return [prefix + line for line in lines]


def test_lint_clean_set_exits_0():
    """The default set lints clean: exit 0 and a one-line summary."""
    result = alluse("policy", "lint", str(default_policy_dir()))
    assert 0 == result.returncode, result.stderr
    assert "ok — 10 files, 3 strategies" in result.stdout


def test_lint_errors_in_several_files_exit_1_with_every_line(tmp_path):
    """Broken files: exit 1, every file:line:col line on stdout, the count on stderr."""
    cases = ("39_split_not_100", "52_cron_does_not_parse", "58_template_unknown_placeholder")
    policy_copy(tmp_path / "p", *cases)
    result = alluse("policy", "lint", "p", cwd=tmp_path)
    want = sorted(line for c in cases for line in expected(c, "p/"))
    assert (1, want) == (result.returncode, sorted(result.stdout.splitlines()))
    assert "5 problems found" in result.stderr
    assert "Traceback" not in result.stderr


def test_lint_missing_directory_is_a_usage_error_exit_2(tmp_path):
    """A directory that does not exist: exit 2, said on stderr."""
    result = alluse("policy", "lint", str(tmp_path / "nope"))
    assert 2 == result.returncode
    assert "not found" in result.stderr


def test_lint_unknown_format_is_a_usage_error_exit_2():
    """A bad option value is a usage error."""
    assert 2 == alluse("policy", "lint", "--format", "xml").returncode


def test_lint_json_lists_every_issue_with_its_location(tmp_path):
    """--format json: a JSON array of issues with file, line, col, policy, rule, code, message."""
    policy_copy(tmp_path / "p", "47_unknown_alert_type")
    result = alluse("policy", "lint", "p", "--format", "json", cwd=tmp_path)
    issues = json.loads(result.stdout)
    assert 1 == result.returncode
    assert [("p/protocols.yaml", 48, 19, "crossref"), ("p/strategies/gen_acc.yaml", 34, 19,
                                                        "crossref")] == [
        (i["file"], i["line"], i["col"], i["code"]) for i in issues]
    assert ("protocols", "level 2") == (issues[0]["policy"], issues[0]["rule"])


def test_lint_json_on_a_clean_set_is_an_empty_array():
    """Clean set in JSON: [] and exit 0."""
    result = alluse("policy", "lint", str(default_policy_dir()), "--format", "json")
    assert (0, []) == (result.returncode, json.loads(result.stdout))


def test_lint_github_format_is_workflow_commands(tmp_path):
    """--format github: one ::error annotation per issue, for pull-request reviews."""
    policy_copy(tmp_path / "p", "39_split_not_100")
    result = alluse("policy", "lint", "p", "--format", "github", cwd=tmp_path)
    assert 1 == result.returncode
    assert ["::error file=p/accounts.yaml,line=10,col=3,title=accounts::the account split must "
            "sum to 100%25, found 90%25"] == result.stdout.splitlines()


def test_init_copies_a_set_that_lints_clean_and_refuses_a_non_empty_directory(tmp_path):
    """init writes a usable set with its schemas; a second init into it is a usage error."""
    assert 0 == alluse("policy", "init", str(tmp_path / "mine")).returncode
    assert (tmp_path / "mine" / "schemas" / "strategy.schema.json").is_file()
    assert 0 == alluse("policy", "lint", str(tmp_path / "mine")).returncode
    again = alluse("policy", "init", str(tmp_path / "mine"))
    assert (2, True) == (again.returncode, "not empty" in again.stderr)


# --------------------------------------------------------------------------- watch


class Watch:
    """`alluse policy watch` in a subprocess, its stdout lines read by a thread."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", ENTRY, "policy", "watch", *args],
                                     cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def next_line(self, timeout: float = 20.0) -> str:
        return self.lines.get(timeout=timeout)

    def interrupt(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGINT)
        _, err = self.proc.communicate(timeout=20)
        return self.proc.returncode, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture
def watch_factory():
    started: list[Watch] = []

    def start(*args: str, cwd: Path) -> Watch:
        started.append(Watch(*args, cwd=cwd))
        return started[-1]

    yield start
    for w in started:
        w.kill()


def test_watch_json_prints_initial_load_then_each_attempt_and_exits_0_on_ctrl_c(tmp_path,
                                                                               watch_factory):
    """JSON lines: accepted at start, rejected on a bad save (with errors), accepted on the fix."""
    policy_copy(tmp_path / "p")
    watch = watch_factory("p", "--format", "json", cwd=tmp_path)
    first = json.loads(watch.next_line())
    assert ("accepted", []) == (first["status"], first["errors"])
    accounts = tmp_path / "p" / "accounts.yaml"
    original = accounts.read_text("utf-8")
    accounts.write_text(original.replace("COM-ACC: 30\n", "COM-ACC: 20\n", 1), "utf-8")
    rejected = json.loads(watch.next_line())
    assert ("rejected", first["hash"]) == (rejected["status"], rejected["hash"])
    line = original.splitlines().index("  GEN-ACC: 40") + 1  # the split's first entry
    assert [("p/accounts.yaml", line, 3, "the account split must sum to 100%, found 90%")] == [
        (e["file"], e["line"], e["col"], e["message"]) for e in rejected["errors"]]
    accounts.write_text(original, "utf-8")
    fixed = json.loads(watch.next_line())
    assert ("accepted", first["hash"]) == (fixed["status"], fixed["hash"])
    code, err = watch.interrupt()
    assert (0, "") == (code, err)


def test_watch_failed_initial_load_keeps_watching_until_fixed(tmp_path, watch_factory):
    """A set broken at start is reported and watched; once fixed it is accepted."""
    directory = policy_copy(tmp_path / "p", "49_unknown_schedule_job")
    watch = watch_factory("p", cwd=tmp_path)
    assert watch.next_line().endswith("rejected: 1 problem; no policy is active")
    assert watch.next_line().startswith("  p/strategies/gen_acc.yaml:10:8: ")
    gen = directory / "strategies" / "gen_acc.yaml"
    gen.write_bytes((default_policy_dir() / "strategies" / "gen_acc.yaml").read_bytes())
    line = watch.next_line()
    assert " accepted: policy " in line and line.endswith("is active (10 files)")
    code, err = watch.interrupt()
    assert (0, False) == (code, "Traceback" in err)


def test_watch_missing_directory_is_a_usage_error_exit_2(tmp_path):
    """No directory, nothing to watch: exit 2 at once."""
    result = alluse("policy", "watch", str(tmp_path / "nope"))
    assert (2, True) == (result.returncode, "not found" in result.stderr)


# --------------------------------------------------------------------------- rules


def written_key(rule_id: str) -> str:
    """What a rule's own line says at its column: `id: premium_floor`, `level: 1`, `green:`…"""
    section, _, key = rule_id.split("#")[1].partition("/")
    by_item = {"rules": "id", "levels": "level", "fork": "account_type",
               "reinvestment": "account_type"}
    return f"{by_item[section]}: {key}" if section in by_item else f"{key or section}:"


def test_rules_json_ids_are_unique_and_each_points_at_its_line():
    """--format json: one object per rule; ids unique; each file:line:col is the rule's own line."""
    base = default_policy_dir()
    result = alluse("policy", "rules", str(base), "--format", "json")
    rules = json.loads(result.stdout)
    ids = [r["id"] for r in rules]
    assert (0, len(ids)) == (result.returncode, len(set(ids)))
    assert {"strategies/gen_acc#rules/premium_floor", "strategies/gen_acc#entry",
            "protocols#levels/1", "week_types#modes/green", "week_types#types/P-EW",
            "accounts#fork/GEN-ACC", "accounts#merge",
            "risk#circuit_breakers/consecutive_losses"} <= set(ids)
    seen = []
    for r in rules:
        line = Path(r["file"]).read_text("utf-8").splitlines()[r["line"] - 1]
        seen.append((r["id"], r["file"], line[r["col"] - 1:].startswith(written_key(r["id"]))))
    assert [(r["id"], str(base / (r["id"].split("#")[0] + ".yaml")), True) for r in rules] == seen


def test_rules_text_is_a_table_with_ids_and_lines():
    """Text: a table naming each rule id with its file:line and kind."""
    result = alluse("policy", "rules", str(default_policy_dir()))
    assert 0 == result.returncode, result.stderr
    row = next(ln for ln in result.stdout.splitlines() if "gen_acc#rules/premium_floor" in ln)
    assert ["strategies/gen_acc#rules/premium_floor", "entry_rule"] == [
        part for part in (p.strip() for p in row.split("│")) if part in (
            "strategies/gen_acc#rules/premium_floor", "entry_rule")]
    assert "strategies/gen_acc.yaml:" in row


def test_rules_on_an_invalid_set_prints_the_lint_lines_and_exits_1(tmp_path):
    """A set that does not load lists no rules: its problems, exit 1."""
    policy_copy(tmp_path / "p", "72_duplicate_fork_rule")
    result = alluse("policy", "rules", "p", cwd=tmp_path)
    assert (1, expected("72_duplicate_fork_rule", "p/")) == (result.returncode,
                                                              result.stdout.splitlines())


def warned_copy(target: Path, *cases: str) -> Path:
    """The default set in ``target`` with the named warning-corpus overlays applied."""
    policy_copy(target)
    for name in cases:
        case = CORPUS / "warn" / name
        for src in case.rglob("*.yaml"):
            (target / src.relative_to(case)).write_bytes(src.read_bytes())
    return target


def test_lint_warnings_exit_0_and_show_in_every_format(tmp_path):
    """Warnings print with file:line:col in text, json and github, and do not fail lint."""
    warned_copy(tmp_path / "p", "01_alert_type_typo", "04_shadowed_week_mode")
    text = alluse("policy", "lint", "p", cwd=tmp_path)
    assert 0 == text.returncode, text.stderr
    assert ["p/alerts.yaml:10:3: warning: policy alerts, rule types.TRADE_OPPORTUNTY: alert type "
            "TRADE_OPPORTUNTY: did you mean TRADE_OPPORTUNITY?",
            "p/week_types.yaml:23:3: warning: policy week_types, rule modes.grey: mode 'grey' is "
            "never reached: 'blue' before it matches every week (first match wins)"] == \
        text.stdout.splitlines()[:2]
    assert text.stdout.splitlines()[2].startswith("p: ok with 2 warnings — 10 files")
    assert "2 problems found (0 errors, 2 warnings)" in text.stderr
    as_json = alluse("policy", "lint", "p", "--format", "json", cwd=tmp_path)
    assert (0, ["warning", "warning"]) == (as_json.returncode, [
        i["severity"] for i in json.loads(as_json.stdout)])
    github = alluse("policy", "lint", "p", "--format", "github", cwd=tmp_path)
    assert "::warning file=p/alerts.yaml,line=10,col=3,title=alerts%2C types.TRADE_OPPORTUNTY::" \
           "alert type TRADE_OPPORTUNTY: did you mean TRADE_OPPORTUNITY?" == \
           github.stdout.splitlines()[0]


def test_lint_strict_fails_on_warnings(tmp_path):
    """--strict: warnings exit 1."""
    warned_copy(tmp_path / "p", "02_unused_alert_type")
    assert 1 == alluse("policy", "lint", "p", "--strict", cwd=tmp_path).returncode
    assert 0 == alluse("policy", "lint", str(default_policy_dir()), "--strict").returncode


@pytest.mark.parametrize("where", ["/", "home"])
def test_lint_of_a_directory_that_is_no_policy_set_is_one_line(where, tmp_path):
    """`policy lint /` or a home directory: one line saying so, no traceback, no crawl."""
    target = "/" if where == "/" else str(Path.home())
    result = alluse("policy", "lint", target)
    assert 1 == result.returncode
    assert [f"{Path(target).resolve()}:1:1: not a policy directory: none of protocols.yaml, "
            "accounts.yaml, alerts.yaml, risk.yaml, data.yaml, schedule.yaml, week_types.yaml or "
            "strategies/ is there"] == result.stdout.splitlines()
    assert "Traceback" not in result.stderr


def test_init_on_a_file_and_schema_out_a_file_are_one_line_usage_errors(tmp_path):
    """A file where a directory should be: one line, exit 2, the file untouched."""
    (tmp_path / "f").write_text("keep", "utf-8")
    for args in (("policy", "init", "f"), ("policy", "schema", "--out", "f")):
        result = alluse(*args, cwd=tmp_path)
        assert (2, "", 1) == (result.returncode, result.stdout, len(result.stderr.splitlines()))
        assert "is not a directory" in result.stderr
    assert "keep" == (tmp_path / "f").read_text("utf-8")


def _small_disk() -> None:
    """In the child: files may not grow past 2 KB (as on a full disk), and exceeding it is an
    error (EFBIG), not the signal that would kill the process."""
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))


@pytest.mark.parametrize("args", [("policy", "init", "new"),
                                  ("policy", "schema", "--out", "schemas")])
def test_writes_on_a_full_disk_fail_in_one_line_and_leave_nothing_half_written(args, tmp_path):
    """init and schema --out when writing fails midway: one line, exit 1, no partial files."""
    (tmp_path / "schemas").mkdir()
    result = subprocess.run([sys.executable, "-c", ENTRY, *args], capture_output=True, text=True,
                            cwd=tmp_path, timeout=60, preexec_fn=_small_disk)
    assert (1, 1) == (result.returncode, len(result.stderr.splitlines())), result.stderr
    assert "File too large" in result.stderr
    assert ["schemas"] == sorted(p.name for p in tmp_path.iterdir())
    assert [] == [p.name for p in (tmp_path / "schemas").iterdir()]
