"""Policy sets read from git objects: no checkout, a dirty tree left alone, one-line errors."""

# house style (STYLE.md): assert expected == actual

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from alluse.adapters.git_policies import GitError, locate, read_policy_files_at, resolve
from alluse.adapters.policy_files import init_policy_dir, read_policy_files


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid",
                           *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository whose policies live in policies/, committed on main."""
    init_policy_dir(tmp_path / "policies")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "policies")
    return tmp_path


def test_the_set_at_a_commit_is_the_set_as_committed(repo):
    """Same names and bytes as reading the checked-out directory; tests/ only when asked."""
    top, prefix = locate(repo / "policies")
    commit = resolve(top, "main")
    assert (repo.resolve(), "policies/") == (top.resolve(), prefix)
    assert read_policy_files(repo / "policies") == read_policy_files_at(top, commit, prefix)
    with_tests = read_policy_files_at(top, commit, prefix, tests=True)
    assert read_policy_files(repo / "policies", tests=True) == with_tests
    assert "tests/gen_acc.yaml" in with_tests


def test_a_dirty_tree_is_neither_read_nor_touched(repo):
    """An uncommitted edit stays on disk; the commit's bytes come back."""
    gen = repo / "policies" / "strategies" / "gen_acc.yaml"
    committed = gen.read_bytes()
    gen.write_bytes(committed.replace(b"min_pct: 1.5", b"min_pct: 1.0"))
    top, prefix = locate(repo / "policies")
    files = read_policy_files_at(top, resolve(top, "HEAD"), prefix)
    assert committed == files["strategies/gen_acc.yaml"]
    assert b"min_pct: 1.0" in gen.read_bytes()
    assert "M policies/strategies/gen_acc.yaml" == git(repo, "status", "--short")


def test_a_set_at_the_top_of_the_repository_has_no_prefix(tmp_path):
    """`alluse policy init` then `git init` inside it: the set is the whole repository."""
    init_policy_dir(tmp_path / "p")
    git(tmp_path / "p", "init", "-q", "-b", "main")
    git(tmp_path / "p", "add", "-A")
    git(tmp_path / "p", "commit", "-qm", "x")
    top, prefix = locate(tmp_path / "p")
    assert "" == prefix
    assert read_policy_files(tmp_path / "p") == read_policy_files_at(top, resolve(top, "main"), "")


@pytest.mark.parametrize("rev", ["nope", "main~5", "-x", ""])
def test_a_revision_that_is_not_a_commit_is_one_line_naming_it(repo, rev):
    """Unknown names, ancestors that do not exist and option-like text are refused alike."""
    with pytest.raises(GitError) as caught:
        resolve(repo, rev)
    assert str(caught.value) in (f"'{rev}' is not a commit of {repo}",
                                 f"'{rev}' is not a revision")


def test_a_directory_outside_any_repository_is_one_line(tmp_path):
    """No .git above: the error names the directory."""
    (tmp_path / "p").mkdir()
    with pytest.raises(GitError, match=r"^'.*p' is not inside a git repository$"):
        locate(tmp_path / "p")
