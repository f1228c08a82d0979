"""REV-ACC entry day, Thursday vs Monday, answered from the bundled history.

    python benchmarks/rev_entry_days.py [--from 2021-01-04] [--to 2025-12-31] [--capital 100000]

Two replays over the same days with the same engine, data and simulated broker; the only
difference is strategies/rev_acc.yaml ``entry.days`` ([thu] vs [mon]). Both use a schedule whose
entry_scan job also fires on Mondays ("0,30 10 * * mon,thu"), so the Monday variant can enter;
the other strategies enter by their own days (Thursday), so their trades do not change. Prints
REV-ACC-001 per quarter for each variant — its return (equity, stock held after an assignment
marked to market, with money moved by forks and tax withholding added back), the option
contracts sold, the premium taken, the put week types (expired worthless / assigned / closed /
rolled) and the P&L of the positions that ended — then the totals with every week type.
Option prices are the simulated market's (Black-Scholes on the calibrated IV model), not
recorded chains: the comparison is between entry days under one model. The entry day is not
the only difference it makes: REV's DTE band (0-8, farthest) gives a Thursday entry next week's
Friday (8 days) and a Monday entry this Friday (4 days), so the premium floor meets different
option prices.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from alluse.adapters.policy_files import default_policy_dir, read_policy_files
from alluse.engine.calendar import NY
from alluse.engine.decisions import Decision
from alluse.engine.events import Event, Fill
from alluse.engine.policy import PolicySet, load_policy_set
from alluse.runtime.replay import Replay, ReplayParams

REV = "strategies/rev_acc.yaml"
ENTRY_CRON = '    cron: "0,30 10 * * thu"'


def variant(files: Mapping[str, bytes], day: str) -> PolicySet:
    """The default set with REV-ACC entering on ``day`` and entry scans on Monday and Thursday."""
    out = dict(files)
    rev = files[REV].decode()
    schedule = files["schedule.yaml"].decode()
    if "  days: [thu]" not in rev or ENTRY_CRON not in schedule:
        raise SystemExit("the policy set no longer has REV-ACC on [thu] and the Thursday "
                         "entry_scan cron this script rewrites")
    out[REV] = rev.replace("  days: [thu]", f"  days: [{day}]", 1).encode()
    out["schedule.yaml"] = schedule.replace(ENTRY_CRON, '    cron: "0,30 10 * * mon,thu"',
                                            1).encode()
    return load_policy_set(out)


def quarter(d: dt.date) -> str:
    return f"{d.year}-Q{(d.month - 1) // 3 + 1}"


@dataclass
class Quarter:
    start: float | None = None
    end: float | None = None
    sold: int = 0  # option contracts sold to open: puts, and covered calls after an assignment
    premium: float = 0.0
    types: dict[str, int] = field(default_factory=dict)
    pnl: float = 0.0


def run(ps: PolicySet, params: ReplayParams, account: str) -> dict[str, Quarter]:
    replay = Replay(ps, params)
    by_q: dict[str, Quarter] = {}

    def observe(ev: Event, d: Decision) -> None:
        day = ev.ts.astimezone(NY).date()
        if isinstance(ev, Fill) and ev.account == account and ev.side == "SELL" and \
                ev.expiry is not None:
            q = by_q.setdefault(quarter(day), Quarter())
            q.sold += ev.quantity
            q.premium += ev.price * 100 * ev.quantity
        for f in d.fired:
            if f.rule == "week_types#learning" and f.step == "type":
                v = dict(f.values)
                if v.get("account") == account:
                    q = by_q.setdefault(quarter(day), Quarter())
                    code = str(v.get("actual") or "unclassified")
                    q.types[code] = q.types.get(code, 0) + 1
                    q.pnl += float(v.get("pnl") or 0.0)

    replay.driver.observers.append(observe)
    replay.run()
    series = replay.tally.adjusted_equity.get(account, [])
    for date, eq in zip(replay.tally.dates, series, strict=True):
        if eq is None:
            continue
        q = by_q.setdefault(quarter(dt.date.fromisoformat(date)), Quarter())
        q.start = eq if q.start is None else q.start
        q.end = eq
    return dict(sorted(by_q.items()))


def _ret(q: Quarter) -> float | None:
    return (q.end / q.start - 1) * 100 if q.start and q.end is not None else None


def report(results: dict[str, dict[str, Quarter]]) -> list[dict[str, Any]]:
    quarters = sorted({k for r in results.values() for k in r})
    names = list(results)
    print(f"{'quarter':<9}" + "".join(f" | {n:>7} ret%  sold  premium  EW/A/C/R    P&L"
                                      for n in names))
    rows = []
    for k in quarters:
        line = f"{k:<9}"
        for n in names:
            q = results[n].get(k, Quarter())
            r = _ret(q)
            t = q.types
            wt = f"{t.get('P-EW', 0)}/{t.get('P-A', 0)}/{t.get('P-C', 0)}/{t.get('P-R', 0)}"
            line += (f" | {'' if r is None else f'{r:+.2f}':>12} {q.sold:>5} {q.premium:>8.0f}"
                     f" {wt:>10} {q.pnl:>6.0f}")
            rows.append({"quarter": k, "variant": n, "return_pct": r, "sold": q.sold,
                         "premium": round(q.premium, 2), "types": t, "pnl": round(q.pnl, 2)})
        print(line)
    print()
    for n in names:
        qs = list(results[n].values())
        rets = [r for q in qs if (r := _ret(q)) is not None]
        growth = 1.0
        for r in rets:
            growth *= 1 + r / 100
        wins = sum(1 for k in quarters if (a := _ret(results[n].get(k, Quarter()))) is not None
                   and all(a >= (b if (b := _ret(results[m].get(k, Quarter()))) is not None
                                 else a) for m in names))
        types: dict[str, int] = {}
        for q in qs:
            for c, x in q.types.items():
                types[c] = types.get(c, 0) + x
        print(f"{n}: compounded return {(growth - 1) * 100:+.2f}% over {len(rets)} quarters; "
              f"best or tied in {wins}; contracts sold {sum(q.sold for q in qs)}; premium "
              f"{sum(q.premium for q in qs):,.0f}; positions' P&L {sum(q.pnl for q in qs):+,.0f}; "
              f"week types {dict(sorted(types.items()))}")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--from", dest="start", default="2021-01-04")
    ap.add_argument("--to", dest="end", default="2025-12-31")
    ap.add_argument("--capital", type=float, default=100_000.0)
    args = ap.parse_args()
    params = ReplayParams(dt.date.fromisoformat(args.start), dt.date.fromisoformat(args.end),
                          args.capital)
    files = read_policy_files(default_policy_dir())
    results = {f"REV {day}": run(variant(files, day), params, "REV-ACC-001")
               for day in ("thu", "mon")}
    print(f"REV-ACC-001, {args.start} .. {args.end}, capital {args.capital:,.0f}: entry on "
          "Thursday vs Monday (same data, same model)\n")
    report(results)


if __name__ == "__main__":
    main()
