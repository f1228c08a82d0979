"""A strict reader of standard 5-field cron expressions (minute hour day month weekday).

The engine may not import the scheduler, so lint checks the text here; the scheduler adapter
builds its APScheduler triggers from what this returns, so lint, replay and live read a cron the
same way. Weekday numbers are standard cron's (0 and 7 are Sunday), not APScheduler 3's
(0 is Monday). Returns the hours a job can fire in, to keep jobs out of the DST hours.
"""

from __future__ import annotations

_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {m: i for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}),
    ("day of week", 0, 7, {d: i % 7 for i, d in enumerate(
        ("mon", "tue", "wed", "thu", "fri", "sat", "sun"), 1)}),
)


class CronError(ValueError):
    pass


# The longest each month can be (February in a leap year): a cron naming only days past these
# (``0 10 31 2 *``, ``0 10 31 4,6 *``) parses but never fires.
_MONTH_DAYS = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30,
               12: 31}


def never_fires(fields: list[set[int]]) -> bool:
    """Whether `parse_cron`'s fields name no day that exists (a weekday-only cron always fires)."""
    days, months = fields[2], fields[3]
    return not any(d <= _MONTH_DAYS[m] for m in months for d in days)


def _value(text: str, lo: int, hi: int, names: dict[str, int], what: str) -> int:
    low = text.lower()
    if low in names:
        return names[low]
    if not text.isdigit():
        raise CronError(f"{what}: '{text}' is not a number" + (
            f" or one of {', '.join(names)}" if names else ""))
    value = int(text)
    if not lo <= value <= hi:
        raise CronError(f"{what}: {value} is out of range {lo}-{hi}")
    return value


def _field(text: str, lo: int, hi: int, names: dict[str, int], what: str) -> set[int]:
    out: set[int] = set()
    for part in text.split(","):
        if not part:
            raise CronError(f"{what}: empty list item in '{text}'")
        rng, _, step_s = part.partition("/")
        step = 1
        if step_s:
            if not step_s.isdigit() or int(step_s) == 0:
                raise CronError(f"{what}: step '{step_s}' must be a positive number")
            step = int(step_s)
        if rng == "*":
            start, end = lo, hi
        elif "-" in rng:
            a, _, b = rng.partition("-")
            start, end = _value(a, lo, hi, names, what), _value(b, lo, hi, names, what)
            if start > end:
                hint = " (Sunday is 0 or 7: write 5-7 for fri-sun)" if hi == 7 else ""
                raise CronError(f"{what}: range '{rng}' runs backwards{hint}")
        else:
            start = _value(rng, lo, hi, names, what)
            end = hi if step_s else start
        out.update(range(start, end + 1, step))
    return out


def parse_cron(text: str) -> list[set[int]]:
    """Parse ``text``; return the sets of minutes, hours, days, months and weekdays it allows.

    Weekdays come back in Python's numbering (``date.weekday()``: Monday 0 … Sunday 6).
    """
    parts = text.split()
    if len(parts) != 5:
        raise CronError(f"cron needs 5 fields (minute hour day month weekday), found {len(parts)}")
    if not parts[2].startswith("*") and not parts[4].startswith("*"):
        # Standard cron fires when EITHER matches, APScheduler only when both do: refuse the text
        # rather than pick one reading.
        raise CronError("day of month and day of week are both restricted (cron fires when "
                        "either matches, APScheduler when both do): leave one of them '*'")
    fields = [_field(p, lo, hi, names, what)
              for p, (what, lo, hi, names) in zip(parts, _FIELDS, strict=True)]
    fields[4] = {(d - 1) % 7 for d in fields[4]}  # cron 1 = Monday, 0 and 7 = Sunday
    return fields
