"""`alluse policy diff A B`: what changed between two policy sets, and whether it loosens risk.

A and B are each a directory, a git ref (its policy directory read with ``git show``, no
checkout), or ``REF:PATH`` (that directory at that ref, PATH from the repository's top). The
policy directory of a bare ref is ``--policies``, else ALLUSE_POLICIES, else ``policies/`` when
the current directory has one, else the current directory. The grading rules are data: the
bundled ``policy_grading.yaml``, or ``--rules FILE``.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from alluse.cli.policy_cmd import policy_app

if TYPE_CHECKING:
    from alluse.engine.policy.diff import Change, Grading
    from alluse.engine.policy.yamlsource import YamlDoc


class DiffFormat(StrEnum):
    text = "text"
    json = "json"


class FailOn(StrEnum):
    none = "none"
    loosens = "loosens"
    unclear = "unclear"
    any = "any"


def _usage(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _default_dir(option: Path | None) -> Path:
    if option is not None:
        return option
    from alluse.settings import SettingsError, load_settings

    try:
        configured = load_settings().policies
    except SettingsError as exc:
        raise _usage(str(exc)) from None
    if configured:
        return Path(configured)
    return Path("policies") if Path("policies").is_dir() else Path(".")


def read_side(spec: str, policies: Path | None) -> tuple[str, dict[str, bytes]]:
    """A side's label and files: a directory, a git ref, or REF:PATH."""
    from alluse.adapters.policy_files import read_policy_files
    from alluse.adapters.policy_git import GitError, read_policy_files_at, repo_root
    from alluse.engine.errors import PolicyLoadError

    try:
        if Path(spec).is_dir():
            return spec, read_policy_files(Path(spec))
        if ":" in spec:
            ref, _, inside = spec.partition(":")
            return spec, read_policy_files_at(ref, repo_root(Path.cwd()) / inside)
        directory = _default_dir(policies)
        return f"{spec}:{directory.as_posix()}", read_policy_files_at(spec, directory)
    except GitError as exc:
        raise _usage(f"'{spec}' is neither a directory nor a readable git ref: {exc}") from None
    except PolicyLoadError as exc:
        raise _usage(f"{spec}: {exc}") from None


def load_grading(path: Path | None) -> Grading:
    import importlib.resources

    from pydantic import ValidationError
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    from alluse.engine.policy.diff import Grading

    try:
        text = (path.read_text("utf-8") if path is not None else
                (importlib.resources.files("alluse") / "data" / "policy_grading.yaml")
                .read_text("utf-8"))
        return Grading.model_validate(YAML(typ="safe").load(text))
    except (OSError, UnicodeDecodeError, YAMLError, ValidationError) as exc:
        where = path if path is not None else "the bundled grading rules"
        raise _usage(f"--rules {where}: {' '.join(str(exc).split())[:300]}") from None


def _parse(label: str, files: dict[str, bytes]) -> dict[str, YamlDoc]:
    from alluse.engine.policy.yamlsource import parse_yaml

    docs = {}
    problems = []
    for rel, raw in sorted(files.items()):
        doc, issues = parse_yaml(rel, raw)
        errors = [i for i in issues if not i.is_warning]
        if doc is None or errors:
            problems += [f"{label}: {i.format()}" for i in errors] or [f"{label}: {rel}: unreadable"]
            continue
        docs[rel] = doc
    if problems:
        for line in problems:
            typer.echo(line, err=True)
        raise typer.Exit(1)
    return docs


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "..."


def render_text(changes: list[Change], a: str, b: str) -> list[str]:
    from alluse.engine.policy.diff import summary

    def loc(p: tuple[str, int, int] | None) -> str:
        return f"{p[0]}:{p[1]}:{p[2]}" if p else "-"

    lines = [f"A: {a}", f"B: {b}"]
    for c in changes:
        what = (f"{_shown(c.old)} → {_shown(c.new)}" if c.kind == "changed" else
                f"added {_shown(c.new)}" if c.kind == "added" else f"removed {_shown(c.old)}")
        why = f" ({c.why})" if c.why else ""
        lines.append(f"{c.grade:<8} {loc(c.a)} → {loc(c.b)}  {c.where or c.file}: {what}{why}")
    counts = summary(changes)
    n = len(changes)
    lines.append(f"{n} change{'s' if n != 1 else ''}: " + ", ".join(
        f"{v} {k}" for k, v in counts.items()))
    return lines


@policy_app.command("diff")
def diff(
    a: Annotated[str, typer.Argument(help="Before: a directory, a git ref or REF:PATH")],
    b: Annotated[str, typer.Argument(help="After: a directory, a git ref or REF:PATH")],
    fmt: Annotated[DiffFormat, typer.Option("--format", help="text or json")] = DiffFormat.text,
    policies: Annotated[Path | None, typer.Option(
        "--policies", help="The policy directory for a bare git ref (default: ALLUSE_POLICIES, "
                           "else ./policies, else .)")] = None,
    rules: Annotated[Path | None, typer.Option(
        "--rules", help="Grading rules (YAML) instead of the bundled ones")] = None,
    fail_on: Annotated[FailOn, typer.Option(
        "--fail-on", help="Exit 1 when a change has this grade (loosens, unclear) or any")] =
    FailOn.none,
) -> None:
    """Each changed value with its file:line on both sides, graded loosens/tightens/neutral/unclear."""
    from alluse.engine.policy.diff import diff_sets, summary

    grading = load_grading(rules)
    label_a, files_a = read_side(a, policies)
    label_b, files_b = read_side(b, policies)
    changes = diff_sets(_parse(label_a, files_a), _parse(label_b, files_b), grading)
    if fmt is DiffFormat.json:
        typer.echo(json.dumps({"a": label_a, "b": label_b,
                               "changes": [c.as_dict() for c in changes],
                               "summary": summary(changes)}, indent=2, ensure_ascii=False,
                              default=str))
    else:
        for line in render_text(changes, label_a, label_b):
            typer.echo(line)
    failing = {"none": False, "any": bool(changes),
               "loosens": any(c.grade == "loosens" for c in changes),
               "unclear": any(c.grade == "unclear" for c in changes)}[fail_on.value]
    if failing:
        raise typer.Exit(1)
