"""`alluse policy test` through the real entry point: exit codes, the diff, JSON, JUnit XML."""

# house style (STYLE.md): assert expected == actual

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from alluse.adapters.policy_files import default_policy_dir, read_policy_files
from alluse.engine.policy import load_policy_set

ENTRY = "from alluse.cli import main; main()"


def alluse(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", ENTRY, *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120, env={**os.environ, "COLUMNS": "200"})


def copy_set(target: Path) -> Path:
    for rel, raw in read_policy_files(default_policy_dir(), tests=True).items():
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        (target / rel).write_bytes(raw)
    return target


def default_rule_count() -> int:
    """How many stable rule ids the default set has (it grows as policies gain rules)."""
    return len(load_policy_set(read_policy_files(default_policy_dir())).rules)


def break_expectation(directory: Path) -> None:
    """The premium-floor HITL alert is HIGH; expect MEDIUM instead."""
    f = directory / "tests" / "gen_acc.yaml"
    text = f.read_text("utf-8")
    assert "priority: HIGH, title_contains" in text
    f.write_text(text.replace("priority: HIGH, title_contains", "priority: MEDIUM, "
                                                                "title_contains"), "utf-8")


def test_the_default_set_passes_with_full_rule_coverage():
    """Exit 0; every case PASS; coverage 100% even under --min-coverage 100."""
    result = alluse("policy", "test", str(default_policy_dir()), "--min-coverage", "100")
    assert 0 == result.returncode, result.stdout + result.stderr
    assert "FAIL" not in result.stdout and "ERROR" not in result.stdout
    n = default_rule_count()
    assert f"rule coverage: {n}/{n} rules, 100.0% (minimum 100%)" in result.stdout


def test_a_broken_expectation_exits_1_with_expected_got_and_why(tmp_path):
    """The failing case names its file:line:col; expected and got items, then the rule's trace."""
    directory = copy_set(tmp_path / "p")
    break_expectation(directory)
    result = alluse("policy", "test", "p", cwd=tmp_path)
    assert 1 == result.returncode
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("FAIL"))
    assert lines[start].endswith("(p/tests/gen_acc.yaml:25:5)"), lines[start]
    assert "alerts" == lines[start + 1].strip()
    assert lines[start + 2].strip().startswith("expected: {type: TRADE_OPPORTUNITY, priority: "
                                               "MEDIUM")
    assert lines[start + 3].strip().startswith("got:      {type: TRADE_OPPORTUNITY, priority: "
                                               "HIGH")
    assert lines[start + 4].strip().startswith("why:      strategies/gen_acc#rules/premium_floor "
                                               "(strategies/gen_acc.yaml:")
    assert "1 failed" in result.stdout


def test_junit_xml_has_the_shape_ci_reporters_read(tmp_path):
    """testsuites > testsuite (per file, with counts) > testcase (name, classname, time), a
    failure element with a message on the failing case, and the coverage suite."""
    directory = copy_set(tmp_path / "p")
    break_expectation(directory)
    result = alluse("policy", "test", "p", "--junit", "report.xml", "--min-coverage", "100",
                    cwd=tmp_path)
    assert 1 == result.returncode
    root = ET.parse(tmp_path / "report.xml").getroot()
    assert "testsuites" == root.tag
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert {"tests/gen_acc.yaml", "tests/risk.yaml", "rule coverage"} <= set(suites)
    gen = suites["tests/gen_acc.yaml"]
    cases = gen.findall("testcase")
    assert (str(len(cases)), "1", "0") == (gen.get("tests"), gen.get("failures"),
                                           gen.get("errors"))
    assert all(c.get("classname") == "tests.gen_acc" and float(c.get("time", "x")) >= 0
               for c in cases)
    [failed] = [c for c in cases if c.find("failure") is not None]
    failure = failed.find("failure")
    assert failure is not None
    assert "expected outcomes not met: alerts" == failure.get("message")
    assert "priority: MEDIUM" in (failure.text or "")
    total = sum(int(s.get("tests", "0")) for s in suites.values())
    assert (str(total), "1") == (root.get("tests"), root.get("failures"))
    assert "0" == suites["rule coverage"].get("failures")


def test_min_coverage_fails_below_and_lists_what_is_missing(tmp_path):
    """Without accounts.yaml's tests, fork/merge/reinvestment rules go unexercised."""
    directory = copy_set(tmp_path / "p")
    (directory / "tests" / "accounts.yaml").unlink()
    result = alluse("policy", "test", "p", "--min-coverage", "95", cwd=tmp_path)
    assert 1 == result.returncode
    n = default_rule_count()
    assert f"rule coverage: {n - 5}/{n} rules, {100 * (n - 5) / n:.1f}% (minimum 95%)" in \
        result.stdout
    assert ("not exercised by any case: accounts#fork/GEN-ACC, accounts#fork/REV-ACC, "
            "accounts#merge, accounts#reinvestment/REV-ACC, accounts#reinvestment/COM-ACC") in \
        result.stdout
    assert 0 == alluse("policy", "test", "p", cwd=tmp_path).returncode


def test_json_format_gives_cases_summary_and_coverage():
    """--format json: one document with every case's status and the coverage."""
    result = alluse("policy", "test", str(default_policy_dir()), "--format", "json")
    assert 0 == result.returncode
    doc = json.loads(result.stdout)
    assert (True, 0, 100.0, []) == (doc["ok"], doc["summary"]["failed"],
                                    doc["coverage"]["percent"], doc["coverage"]["missing"])
    assert {"passed"} == {c["status"] for c in doc["cases"]}


def test_an_invalid_test_file_exits_1_with_every_problem_positioned(tmp_path):
    """A test file is linted like a policy file: file:line:col lines, nothing runs."""
    directory = copy_set(tmp_path / "p")
    (directory / "tests" / "bad.yaml").write_text("version: 1\ncases:\n  - name: x\n    events: "
                                                  "[{type: clock, ts: '10:00', name: entry_scan}]"
                                                  "\n    expect: {fired: [nope#x]}\n", "utf-8")
    result = alluse("policy", "test", "p", cwd=tmp_path)
    assert 1 == result.returncode
    assert ["p/tests/bad.yaml:4:32: policy tests/bad, rule events[entry_scan]: ts: '10:00' is a time of "
            "day: give the case a 'day' or a full timestamp",
            "p/tests/bad.yaml:5:22: policy tests/bad, rule cases[x]: no rule 'nope#x' in the "
            "policy set (`alluse policy rules` lists them)"] == result.stdout.splitlines()


def test_a_set_without_tests_exits_1_and_says_where_they_go(tmp_path):
    """No tests/ folder: nothing was tested, which is not a pass."""
    directory = copy_set(tmp_path / "p")
    for f in (directory / "tests").iterdir():
        f.unlink()
    result = alluse("policy", "test", "p", cwd=tmp_path)
    assert (1, "error: no policy tests in p/tests (write tests/<name>.yaml files; see `alluse "
               "policy test --help`)\n") == (result.returncode, result.stderr)


def test_a_missing_directory_is_a_usage_error(tmp_path):
    """Exit 2, one line."""
    result = alluse("policy", "test", "nowhere", cwd=tmp_path)
    assert (2, "error: policy directory 'nowhere' not found\n") == (result.returncode,
                                                                  result.stderr)


def test_policy_init_copies_the_tests_and_they_pass_there(tmp_path):
    """`alluse policy init` brings the tests along, modelines pointing at the copied schemas."""
    assert 0 == alluse("policy", "init", "mine", cwd=tmp_path).returncode
    first = (tmp_path / "mine" / "tests" / "gen_acc.yaml").read_text("utf-8").splitlines()[0]
    assert "# yaml-language-server: $schema=../schemas/policy_test.schema.json" == first
    assert (tmp_path / "mine" / "schemas" / "policy_test.schema.json").is_file()
    result = alluse("policy", "test", "mine", "--min-coverage", "100", cwd=tmp_path)
    assert 0 == result.returncode, result.stdout
