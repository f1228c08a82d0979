"""The NYSE calendar is a fixed table (2000-2035): the same answers whatever day the tests run."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest

from alluse.engine.calendar import (
    FIRST_DAY,
    LAST_DAY,
    CalendarRangeError,
    MarketCalendar,
    nyse_calendar,
)
from alluse.engine.errors import AlluseError

D = dt.date.fromisoformat

# Weekdays NYSE is closed, from its published holiday tables (nyse.com, "Holidays & Trading Hours").
HOLIDAYS = [D(d) for d in (
    "2021-01-01", "2021-01-18", "2021-02-15", "2021-04-02", "2021-05-31", "2021-07-05",
    "2021-09-06", "2021-11-25", "2021-12-24",
    "2022-01-17", "2022-02-21", "2022-04-15", "2022-05-30", "2022-06-20", "2022-07-04",
    "2022-09-05", "2022-11-24", "2022-12-26",
    "2023-01-02", "2023-01-16", "2023-02-20", "2023-04-07", "2023-05-29", "2023-06-19",
    "2023-07-04", "2023-09-04", "2023-11-23", "2023-12-25",
    "2024-01-01", "2024-01-15", "2024-02-19", "2024-03-29", "2024-05-27", "2024-06-19",
    "2024-07-04", "2024-09-02", "2024-11-28", "2024-12-25",
    "2025-01-01", "2025-01-09", "2025-01-20", "2025-02-17", "2025-04-18", "2025-05-26",
    "2025-06-19", "2025-07-04", "2025-09-01", "2025-11-27", "2025-12-25",
    "2026-01-01", "2026-01-19", "2026-02-16", "2026-04-03", "2026-05-25", "2026-06-19",
    "2026-07-03", "2026-09-07", "2026-11-26", "2026-12-25",
    "2027-01-01", "2027-01-18", "2027-02-15", "2027-03-26", "2027-05-31", "2027-06-18",
    "2027-07-05", "2027-09-06", "2027-11-25", "2027-12-24",
)]
# Early closes (13:00 ET) of the same years.
EARLY_CLOSES = [D(d) for d in (
    "2021-11-26", "2022-11-25", "2023-07-03", "2023-11-24", "2024-07-03", "2024-11-29",
    "2024-12-24", "2025-07-03", "2025-11-28", "2025-12-24", "2026-11-27", "2026-12-24",
    "2027-11-26",
)]

# A fresh interpreter whose clock says 2003-03-03 before exchange_calendars is imported (its
# default window, "today - 20 years to today + 1 year", is fixed at import). It prints that
# default window (to show the fake clock took effect) and what nyse_calendar() says of 2021-2027.
FAKE_TODAY = """
import datetime as dt, json, warnings
import pandas as pd
fake = pd.Timestamp("2003-03-03")
pd.Timestamp.now = classmethod(lambda cls, tz=None: fake.tz_localize(tz) if tz else fake)
pd.Timestamp.today = classmethod(lambda cls, tz=None: fake.tz_localize(tz) if tz else fake)
import exchange_calendars as xc
from alluse.engine.calendar import nyse_calendar
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    default = xc.get_calendar("XNYS")
cal = nyse_calendar()
days = [dt.date(2021, 1, 1) + dt.timedelta(days=i) for i in range(7 * 366)]
days = [d for d in days if d.year <= 2027]
print(json.dumps({
    "default_last": default.last_session.date().isoformat(),
    "holidays": [d.isoformat() for d in days if d.weekday() < 5 and not cal.is_session(d)],
    "early": {d.isoformat(): str(cal.close_time(d)) for d in days if d in cal.early_closes},
}))
"""


def _closed_weekdays(cal: MarketCalendar, first: dt.date, last: dt.date) -> list[dt.date]:
    days = (first + dt.timedelta(days=i) for i in range((last - first).days + 1))
    return [d for d in days if d.weekday() < 5 and not cal.is_session(d)]


def test_holidays_2021_to_2027_match_nyse_tables() -> None:
    """Every weekday without a session in 2021-2027 is a published NYSE holiday, and vice versa."""
    assert HOLIDAYS == _closed_weekdays(nyse_calendar(), D("2021-01-01"), D("2027-12-31"))


def test_early_closes_2021_to_2027_are_at_13_00() -> None:
    """The early-close days of 2021-2027 are the published ones, each closing at 13:00 ET."""
    cal = nyse_calendar()
    actual = {d: cal.close_time(d) for d in cal.early_closes if D("2021-01-01") <= d <= D("2027-12-31")}
    assert dict.fromkeys(EARLY_CLOSES, dt.time(13, 0)) == actual


def test_calendar_does_not_depend_on_today() -> None:
    """With the clock at 2003-03-03, exchange_calendars' default window ends in 2004, yet
    nyse_calendar() still knows 2021-2027 holidays and early closes."""
    out = subprocess.run([sys.executable, "-c", FAKE_TODAY], capture_output=True, text=True,
                         check=True, timeout=120)
    seen = json.loads(out.stdout)
    assert "2004-03-03" == seen["default_last"]
    assert [d.isoformat() for d in HOLIDAYS] == seen["holidays"]
    assert {d.isoformat(): "13:00:00" for d in EARLY_CLOSES} == seen["early"]


def test_table_spans_2000_to_2035() -> None:
    """The table covers 2000-01-01 to 2035-12-31 and knows sessions at both ends."""
    cal = nyse_calendar()
    assert (D("2000-01-01"), D("2035-12-31")) == (cal.first, cal.last) == (FIRST_DAY, LAST_DAY)
    assert (False, True, True) == (cal.is_session(D("2000-01-01")), cal.is_session(D("2000-01-03")),
                                   cal.is_session(D("2035-12-31")))


@pytest.mark.parametrize("day", [D("1999-12-31"), D("2036-01-02")])
def test_date_outside_table_is_an_error_not_a_weekday_guess(day: dt.date) -> None:
    """A weekday beyond the table raises a one-line error naming the date and the span."""
    with pytest.raises(CalendarRangeError) as info:
        nyse_calendar().is_session(day)
    assert f"{day} is outside the trading calendar, which covers 2000-01-01 to 2035-12-31" == str(
        info.value)
    assert isinstance(info.value, AlluseError)


def test_walking_past_the_table_end_raises() -> None:
    """next_session and weekly_expiry stop with the range error at the table's end."""
    cal = nyse_calendar()
    with pytest.raises(CalendarRangeError):
        cal.next_session(D("2035-12-31"), include=False)
    with pytest.raises(CalendarRangeError):
        cal.weekly_expiry(D("2035-12-31"))


def test_from_sessions_covers_given_span() -> None:
    """An explicit table covers first..last as given: days inside without a session are closed."""
    cal = MarketCalendar.from_sessions([D("2024-01-02")], first=D("2024-01-01"), last=D("2024-01-07"))
    assert [False, True, False] == [cal.is_session(D(d)) for d in ("2024-01-01", "2024-01-02",
                                                                      "2024-01-03")]
    with pytest.raises(CalendarRangeError):
        cal.is_session(D("2024-01-08"))
