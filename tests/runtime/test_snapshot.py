"""Snapshot and restore: a replay cut at random events, saved, restored in a NEW process and run
on gives byte-identical decisions and the same final JSON as the uninterrupted run."""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from alluse.adapters.policy_files import default_policy_dir, load_policy_dir
from alluse.engine.core import CODEC, Engine
from alluse.engine.decisions import Decision
from alluse.engine.errors import DataError
from alluse.engine.events import Event
from alluse.engine.policy import PolicySet
from alluse.runtime.replay import Replay, ReplayParams

# 2021 at 10M: forks, merges pending, assignments, covered calls and protocol escalations
PARAMS = ReplayParams(dt.date(2021, 1, 4), dt.date(2021, 12, 31), 10_000_000.0)

RESUME = """
import json, sys
import datetime as dt
from alluse.adapters.policy_files import default_policy_dir, load_policy_dir
from alluse.runtime.replay import Replay, ReplayParams
ps = load_policy_dir(default_policy_dir())
params = ReplayParams(dt.date(2021, 1, 4), dt.date(2021, 12, 31), 10_000_000.0)
replay = Replay.resume(ps, params, open(sys.argv[1], "rb").read())
decisions = []
replay.driver.observers.append(lambda ev, d: decisions.append(json.dumps(d.to_dict())))
result = replay.run()
json.dump({"result": result, "decisions": decisions}, sys.stdout, sort_keys=True, default=str)
"""


@pytest.fixture(scope="module")
def policies() -> PolicySet:
    return load_policy_dir(default_policy_dir())


def _recording(replay: Replay) -> list[str]:
    out: list[str] = []

    def record(ev: Event, d: Decision) -> None:
        out.append(json.dumps(d.to_dict()))

    replay.driver.observers.append(record)
    return out


@pytest.fixture(scope="module")
def uninterrupted(policies: PolicySet) -> tuple[dict[str, Any], list[str]]:
    replay = Replay(policies, PARAMS)
    decisions = _recording(replay)
    result = replay.run()
    return json.loads(json.dumps(result, sort_keys=True, default=str)), decisions


@pytest.mark.slow
def test_a_replay_restored_in_a_new_process_at_random_cuts_continues_identically(
        policies: PolicySet, uninterrupted: tuple[dict[str, Any], list[str]],
        tmp_path: Path) -> None:
    """Three random cut points: decisions after the cut and the final JSON equal the
    uninterrupted run's, byte for byte."""
    result, decisions = uninterrupted
    assert result["forks"], "the window must hold a fork for this test to mean something"
    probe = Replay(policies, PARAMS)
    fed = sum(len(probe.source.events(d)) for d in probe.source.days())  # source events
    rng = random.Random(20261201)
    cuts = sorted(rng.sample(range(1, fed), 3))
    mismatches = []
    for cut in cuts:
        first = Replay(policies, PARAMS)
        assert first.advance(stop_after=cut) is False
        taken = first.engine.state.index + 1  # engine events so far (quotes, fills included)
        saved = tmp_path / f"cut-{cut}.bin"
        saved.write_bytes(first.save())
        proc = subprocess.run([sys.executable, "-c", RESUME, str(saved)], capture_output=True,
                              text=True, timeout=600, check=False)
        assert (0, "") == (proc.returncode, proc.stderr)
        resumed = json.loads(proc.stdout)
        if (resumed["result"], resumed["decisions"]) != (result, decisions[taken:]):
            mismatches.append(cut)
    assert [] == mismatches


def test_an_engine_snapshot_restores_to_the_same_snapshot(policies: PolicySet) -> None:
    """snapshot → restore → snapshot gives the same bytes (nothing lost or added on the way)."""
    replay = Replay(policies, ReplayParams(dt.date(2021, 1, 4), dt.date(2021, 3, 31), 100_000.0))
    replay.run()
    data = replay.engine.snapshot()
    again = Engine.restore(data, policies, calendar=replay.calendar).snapshot()
    assert (data, True) == (again, len(replay.engine.state.ledger.realized()) > 0)


def test_a_snapshot_that_is_not_one_is_refused_with_a_clear_error(policies: PolicySet) -> None:
    """Garbage, another version, or a class the engine does not restore: DataError, nothing built."""
    messages = []
    for data in (b"not json", CODEC.dumps({"version": 99}), b'{"$o": "os.system", "v": {}}'):
        with pytest.raises(DataError) as caught:
            Engine.restore(data, policies)
        messages.append(str(caught.value).split(":")[0])
    assert ["saved state is not readable", "not an engine snapshot of this alluse version",
            "saved state names a class this alluse does not restore"] == messages
