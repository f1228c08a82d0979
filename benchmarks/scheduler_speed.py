"""How long the scheduler takes to say when the default schedule's jobs fire over 2021-2025.

    python benchmarks/scheduler_speed.py [--runs 7]

cold: a new CronSchedule with APScheduler's day walks not yet memoised (the first replay of a
process); warm: the same query again; per day: one due() per calendar day, as a day-by-day replay
asks. Target: cold due() over five years well under 0.3 s. Prints medians in ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from collections.abc import Callable

from alluse.adapters import scheduler
from alluse.adapters.policy_files import default_policy_dir, load_policy_dir
from alluse.adapters.scheduler import CronSchedule
from alluse.engine.calendar import NY, nyse_calendar

START, END = dt.datetime(2021, 1, 1, tzinfo=NY), dt.datetime(2026, 1, 1, tzinfo=NY)


def _median_ms(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    policy = load_policy_dir(default_policy_dir()).schedule
    calendar = nyse_calendar()  # built before timing: its import is not the scheduler's cost

    def cold(session_only: bool = False) -> int:
        scheduler._days_of_year.cache_clear()  # forget the memoised APScheduler day walks
        scheduler._times_of_day.cache_clear()
        return len(CronSchedule(policy, calendar).due(START, END, session_only=session_only))

    warm = CronSchedule(policy, calendar)
    warm.due(START, END)
    days = [START + dt.timedelta(days=i) for i in range((END - START).days)]

    def per_day() -> int:
        return sum(len(warm.due(d, d + dt.timedelta(days=1))) for d in days)

    fires, sessions = cold(), cold(session_only=True)
    protocol = len(warm.fire_times("protocol_check", START, END))
    print(f"default schedule 2021-2025: {fires} fire times ({protocol} protocol_check), "
          f"{sessions} on NYSE sessions")
    print(f"due() cold                 {_median_ms(cold, runs):8.1f} ms")
    print(f"due() cold, session_only   {_median_ms(lambda: cold(session_only=True), runs):8.1f} ms")
    print(f"due() warm                 {_median_ms(lambda: warm.due(START, END), runs):8.1f} ms")
    print(f"due() per day, {len(days)} days {_median_ms(per_day, runs):8.1f} ms")


if __name__ == "__main__":
    main()
