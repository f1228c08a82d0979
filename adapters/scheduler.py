"""When the jobs of schedule.yaml fire: one reading of cron for replay and live, on APScheduler.

Cron text is read by ``parse_cron`` (the function lint validates with) and handed to APScheduler's
``CronTrigger`` as explicit value lists, so weekday numbers mean what standard cron says (0 and 7
are Sunday; APScheduler 3's own ``from_crontab`` takes 0 as Monday). APScheduler decides which days
a job fires on and at which times of day; the day-by-day enumeration here reuses those answers so
that five years of a 15-minute job cost milliseconds, not one trigger walk per fire time. A live
scheduler fires jobs through `ScheduleTrigger`, which asks the same enumeration.

Daylight-saving change days (each wall-clock time of a matching day fires once):
- spring forward (02:00 -> 03:00): a time in the missing hour fires when the clock would have shown
  it had it not jumped, one hour later on the clock (02:30 fires at 03:30 EDT); a job that also
  fires at that instant fires once.
- fall back (02:00 -> 01:00): a time in the repeated hour fires once, at its first occurrence (EDT).
APScheduler's plain CronTrigger walk differs: it fires the repeated hour twice, a missing-hour time
at a non-existent 02:30-05:00 or not at all depending on where the walk starts, and it skips 00:xx
on the Monday after spring forward. Lint keeps policy jobs out of 01:00-03:00 anyway.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from alluse.engine.calendar import NY, MarketCalendar
from alluse.engine.policy.cron import parse_cron
from alluse.engine.policy.models import SchedulePolicy

_DOW_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # date.weekday() order
_REFERENCE_DAY = dt.date(2001, 1, 15)  # mid-January: a day with no DST change near it
_ONE_DAY = dt.timedelta(days=1)
_TICK = dt.timedelta(microseconds=1)


def _runs(values: Iterable[int]) -> str:
    """``{0, 1, 2, 5}`` as ``"0-2,5"``: APScheduler tests each list item in turn, ranges are cheap."""
    out: list[str] = []
    run: list[int] = []
    for v in sorted(values):
        if run and v == run[-1] + 1:
            run.append(v)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [v]
    out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(out)


def _fields(text: str) -> dict[str, str]:
    """APScheduler's field values for cron ``text``, read by ``parse_cron``."""
    minutes, hours, days, months, weekdays = parse_cron(text)
    return {"minute": _runs(minutes), "hour": _runs(hours), "day": _runs(days),
            "month": _runs(months),
            "day_of_week": ",".join(_DOW_NAMES[d] for d in sorted(weekdays))}


@lru_cache(maxsize=256)
def _days_of_year(day: str, month: str, day_of_week: str, year: int) -> frozenset[dt.date]:
    """The days of ``year`` these day fields allow, as APScheduler walks them.

    The probe fires at noon: APScheduler 3 steps a day by adding 24 hours in UTC, so after a
    spring-forward Sunday it lands at 01:00 and a midnight probe would skip that Monday
    (agronholm/apscheduler#606, still so in 3.11.3); noon is past any such landing.
    """
    trigger = CronTrigger(day=day, month=month, day_of_week=day_of_week, hour=12, minute=0,
                          second=0, timezone=NY)
    end = dt.datetime(year + 1, 1, 1, tzinfo=NY)
    found: list[dt.date] = []
    fire = trigger.get_next_fire_time(None, dt.datetime(year, 1, 1, tzinfo=NY))
    while fire is not None and fire < end:
        found.append(fire.date())
        # From the next midnight, not from the fire time: a day that matches then matches at
        # once, without APScheduler rolling seconds into minutes into hours first.
        after = fire.date() + _ONE_DAY
        fire = trigger.get_next_fire_time(
            None, dt.datetime(after.year, after.month, after.day, tzinfo=NY))
    return frozenset(found)


@lru_cache(maxsize=256)
def _times_of_day(minute: str, hour: str) -> tuple[dt.time, ...]:
    """The wall-clock times these fields allow, walked across a day with no DST change."""
    trigger = CronTrigger(minute=minute, hour=hour, second=0, timezone=NY)
    start = dt.datetime.combine(_REFERENCE_DAY, dt.time(0), tzinfo=NY)
    end = start + _ONE_DAY
    out: list[dt.time] = []
    fire = trigger.get_next_fire_time(None, start)
    while fire is not None and fire < end:
        out.append(fire.time())
        fire = trigger.get_next_fire_time(fire, fire)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class _Job:
    days: tuple[str, str, str]  # APScheduler's day, month and day_of_week fields
    times: tuple[dt.time, ...]  # wall-clock times of a day the job runs on, ascending

    @classmethod
    def of(cls, text: str) -> _Job:
        f = _fields(text)
        return cls((f["day"], f["month"], f["day_of_week"]), _times_of_day(f["minute"], f["hour"]))


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=NY)


def _is_dst_change(day: dt.date) -> bool:
    start = _midnight(day)
    return start.utcoffset() != (start + _ONE_DAY).utcoffset()


def _aware(ts: dt.datetime, what: str) -> dt.datetime:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {ts.isoformat()}")
    return ts.astimezone(dt.UTC)


class CronSchedule:
    """The fire times of a schedule policy's enabled jobs (implements the ``Scheduler`` port).

    ``session_only=True`` on a query keeps only NYSE sessions (by the fire time's New York date);
    it needs dates inside the calendar's table and raises its range error otherwise.
    """

    def __init__(self, schedule: SchedulePolicy, calendar: MarketCalendar) -> None:
        self.calendar = calendar
        self._disabled = frozenset(n for n, j in schedule.jobs.items() if not j.enabled)
        self._jobs = {name: _Job.of(job.cron)
                      for name, job in sorted(schedule.jobs.items()) if job.enabled}
        self._templates: dict[tuple[str, ...], tuple[tuple[dt.time, str], ...]] = {}

    @property
    def jobs(self) -> tuple[str, ...]:
        """Names of the enabled jobs, sorted."""
        return tuple(self._jobs)

    def fire_times(self, job: str, start: dt.datetime, end: dt.datetime, *,
                   session_only: bool = False) -> list[dt.datetime]:
        """Fire times of ``job`` in [start, end), New York time, ascending; [] for a disabled job."""
        if job in self._disabled:
            return []
        if job not in self._jobs:
            raise ValueError(f"schedule has no job '{job}' (jobs: {', '.join(self._jobs)})")
        return [ts for ts, _ in self._enumerate((job,), start, end, session_only)]

    def due(self, start: dt.datetime, end: dt.datetime, *,
            session_only: bool = False) -> list[tuple[dt.datetime, str]]:
        """Every enabled job's fire times in [start, end), sorted by (time, job name)."""
        return list(self._enumerate(tuple(self._jobs), start, end, session_only))

    # ------------------------------------------------------------------ enumeration

    def _enumerate(self, names: tuple[str, ...], start: dt.datetime, end: dt.datetime,
                   session_only: bool) -> Iterator[tuple[dt.datetime, str]]:
        lo, hi = _aware(start, "start"), _aware(end, "end")
        if hi <= lo:
            return
        first = lo.astimezone(NY).date()
        last = (hi - _TICK).astimezone(NY).date()  # the day of the last instant before ``end``
        cut_lo = lo > _midnight(first)
        cut_hi = hi < _midnight(last + _ONE_DAY)
        day = first
        while day <= last:
            if not session_only or self.calendar.is_session(day):
                running = tuple(n for n in names
                                if day in _days_of_year(*self._jobs[n].days, day.year))
                if running:
                    fires = self._fires(day, self._template(running))
                    if cut_lo and day == first:
                        fires = [f for f in fires if lo <= f[0]]
                    if cut_hi and day == last:
                        fires = [f for f in fires if f[0] < hi]
                    yield from fires
            day += _ONE_DAY

    def _template(self, running: tuple[str, ...]) -> tuple[tuple[dt.time, str], ...]:
        """The (wall time, job) pairs of a day on which exactly ``running`` fire, sorted."""
        template = self._templates.get(running)
        if template is None:
            template = self._templates[running] = tuple(sorted(
                (t, n) for n in running for t in self._jobs[n].times))
        return template

    @staticmethod
    def _fires(day: dt.date, template: tuple[tuple[dt.time, str], ...],
               ) -> list[tuple[dt.datetime, str]]:
        y, m, d = day.year, day.month, day.day
        if not _is_dst_change(day):
            return [(dt.datetime(y, m, d, t.hour, t.minute, tzinfo=NY), n) for t, n in template]
        # fold=0 reads a repeated time as its first occurrence and a missing one with the offset
        # before the jump; the round trip through UTC turns the latter into a real wall time.
        seen = {(dt.datetime(y, m, d, t.hour, t.minute, tzinfo=NY).astimezone(dt.UTC)
                 .astimezone(NY), n) for t, n in template}
        return sorted(seen)


class ScheduleTrigger(BaseTrigger):  # type: ignore[misc]  # APScheduler 3 ships no type hints
    """An APScheduler trigger firing one job when `CronSchedule` says, for a live scheduler:
    ``scheduler.add_job(func, ScheduleTrigger(schedule, "protocol_check"), misfire_grace_time=…)``.
    """

    _WINDOWS = tuple(dt.timedelta(days=8 * 4 ** i) for i in range(6))  # 8 days … 22 years

    def __init__(self, schedule: CronSchedule, job: str, *, session_only: bool = False) -> None:
        self.schedule, self.job, self.session_only = schedule, job, session_only

    def get_next_fire_time(self, previous_fire_time: dt.datetime | None,
                           now: dt.datetime) -> dt.datetime | None:
        """The first fire time after ``previous_fire_time`` (even one before ``now``: the scheduler
        applies the misfire grace, as with CronTrigger), else the first at or after ``now``."""
        since = now
        if previous_fire_time is not None:
            since = previous_fire_time + _TICK
        for window in self._WINDOWS:
            times = self.schedule.fire_times(self.job, since, since + window,
                                             session_only=self.session_only)
            if times:
                return times[0]
        return None

    def __str__(self) -> str:
        return f"schedule[{self.job}{', sessions only' if self.session_only else ''}]"
