"""Evaluator.test on the default set's expressions: µs per call, passing and failing, alone and
with the explanation read (every clause's text and what would have had to differ).

    python benchmarks/expression_eval.py [--number 20000]

Ends with one JSON line: µs per call for each case. Figures are only comparable side by side
within one run (these machines are noisy).
"""

from __future__ import annotations

import argparse
import json
import sys
import timeit
from pathlib import Path

from alluse.adapters.policy_files import default_policy_dir, load_policy_dir
from alluse.engine.expressions import Evaluator, Expression, compile_expression, what_would_differ
from alluse.engine.policy import names as N

ENTRY = {"symbol": "TSLA", "right": "P", "price": 245.0, "atr": 12.0, "strike": 245.0,
         "premium": 3.0, "premium_pct": 1.2245, "min_premium_pct": 1.5, "target_weekly_pct": 2.0,
         "dte": 1, "delta": -0.45, "iv": 0.6, "rsi": 50.0, "macd_hist": 0.1,
         "account_equity": 40_000.0, "account_cash": 40_000.0, "open_positions": 0, "bid": 2.9,
         "ask": 3.1, "expiry": "2026-11-20", "account": "GEN-ACC-001"}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--number", type=int, default=20_000)
    args = ap.parse_args(argv)
    ps = load_policy_dir(Path(default_policy_dir()))
    floor = ps.expr("strategies/gen_acc.yaml", "rules", 0, "if")
    mode = ps.expr("week_types.yaml", "modes", "red", "when")
    three = compile_expression("premium_pct >= min_premium_pct and abs(delta) <= 0.5 and "
                               "strike < price + atr", N.ENTRY_RULE)
    week = {"week_return_pct": 1.0, "week_range_pct": 4.0, "atr_pct": 3.0}
    ev = Evaluator()
    cases = {
        "premium_floor_fail": (floor, ENTRY),
        "premium_floor_pass": (floor, {**ENTRY, "premium_pct": 2.0}),
        "week_mode_red": (mode, week),
        "three_clauses": (three, ENTRY),
    }
    def explained(expr: Expression, names: dict[str, object]) -> None:
        result = ev.test(expr, names)
        [c.failing for c in result.clauses]
        if result.failed is not None:
            what_would_differ(result.failed)

    out = {}
    for name, (expr, names) in cases.items():
        for suffix, call in (("", ev.test), ("_explained", explained)):
            best = min(timeit.repeat(lambda e=expr, n=names, f=call: f(e, n),
                                     number=args.number, repeat=5))
            out[name + suffix + "_us"] = round(best / args.number * 1e6, 3)
    print("Evaluator.test µs per call: " + ", ".join(f"{k[:-3]} {v}" for k, v in out.items()))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
