"""NYSE trading calendar (exchange_calendars XNYS) as plain data: sessions, closes, weekly expiries.

The engine reads no clock: it asks this table about the dates that arrive in events. The table
is built once (exchange_calendars costs ~1 s to import) and then answers with set/dict lookups.
A `MarketCalendar` can also be built from explicit data (tests, or a calendar shipped elsewhere).

The XNYS table covers a fixed span, FIRST_DAY to LAST_DAY, not exchange_calendars' default
"today - 20 years to today + 1 year", so the same inputs give the same decisions on any day the
program runs. A date outside the table is an error (`CalendarRangeError`), never a weekday guess.
Years NYSE has not published yet follow exchange_calendars' holiday rules; closures announced
later (a national day of mourning) arrive with a newer exchange_calendars, pinned in constraints.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

from alluse.engine.errors import DataError

NY = ZoneInfo("America/New_York")
REGULAR_OPEN = dt.time(9, 30)
REGULAR_CLOSE = dt.time(16, 0)
FIRST_DAY = dt.date(2000, 1, 1)
LAST_DAY = dt.date(2035, 12, 31)


class CalendarRangeError(DataError):
    """A date outside the trading calendar's table."""


@dataclass(frozen=True, slots=True)
class MarketCalendar:
    sessions: frozenset[dt.date]
    early_closes: Mapping[dt.date, dt.time]  # local New York close time on early-close days
    first: dt.date
    last: dt.date

    @classmethod
    def from_sessions(cls, sessions: Iterable[dt.date],
                      early_closes: Mapping[dt.date, dt.time] | None = None, *,
                      first: dt.date | None = None, last: dt.date | None = None,
                      ) -> MarketCalendar:
        """A table of ``sessions``; it covers ``first`` to ``last`` (default: its first and last
        session)."""
        s = frozenset(sessions)
        return cls(s, dict(early_closes or {}), first or min(s), last or max(s))

    def is_session(self, day: dt.date) -> bool:
        """Whether NYSE trades on ``day``; CalendarRangeError outside the table."""
        if not self.first <= day <= self.last:
            raise CalendarRangeError(f"{day} is outside the trading calendar, which covers "
                                     f"{self.first} to {self.last}")
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
    """The XNYS calendar from exchange_calendars, FIRST_DAY to LAST_DAY whatever today is."""
    import warnings

    import exchange_calendars as xc  # heavy import, kept off the CLI's start-up path

    with warnings.catch_warnings():
        # exchange_calendars 4.13 trips pandas 3.1 deprecation warnings inside its own code;
        # they say nothing about our use and would reach every user's terminal.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        cal = xc.get_calendar("XNYS", start=FIRST_DAY.isoformat(), end=LAST_DAY.isoformat())
    sessions = [ts.date() for ts in cal.sessions]
    early: dict[dt.date, dt.time] = {}
    for day in cal.early_closes:
        close = cal.session_close(day)
        early[day.date()] = close.tz_convert("America/New_York").time()
    return MarketCalendar.from_sessions(sessions, early, first=FIRST_DAY, last=LAST_DAY)
