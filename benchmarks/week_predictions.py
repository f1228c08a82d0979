"""Predicted vs actual week modes over a replay: the weekly table and the hit rates per symbol.

    python benchmarks/week_predictions.py [--from 2021-01-04] [--to 2025-12-31] [--capital 100000]
                                          [--weeks N]

Runs the replay (default policies) and prints, from the engine's learning history, one row per
ISO week — each symbol's predicted and actual mode (g/r/b: green/red/blue; "-" none; "*" a hit)
— (the last N weeks with --weeks), then per symbol and overall: weeks, weeks predicted, hits,
hit rate, the base rate (always predicting the most frequent actual mode) and the confusion
matrix, cumulative and over the rolling window of week_types.yaml's learning.rolling_weeks.
"""

from __future__ import annotations

import argparse
import datetime as dt

from alluse.adapters.policy_files import default_policy_dir, load_policy_dir
from alluse.engine import learning
from alluse.runtime.replay import Replay, ReplayParams


def _short(mode: str) -> str:
    return mode[:1] if mode else "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--from", dest="start", default="2021-01-04")
    ap.add_argument("--to", dest="end", default="2025-12-31")
    ap.add_argument("--capital", type=float, default=100_000.0)
    ap.add_argument("--weeks", type=int, default=0, help="print only the last N weeks' rows")
    args = ap.parse_args()
    ps = load_policy_dir(default_policy_dir())
    replay = Replay(ps, ReplayParams(dt.date.fromisoformat(args.start),
                                     dt.date.fromisoformat(args.end), args.capital))
    replay.run()
    hist = replay.engine.state.learning
    table = learning.week_table(hist.weeks)
    symbols = sorted({s for _, row in table for s in row})
    print("week      " + " ".join(f"{s:>6}" for s in symbols) + "   hits")
    for week, row in table[-args.weeks:] if args.weeks else table:
        cells = []
        for s in symbols:
            r = row.get(s)
            cells.append("" if r is None else
                         f"{_short(r.predicted)}>{_short(r.actual)}"
                         f"{'*' if r.predicted and r.predicted == r.actual else ''}")
        hits = sum(1 for r in row.values() if r.predicted and r.predicted == r.actual)
        print(f"{week:<9} " + " ".join(f"{c:>6}" for c in cells) + f"   {hits}/{len(row)}")
    rolling = ps.week_types.learning.rolling_weeks
    print(f"\n{'symbol':<7} {'weeks':>5} {'pred':>5} {'hits':>5} {'hit rate':>8} {'base':>6} "
          f"{f'last {rolling}w':>9}   confusion (predicted->actual: weeks)")
    for sym, sc in learning.scoreboard(hist, rolling).items():
        c, r = sc["cumulative"], sc["rolling"]
        rate = "n/a" if c.hit_rate is None else f"{c.hit_rate:.1%}"
        base = "n/a" if c.base_rate is None else f"{c.base_rate:.1%}"
        roll = "n/a" if r.hit_rate is None else f"{r.hit_rate:.1%}"
        matrix = " ".join(f"{p}->{a}:{n}" for (p, a), n in c.matrix.items())
        print(f"{sym:<7} {c.weeks:>5} {c.predicted:>5} {c.hits:>5} {rate:>8} {base:>6} "
              f"{roll:>9}   {matrix}")


if __name__ == "__main__":
    main()
