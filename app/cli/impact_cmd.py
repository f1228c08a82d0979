"""`alluse policy impact --base REF [--head REF|DIR] [DIR]`: what a policy change would have
changed, on the bundled history.

The base set (and a head given as a revision) is read from git objects — no checkout, so it works
in a dirty tree; a head given as a directory (by default DIR itself, the working tree) is read
from disk. DIR is the policy directory inside the repository (default: ALLUSE_POLICIES, else the
current directory). Both sets are replayed over one window in this process and compared.

Exit 0 when nothing that ``--fail-on`` names differs, 1 when something does, 2 on usage errors:
a bad revision, no git repository, bad dates or capital, a set that does not load.
"""

from __future__ import annotations

import datetime as dt
import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from alluse.cli.policy_cmd import policy_app, print_issues

if TYPE_CHECKING:  # the replay machinery is imported when the command runs, not at CLI start
    from alluse.engine.policy import PolicySet


RepoDirArg = Annotated[Path | None, typer.Argument(
    help="Policy directory inside the git repository (default: ALLUSE_POLICIES, else the "
         "current directory)", show_default=False)]


class ImpactFormat(StrEnum):
    text = "text"
    markdown = "markdown"
    json = "json"


class FailOn(StrEnum):
    any = "any"
    decisions = "decisions"
    entries = "entries"
    levels = "levels"
    alerts = "alerts"
    scripts = "scripts"
    forks = "forks"
    pnl = "pnl"
    never = "never"


def _usage(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _date(value: str | None, name: str, default: dt.date) -> dt.date:
    if value is None:
        return default
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _usage(f"{name}: '{value}' is not a date (YYYY-MM-DD)") from None


def _load(files: dict[str, bytes], label: str, where: Path | str, fmt: str) -> PolicySet:
    """The set, or exit 2 listing its problems; ``where`` is its directory or, for a set read from
    git, the ``REV:path/`` its file names are shown under."""
    import dataclasses

    from alluse.engine.errors import PolicyLoadError
    from alluse.engine.policy import load_policy_set

    if not files:
        raise _usage(f"{label}: no policy files in {where}")
    try:
        return load_policy_set(files)
    except PolicyLoadError as exc:
        typer.echo(f"error: {label}: the policy set does not load:", err=True)
        issues = exc.issues if isinstance(where, Path) else [
            dataclasses.replace(i, file=f"{where}{i.file}") for i in exc.issues]
        print_issues(issues, "text" if fmt == "markdown" else fmt,
                     where if isinstance(where, Path) else None)
        raise typer.Exit(2) from None


@policy_app.command("impact")
def impact_cmd(
    directory: RepoDirArg = None,
    base: Annotated[str, typer.Option("--base", help="Git revision of the set to compare "
                                                     "against (main, a tag, a commit)")] = "",
    head: Annotated[str | None, typer.Option("--head", help="Git revision or directory of the "
                                             "changed set (default: DIR as on disk)")] = None,
    start: Annotated[str | None, typer.Option("--from", help="First day (YYYY-MM-DD)")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day (YYYY-MM-DD)")] = None,
    capital: Annotated[float | None, typer.Option("--capital", help="Initial capital "
                                                  "(default: the head set's)")] = None,
    fmt: Annotated[ImpactFormat, typer.Option("--format", help="text, markdown (a PR comment) "
                                              "or json")] = ImpactFormat.text,
    fail_on: Annotated[list[FailOn] | None, typer.Option(
        "--fail-on", help="What makes the exit code 1 (repeatable): any, decisions, entries, "
                          "levels, alerts, scripts, forks, pnl, or never")] = None,
) -> None:
    """Replay history under the base and the head policy sets; report what would have changed."""
    from alluse.adapters.git_policies import GitError, locate, read_policy_files_at, resolve
    from alluse.adapters.policy_files import read_policy_files
    from alluse.cli.impact_render import as_json, render_markdown, render_text
    from alluse.cli.policy_dir import ENV_VAR
    from alluse.cli.replay_cmd import FIRST_DAY, LAST_DAY
    from alluse.engine.errors import PolicyLoadError
    from alluse.runtime.impact import KINDS, impact
    from alluse.runtime.replay import ReplayParams
    from alluse.settings import SettingsError, load_settings

    if not base:
        raise _usage("--base: give the git revision to compare against (e.g. --base main)")
    if directory is None:
        try:
            configured = load_settings().policies
        except SettingsError as exc:
            raise _usage(str(exc)) from None
        directory = Path(configured) if configured else Path(".")
        where = f"{ENV_VAR} " if configured else ""
    else:
        where = ""
    d0, d1 = _date(start, "--from", FIRST_DAY), _date(end, "--to", LAST_DAY)
    if d0 > d1:
        raise _usage(f"--from {d0} is after --to {d1}")
    if d0 < FIRST_DAY or d1 > LAST_DAY:
        raise _usage(f"the bundled daily bars cover {FIRST_DAY} to {LAST_DAY}; got --from {d0} "
                     f"--to {d1}")
    head_where: Path | str
    try:
        repo, prefix = locate(directory)
        commit = resolve(repo, base)
        base_files = read_policy_files_at(repo, commit, prefix)
        if head is not None and not Path(head).is_dir():
            head_commit = resolve(repo, head)
            head_files = read_policy_files_at(repo, head_commit, prefix)
            head_shown, head_where = head, f"{head}:{prefix}"
            head_ref = {"ref": head, "commit": head_commit}
        else:
            head_dir = Path(head) if head is not None else directory
            head_files = read_policy_files(head_dir)
            head_shown = f"{head_dir} (on disk)" if head is not None else \
                f"the working tree ({head_dir})"
            head_where = head_dir
            head_ref = {"directory": str(head_dir)}
    except GitError as exc:
        raise _usage(f"{where}{exc}") from None
    except PolicyLoadError as exc:  # unreadable or oversized files
        print_issues(exc.issues, "text", directory)
        raise typer.Exit(2) from None
    base_ps = _load(base_files, f"--base {base}", f"{base}:{prefix}", fmt.value)
    head_ps = _load(head_files, f"head {head_shown}", head_where, fmt.value)
    cap = capital if capital is not None else head_ps.accounts.capital.default
    lim = head_ps.accounts.capital
    if not lim.minimum <= cap <= lim.maximum:
        raise _usage(f"--capital: {cap:,.2f} is outside {lim.minimum:,.0f}-{lim.maximum:,.0f} "
                     "(accounts.yaml capital)")
    result = impact(base_ps, head_ps, ReplayParams(d0, d1, cap))
    wanted = set(fail_on or [FailOn.any])
    kinds = [*KINDS, "pnl"] if FailOn.any in wanted else [k.value for k in wanted]
    differs = FailOn.never not in wanted and any(result.differs(k) for k in kinds)
    if fmt is ImpactFormat.json:
        typer.echo(json.dumps(as_json(result, {"ref": base, "commit": commit}, head_ref, differs),
                              indent=2))
    else:
        render = render_markdown if fmt is ImpactFormat.markdown else render_text
        for line in render(result, base, head_shown):
            typer.echo(line)
    if differs:
        raise typer.Exit(1)
