#!/usr/bin/env python3
"""Set-up and entry points that need nothing but python3.

    python3 tasks.py run     create .venv, install alluse, run the main job (alluse replay)
    python3 tasks.py test    create .venv, install alluse with its test tools, run the tests
    python3 tasks.py lint    ruff over the tree, mypy --strict over alluse.engine

The virtual environment is (re)installed only when pyproject.toml or constraints.txt changed.
Versions are pinned by constraints.txt (pip's constraints file; `pip freeze` of a tested set-up).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
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


def lint() -> int:
    """ruff, then mypy. mypy cannot follow setuptools' editable finder for the package-dir
    mapping, so it reads alluse.engine through a small tree of links in .venv."""
    rc = subprocess.call([str(BIN / "ruff"), "check", "."], cwd=ROOT)
    tree = VENV / "mypy-src" / "alluse"
    tree.mkdir(parents=True, exist_ok=True)
    init = tree / "__init__.py"
    if not init.exists():
        init.write_text('"""alluse (type-checking view)."""\n')
    link = tree / "engine"
    if not link.exists():
        link.symlink_to(ROOT / "engine", target_is_directory=True)
    env = {**os.environ, "MYPYPATH": str(tree.parent)}
    rc |= subprocess.call([str(BIN / "mypy"), "--config-file", str(ROOT / "pyproject.toml"),
                           "-p", "alluse.engine"], cwd=tree.parent, env=env)
    return rc


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
