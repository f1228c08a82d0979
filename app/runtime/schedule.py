"""The policy's schedule as a `Scheduler` (the same fire times for replay and the node)."""

from __future__ import annotations

import datetime as dt

from alluse.engine.calendar import NY, MarketCalendar
from alluse.engine.policy import PolicySet
from alluse.engine.policy.cron import parse_cron
from alluse.engine.ports import Scheduler


class CronTable:
    """Five-field cron in America/New_York, evaluated day by day (wall-clock times)."""

    def __init__(self, ps: PolicySet) -> None:
        self._jobs = {name: parse_cron(job.cron) for name, job in ps.schedule.jobs.items()
                      if job.enabled}

    def fire_times(self, job: str, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
        return [ts for ts, name in self.due(start, end) if name == job]

    def due(self, start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, str]]:
        out: list[tuple[dt.datetime, str]] = []
        day = start.astimezone(NY).date()
        while dt.datetime.combine(day, dt.time(0), tzinfo=NY) < end:
            for name, (minutes, hours, doms, months, dows) in self._jobs.items():
                if day.day not in doms or day.month not in months or day.weekday() not in dows:
                    continue
                for h in sorted(hours):
                    for m in sorted(minutes):
                        ts = dt.datetime.combine(day, dt.time(h, m), tzinfo=NY)
                        if start <= ts < end:
                            out.append((ts, name))
            day += dt.timedelta(days=1)
        return sorted(out)


def policy_scheduler(ps: PolicySet, calendar: MarketCalendar) -> Scheduler:
    return CronTable(ps)
