"""Replay throughput: the five-year daily replay (100K, no store), the same replay writing to a
SQLite store, and the bundled 1-minute replay; simulated trading days/s, engine events/s, wall
time and peak memory.

    python benchmarks/replay_throughput.py [--from 2021-01-04 --to 2025-12-31]
                                           [--no-tracemalloc | --trace-daily]

Each pass runs in a fresh child process, so its peak RSS (getrusage ru_maxrss) is its own; the
RSS after imports and policy loading is printed beside it. The 1-minute replay runs once more
under tracemalloc for the peak of Python allocations (~6x slower, so that pass's times are not
throughput figures); --trace-daily adds the five-year replay (~8x slower: over a minute).
Rates are given over the wall time (data loading included) and over the run alone.
Ends with one JSON line of every figure.
Figures are only comparable side by side within one run (these machines are noisy).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MINUTE_WINDOW = ("2022-03-14", "2022-04-14")  # the CLI's default --bars 1min range


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def one_pass(start: str, end: str, bars: str, db: str | None, trace: bool) -> dict[str, Any]:
    """Run one replay in this process and measure it."""
    import tracemalloc

    from alluse.adapters.policy_files import default_policy_dir, load_policy_dir
    from alluse.adapters.store import Store
    from alluse.runtime.replay import Replay, ReplayParams

    ps = load_policy_dir(default_policy_dir())
    params = ReplayParams(dt.date.fromisoformat(start), dt.date.fromisoformat(end), 100_000.0, bars)
    store = Store.open(db) if db else None
    baseline = _rss_mb()
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    replay = Replay(ps, params, store=store)  # loads the bundled bars
    t1 = time.perf_counter()
    result = replay.run()
    t2 = time.perf_counter()
    peak_traced = tracemalloc.get_traced_memory()[1] / 2**20 if trace else None
    if store is not None:
        store.close()
    events = replay.engine.index + 1
    days = len(replay.dates)
    return {
        "bars": bars, "from": start, "to": end, "store": "sqlite" if db else "none",
        "trading_days": days, "events": events, "trades": result["trades"],
        "total_pnl": result["total_pnl"], "conservation_ok": result["conservation"]["ok"],
        "load_s": round(t1 - t0, 3), "run_s": round(t2 - t1, 3), "wall_s": round(t2 - t0, 3),
        "days_per_s": round(days / (t2 - t0), 1), "events_per_s": round(events / (t2 - t0)),
        "run_days_per_s": round(days / (t2 - t1), 1), "run_events_per_s": round(events / (t2 - t1)),
        "baseline_rss_mb": round(baseline, 1), "peak_rss_mb": round(_rss_mb(), 1),
        "tracemalloc_peak_mb": None if peak_traced is None else round(peak_traced, 1),
    }


def _child(args: list[str]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--one", *args], capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        raise SystemExit(f"pass {' '.join(args)} failed:\n{out.stderr}")
    return json.loads(out.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def _line(name: str, r: dict[str, Any]) -> str:
    return (f"{name:<28} {r['trading_days']:>5} days {r['events']:>9,} events  "
            f"wall {r['wall_s']:6.2f} s (load {r['load_s']:.2f})  {r['days_per_s']:7.1f} days/s  "
            f"{r['events_per_s']:>8,} events/s (run alone {r['run_events_per_s']:,})  "
            f"peak RSS {r['peak_rss_mb']:.0f} MB "
            f"(after imports {r['baseline_rss_mb']:.0f})")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from", dest="start", default="2021-01-04")
    ap.add_argument("--to", dest="end", default="2025-12-31")
    ap.add_argument("--no-tracemalloc", action="store_true", help="skip the tracemalloc pass")
    ap.add_argument("--trace-daily", action="store_true",
                    help="also trace the daily replay's allocations (slow)")
    ap.add_argument("--one", nargs=5, metavar=("FROM", "TO", "BARS", "DB", "TRACE"),
                    help=argparse.SUPPRESS)  # internal: one pass in this (child) process
    a = ap.parse_args(argv)
    if a.one:
        start, end, bars, db, trace = a.one
        print(json.dumps(one_pass(start, end, bars, None if db == "none" else db, trace == "1")))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'replay.db'}"
        runs = {
            "daily": _child([a.start, a.end, "daily", "none", "0"]),
            "daily_sqlite": _child([a.start, a.end, "daily", url, "0"]),
            "1min": _child([*MINUTE_WINDOW, "1min", "none", "0"]),
        }
        db_mb = (Path(tmp) / "replay.db").stat().st_size / 2**20
    if not a.no_tracemalloc:
        runs["1min_traced"] = _child([*MINUTE_WINDOW, "1min", "none", "1"])
        if a.trace_daily:
            runs["daily_traced"] = _child([a.start, a.end, "daily", "none", "1"])
    d, s = runs["daily"], runs["daily_sqlite"]
    print(_line(f"daily {a.start}..{a.end}", d))
    print(_line("  same, into SQLite", s) + f"  db {db_mb:.1f} MB")
    print(_line(f"1min {MINUTE_WINDOW[0]}..{MINUTE_WINDOW[1]}", runs["1min"]))
    ratio = s["wall_s"] / d["wall_s"]
    print(f"store cost: SQLite wall / no-store wall = {ratio:.2f} "
          f"(same result: {s['total_pnl'] == d['total_pnl'] and s['trades'] == d['trades']})")
    for key in ("daily_traced", "1min_traced"):
        if key in runs:
            print(f"tracemalloc peak, {key.removesuffix('_traced')}: {runs[key]['tracemalloc_peak_mb']} MB "
                  f"(traced pass {runs[key]['wall_s']:.1f} s)")
    keys = ("trading_days", "events", "wall_s", "load_s", "days_per_s", "events_per_s",
            "run_days_per_s", "run_events_per_s", "peak_rss_mb", "baseline_rss_mb",
            "tracemalloc_peak_mb", "trades", "conservation_ok")
    summary: dict[str, Any] = {name: {k: r[k] for k in keys} for name, r in runs.items()}
    summary["store_wall_ratio"] = round(ratio, 2)
    summary["sqlite_db_mb"] = round(db_mb, 1)
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
