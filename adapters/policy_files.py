"""Reading a policy directory from disk, and the default set shipped inside the package."""

from __future__ import annotations

import importlib.resources
import os
import shutil
import tempfile
from pathlib import Path

from alluse.engine.errors import PolicyIssue, PolicyLoadError
from alluse.engine.policy import POLICY_FILES, STRATEGY_DIR, PolicySet, load_policy_set
from alluse.engine.policy.loader import PolicyCheck, check_policy_set
from alluse.engine.policy.testfile import TESTS_DIR

MAX_FILE_BYTES = 1_000_000


def default_policy_dir() -> Path:
    """The default policy set inside the installed package (the repo's policies/ when editable)."""
    return Path(str(importlib.resources.files("alluse.policies")))


def default_schema_dir() -> Path:
    return Path(str(importlib.resources.files("alluse.schemas")))


# Sub-directories of a policy directory that hold no policies: the policies' own tests
# (`alluse policy test`) and the generated schemas `alluse policy init` writes.
NOT_POLICIES = frozenset({"tests", "schemas"})


def read_policy_files(directory: Path, *, tests: bool = False) -> dict[str, bytes]:
    """Every *.yaml/*.yml file of ``directory`` and of its sub-directories (strategies/), one
    level deep, keyed by POSIX path; hidden names and schemas/ are skipped, and so is tests/ (the
    set's own tests, `alluse policy test`) unless ``tests``.

    Raises `PolicyLoadError` for a missing or unreadable directory, a directory that holds no
    policy set at all (one line, however big: ``/``, a home directory), or a file too large to be
    a policy, so callers report it like any other policy problem. Only regular files are read
    (never a FIFO or a device that happens to end in .yaml).
    """
    if not directory.is_dir():
        raise PolicyLoadError([PolicyIssue(str(directory), 1, 1, "policy directory not found",
                                           code="missing-dir")])
    issues: list[PolicyIssue] = []
    candidates: list[tuple[str, Path]] = []
    for path in _entries(directory, directory, issues):
        try:
            if path.is_dir():
                if path.name not in NOT_POLICIES or (tests and path.name == TESTS_DIR):
                    candidates += [(f"{path.name}/{sub.name}", sub)
                                   for sub in _entries(path, directory, issues)]
            else:
                candidates.append((path.name, path))
        except OSError as exc:
            issues.append(PolicyIssue(path.name, 1, 1, f"cannot read: {exc.strerror}", code="io"))
    names = {rel for rel, _ in candidates}
    if not issues and not names & set(POLICY_FILES) and not any(
            rel.startswith(STRATEGY_DIR + "/") for rel in names):
        raise PolicyLoadError([PolicyIssue(
            _absolute(directory), 1, 1, "not a policy directory: none of "
            f"{', '.join(POLICY_FILES)} or {STRATEGY_DIR}/ is there", code="missing-dir")])
    files: dict[str, bytes] = {}
    for rel, path in candidates:
        if path.suffix not in (".yaml", ".yml"):
            continue
        try:
            if not path.is_file():
                continue
            if path.stat().st_size > MAX_FILE_BYTES:
                issues.append(PolicyIssue(rel, 1, 1, f"file is larger than {MAX_FILE_BYTES} bytes",
                                          code="too-large"))
                continue
            files[rel] = path.read_bytes()
        except OSError as exc:
            issues.append(PolicyIssue(rel, 1, 1, f"cannot read: {exc.strerror}", code="io"))
    if issues:
        raise PolicyLoadError(issues)
    return files


def _entries(directory: Path, base: Path, issues: list[PolicyIssue]) -> list[Path]:
    """The visible entries of one directory, sorted; an unreadable one is an issue, not a crash."""
    try:
        return sorted(p for p in directory.iterdir() if not p.name.startswith("."))
    except OSError as exc:
        rel = directory.relative_to(base).as_posix() if directory != base else "."
        issues.append(PolicyIssue(rel + "/", 1, 1, f"cannot list: {exc.strerror}", code="io"))
        return []


def _absolute(directory: Path) -> str:
    try:
        return str(directory.resolve())
    except OSError:
        return str(directory)


def load_policy_dir(directory: Path) -> PolicySet:
    return load_policy_set(read_policy_files(directory))


def check_policy_dir(directory: Path) -> PolicyCheck:
    """Lint a directory: errors and warnings (`check_policy_set`). Raises `PolicyLoadError` only
    when the directory cannot be read as a policy set at all."""
    return check_policy_set(read_policy_files(directory))


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader (or a crash, or a full disk) sees the old file
    or the new one, never part of one: a temp file beside it, flushed, then renamed over it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if path.exists():
            shutil.copymode(path, tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def init_policy_dir(target: Path) -> list[Path]:
    """Copy the default policies, their tests and their schemas into ``target`` (a new or empty
    directory).

    The modelines in the copies point at ``../schemas/`` relative to each file, so the schemas are
    written to ``target/schemas`` and the policies' modelines are rewritten to match. The copy is
    built in a hidden directory beside ``target`` and renamed into place, so a failure (a full
    disk) leaves no half-written directory. Raises `NotADirectoryError` when ``target`` is a
    file, `FileExistsError` when it is a non-empty directory, `OSError` when writing fails.
    """
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(f"{target} exists and is not a directory")
    if target.exists() and any(target.iterdir()):
        raise FileExistsError(f"{target} exists and is not empty")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        staging.chmod(0o777 & ~umask)
        rels: list[str] = []
        for rel, raw in read_policy_files(default_policy_dir(), tests=True).items():
            text = raw.decode("utf-8")
            depth = rel.count("/")
            text = text.replace("$schema=" + "../" * (depth + 1) + "schemas/",
                                "$schema=" + "../" * depth + "schemas/", 1) if depth == 0 else \
                text.replace("$schema=../../schemas/", "$schema=../schemas/", 1)
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            (staging / rel).write_bytes(text.encode("utf-8"))
            rels.append(rel)
        (staging / "schemas").mkdir()
        for schema in sorted(default_schema_dir().glob("*.schema.json")):
            shutil.copyfile(schema, staging / "schemas" / schema.name)
            rels.append("schemas/" + schema.name)
        if target.exists():
            target.rmdir()
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [target / rel for rel in rels]
