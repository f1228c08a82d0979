"""Fixtures for the commands that read a store: a store written by two short replays.

The replays (WINDOW, bundled data) run once per session through the real `alluse replay`; each
test gets its own copy of the SQLite file. The first run approves what policy marks automatic,
the second (`--approve none`, the most recent run) approves nothing. What they propose, execute
and hold changes whenever the engine does, so tests never copy ids, counts or times from a run's
output: they read what the fixture wrote through the helpers below (the Store API, or SQL on
the journal) and state the precondition they need, e.g. "the automatic run executed a script".
The PostgreSQL fixtures are the adapters' (tests/adapters/conftest.py).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from alluse.adapters.store import ScriptRecord, Store
from alluse.adapters.store.models import EventRow
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


# -- what the fixture wrote, read independently of the commands under test -------------------

def stored_scripts(url: str, run_id: str) -> list[ScriptRecord]:
    """The run's action scripts as the store holds them, in the store's order."""
    with Store.open(url) as store:
        return store.scripts(run_id)


def last_event_at(url: str, run_id: str) -> dt.datetime:
    """When the run's last journalled event happened: where a simulated run's clock stands."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            ts = conn.execute(sa.select(EventRow.ts).where(EventRow.run_id == run_id)
                              .order_by(EventRow.event_index.desc()).limit(1)).scalar_one_or_none()
    finally:
        engine.dispose()
    assert ts is not None, f"run {run_id} journalled no event"
    return ts


def a_script(url: str, run_id: str, what: str, test: Callable[[ScriptRecord], bool]) -> ScriptRecord:
    """The first of the run's scripts that passes `test`; fails, saying `what` is missing, if none does.

    The replay window decides what exists: when a change to the engine leaves the window
    without such a script, the message says which one to look for in another window.
    """
    found = next((s for s in stored_scripts(url, run_id) if test(s)), None)
    assert found is not None, (f"precondition: run {run_id} ({' '.join(WINDOW)}) has no {what}: "
                               "choose a window (tests/cli/conftest.py WINDOW) that produces one")
    return found
