"""NYSE trading calendar (exchange_calendars XNYS) as plain data: sessions, closes, weekly expiries.

The engine reads no clock: it asks this table about the dates that arrive in events. The table
is built once (exchange_calendars costs ~1 s to import) and then answers with set/dict lookups.
A `MarketCalendar` can also be built from explicit data (tests, or a calendar shipped elsewhere).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

NY = ZoneInfo("America/New_York")
REGULAR_OPEN = dt.time(9, 30)
REGULAR_CLOSE = dt.time(16, 0)


@dataclass(frozen=True, slots=True)
class MarketCalendar:
    sessions: frozenset[dt.date]
    early_closes: Mapping[dt.date, dt.time]  # local New York close time on early-close days
    first: dt.date
    last: dt.date

    @classmethod
    def from_sessions(cls, sessions: Iterable[dt.date],
                      early_closes: Mapping[dt.date, dt.time] | None = None) -> MarketCalendar:
        s = frozenset(sessions)
        return cls(s, dict(early_closes or {}), min(s), max(s))

    def is_session(self, day: dt.date) -> bool:
        if not self.first <= day <= self.last:
            return day.weekday() < 5  # beyond the table: weekdays (said in the docs)
        return day in self.sessions

    def close_time(self, day: dt.date) -> dt.time | None:
        if not self.is_session(day):
            return None
        return self.early_closes.get(day, REGULAR_CLOSE)

    def is_open(self, ts: dt.datetime) -> bool:
        local = ts.astimezone(NY)
        close = self.close_time(local.date())
        return close is not None and REGULAR_OPEN <= local.time() < close

    def next_session(self, day: dt.date, *, include: bool = True) -> dt.date:
        d = day if include else day + dt.timedelta(days=1)
        for _ in range(30):
            if self.is_session(d):
                return d
            d += dt.timedelta(days=1)
        raise ValueError(f"no session within 30 days of {day}")

    def previous_session(self, day: dt.date) -> dt.date:
        d = day - dt.timedelta(days=1)
        for _ in range(30):
            if self.is_session(d):
                return d
            d -= dt.timedelta(days=1)
        raise ValueError(f"no session within 30 days before {day}")

    def weekly_expiry(self, day: dt.date) -> dt.date:
        """The weekly option expiry of ``day``'s week: Friday, or the last session before it."""
        friday = day + dt.timedelta(days=(4 - day.weekday()) % 7)
        d = friday
        while not self.is_session(d):
            d -= dt.timedelta(days=1)
            if d < day - dt.timedelta(days=7):
                raise ValueError(f"no session in the week of {day}")
        if d < day:  # the week's last session already passed: next week's expiry
            return self.weekly_expiry(friday + dt.timedelta(days=3))
        return d


@lru_cache(maxsize=1)
def nyse_calendar() -> MarketCalendar:
    """The XNYS calendar from exchange_calendars (about 20 years back, a year ahead)."""
    import warnings

    import exchange_calendars as xc  # heavy import, kept off the CLI's start-up path

    with warnings.catch_warnings():
        # exchange_calendars 4.13 trips pandas 3.1 deprecation warnings inside its own code;
        # they say nothing about our use and would reach every user's terminal.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        cal = xc.get_calendar("XNYS")
    sessions = [ts.date() for ts in cal.sessions]
    early: dict[dt.date, dt.time] = {}
    for day in cal.early_closes:
        close = cal.session_close(day)
        early[day.date()] = close.tz_convert("America/New_York").time()
    return MarketCalendar.from_sessions(sessions, early)
