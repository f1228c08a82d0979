"""The `alluse` command line (Typer + Rich). Each sub-module registers its commands."""

from alluse.cli.main import app, main

__all__ = ["app", "main"]
