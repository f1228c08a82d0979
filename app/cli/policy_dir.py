"""The policy set a command works on, found in one place for every command.

The directory is the command's own argument (`DIR` or `--policies`), else `ALLUSE_POLICIES`, else
the set bundled with the package. A directory that is not there is a usage error (one line, exit
2) naming where it came from; a set with problems prints every problem and exits 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:  # the policy machinery is imported when a command runs, not at CLI start
    from alluse.engine.policy import PolicySet

ENV_VAR = "ALLUSE_POLICIES"


def policy_dir(directory: Path | None, *, option: str | None = None) -> Path:
    """The directory to use; `option` names the flag `directory` came from (None: an argument)."""
    from alluse.adapters.policy_files import default_policy_dir
    from alluse.settings import SettingsError, load_settings

    source = option
    if directory is None:
        try:
            configured = load_settings().policies
        except SettingsError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        directory, source = (Path(configured), ENV_VAR) if configured else (default_policy_dir(), None)
    if not directory.is_dir():
        problem = "is not a directory" if directory.exists() else "not found"
        typer.echo(f"error: {f'{source}: ' if source else ''}policy directory '{directory}' {problem}",
                   err=True)
        raise typer.Exit(2)
    return directory


def load_policies(directory: Path | None, *, option: str | None = None,
                  fmt: str = "text") -> tuple[PolicySet, Path]:
    """The whole policy set and its directory, or exit 1 after printing every problem in `fmt`."""
    from alluse.adapters.policy_files import load_policy_dir
    from alluse.cli.policy_cmd import print_issues
    from alluse.engine.errors import PolicyLoadError

    base = policy_dir(directory, option=option)
    try:
        return load_policy_dir(base), base
    except PolicyLoadError as exc:
        print_issues(exc.issues, fmt, base)
        raise typer.Exit(1) from None
