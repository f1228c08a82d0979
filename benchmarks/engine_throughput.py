"""Engine.handle on price events with 50 open short puts and the default policies, next to a
bare Python loop doing the same ATR arithmetic on the same events.

    python benchmarks/engine_throughput.py [--events 400000]

Ends with one JSON line: events_per_s, p50_us, p99_us, max_us, bare_loop_events_per_s.
Figures are only comparable side by side within one run (these machines are noisy).
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
from pathlib import Path

from alluse.adapters.policy_files import default_policy_dir, load_policy_dir
from alluse.engine.core import Engine
from alluse.engine.events import Price
from alluse.engine.testing import EventBuilder

SYMBOLS = ["AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "TSLA"]


def build(n_events: int, seed: int = 7) -> tuple[Engine, list[Price], dict[str, float]]:
    ps = load_policy_dir(Path(default_policy_dir()))
    eng = Engine(ps, 10_000_000)
    ev = EventBuilder("2026-11-19")
    base = {s: 100.0 + 50 * i for i, s in enumerate(SYMBOLS)}
    for s in SYMBOLS:
        for bar in ev.daily_bars(s, [base[s]] * 20, spread=base[s] * 0.02):
            eng.handle(bar)
        eng.handle(ev.price(s, base[s], "09:31"))
    accounts = ["GEN-ACC-001", "REV-ACC-001", "COM-ACC-001"]
    rng = random.Random(seed)
    n = 0
    while n < 50:  # positions opened at different underlying prices, as a real book is
        for s in SYMBOLS:
            if n == 50:
                break
            eng.handle(ev.price(s, base[s] * (1 + rng.uniform(-0.03, 0.03)), "09:34"))
            strike = round(base[s] * (0.9 + 0.002 * n), 1)
            eng.handle(ev.sell_put(accounts[n % 3], s, "2026-11-27", strike, 1.0, "09:35"))
            n += 1
    prices = []
    t = ev.at("09:40")
    walk = dict.fromkeys(SYMBOLS, 0.0)
    for _ in range(n_events):
        s = SYMBOLS[rng.randrange(6)]
        # a bounded random walk of ±5%: most ticks change nothing, some cross level boundaries
        walk[s] = max(-0.05, min(0.05, walk[s] + rng.gauss(0, 0.0005)))
        prices.append(Price(t, s, base[s] * (1 + walk[s])))
    entry = {s: base[s] for s in SYMBOLS}
    return eng, prices, entry


def bare_loop(prices: list[Price], entry: dict[str, float], atr: dict[str, float]) -> float:
    levels = (0.0, 1.0, 2.0, 3.0)
    t0 = time.perf_counter()
    hits = 0
    for p in prices:
        mult = (entry[p.symbol] - p.price) / atr[p.symbol]
        lvl = 0
        while lvl + 1 < len(levels) and mult >= levels[lvl + 1]:
            lvl += 1
        hits += lvl
    dt = time.perf_counter() - t0
    return len(prices) / dt


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=400_000)
    args = ap.parse_args(argv)
    eng, prices, entry = build(args.events)
    atr = {s: eng.market[s].atr.value or 1.0 for s in SYMBOLS}
    handle = eng.handle
    for p in prices[:20_000]:  # warm-up
        handle(p)
    gc.collect()
    gc.freeze()
    t0 = time.perf_counter()
    for p in prices:
        handle(p)
    total = time.perf_counter() - t0
    # a second, fresh engine for the latency pass (the first has seen these prices)
    eng2, warm, _ = build(20_000, seed=11)
    handle = eng2.handle
    for p in warm:
        handle(p)
    gc.collect()
    gc.freeze()
    n_lat = min(len(prices), 200_000)
    lat = [0] * n_lat  # preallocated: list growth would show up as latency spikes
    clock = time.perf_counter_ns
    changed = 0
    for i in range(n_lat):
        p = prices[i]
        a = clock()
        d = handle(p)
        lat[i] = clock() - a
        changed += not d.empty
    lat.sort()
    bare = bare_loop(prices, entry, atr)
    out = {
        "events": len(prices),
        "open_positions": len(eng.shorts),
        "events_with_decisions": changed,
        "events_per_s": round(len(prices) / total),
        "p50_us": round(lat[len(lat) // 2] / 1000, 3),
        "p99_us": round(lat[int(len(lat) * 0.99)] / 1000, 3),
        "max_us": round(lat[-1] / 1000, 3),
        "bare_loop_events_per_s": round(bare),
    }
    print(f"Engine.handle: {out['events_per_s']:,} events/s with {out['open_positions']} open "
          f"positions ({changed} of {n_lat} events changed a level; bare loop "
          f"{out['bare_loop_events_per_s']:,}/s, ratio "
          f"{out['events_per_s'] / out['bare_loop_events_per_s']:.2f}); latency p50 "
          f"{out['p50_us']} µs, p99 {out['p99_us']} µs, max {out['max_us']} µs")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
