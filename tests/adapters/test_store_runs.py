"""Many runs in one database, through the command line as a user runs them: two replays with
different capital into the same store both complete and keep their own rows (SQLite, PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from alluse.adapters.store import Store

ALLUSE = Path(sys.executable).with_name("alluse")  # the console script installed beside this python
MARCH_2021 = ["replay", "--from", "2021-03-01", "--to", "2021-03-31", "--format", "json"]


def _replay(url: str, capital: str) -> dict[str, Any]:
    done = subprocess.run([str(ALLUSE), *MARCH_2021, "--db", url, "--capital", capital],
                          capture_output=True, text=True, timeout=120, check=False)
    assert (0, "") == (done.returncode, done.stderr)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _stored(url: str, run_id: str) -> dict[str, Any]:
    with Store.open(url) as store:
        run = store.run(run_id)
        assert run is not None
        return {"status": run.status,
                "accounts": [(a.id, a.initial_capital, a.status) for a in store.accounts(run_id)],
                "trades": [(t.account, t.ts, t.symbol, t.side, t.quantity, t.price)
                           for t in store.trades(run_id)],
                "scripts": [s.id for s in store.scripts(run_id)],
                "journal": [e.event_index for e in store.events(run_id)] == list(range(run.cursor + 1))}


def test_two_replays_with_other_capital_into_one_store_both_keep_their_own_rows(store_url: str) -> None:
    """100K then 10M into the same database: both exit 0; each run's accounts and trades are its own."""
    small = _replay(store_url, "100000")
    small_rows = _stored(store_url, small["run_id"])
    large = _replay(store_url, "10000000")
    rows = {name: _stored(store_url, result["run_id"]) for name, result in (("100K", small), ("10M", large))}
    with Store.open(store_url) as store:
        run_ids = sorted(r.run_id for r in store.runs())
    capital = {name: {a["id"]: Decimal(str(a["initial_capital"])).quantize(Decimal("0.01"))
                      for a in result["accounts"]} for name, result in (("100K", small), ("10M", large))}
    assert (sorted([small["run_id"], large["run_id"]]), small_rows) == (run_ids, rows["100K"])
    for name, result in (("100K", small), ("10M", large)):
        stored = rows[name]
        assert ("done", True, result["fills"], capital[name]) == (
            stored["status"], stored["journal"], len(stored["trades"]),
            {acc: cap for acc, cap, _ in stored["accounts"]}), name
    shared_script_ids = set(rows["100K"]["scripts"]) & set(rows["10M"]["scripts"])
    assert (True, True) == (bool(shared_script_ids), rows["100K"]["trades"] != rows["10M"]["trades"]), (
        "the two runs must share a script id (the collision this guards against) and trade differently")
