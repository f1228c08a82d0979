"""The policy's schedule as the `Scheduler` port: the same fire times for replay and the node."""

from __future__ import annotations

from alluse.adapters.scheduler import CronSchedule
from alluse.engine.calendar import MarketCalendar
from alluse.engine.policy import PolicySet


def policy_scheduler(ps: PolicySet, calendar: MarketCalendar) -> CronSchedule:
    return CronSchedule(ps.schedule, calendar)
