"""A policy set as it is at a git ref, read with ``git show`` (no checkout; a dirty tree is fine).

`read_policy_files_at(ref, directory)` returns what `read_policy_files` returns for the same
directory, but from the commit ``ref`` names: the files of ``directory`` (its path inside the
repository) and of its sub-directories one level deep, tests/ and schemas/ and hidden names left
out. Git failures become `GitError` with one line that says what went wrong.
"""

from __future__ import annotations

import subprocess
from pathlib import Path, PurePosixPath

from alluse.adapters.policy_files import MAX_FILE_BYTES, NOT_POLICIES
from alluse.engine.errors import AlluseError


class GitError(AlluseError):
    """A git ref or repository that cannot be read."""


def _git(cwd: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=60,
                              check=False)
    except FileNotFoundError:
        raise GitError("git is not installed") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {' '.join(args)} took longer than 60 s") from None
    if done.returncode != 0:
        message = " ".join(done.stderr.decode("utf-8", "replace").split()) or "failed"
        raise GitError(f"git {args[0]}: {message}")
    return done.stdout


def repo_root(start: Path) -> Path:
    """The top of the git work tree holding ``start`` (a directory, existing or not)."""
    probe = start if start.is_dir() else Path.cwd()
    return Path(_git(probe, "rev-parse", "--show-toplevel").decode().strip())


def is_ref(ref: str, cwd: Path) -> bool:
    """Whether ``ref`` names a commit in the repository at ``cwd``."""
    try:
        _git(cwd, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except GitError:
        return False
    return True


def read_policy_files_at(ref: str, directory: Path) -> dict[str, bytes]:
    """The policy files of ``directory`` at ``ref``, keyed by POSIX path inside the directory."""
    root = repo_root(directory)
    try:
        inside = directory.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        raise GitError(f"{directory} is not inside the git repository at {root}") from None
    if not is_ref(ref, root):
        raise GitError(f"'{ref}' is not a commit, branch or tag of {root}")
    prefix = "" if inside == "." else inside + "/"
    listing = _git(root, "ls-tree", "-r", "-z", "--name-only", ref, "--", prefix or ".")
    files: dict[str, bytes] = {}
    for raw in listing.split(b"\0"):
        if not raw:
            continue
        name = raw.decode("utf-8", "replace")
        rel = PurePosixPath(name[len(prefix):])
        parts = rel.parts
        if rel.suffix not in (".yaml", ".yml") or len(parts) > 2 or any(
                p.startswith(".") for p in parts) or (len(parts) == 2 and parts[0] in NOT_POLICIES):
            continue
        content = _git(root, "show", f"{ref}:{name}")
        if len(content) <= MAX_FILE_BYTES:
            files[rel.as_posix()] = content
    if not files:
        raise GitError(f"'{ref}' has no policy files in {prefix or './'}")
    return files
