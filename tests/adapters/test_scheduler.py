"""CronSchedule: the schedule policy's fire times, as standard cron reads them, on APScheduler."""

from __future__ import annotations

import datetime as dt

import pytest
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from alluse.adapters.policy_files import default_policy_dir, load_policy_dir
from alluse.adapters.scheduler import CronSchedule, ScheduleTrigger
from alluse.engine.calendar import NY, nyse_calendar
from alluse.engine.policy.cron import parse_cron
from alluse.engine.policy.models import Job, SchedulePolicy

DEFAULT = load_policy_dir(default_policy_dir()).schedule


def at(text: str) -> dt.datetime:
    """New York wall time, e.g. ``at("2024-03-11 09:00")``."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=NY)


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def schedule(**crons: str) -> SchedulePolicy:
    return SchedulePolicy(version=1, timezone="America/New_York", jobs={
        name: Job(cron=cron, handler="daily_collection") for name, cron in crons.items()})


def cron_schedule(policy: SchedulePolicy) -> CronSchedule:
    return CronSchedule(policy, nyse_calendar())


def by_parse_cron(policy: SchedulePolicy, first: dt.date, last: dt.date) -> list[tuple[str, str]]:
    """Independent enumeration: each day, each enabled job whose parse_cron day/month/weekday
    sets hold the day fires at every (hour, minute) of its sets, as ISO strings."""
    out = []
    day = first
    while day <= last:
        for name, job in policy.jobs.items():
            minutes, hours, days, months, weekdays = parse_cron(job.cron)
            if job.enabled and day.day in days and day.month in months and day.weekday() in weekdays:
                out += [(dt.datetime.combine(day, dt.time(h, m), tzinfo=NY), name)
                        for h in hours for m in minutes]
        day += dt.timedelta(days=1)
    return [(ts.isoformat(), name) for ts, name in sorted(out)]


def walk(trigger: BaseTrigger, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """APScheduler's own fire-by-fire walk of ``trigger`` over [start, end)."""
    out: list[dt.datetime] = []
    fire = trigger.get_next_fire_time(None, start)
    while fire is not None and fire < end:
        out.append(fire)
        fire = trigger.get_next_fire_time(fire, fire)
    return out


def test_default_schedule_2021_to_2026_equals_parse_cron_enumeration() -> None:
    """Six years of the default schedule's due() equal the parse_cron reading, offsets included."""
    actual = cron_schedule(DEFAULT).due(at("2021-01-01 00:00"), at("2027-01-01 00:00"))
    assert by_parse_cron(DEFAULT, dt.date(2021, 1, 1), dt.date(2026, 12, 31)) == [
        (ts.isoformat(), name) for ts, name in actual]


@pytest.mark.parametrize(("first", "last"), [("2024-03-04", "2024-03-16"),
                                             ("2024-10-28", "2024-11-09"),
                                             ("2025-03-03", "2025-03-15"),
                                             ("2025-10-27", "2025-11-08")])
def test_default_schedule_equals_apscheduler_walk_across_dst_changes(first: str, last: str) -> None:
    """Per job, fire_times equal APScheduler's own walk of the job's crontab (the default
    schedule names its weekdays, which APScheduler 3 reads as cron does), and so does
    ScheduleTrigger, the live scheduler's trigger."""
    sched = cron_schedule(DEFAULT)
    start, end = at(f"{first} 00:00"), at(f"{last} 00:00")
    for name, job in DEFAULT.jobs.items():
        expected = walk(CronTrigger.from_crontab(job.cron, timezone=NY), start, end)
        assert expected == sched.fire_times(name, start, end)
        assert expected == walk(ScheduleTrigger(sched, name), start, end)


def test_fire_times_keep_real_offsets_around_dst_change() -> None:
    """protocol_check 09:00 is 14:00 UTC on the Friday before spring forward, 13:00 UTC after."""
    times = cron_schedule(DEFAULT).fire_times("protocol_check", at("2024-03-08 00:00"),
                                              at("2024-03-12 00:00"))
    assert [utc("2024-03-08 14:00"), utc("2024-03-11 13:00")] == [
        t for t in times if t.time() == dt.time(9, 0)]


SPRING = ["01:00-05:00 b_every_30", "01:30-05:00 a_0130", "01:30-05:00 b_every_30",
          "03:00-04:00 b_every_30", "03:30-04:00 b_every_30", "03:30-04:00 c_0230",
          "03:30-04:00 d_0330", "10:00-04:00 e_1000"]
FALL = ["01:00-04:00 b_every_30", "01:30-04:00 a_0130", "01:30-04:00 b_every_30",
        "02:00-05:00 b_every_30", "02:30-05:00 b_every_30", "02:30-05:00 c_0230",
        "03:00-05:00 b_every_30", "03:30-05:00 b_every_30", "03:30-05:00 d_0330",
        "10:00-05:00 e_1000"]


@pytest.mark.parametrize(("day", "expected"), [("2024-03-10", SPRING), ("2025-03-09", SPRING),
                                               ("2024-11-03", FALL), ("2025-11-02", FALL)])
def test_dst_change_days_fire_each_wall_time_once(day: str, expected: list[str]) -> None:
    """Spring forward: 02:xx fires an hour later on the clock (02:30 -> 03:30 EDT), once per job
    (02:00 and 03:00 of one job are one fire). Fall back: the repeated 01:xx fires once, as EDT."""
    policy = schedule(a_0130="30 1 * * *", b_every_30="0,30 1-3 * * *", c_0230="30 2 * * *",
                      d_0330="30 3 * * *", e_1000="0 10 * * *")
    due = cron_schedule(policy).due(at(f"{day} 00:00"), at(f"{day} 23:59"))
    assert expected == [f"{ts.isoformat()[11:16]}{ts.isoformat()[19:]} {name}" for ts, name in due]
    assert all(ts.date().isoformat() == day for ts, _ in due)


def test_midnight_job_fires_on_monday_after_spring_forward() -> None:
    """A 00:30 job fires on 2021-03-15, which APScheduler 3's plain CronTrigger walk skips
    (agronholm/apscheduler#606)."""
    policy = schedule(nightly="30 0 * * *")
    start, end = at("2021-03-13 00:00"), at("2021-03-17 00:00")
    expected = [at(f"2021-03-{d} 00:30") for d in (13, 14, 15, 16)]
    assert expected == cron_schedule(policy).fire_times("nightly", start, end)
    assert [at(f"2021-03-{d} 00:30") for d in (13, 14, 16)] == walk(
        CronTrigger.from_crontab("30 0 * * *", timezone=NY), start, end)


def test_saturday_weekly_job_fires_every_saturday_at_10() -> None:
    """weekly_cycle fires on each of 2024's 52 Saturdays at 10:00 and never on another day."""
    times = cron_schedule(DEFAULT).fire_times("weekly_cycle", at("2024-01-01 00:00"),
                                              at("2025-01-01 00:00"))
    assert (52, {5}, {dt.time(10)}) == (len(times), {t.weekday() for t in times},
                                        {t.time() for t in times})


def test_weekday_numbers_are_standard_cron_not_apscheduler_3() -> None:
    """6 is Saturday, 0 and 7 are Sunday, 1-5 Monday-Friday, as in crontab(5); APScheduler 3's
    own from_crontab would read 0 as Monday."""
    policy = schedule(sat="0 10 * * 6", sun0="0 10 * * 0", sun7="0 10 * * 7",
                      weekdays="0 10 * * 1-5", weekend="0 10 * * 6,0")
    sched = cron_schedule(policy)
    start, end = at("2024-06-03 00:00"), at("2024-06-10 00:00")  # Monday to Monday
    weekdays = {name: [t.weekday() for t in sched.fire_times(name, start, end)]
                for name in policy.jobs}
    assert {"sat": [5], "sun0": [6], "sun7": [6], "weekdays": [0, 1, 2, 3, 4],
            "weekend": [5, 6]} == weekdays
    monday = CronTrigger.from_crontab("0 10 * * 0", timezone=NY).get_next_fire_time(None, start)
    assert 0 == monday.weekday()


def test_quarterly_job_fires_on_first_of_quarter_months() -> None:
    """quarterly_cycle fires at 10:00 on Jan, Apr, Jul, Oct 1st, weekends and holidays included."""
    times = cron_schedule(DEFAULT).fire_times("quarterly_cycle", at("2021-01-01 00:00"),
                                              at("2023-01-01 00:00"))
    assert [at(f"{y}-{m:02d}-01 10:00") for y in (2021, 2022) for m in (1, 4, 7, 10)] == times


def test_session_only_keeps_nyse_trading_days() -> None:
    """session_only drops holidays and weekends: of 2021-2022's quarter starts, only the five
    that were sessions remain (Jan 1 is a holiday, 2022-10-01 a Saturday)."""
    times = cron_schedule(DEFAULT).fire_times("quarterly_cycle", at("2021-01-01 00:00"),
                                              at("2023-01-01 00:00"), session_only=True)
    assert [at(f"{d} 10:00") for d in ("2021-04-01", "2021-07-01", "2021-10-01", "2022-04-01",
                                        "2022-07-01")] == times


def test_session_only_due_skips_holiday_and_keeps_early_close_day() -> None:
    """Thanksgiving week 2025: the holiday (27th) has no jobs; the early-close day (28th) keeps its
    cron times (cutting at the early close is the handlers' business)."""
    due = cron_schedule(DEFAULT).due(at("2025-11-24 00:00"), at("2025-11-29 00:00"),
                                     session_only=True)
    days = sorted({ts.date() for ts, _ in due})
    assert [dt.date(2025, 11, d) for d in (24, 25, 26, 28)] == days
    assert at("2025-11-28 16:45") == max(ts for ts, _ in due)


def test_disabled_job_never_fires() -> None:
    """A disabled job has no fire times and is absent from due(); the others are unchanged."""
    jobs = dict(DEFAULT.jobs)
    jobs["entry_scan"] = jobs["entry_scan"].model_copy(update={"enabled": False})
    policy = DEFAULT.model_copy(update={"jobs": jobs})
    sched = cron_schedule(policy)
    start, end = at("2024-01-01 00:00"), at("2025-01-01 00:00")
    assert [] == sched.fire_times("entry_scan", start, end)
    assert [d for d in cron_schedule(DEFAULT).due(start, end) if d[1] != "entry_scan"] == sched.due(
        start, end)
    assert "entry_scan" not in sched.jobs


def test_window_is_half_open_and_any_timezone() -> None:
    """[start, end): a fire time at start is in, one at end is out; UTC bounds mean the same."""
    sched = cron_schedule(DEFAULT)
    ny = sched.fire_times("chain_open", at("2024-07-01 09:35"), at("2024-07-03 09:35"))
    in_utc = sched.fire_times("chain_open", utc("2024-07-01 13:35"), utc("2024-07-03 13:35"))
    assert [at("2024-07-01 09:35"), at("2024-07-02 09:35")] == ny == in_utc
    assert [] == sched.due(at("2024-07-02 00:00"), at("2024-07-01 00:00"))


@pytest.mark.parametrize("cut", ["2024-03-10 01:45", "2024-03-10 03:00", "2024-03-11 12:07",
                                 "2024-11-03 01:30", "2024-11-04 00:00", "2024-11-04 16:00"])
def test_due_over_split_windows_equals_due_over_whole(cut: str) -> None:
    """due() over [a, cut) then [cut, b) is due() over [a, b), DST change days included."""
    policy = DEFAULT.model_copy(update={"jobs": {**DEFAULT.jobs, **schedule(
        night="0,30 0-3 * * *").jobs}})
    sched = cron_schedule(policy)
    a, b = at(cut[:10] + " 00:00") - dt.timedelta(days=1), at(cut[:10] + " 00:00") + dt.timedelta(days=2)
    assert sched.due(a, b) == sched.due(a, at(cut)) + sched.due(at(cut), b)


def test_naive_bounds_and_unknown_job_are_refused() -> None:
    """A naive start and an unknown job name raise ValueError saying which."""
    sched = cron_schedule(DEFAULT)
    with pytest.raises(ValueError, match="start must be timezone-aware"):
        sched.due(dt.datetime(2024, 1, 1), at("2024-01-02 00:00"))  # noqa: DTZ001 - the point
    with pytest.raises(ValueError, match="schedule has no job 'nightly'"):
        sched.fire_times("nightly", at("2024-01-01 00:00"), at("2024-01-02 00:00"))


def test_schedule_trigger_follows_session_only_and_ends_for_disabled_job() -> None:
    """ScheduleTrigger with session_only skips Thanksgiving 2025; for a disabled job it says None,
    which makes APScheduler drop the job."""
    sched = cron_schedule(DEFAULT)
    trigger = ScheduleTrigger(sched, "daily_collection", session_only=True)
    assert [at(f"2025-11-{d} 16:30") for d in (26, 28)] == walk(
        trigger, at("2025-11-26 00:00"), at("2025-11-29 00:00"))
    jobs = dict(DEFAULT.jobs)
    jobs["entry_scan"] = jobs["entry_scan"].model_copy(update={"enabled": False})
    disabled = cron_schedule(DEFAULT.model_copy(update={"jobs": jobs}))
    assert None is ScheduleTrigger(disabled, "entry_scan").get_next_fire_time(
        None, at("2025-01-01 00:00"))
