"""Fixtures for the commands that read a store: a store written by two short replays.

The replays (2024-03-04 … 2024-04-19, bundled data) run once per session through the real
`alluse replay`; each test gets its own copy of the SQLite file. The first run approves what
policy marks automatic (two executed wheel puts, positions, trades, a protocol breach whose
script needs a human), the second (`--approve none`, the most recent run) leaves its three
scripts proposed. The PostgreSQL fixtures are the adapters' (tests/adapters/conftest.py).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alluse.cli import app

_spec = importlib.util.spec_from_file_location(
    "adapters_conftest", Path(__file__).resolve().parents[1] / "adapters" / "conftest.py")
assert _spec is not None and _spec.loader is not None
_adapters = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_adapters)
postgres_url = _adapters.postgres_url

WINDOW = ["--from", "2024-03-04", "--to", "2024-04-19"]


@dataclass(frozen=True)
class ReplayStore:
    url: str
    automatic: str  # run id of the --approve automatic replay
    none: str  # run id of the --approve none replay: the most recent run


def write_replays(url: str) -> ReplayStore:
    """The two replays into `url`, through the command line."""
    runner = CliRunner()
    ids = []
    for approve in ("automatic", "none"):
        done = runner.invoke(app, ["replay", *WINDOW, "--approve", approve, "--db", url, "--format", "json"])
        assert 0 == done.exit_code, done.output
        ids.append(json.loads(done.stdout)["run_id"])
    return ReplayStore(url, *ids)


@pytest.fixture(scope="session")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> ReplayStore:
    path = tmp_path_factory.mktemp("replayed") / "alluse.db"
    return write_replays(f"sqlite:///{path}")


@pytest.fixture
def replay_store(replayed: ReplayStore, tmp_path: Path) -> ReplayStore:
    """A private copy of the replayed store (the database file and any WAL beside it)."""
    source = Path(replayed.url.removeprefix("sqlite:///"))
    for sibling in source.parent.glob(source.name + "*"):
        shutil.copy(sibling, tmp_path / sibling.name)
    return ReplayStore(f"sqlite:///{tmp_path / source.name}", replayed.automatic, replayed.none)
