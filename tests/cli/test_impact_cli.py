"""`alluse policy impact` in a policy repository made by `alluse policy init` and git: the
premium-floor change of the issue, exit codes, formats, a dirty tree, usage errors."""

# house style (STYLE.md): assert expected == actual

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ENTRY = "from alluse.cli import main; main()"
SHORT = ("--from", "2023-01-02", "--to", "2023-02-24")  # extra entries, NVDA's on 2023-02-23


def alluse(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ALLUSE_POLICIES"}
    return subprocess.run([sys.executable, "-c", ENTRY, *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300, env={**env, "COLUMNS": "200"})


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid",
                           *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


def lower_floor(repo: Path) -> None:
    gen = repo / "strategies" / "gen_acc.yaml"
    text = gen.read_text("utf-8")
    assert "  min_pct: 1.5 " in text
    gen.write_text(text.replace("  min_pct: 1.5 ", "  min_pct: 1.0 "), "utf-8")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default set on main; branch `lower` has GEN-ACC's floor at 1.0 (checked out on main)."""
    top = tmp_path_factory.mktemp("impact")
    assert 0 == alluse("policy", "init", "pol", cwd=top).returncode
    repo = top / "pol"
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "default policies")
    git(repo, "checkout", "-qb", "lower")
    lower_floor(repo)
    git(repo, "commit", "-qam", "GEN-ACC premium floor 1.5 -> 1.0")
    git(repo, "checkout", "-q", "main")
    return repo


def test_lowering_the_gen_acc_floor_lists_the_extra_entries_and_the_pnl_per_account(repo):
    """The issue's check, on the branch: `--base main` over 2023-2024 finds the entries the
    1.0% floor lets through (dated, with the rule id) and the P&L difference per account."""
    git(repo, "checkout", "-q", "lower")
    try:
        result = alluse("policy", "impact", "--base", "main", "--from", "2023-01-02", "--to",
                        "2024-12-31", cwd=repo)
    finally:
        git(repo, "checkout", "-q", "main")
    assert 1 == result.returncode, result.stderr
    out = result.stdout
    entries = re.findall(r"^  \+ (\d{4}-\d\d-\d\d) (GEN-ACC-001) (\w+): sold .*\n"
                         r"      rule (\S+):", out, re.M)
    assert ("2023-02-23", "GEN-ACC-001", "NVDA", "strategies/gen_acc#rules/premium_floor") in \
        entries
    assert len(entries) >= 10 and entries == sorted(entries)
    assert {"strategies/gen_acc#rules/premium_floor"} <= {e[3] for e in entries}
    rows = {line.split()[0]: line.split() for line in out.splitlines()
            if re.match(r"^(GEN|REV|COM)-ACC-\d{3} ", line)}
    assert {"GEN-ACC-001", "REV-ACC-001", "COM-ACC-001"} == set(rows)
    assert "+0.00" != rows["GEN-ACC-001"][3] and "+0.00" == rows["REV-ACC-001"][3]


def test_no_change_exits_0(repo):
    """main against main: identical sets, nothing replayed, exit 0."""
    result = alluse("policy", "impact", "--base", "main", *SHORT, cwd=repo)
    assert 0 == result.returncode, result.stdout + result.stderr
    assert "The two sets are identical (same policy hash)" in result.stdout


def test_an_edit_of_comments_only_changes_nothing(repo):
    """A new comment in the working tree: the set's hash is the same, exit 0."""
    risk = repo / "risk.yaml"
    original = risk.read_text("utf-8")
    risk.write_text(original + "# reviewed\n", "utf-8")
    try:
        assert 0 == alluse("policy", "impact", "--base", "HEAD", *SHORT, cwd=repo).returncode
    finally:
        risk.write_text(original, "utf-8")


def test_a_dirty_working_tree_is_the_head_and_stays_dirty(repo):
    """An uncommitted edit is compared against HEAD, read from git; the edit is still there."""
    lower_floor(repo)
    try:
        result = alluse("policy", "impact", "--base", "HEAD", *SHORT, "--fail-on", "entries",
                        cwd=repo)
        status = git(repo, "status", "--short")
    finally:
        git(repo, "checkout", "-q", "--", "strategies/gen_acc.yaml")
    assert 1 == result.returncode, result.stderr
    assert "head the working tree (.)" in result.stdout
    assert "M strategies/gen_acc.yaml" == status


def test_a_head_revision_and_json(repo):
    """--head lower from main, as JSON: the summary, the change with its rule, the accounts."""
    result = alluse("policy", "impact", "--base", "main", "--head", "lower", *SHORT, "--format",
                    "json", cwd=repo)
    assert 1 == result.returncode
    doc = json.loads(result.stdout)
    entries = [c for c in doc["changes"] if c["kind"] == "entries"]
    counts = {k: sum(1 for c in entries if c["change"] == k) for k in ("added", "removed", "changed")}
    assert ({"ref": "lower"}, True, counts, True) == (
        {"ref": doc["head"]["ref"]}, doc["differs"], doc["summary"]["entries"], counts["added"] > 0)
    [entry] = [c for c in entries if (c["date"], c["symbol"]) == ("2023-02-23", "NVDA")]
    assert ("added", "strategies/gen_acc#rules/premium_floor") == (entry["change"], entry["rule"])
    assert doc["totals"]["pnl_delta"] != 0


def test_markdown_puts_the_summary_table_first_and_folds_the_details(repo):
    """A PR comment: heading, one line, the counts table, the accounts table, then <details>."""
    result = alluse("policy", "impact", "--base", "main", "--head", "lower", *SHORT, "--format",
                    "markdown", "--fail-on", "never", cwd=repo)
    assert 0 == result.returncode
    lines = result.stdout.splitlines()
    assert lines[0] == "### Policy impact: `main` → `lower`"
    assert lines[4:6] == ["|  | added | removed | changed |", "|---|---:|---:|---:|"]
    row = re.fullmatch(r"\| Entries taken or refused \| (\d+) \| (\d+) \| (\d+) \|", lines[6])
    assert row is not None and int(row.group(1)) > 0, lines[6]
    first_details = next(i for i, line in enumerate(lines) if line.startswith("<details>"))
    assert first_details > lines.index("| account | P&L base | P&L head | Δ P&L | max DD base | "
                                       "max DD head | trades base | trades head |")
    total = sum(int(n) for n in row.groups())
    assert f"<details><summary>Entries taken or refused ({total})</summary>" == lines[first_details]
    assert lines.count("</details>") == sum(1 for x in lines if x.startswith("<details>"))


def test_fail_on_chooses_what_counts(repo):
    """Only forks and merges count: the floor change forks nothing in the window, exit 0."""
    result = alluse("policy", "impact", "--base", "main", "--head", "lower", *SHORT,
                    "--fail-on", "forks", cwd=repo)
    assert 0 == result.returncode


@pytest.mark.parametrize(("args", "message"), [
    (("--base", "nope"), "error: 'nope' is not a commit of {repo}\n"),
    (("--base", "main", "--head", "nope"), "error: 'nope' is not a commit of {repo}\n"),
    ((), "error: --base: give the git revision to compare against (e.g. --base main)\n"),
    (("--base", "main", "--from", "2023-13-01"),
     "error: --from: '2023-13-01' is not a date (YYYY-MM-DD)\n"),
])
def test_usage_errors_exit_2_with_one_line(repo, args, message):
    """Bad revisions, a missing --base, a bad date: one line, exit 2."""
    result = alluse("policy", "impact", *args, cwd=repo)
    assert (2, message.format(repo=repo.resolve())) == (result.returncode, result.stderr)


def test_a_directory_outside_git_is_a_usage_error(tmp_path):
    """No repository to read the base from: exit 2, one line naming the directory."""
    assert 0 == alluse("policy", "init", "p", cwd=tmp_path).returncode
    result = alluse("policy", "impact", "p", "--base", "main", cwd=tmp_path)
    assert (2, "error: 'p' is not inside a git repository\n") == (result.returncode,
                                                                  result.stderr)


def test_a_revision_whose_set_does_not_load_lists_its_problems_under_the_revision(repo):
    """A broken set at --base: exit 2, each problem as REV:file:line:col."""
    git(repo, "checkout", "-qb", "broken")
    gen = repo / "strategies" / "gen_acc.yaml"
    gen.write_text(gen.read_text("utf-8").replace("  min_pct: 1.5 ", '  min_pct: "x" '), "utf-8")
    git(repo, "commit", "-qam", "broken")
    git(repo, "checkout", "-q", "main")
    result = alluse("policy", "impact", "--base", "broken", cwd=repo)
    assert 2 == result.returncode
    assert result.stdout.startswith("broken:strategies/gen_acc.yaml:")
    assert "premium.min_pct: Input should be a valid number (got 'x')" in result.stdout
    assert result.stderr.startswith("error: --base broken: the policy set does not load:")
