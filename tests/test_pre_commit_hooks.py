"""`.pre-commit-hooks.yaml`: the hooks a policy repository uses (see docs/policy-repo.md)."""

# house style (STYLE.md): assert expected == actual

from __future__ import annotations

from pathlib import Path

from ruamel.yaml import YAML
from typer.testing import CliRunner

from alluse.cli.main import app

ROOT = Path(__file__).resolve().parents[1]


def test_hooks_run_lint_fmt_check_and_test_once_per_commit():
    """Three hooks, each a python hook on YAML files that checks the whole set once."""
    hooks = YAML(typ="safe").load((ROOT / ".pre-commit-hooks.yaml").read_text("utf-8"))
    assert [("alluse-policy-lint", "alluse policy lint"),
            ("alluse-policy-fmt", "alluse policy fmt --check"),
            ("alluse-policy-test", "alluse policy test")] == [(h["id"], h["entry"]) for h in hooks]
    assert {("python", False, r"\.ya?ml$")} == {
        (h["language"], h["pass_filenames"], h["files"]) for h in hooks}


def test_the_lint_and_fmt_hooks_name_real_commands():
    """The entries' subcommands exist (`--help` answers 0)."""
    runner = CliRunner()
    for sub in ("lint", "fmt"):
        assert 0 == runner.invoke(app, ["policy", sub, "--help"]).exit_code
