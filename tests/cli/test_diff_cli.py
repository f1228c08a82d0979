"""`alluse policy diff A B` through the real entry point, on directories and git refs."""

# house style (STYLE.md): assert expected == actual

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from alluse.adapters.policy_files import default_policy_dir, read_policy_files

ENTRY = "from alluse.cli import main; main()"
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def alluse(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", ENTRY, *args], capture_output=True, text=True,
                          cwd=cwd, timeout=60, env={**os.environ, "COLUMNS": "200"})


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                   env={**os.environ, **GIT_ENV})


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository whose main branch holds the default set in policies/, and a branch
    `lower` that lowers GEN-ACC's premium floor from 1.5 to 1.0."""
    for rel, raw in read_policy_files(default_policy_dir()).items():
        (tmp_path / "policies" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "policies" / rel).write_bytes(raw)
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "default set")
    git(tmp_path, "checkout", "-qb", "lower")
    gen = tmp_path / "policies" / "strategies" / "gen_acc.yaml"
    gen.write_text(gen.read_text("utf-8").replace("min_pct: 1.5 ", "min_pct: 1.0 "), "utf-8")
    git(tmp_path, "commit", "-qam", "lower the floor")
    return tmp_path


_GEN = (default_policy_dir() / "strategies" / "gen_acc.yaml").read_text("utf-8").splitlines()
FLOOR_LINE = 1 + next(i for i, x in enumerate(_GEN) if x.startswith("  min_pct: "))
LOOSENS = (f"loosens  strategies/gen_acc.yaml:{FLOOR_LINE}:12 → strategies/gen_acc.yaml:{FLOOR_LINE}:12  "
           "premium.min_pct: 1.5 → 1.0 (a lower premium floor lets cheaper premiums through)")


def test_diff_of_two_refs_grades_the_lower_floor_as_loosening(repo):
    """main vs the branch, read with git show: one change, graded loosens, both positions."""
    result = alluse("policy", "diff", "main", "lower", cwd=repo)
    assert (0, ["A: main:policies", "B: lower:policies", LOOSENS,
                "1 change: 1 loosens, 0 tightens, 0 neutral, 0 unclear"]) == (
        result.returncode, result.stdout.splitlines())


def test_diff_of_a_ref_and_a_dirty_work_tree_reads_no_checkout(repo):
    """A ref against the working directory, with an uncommitted edit: both are seen as they are."""
    risk = repo / "policies" / "risk.yaml"
    risk.write_text(risk.read_text("utf-8").replace("blacklist: []", "blacklist: [GME]"), "utf-8")
    result = alluse("policy", "diff", "main:policies", "policies", "--format", "json", cwd=repo)
    out = json.loads(result.stdout)
    assert (0, {"loosens": 1, "tightens": 1, "neutral": 0, "unclear": 0}) == (
        result.returncode, out["summary"])
    assert [("risk.blacklist[GME]", "added", "tightens", {"file": "risk.yaml", "line": 28,
                                                           "col": 12})] == [
        (c["path"], c["kind"], c["grade"], c["a"]) for c in out["changes"] if c["kind"] == "added"]


def test_fail_on_loosens_exits_1_and_no_change_exits_0(repo):
    """--fail-on loosens for CI; the same ref on both sides is no change."""
    assert 1 == alluse("policy", "diff", "main", "lower", "--fail-on", "loosens",
                       cwd=repo).returncode
    same = alluse("policy", "diff", "main", "main", "--fail-on", "any", cwd=repo)
    assert (0, "0 changes: 0 loosens, 0 tightens, 0 neutral, 0 unclear") == (
        same.returncode, same.stdout.splitlines()[-1])


def test_an_unknown_ref_is_a_one_line_usage_error(repo):
    """Neither a directory nor a ref: exit 2, one line naming it."""
    result = alluse("policy", "diff", "nope", "lower", cwd=repo)
    assert (2, 1) == (result.returncode, len(result.stderr.splitlines()))
    assert result.stderr.startswith("error: 'nope' is neither a directory nor a readable git ref")


def test_custom_grading_rules_are_data(repo, tmp_path):
    """--rules FILE replaces the bundled grading: here the same change graded neutral."""
    rules = tmp_path / "grading.yaml"
    rules.write_text('version: 1\nrules:\n  - {path: "strategies/**", any: neutral}\n', "utf-8")
    result = alluse("policy", "diff", "main", "lower", "--rules", str(rules), cwd=repo)
    assert result.stdout.splitlines()[2].startswith("neutral ")
