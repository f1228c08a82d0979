"""parse_cron reads standard 5-field cron: the text lint validates and the scheduler runs."""

from __future__ import annotations

import pytest

from alluse.engine.policy.cron import CronError, parse_cron

MON, TUE, WED, THU, FRI, SAT, SUN = range(7)  # date.weekday()


@pytest.mark.parametrize(("field", "weekdays"), [
    ("0", {SUN}), ("7", {SUN}), ("1", {MON}), ("6", {SAT}), ("1-5", {MON, TUE, WED, THU, FRI}),
    ("5-7", {FRI, SAT, SUN}), ("*/2", {SUN, TUE, THU, SAT}), ("sat,sun", {SAT, SUN}),
    ("mon-fri", {MON, TUE, WED, THU, FRI}), ("SUN", {SUN}), ("*", set(range(7))),
])
def test_weekday_numbers_follow_standard_cron(field: str, weekdays: set[int]) -> None:
    """Weekday text means what crontab(5) says (0 and 7 Sunday); the result is date.weekday()."""
    assert weekdays == parse_cron(f"0 10 * * {field}")[4]


@pytest.mark.parametrize("text", ["0 10 1 * mon", "0 10 1-7 * 1", "0 10 15 * sat,sun"])
def test_day_of_month_and_weekday_both_restricted_is_refused(text: str) -> None:
    """Cron ORs a restricted day of month with a restricted weekday, APScheduler ANDs them:
    such text is an error, not a silent pick."""
    with pytest.raises(CronError, match="day of month and day of week are both restricted"):
        parse_cron(text)


@pytest.mark.parametrize("text", ["0 10 */2 * mon", "0 10 1 1,4,7,10 *", "0 10 * * *"])
def test_a_starred_day_field_is_accepted(text: str) -> None:
    """A day field starting with '*' is read the same by cron and APScheduler (both AND)."""
    assert 5 == len(parse_cron(text))


def test_weekday_8_and_backwards_name_range_are_refused() -> None:
    """8 is out of range; 'fri-sun' runs backwards because Sunday is 0."""
    with pytest.raises(CronError, match="8 is out of range 0-7"):
        parse_cron("0 10 * * 8")
    with pytest.raises(CronError, match=r"range 'fri-sun' runs backwards \(Sunday is 0 or 7: write 5-7"):
        parse_cron("0 10 * * fri-sun")
