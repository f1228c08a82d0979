"""The wheel holds every file of the folders it maps, and an installed wheel works without the repo."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The folders the distribution maps onto the package alluse (engine/ → alluse/engine/ …).
PACKAGE_DIRS: dict[str, str] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))[
    "tool"]["setuptools"]["package-dir"]


def _source_files() -> set[str]:
    """Each file of each mapped folder, named as the wheel must name it; caches and dot files aside."""
    names: set[str] = set()
    for package, folder in PACKAGE_DIRS.items():
        base = ROOT / folder
        for path in base.rglob("*"):
            rel = path.relative_to(base)
            if path.is_file() and "__pycache__" not in rel.parts and not rel.name.startswith("."):
                names.add("/".join([*package.split("."), *rel.parts]))
    return names


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel offline from a copy of the sources (setuptools builds in the source tree)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copyfile(ROOT / name, src / name)
    for folder in {f.split("/")[0] for f in PACKAGE_DIRS.values()}:
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "-q", "-w", str(out), str(src)],
        capture_output=True, text=True, check=False)
    assert 0 == build.returncode, build.stdout + build.stderr
    (built,) = out.glob("alluse-*.whl")
    return built


def test_wheel_holds_every_module_policy_schema_and_data_file(wheel: Path):
    """Every file under engine/, adapters/, app/, policies/ and schemas/ is in the wheel, and nothing else.

    A module missing under a new folder means a sub-package to add to [tool.setuptools] packages;
    a missing data file means a pattern to add to [tool.setuptools.package-data]."""
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    assert {"alluse"} == {n.split("/")[0] for n in names if ".dist-info/" not in n}
    assert _source_files() == {n for n in names if n.startswith("alluse/")}


def test_wheel_covers_each_kind_of_file(wheel: Path):
    """The folders hold what the package needs: the walk above is not vacuous."""
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    assert {"alluse/py.typed", "alluse/cli/main.py", "alluse/engine/policy/loader.py",
            "alluse/adapters/store/alembic.ini", "alluse/adapters/store/migrations/env.py",
            "alluse/adapters/data/MANIFEST.json", "alluse/policies/strategies/gen_acc.yaml",
            "alluse/schemas/protocols.schema.json"} <= names


def test_wheel_declares_the_alluse_command(wheel: Path):
    """The console script points at the CLI's entry point."""
    with zipfile.ZipFile(wheel) as zf:
        (entry_points,) = (n for n in zf.namelist() if n.endswith(".dist-info/entry_points.txt"))
        text = zf.read(entry_points).decode()
    assert "alluse = alluse.cli:main" in text.splitlines()


def test_unpacked_wheel_loads_its_policies_schemas_data_and_migrations(wheel: Path, tmp_path: Path):
    """From the wheel alone (not the repo), the default policies load, the data reads, the store migrates."""
    site_dir = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site_dir)
    probe = (
        "import pathlib, sys\n"
        "import alluse\n"
        "assert pathlib.Path(alluse.__file__).is_relative_to(sys.argv[1]), alluse.__file__\n"
        "from alluse.adapters.marketdata import read_daily\n"
        "from alluse.adapters.policy_files import default_policy_dir, default_schema_dir, load_policy_dir\n"
        "from alluse.adapters.store.store import Store\n"
        "policies = load_policy_dir(default_policy_dir())\n"
        "schemas = list(default_schema_dir().glob('*.schema.json'))\n"
        "bars = read_daily('SPY').bars\n"
        "with Store.open('sqlite://'):\n"
        "    pass\n"
        "print(len(policies.strategies), len(schemas), len(bars) > 1000)\n"
    )
    # -S leaves site-packages, and with it the editable install's finder, out of the path: the
    # unpacked wheel comes first, then the dependencies' folders named explicitly.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site_dir), *site.getsitepackages()])}
    run = subprocess.run([sys.executable, "-S", "-c", probe, str(site_dir)], capture_output=True, text=True,
                         env=env, check=False)
    assert 0 == run.returncode, run.stderr
    assert "3 9 True" == run.stdout.strip()
