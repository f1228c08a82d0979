"""How long `alluse policy lint` takes: cold (a new process, what CI and the operator see) and
in-process (load + validate of the default set, what a reload costs).

    python benchmarks/policy_lint.py [--runs 15] [--dir policies]

Target: cold lint median ≤ 0.6 s. Ends with one JSON line of the figures (seconds / ms).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from alluse.adapters.policy_files import default_policy_dir, load_policy_dir, read_policy_files
from alluse.engine.policy import load_policy_set
from alluse.engine.policy.yamlsource import _parse_cached

ENTRY = "from alluse.cli import main; main()"


def cold_lint(directory: Path, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-c", ENTRY, "policy", "lint", str(directory)],
                                capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if result.returncode != 0:
            sys.exit(f"lint failed: {result.stdout}{result.stderr}")
    return times


def in_process(directory: Path, runs: int) -> tuple[list[float], list[float], list[float]]:
    """(read + parse + validate with nothing memoised, the same with every file memoised,
    validate only of already-read bytes with nothing memoised), in ms."""
    load_policy_dir(directory)  # imports and first-call costs out of the way
    cold, warm, validate = [], [], []
    files = read_policy_files(directory)
    for _ in range(runs):
        _parse_cached.cache_clear()
        start = time.perf_counter()
        load_policy_dir(directory)
        cold.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        load_policy_dir(directory)
        warm.append((time.perf_counter() - start) * 1000)
        _parse_cached.cache_clear()
        start = time.perf_counter()
        load_policy_set(files)
        validate.append((time.perf_counter() - start) * 1000)
    return cold, warm, validate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--dir", type=Path, default=default_policy_dir())
    args = parser.parse_args()
    cold = cold_lint(args.dir, args.runs)
    load_cold, load_warm, validate = in_process(args.dir, args.runs * 2)
    figures = {
        "cold_lint_median_s": round(statistics.median(cold), 3),
        "cold_lint_min_s": round(min(cold), 3),
        "load_validate_median_ms": round(statistics.median(load_cold), 1),
        "load_validate_min_ms": round(min(load_cold), 1),
        "load_memoised_median_ms": round(statistics.median(load_warm), 2),
        "validate_only_median_ms": round(statistics.median(validate), 1),
        "runs": args.runs,
    }
    print(f"cold `alluse policy lint` ({args.runs} processes): median "
          f"{figures['cold_lint_median_s']} s, min {figures['cold_lint_min_s']} s (target ≤ 0.6 s)")
    print(f"in-process read+parse+validate: median {figures['load_validate_median_ms']} ms, min "
          f"{figures['load_validate_min_ms']} ms; with every file memoised "
          f"{figures['load_memoised_median_ms']} ms")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
