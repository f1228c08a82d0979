"""Reading a policy directory from disk, and the default set shipped inside the package."""

from __future__ import annotations

import importlib.resources
import shutil
from pathlib import Path

from alluse.engine.errors import PolicyIssue, PolicyLoadError
from alluse.engine.policy import PolicySet, load_policy_set
from alluse.engine.policy.testfile import TESTS_DIR

MAX_FILE_BYTES = 1_000_000


def default_policy_dir() -> Path:
    """The default policy set inside the installed package (the repo's policies/ when editable)."""
    return Path(str(importlib.resources.files("alluse.policies")))


def default_schema_dir() -> Path:
    return Path(str(importlib.resources.files("alluse.schemas")))


def read_policy_files(directory: Path, *, tests: bool = False) -> dict[str, bytes]:
    """Every *.yaml/*.yml file under ``directory`` (one level of strategies/), keyed by POSIX path.

    The set's tests (``tests/``) are left out unless ``tests``: they are not policies, and a
    node or a watcher has no use for them (`alluse policy test` and `policy init` read them).

    Raises `PolicyLoadError` for a missing or unreadable directory or a file too large to be a
    policy, so callers report it like any other policy problem.
    """
    if not directory.is_dir():
        raise PolicyLoadError([PolicyIssue(str(directory), 1, 1, "policy directory not found",
                                           code="missing-dir")])
    files: dict[str, bytes] = {}
    issues: list[PolicyIssue] = []
    for path in sorted(directory.rglob("*")):
        if not path.is_file() or path.suffix not in (".yaml", ".yml"):
            continue
        rel = path.relative_to(directory).as_posix()
        if any(part.startswith(".") for part in Path(rel).parts):
            continue  # editor swap files, .git
        if not tests and rel.startswith(TESTS_DIR + "/"):
            continue
        try:
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


def load_policy_dir(directory: Path) -> PolicySet:
    return load_policy_set(read_policy_files(directory))


def init_policy_dir(target: Path) -> list[Path]:
    """Copy the default policies, their tests and their schemas into ``target`` (a new or empty
    directory).

    The modelines in the copies point at ``../schemas/`` relative to each file, so the schemas are
    written to ``target/schemas`` and the policies' modelines are rewritten to match.
    """
    if target.exists() and any(target.iterdir()):
        raise FileExistsError(f"{target} exists and is not empty")
    src = default_policy_dir()
    written: list[Path] = []
    for rel, raw in read_policy_files(src, tests=True).items():
        text = raw.decode("utf-8")
        depth = rel.count("/")
        text = text.replace("$schema=" + "../" * (depth + 1) + "schemas/",
                            "$schema=" + "../" * depth + "schemas/", 1) if depth == 0 else \
            text.replace("$schema=../../schemas/", "$schema=../schemas/", 1)
        out = target / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        written.append(out)
    schemas = target / "schemas"
    schemas.mkdir(parents=True, exist_ok=True)
    for schema in sorted(default_schema_dir().glob("*.schema.json")):
        shutil.copyfile(schema, schemas / schema.name)
        written.append(schemas / schema.name)
    return written
