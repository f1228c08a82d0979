"""`alluse policy fmt [--check] [DIR]` through the real entry point."""

# house style (STYLE.md): assert expected == actual

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alluse.adapters.policy_files import default_policy_dir, read_policy_files

ENTRY = "from alluse.cli import main; main()"


def alluse(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", ENTRY, *args], capture_output=True, text=True,
                          cwd=cwd, timeout=60, env={**os.environ, "COLUMNS": "200"})


def copy_default(target: Path) -> Path:
    for rel, raw in read_policy_files(default_policy_dir()).items():
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        (target / rel).write_bytes(raw)
    return target


def test_check_on_the_default_set_exits_0(tmp_path):
    """The shipped set is canonical: --check passes and writes nothing."""
    result = alluse("policy", "fmt", "--check", str(default_policy_dir()), cwd=tmp_path)
    assert (0, "") == (result.returncode, result.stdout)


def test_check_lists_files_that_would_change_and_exits_1_without_writing(tmp_path):
    """--check names each file that would change, exits 1, and leaves it as it was."""
    p = copy_default(tmp_path / "p")
    risk = p / "risk.yaml"
    moved = risk.read_text("utf-8").replace("version: 1\n", "") + "version: 1\n"
    risk.write_text(moved, "utf-8")
    result = alluse("policy", "fmt", "--check", "p", cwd=tmp_path)
    assert (1, ["would reformat p/risk.yaml"]) == (result.returncode, result.stdout.splitlines())
    assert moved == risk.read_text("utf-8")


def test_fmt_rewrites_the_file_back_to_the_canonical_layout(tmp_path):
    """Without --check the file is rewritten (atomically) and then passes --check."""
    p = copy_default(tmp_path / "p")
    risk = p / "risk.yaml"
    original = risk.read_text("utf-8")
    risk.write_text(original.replace("version: 1\n", "") + "version: 1\n", "utf-8")
    result = alluse("policy", "fmt", "p", cwd=tmp_path)
    assert (0, ["reformatted p/risk.yaml"]) == (result.returncode, result.stdout.splitlines())
    assert original == risk.read_text("utf-8")
    assert [] == [f.name for f in p.iterdir() if f.name.startswith(".")]  # no temp file left
    assert 0 == alluse("policy", "fmt", "--check", "p", cwd=tmp_path).returncode


def test_a_file_that_is_not_yaml_is_reported_with_its_position_and_left_alone(tmp_path):
    """One broken file: its file:line:col on stderr, exit 1, the other files still checked."""
    p = copy_default(tmp_path / "p")
    (p / "data.yaml").write_text("version: 1\nwatchlist: [\n", "utf-8")
    result = alluse("policy", "fmt", "p", cwd=tmp_path)
    assert 1 == result.returncode
    assert result.stderr.startswith("p/data.yaml:3:1: cannot format: YAML:")
    assert "version: 1\nwatchlist: [\n" == (p / "data.yaml").read_text("utf-8")
