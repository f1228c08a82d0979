"""Save-to-active latency of the PolicyStore watcher: how long after an editor's save (temp file +
rename) the new policy set is the active one.

    python benchmarks/policy_reload.py [--saves 30] [--polling]

Each save changes one value in risk.yaml of a temp copy of the default set, then waits for the
store's active hash to change. Target: median ≤ 250 ms. Ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from alluse.adapters.policy_files import default_policy_dir, read_policy_files
from alluse.adapters.policy_store import PolicyStore, ReloadAttempt


def copy_default(target: Path) -> None:
    for rel, raw in read_policy_files(default_policy_dir()).items():
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        (target / rel).write_bytes(raw)


def atomic_save(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def measure(directory: Path, saves: int, polling: bool) -> tuple[list[float], int]:
    accepted = threading.Event()
    rejected = 0

    def on_attempt(attempt: ReloadAttempt) -> None:
        nonlocal rejected
        if attempt.status == "accepted":
            accepted.set()
        elif attempt.status == "rejected":
            rejected += 1

    path = directory / "risk.yaml"
    original = path.read_text("utf-8")
    assert "consecutive_losses: 3" in original
    latencies = []
    with PolicyStore(directory, force_polling=polling or None) as store:
        store.subscribe(on_attempt)
        time.sleep(0.3)  # let the OS watch settle before the first measured save
        for i in range(saves):
            accepted.clear()
            text = original.replace("consecutive_losses: 3", f"consecutive_losses: {10 + i}")
            start = time.perf_counter()
            atomic_save(path, text)
            if not accepted.wait(10):
                raise SystemExit(f"save {i} not active after 10 s")
            latencies.append((time.perf_counter() - start) * 1000)
            assert store.active.risk.circuit_breakers.consecutive_losses == 10 + i
            time.sleep(0.1)  # saves spaced like a person's, not a burst
    return latencies, rejected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saves", type=int, default=30)
    parser.add_argument("--polling", action="store_true", help="force watchfiles' polling mode")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "policies"
        copy_default(directory)
        latencies, rejected = measure(directory, args.saves, args.polling)
    latencies.sort()
    figures = {
        "saves": len(latencies),
        "median_ms": round(statistics.median(latencies), 1),
        "p90_ms": round(latencies[int(0.9 * (len(latencies) - 1))], 1),
        "max_ms": round(latencies[-1], 1),
        "min_ms": round(latencies[0], 1),
        "rejected_attempts": rejected,
        "polling": args.polling,
    }
    print(f"save → active over {figures['saves']} saves: median {figures['median_ms']} ms, "
          f"p90 {figures['p90_ms']} ms, max {figures['max_ms']} ms (target median ≤ 250 ms)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
