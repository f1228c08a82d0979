"""The `alluse` application itself: options that come before any command."""

from __future__ import annotations

import re
from importlib.metadata import version

from typer.testing import CliRunner

from alluse.cli import app

runner = CliRunner()


def test_version_prints_the_installed_distribution_version_and_exits_0():
    """`alluse --version` says `alluse <version>` from the installed metadata, nothing else."""
    result = runner.invoke(app, ["--version"])
    assert (0, f"alluse {version('alluse')}\n") == (result.exit_code, result.stdout)
    assert re.fullmatch(r"alluse \d+\.\d+\.\d+\S*\n", result.stdout)


def test_version_wins_over_a_command_that_follows_it():
    """--version is eager: it answers even when a command (with missing options) follows."""
    result = runner.invoke(app, ["--version", "explain"])
    assert (0, f"alluse {version('alluse')}\n") == (result.exit_code, result.stdout)


def test_no_arguments_still_prints_help():
    """The root callback keeps `alluse` alone showing the commands."""
    result = runner.invoke(app, [])
    assert "explain" in result.stdout and "--version" in result.stdout
