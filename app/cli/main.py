"""Builds the `alluse` Typer application from the command modules.

Exit codes everywhere: 0 success, 1 the input was checked and found wrong (policy errors, data
errors), 2 usage errors (bad arguments, missing files). A user error never ends in a traceback.
"""

from __future__ import annotations

import sys
from importlib.metadata import version
from typing import Annotated

import typer

from alluse.engine.errors import AlluseError

app = typer.Typer(
    name="alluse",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(requested: bool) -> None:
    # eager, so it answers before Typer asks for a command; the installed distribution's metadata,
    # so it says what pip says
    if requested:
        typer.echo(f"alluse {version('alluse')}")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="Print the installed alluse version and exit.")] = False,
) -> None:
    """Declarative rules engine for the ALL-USE options wheel."""


# Command modules: each defines register(app). One line per module; keep sorted.
from alluse.cli import (  # noqa: E402
    act_cmd,
    data_cmd,
    explain_cmd,
    ledger_cmd,
    policy_cmd,
    replay_cmd,
    status_cmd,
    views_cmd,
)

act_cmd.register(app)
data_cmd.register(app)
explain_cmd.register(app)
ledger_cmd.register(app)
policy_cmd.register(app)
replay_cmd.register(app)
status_cmd.register(app)
views_cmd.register(app)
from alluse.cli import (  # noqa: F401,E402  (policy subcommands)
    diff_cmd,
    fmt_cmd,
    impact_cmd,
    policy_test_cmd,
    watch_cmd,
)

# (more command modules are registered here)


def main() -> None:
    try:
        app()
    except AlluseError as exc:  # a user error that escaped a command: report it, no traceback
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
