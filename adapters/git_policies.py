"""A policy set as it was at a git revision, read from the repository's objects.

Nothing is checked out: the tree is listed with ``git ls-tree`` and every blob read through one
``git cat-file --batch`` (what ``git show REV:path`` prints, without a process per file), so it
works in a dirty working tree and leaves it alone. Git's failures become `GitError` with one line
that says what to fix.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from alluse.adapters.policy_files import MAX_FILE_BYTES
from alluse.engine.errors import AlluseError, PolicyIssue, PolicyLoadError
from alluse.engine.policy.testfile import TESTS_DIR

GIT_TIMEOUT_S = 60


class GitError(AlluseError):
    """git is missing, the directory is in no repository, or a revision does not exist."""


def _git(cwd: Path, *args: str, data: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, input=data, capture_output=True,
                              timeout=GIT_TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise GitError("git is not installed (or not on PATH)") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} took longer than {GIT_TIMEOUT_S} s") from None
    if done.returncode != 0:
        first = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(first[0] if first else f"git {args[0]} failed")
    return done.stdout


def locate(directory: Path) -> tuple[Path, str]:
    """The repository holding ``directory`` and the directory's path inside it ("" at the top)."""
    if not directory.is_dir():
        raise GitError(f"policy directory '{directory}' not found")
    try:
        top = _git(directory, "rev-parse", "--show-toplevel").decode().strip()
        prefix = _git(directory, "rev-parse", "--show-prefix").decode().strip()
    except GitError:
        raise GitError(f"'{directory}' is not inside a git repository") from None
    return Path(top), prefix


def resolve(repo: Path, rev: str) -> str:
    """The commit id ``rev`` names, or GitError naming it."""
    if not rev or rev.startswith("-"):
        raise GitError(f"'{rev}' is not a revision")
    try:
        return _git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options",
                    rev + "^{commit}").decode().strip()
    except GitError:
        raise GitError(f"'{rev}' is not a commit of {repo}") from None


def read_policy_files_at(repo: Path, commit: str, prefix: str, *, tests: bool = False
                         ) -> dict[str, bytes]:
    """The *.yaml/*.yml files under ``prefix`` at ``commit``, keyed by their path under it, as
    `read_policy_files` reads a directory (dot files and, unless ``tests``, tests/ left out)."""
    listing = _git(repo, "ls-tree", "-r", "-z", "--full-tree", commit, "--", prefix or ".")
    wanted: list[tuple[str, str]] = []
    for entry in listing.split(b"\0"):
        if not entry:
            continue
        meta, _, raw_path = entry.partition(b"\t")
        _mode, kind, oid = meta.decode().split()
        path = raw_path.decode("utf-8", "surrogateescape")
        rel = path[len(prefix):] if prefix else path
        parts = rel.split("/")
        if kind != "blob" or not rel.endswith((".yaml", ".yml")) or any(
                p.startswith(".") for p in parts):
            continue
        if not tests and parts[0] == TESTS_DIR and len(parts) > 1:
            continue
        wanted.append((rel, oid))
    if not wanted:
        return {}
    out = _git(repo, "cat-file", "--batch", data="".join(f"{oid}\n" for _, oid in wanted).encode())
    files: dict[str, bytes] = {}
    too_large: list[PolicyIssue] = []
    pos = 0
    for rel, _ in wanted:
        header_end = out.index(b"\n", pos)
        size = int(out[pos:header_end].split()[2])
        start = header_end + 1
        if size > MAX_FILE_BYTES:
            too_large.append(PolicyIssue(rel, 1, 1, f"file is larger than {MAX_FILE_BYTES} bytes",
                                         code="too-large"))
        files[rel] = out[start:start + size]
        pos = start + size + 1  # the blob, then a newline
    if too_large:
        raise PolicyLoadError(too_large)
    return files
