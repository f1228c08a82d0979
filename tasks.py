#!/usr/bin/env python3
"""Set-up and entry points that need nothing but python3.

    python3 tasks.py run     create .venv, install alluse, run the main job (alluse replay)
    python3 tasks.py test    create .venv, install alluse with its test tools, run the tests
    python3 tasks.py lint    ruff over the tree, mypy --strict over alluse (engine, adapters, app)

The virtual environment is (re)installed only when pyproject.toml or constraints.txt changed.
Versions are pinned by constraints.txt (pip's constraints file; `pip freeze` of a tested set-up).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"


def _stamp() -> str:
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "constraints.txt"):
        path = ROOT / name
        if path.exists():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_venv() -> None:
    stamp_file = VENV / ".alluse-installed"
    wanted = _stamp()
    if stamp_file.exists() and stamp_file.read_text() == wanted and PY.exists():
        return
    if not PY.exists():
        print("creating .venv …", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("installing alluse and its pinned dependencies into .venv …", flush=True)
    cmd = [str(PY), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    if (ROOT / "constraints.txt").exists():
        cmd += ["-c", str(ROOT / "constraints.txt")]
    cmd += ["-e", f"{ROOT}[dev]"]
    subprocess.run(cmd, check=True)
    stamp_file.write_text(wanted)


def _mypy_tree() -> Path:
    """Lay the folders out as the wheel does (alluse/, alluse/engine/, alluse/adapters/ …) with links.

    mypy cannot follow setuptools' editable finder through the package-dir mapping, so it reads
    this tree instead. The mapping comes from pyproject.toml, and the tree is laid anew on every
    run so that a module added to app/ is never missed."""
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    tree = VENV / "mypy-src"
    top = tree / "alluse"
    if top.is_symlink() or top.is_file():
        top.unlink()
    elif top.exists():
        shutil.rmtree(top)  # removes the links, never what they point at
    top.mkdir(parents=True)
    for entry in sorted((ROOT / mapping["alluse"]).iterdir()):
        if entry.name != "__pycache__":
            (top / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    for package, folder in sorted(mapping.items()):
        link = tree.joinpath(*package.split("."))
        if package != "alluse" and not link.exists():  # alluse.engine.policy is inside alluse.engine
            link.symlink_to(ROOT / folder, target_is_directory=True)
    return tree


def _real_path(line: str, tree: Path) -> str:
    """mypy names files by their place in the link tree; point editors and CI at the real file."""
    path, sep, rest = line.partition(":")
    if not sep or not path.endswith(".py"):
        return line
    return f"{os.path.relpath((tree / path).resolve(), ROOT)}:{rest}"


def lint() -> int:
    """ruff over the tree, then mypy --strict over every module of the distribution."""
    rc = subprocess.call([str(BIN / "ruff"), "check", "."], cwd=ROOT)
    tree = _mypy_tree()
    env = {**os.environ, "MYPYPATH": str(tree)}
    mypy = subprocess.run([str(BIN / "mypy"), "--config-file", str(ROOT / "pyproject.toml"),
                           "-p", "alluse"], cwd=tree, env=env, stdout=subprocess.PIPE, text=True)
    for line in mypy.stdout.splitlines():
        print(_real_path(line, tree))
    return rc | mypy.returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"run", "test", "setup", "lint"}:
        print(__doc__)
        return 2
    ensure_venv()
    what, rest = argv[0], argv[1:]
    if what == "setup":
        return 0
    if what == "lint":
        return lint()
    if what == "test":
        return subprocess.call([str(PY), "-m", "pytest", *rest], cwd=ROOT)
    # The main job: the bundled history at 100K through the engine and the simulated broker.
    return subprocess.call([str(BIN / "alluse"), "replay", "--capital", "100000",
                            "--report", "reports/latest", *rest], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
