"""The market-data watchdog: pure checks over parsed rows, returning findings.

Nothing here reads files: `alluse.adapters.marketdata` parses a file into a `Series` (one `Row` per
line, parse problems attached) and these functions judge it. The same functions serve the loader's
`repair` policy and `alluse data check`.

Severities (error = the rows cannot be trusted as they are; warning = worth a look, usable):

| code              | severity | meaning                                                            |
|-------------------|----------|--------------------------------------------------------------------|
| bad_timestamp     | error    | the date/time field does not parse                                 |
| truncated_row     | error    | fewer fields than the header (a cut-off line)                      |
| empty_field       | error    | an empty price/volume field                                        |
| non_numeric       | error    | a price/volume field that is not a finite number                   |
| ohlc_inconsistent | error    | high < max(open, close), low > min(open, close), high < low,       |
|                   |          | a price ≤ 0 or a volume < 0                                        |
| duplicate         | error    | a timestamp appears more than once                                 |
| unsorted          | error    | a row is earlier than the row before it                            |
| missing_session   | error    | an NYSE session between the first and last date has no row         |
| not_a_session     | error    | a row dated on a day the NYSE was closed                           |
| corrupt_row       | error    | a close-to-close jump that reverts on the next row (1-minute data: |
|                   |          | a warning, one bad tick)                                           |
| possible_split    | error    | a jump the other symbols did not share, ≥ 40 % or near a split     |
|                   |          | ratio (never for an index)                                         |
| large_jump        | warning  | any other jump > 8 MAD-sigma the other symbols did not share       |
| missing_minutes   | warning  | 1-minute data: regular-hours minutes absent inside a session        |
| partial_session   | warning  | 1-minute data: the file starts/ends inside a session                |
| partial_last_row  | warning  | daily: last row volume < 25 % of the recent median (intraday capture) |
| source_mismatch   | warning  | two files of the same symbol disagree on a close by > 0.5 %         |

A zero volume is never a finding by itself: index series (VIX, GSPC) always report 0.
"The other symbols did not move" means fewer than a quarter of the other files of the same
frequency moved ≥ 3 of their own sigmas on that date (VIX moves ~5× the market: a 3-sigma SPY
day is a 10-sigma VIX day, so a stricter rule would flag every VIX spike).
"""

from __future__ import annotations

import itertools
import math
import statistics
import warnings
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

__all__ = [
    "ROW_DROP_CODES",
    "Finding",
    "Row",
    "Series",
    "Sessions",
    "XnysSessions",
    "check_many",
    "check_series",
    "close_returns",
    "zscores",
]

Severity = Literal["error", "warning"]
JUMP_SIGMAS = 8.0          # |log return| above this many robust sigmas is a jump
MOVED_SIGMAS = 3.0         # a neighbour "moved" on that date above this many of its own sigmas
BIG_MOVE = math.log(1.4)   # no large cap moves 40 % in a day without it being a split or bad data
SPLIT_RATIOS = (2, 3, 4, 5, 6, 7, 8, 10, 15, 20, 25, 30, 40, 50, 100, 1.5, 2.5)
# A corrupt row's jump is undone by the next row to within this fraction (a genuine spike such as
# VIX 2024-08-05, +65 % then −28 %, gives back only part of it).
REVERT = 0.25
INTRADAY_FLOOR = 0.01      # minute returns below 1 % are noise, whatever their sigma
# Indexes never split: a jump in one is news or bad data, never an unapplied split.
INDEXES = frozenset({"VIX", "VIX9D", "VVIX", "GSPC", "SPX", "NDX", "DJI", "RUT", "IXIC"})
# Rows with these findings are dropped by the loader's "repair" mode.
ROW_DROP_CODES = frozenset(
    {"bad_timestamp", "truncated_row", "empty_field", "non_numeric", "ohlc_inconsistent", "corrupt_row"})
NEW_YORK = ZoneInfo("America/New_York")


class Sessions(Protocol):
    """The exchange calendar the checks need: which days trade, and their regular hours."""

    def sessions(self, first: date, last: date) -> list[date]: ...
    def is_session(self, day: date) -> bool: ...
    def hours(self, day: date) -> tuple[datetime, datetime]: ...


@contextmanager
def _quiet_pandas() -> Iterator[None]:
    # exchange_calendars 4.13 on pandas 3.1 calls a deprecated Series.values: not ours to fix, and
    # it must not turn every check into an error under `filterwarnings = error`.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
        yield


@lru_cache(maxsize=4)
def _xnys(first_year: int, last_year: int) -> Any:
    import exchange_calendars  # heavy import (pandas): only when a check needs it

    with _quiet_pandas():
        return exchange_calendars.get_calendar("XNYS", start=f"{first_year}-01-01", end=f"{last_year}-12-31")


class XnysSessions:
    """NYSE sessions and regular hours (early closes included) from exchange_calendars."""

    def __init__(self, first: date, last: date) -> None:
        # One calendar for any span inside 2000-2030, so checking many files builds it once.
        self._cal = _xnys(min(first.year, 2000), max(last.year, 2030))
        self._hours: dict[date, tuple[datetime, datetime]] = {}

    def sessions(self, first: date, last: date) -> list[date]:
        with _quiet_pandas():
            return [ts.date() for ts in self._cal.sessions_in_range(first.isoformat(), last.isoformat())]

    def is_session(self, day: date) -> bool:
        with _quiet_pandas():
            return bool(self._cal.is_session(day.isoformat()))

    def hours(self, day: date) -> tuple[datetime, datetime]:
        if day not in self._hours:
            with _quiet_pandas():
                opened = self._cal.session_open(day.isoformat()).to_pydatetime().astimezone(NEW_YORK)
                closed = self._cal.session_close(day.isoformat()).to_pydatetime().astimezone(NEW_YORK)
            self._hours[day] = (opened, closed)
        return self._hours[day]


@dataclass(frozen=True, slots=True)
class Row:
    """One data line as parsed: values are None where the field was empty or unreadable."""

    line: int                          # 1-based physical line in the file (the header is line 1)
    stamp: str                         # the date/time text as written
    when: date | datetime | None       # datetime (America/New_York) for 1-minute rows
    open: float | None
    high: float | None
    low: float | None
    close: float | None
    volume: float | None
    problems: tuple[tuple[str, str], ...] = ()   # (code, reason) found while parsing


@dataclass(frozen=True, slots=True)
class Series:
    symbol: str
    frequency: Literal["daily", "1min"]
    rows: tuple[Row, ...]
    source: str = ""                   # the file name shown with each finding


@dataclass(frozen=True, slots=True)
class Finding:
    symbol: str
    date_or_ts: str
    severity: Severity
    code: str
    reason: str
    source: str = ""
    line: int | None = None

    def format(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        who = f"{self.symbol} {self.date_or_ts}".strip()
        return f"{where}: {who}: {self.severity} {self.code}: {self.reason}"

    def as_dict(self) -> dict[str, object]:
        return {"symbol": self.symbol, "date_or_ts": self.date_or_ts, "severity": self.severity,
                "code": self.code, "reason": self.reason, "source": self.source, "line": self.line}


@dataclass(slots=True)
class _Out:
    series: Series
    findings: list[Finding] = field(default_factory=list)

    def add(self, row: Row | None, severity: Severity, code: str, reason: str, when: str = "") -> None:
        stamp = when or (_key(row.when) if row is not None and row.when is not None else
                         row.stamp if row is not None else "")
        self.findings.append(Finding(self.series.symbol, stamp, severity, code, reason,
                                     self.series.source, row.line if row is not None else None))


def _key(when: date | datetime) -> str:
    return when.isoformat(sep=" ") if isinstance(when, datetime) else when.isoformat()


def _ok(row: Row) -> bool:
    return not row.problems and row.when is not None


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def check_series(series: Series, *, calendar: Sessions | None = None,
                 neighbours: Sequence[Mapping[str, float]] = ()) -> list[Finding]:
    """Every check on one file. `neighbours` are other symbols' {date: return z-score} maps."""
    out = _Out(series)
    for row in series.rows:
        for code, reason in row.problems:
            out.add(row, "error", code, reason)
    _check_ohlc(out)
    _check_order(out)
    if calendar is not None:
        (_check_daily_sessions if series.frequency == "daily" else _check_minutes)(out, calendar)
    if series.frequency == "daily":
        _check_last_row(out)
    _check_jumps(out, calendar, neighbours)
    if series.frequency == "1min":
        _check_overnight(out, calendar)
    return [f for f in out.findings if not _bundled_split(f, series.source)]


AS_TRADED_PREFIX = "daily_raw_"  # the bundled as-traded daily files (marketdata dataset daily_raw)


def _as_traded(source: str) -> bool:
    return source.rsplit("/", 1)[-1].startswith(AS_TRADED_PREFIX)


def _bundled_split(f: Finding, source: str) -> bool:
    """A split of the bundled splits table in a bundled as-traded file is the market as it
    traded, not a defect (the same jump in any other file still is one)."""
    if f.code != "possible_split" or not _as_traded(source):
        return False
    from alluse.adapters import corporate_actions

    return any(s.symbol == f.symbol and s.ex_date.isoformat() == f.date_or_ts
               for s in corporate_actions.splits())


def _check_ohlc(out: _Out) -> None:
    for r in out.series.rows:
        if not _ok(r) or None in (r.open, r.high, r.low, r.close):
            continue
        o, h, lo, c = r.open, r.high, r.low, r.close
        assert o is not None and h is not None and lo is not None and c is not None
        why: list[str] = []
        if min(o, h, lo, c) <= 0:
            why.append(f"non-positive price (open {_fmt(o)}, high {_fmt(h)}, low {_fmt(lo)}, "
                       f"close {_fmt(c)})")
        if h < lo:
            why.append(f"high {_fmt(h)} < low {_fmt(lo)}")
        if h < max(o, c) * (1 - 1e-9):
            why.append(f"high {_fmt(h)} < max(open {_fmt(o)}, close {_fmt(c)})")
        if lo > min(o, c) * (1 + 1e-9):
            why.append(f"low {_fmt(lo)} > min(open {_fmt(o)}, close {_fmt(c)})")
        if r.volume is not None and r.volume < 0:
            why.append(f"negative volume {_fmt(r.volume)}")
        if why:
            out.add(r, "error", "ohlc_inconsistent", "; ".join(why))


def _check_order(out: _Out) -> None:
    seen: dict[date | datetime, list[Row]] = defaultdict(list)
    prev: Row | None = None
    for r in out.series.rows:
        if r.when is None:
            continue
        seen[r.when].append(r)
        if prev is not None and prev.when is not None and r.when < prev.when:
            out.add(r, "error", "unsorted",
                    f"earlier than the row before it ({prev.stamp}, line {prev.line})")
        prev = r
    for rows in seen.values():
        if len(rows) > 1:
            values = {(x.open, x.high, x.low, x.close, x.volume) for x in rows}
            kind = "identical values" if len(values) == 1 else "conflicting values"
            lines = ", ".join(str(x.line) for x in rows[:5]) + (", …" if len(rows) > 5 else "")
            out.add(rows[1], "error", "duplicate",
                    f"timestamp appears {len(rows)} times (lines {lines}), {kind}")


def _dates(rows: Iterable[Row]) -> list[date]:
    return sorted({r.when.date() if isinstance(r.when, datetime) else r.when
                   for r in rows if r.when is not None})


def _check_daily_sessions(out: _Out, calendar: Sessions) -> None:
    present = _dates(out.series.rows)
    if not present:
        return
    sessions = calendar.sessions(present[0], present[-1])
    expected = set(sessions)
    for d in sorted(expected.difference(present)):
        out.add(None, "error", "missing_session", "NYSE session with no row", _key(d))
    rows_by_day = {r.when: r for r in out.series.rows if r.when is not None}
    for d in present:
        if d not in expected:
            out.add(rows_by_day.get(d), "error", "not_a_session", f"the NYSE was closed on {d:%A %Y-%m-%d}")


def _check_minutes(out: _Out, calendar: Sessions) -> None:
    by_day: dict[date, set[datetime]] = defaultdict(set)
    for r in out.series.rows:
        if isinstance(r.when, datetime):
            by_day[r.when.date()].add(r.when)
    days = sorted(by_day)
    if not days:
        return
    sessions = calendar.sessions(days[0], days[-1])
    for d in sorted(set(sessions).difference(days)):
        out.add(None, "error", "missing_session", "NYSE session with no bars", _key(d))
    for d in days:
        if d not in set(sessions):
            out.add(None, "error", "not_a_session", f"bars on {d:%A %Y-%m-%d}, the NYSE was closed", _key(d))
            continue
        start, end = calendar.hours(d)
        n = int((end - start).total_seconds() // 60)
        missing = [start + timedelta(minutes=i) for i in range(n)]
        missing = [m for m in missing if m not in by_day[d]]
        if not missing:
            continue
        early = f" (early close {end:%H:%M})" if end.time() < time(16) else ""
        shown = ", ".join(f"{m:%H:%M}" for m in missing[:5]) + (", …" if len(missing) > 5 else "")
        edge = d in (days[0], days[-1])
        first, last = min(by_day[d]), max(by_day[d])
        if edge and (first > start or last < end - timedelta(minutes=1)):
            starts = d == days[0] and first > start
            cut = f"file starts at {first:%H:%M}" if starts else f"file ends at {last:%H:%M}"
            out.add(None, "warning", "partial_session",
                    f"{cut}: {len(missing)} of {n} regular-hours minutes absent{early}", _key(d))
        else:
            out.add(None, "warning", "missing_minutes",
                    f"{len(missing)} of {n} regular-hours minutes absent{early}: {shown}", _key(d))


def _check_last_row(out: _Out) -> None:
    rows = out.series.rows
    if len(rows) < 6 or not _ok(rows[-1]) or rows[-1].volume is None:
        return
    recent = [r.volume for r in rows[-21:-1] if _ok(r) and r.volume is not None]
    med = statistics.median(recent) if recent else 0.0
    last = rows[-1].volume
    if med > 0 and last < 0.25 * med:
        out.add(rows[-1], "warning", "partial_last_row",
                f"last row volume {last:.0f} is {last / med:.0%} of the median of the rows before it: "
                "probably captured during the session")


def _rth(when: datetime, calendar: Sessions | None, cache: dict[date, tuple[datetime, datetime]]) -> bool:
    d = when.date()
    if d not in cache:
        cache[d] = (calendar.hours(d) if calendar is not None and calendar.is_session(d) else
                    (datetime.combine(d, time(9, 30), NEW_YORK), datetime.combine(d, time(16), NEW_YORK)))
    start, end = cache[d]
    return start <= when < end


def close_returns(series: Series, calendar: Sessions | None = None) -> list[tuple[Row, Row, float]]:
    """(previous row, row, log close return) over the clean rows, de-duplicated and in time order.

    1-minute series use regular-hours bars within one session only: extended-hours prints are too
    thin to judge, and the overnight gap is not a one-minute move."""
    clean: dict[date | datetime, Row] = {}
    for r in series.rows:
        if _ok(r) and r.when is not None and r.close is not None and r.close > 0 and r.when not in clean:
            clean[r.when] = r
    ordered = [clean[k] for k in sorted(clean)]
    if series.frequency == "1min":
        cache: dict[date, tuple[datetime, datetime]] = {}
        ordered = [r for r in ordered if isinstance(r.when, datetime) and _rth(r.when, calendar, cache)]
    out: list[tuple[Row, Row, float]] = []
    for a, b in itertools.pairwise(ordered):
        if series.frequency == "1min" and (a.when.date() != b.when.date()):  # type: ignore[union-attr]
            continue
        out.append((a, b, math.log(b.close / a.close)))  # type: ignore[operator]
    return out


def _sigma(values: Sequence[float]) -> float:
    if len(values) < 20:
        return 0.0
    med = statistics.median(values)
    return 1.4826 * statistics.median(abs(v - med) for v in values)


def zscores(series: Series, calendar: Sessions | None = None) -> dict[str, float]:
    """{date or timestamp: log return / robust sigma}: what the neighbours of a series look at."""
    rets = close_returns(series, calendar)
    sigma = _sigma([x for _, _, x in rets])
    return {_key(b.when): x / sigma for _, b, x in rets if b.when is not None} if sigma > 0 else {}


def _split_ratio(ret: float) -> str:
    """The split ratio a price ratio looks like, e.g. '4:1', or '' when it looks like none."""
    for n in SPLIT_RATIOS:
        if abs(abs(ret) - math.log(n)) < 0.1:
            a, b = (n, 1) if float(n).is_integer() else (n * 2, 2)
            return f"{a:g}:{b:g}" if ret < 0 else f"reverse {b:g}:{a:g}"
    return ""


def _check_jumps(out: _Out, calendar: Sessions | None, neighbours: Sequence[Mapping[str, float]]) -> None:
    s = out.series
    rets = close_returns(s, calendar)
    sigma = _sigma([x for _, _, x in rets])
    if sigma <= 0:
        return
    floor = INTRADAY_FLOOR if s.frequency == "1min" else 0.0
    index = s.symbol.upper().lstrip("^") in INDEXES or s.symbol.startswith("^")
    skip_next = False
    for i, (a, b, x) in enumerate(rets):
        if skip_next:
            skip_next = False
            continue
        z = x / sigma
        if abs(z) <= JUMP_SIGMAS or abs(x) < floor:
            continue
        key = _key(b.when)  # type: ignore[arg-type]
        others = [n[key] for n in neighbours if key in n]
        moved = sum(abs(v) >= MOVED_SIGMAS for v in others)
        if others and 4 * moved >= len(others):
            continue  # a market-wide move: the neighbours agree
        move = f"close {_fmt(a.close or 0)} → {_fmt(b.close or 0)} ({math.expm1(x):+.1%}, {z:+.1f}σ)"
        nxt = rets[i + 1] if i + 1 < len(rets) else None
        if nxt is not None and nxt[0] is b and nxt[2] * x < 0 and abs(x + nxt[2]) < REVERT * abs(x):
            out.add(b, "warning" if s.frequency == "1min" else "error", "corrupt_row",
                    f"{move} and back to {_fmt(nxt[1].close or 0)} on the next row: corrupt row")
            skip_next = True
            continue
        context = (f"the {len(others)} other symbol{'s' if len(others) != 1 else ''} did not move"
                   if others else "no other symbol to compare")
        ratio = "" if index else _split_ratio(x)
        if not index and (ratio or abs(x) >= BIG_MOVE):
            hint = f"; looks like a {ratio} split not applied to the rows before" if ratio else ""
            out.add(b, "error", "possible_split", f"{move}, {context}: possible split or corrupt row{hint}")
        else:
            why = "news or a bad row (an index does not split)" if index else \
                "news, or a possible split or corrupt row"
            out.add(b, "warning", "large_jump", f"{move}, {context}: {why}")


def _check_overnight(out: _Out, calendar: Sessions | None) -> None:
    """1-minute data: a split shows up between sessions, as a gap at a split ratio."""
    if out.series.symbol.upper().lstrip("^") in INDEXES:
        return
    cache: dict[date, tuple[datetime, datetime]] = {}
    last: dict[date, Row] = {}
    first: dict[date, Row] = {}
    for r in sorted((r for r in out.series.rows if _ok(r) and r.close), key=lambda r: r.when):  # type: ignore[arg-type,return-value]
        if isinstance(r.when, datetime) and _rth(r.when, calendar, cache):
            first.setdefault(r.when.date(), r)
            last[r.when.date()] = r
    days = sorted(first)
    for d0, d1 in itertools.pairwise(days):
        a, b = last[d0], first[d1]
        x = math.log(b.close / a.close)  # type: ignore[operator]
        ratio = _split_ratio(x)
        if ratio and abs(x) >= BIG_MOVE:
            out.add(b, "error", "possible_split",
                    f"first regular-hours close {_fmt(b.close or 0)} vs {_fmt(a.close or 0)} at the previous "
                    f"session's close ({math.expm1(x):+.1%}): looks like a {ratio} split between sessions")


def _mismatch(a: Series, b: Series) -> list[Finding]:
    closes = {r.when: r for r in a.rows if _ok(r) and r.close}
    found: list[Finding] = []
    last_b = b.rows[-1].line if b.rows else None
    for r in b.rows:
        other = closes.get(r.when) if _ok(r) and r.close else None
        if other is None or other.close is None or r.close is None:
            continue
        diff = r.close / other.close - 1
        if abs(diff) > 0.005:
            tail = "; last row of this file: probably captured during the session" if r.line == last_b else ""
            found.append(Finding(b.symbol, _key(r.when), "warning", "source_mismatch",  # type: ignore[arg-type]
                                 f"close {_fmt(r.close)} differs from {_fmt(other.close)} in {a.source} "
                                 f"by {diff:+.1%}{tail}", b.source, r.line))
    return found


def check_many(series: Sequence[Series], *, calendar: Sessions | None = None) -> list[Finding]:
    """Check several files together: each symbol's jumps are judged against the others of the same
    frequency, and two files of the same symbol are compared close by close."""
    z = [zscores(s, calendar) for s in series]
    findings: list[Finding] = []
    for i, s in enumerate(series):
        # as-traded files jump at splits: they are not a market reference for other symbols
        near = [z[j] for j, o in enumerate(series)
                if j != i and o.frequency == s.frequency and o.symbol != s.symbol
                and not _as_traded(o.source)]
        findings += check_series(s, calendar=calendar, neighbours=near)
        # an as-traded file and an adjusted one of the same symbol differ by design
        findings += [f for j in range(i) if series[j].symbol == s.symbol
                     and series[j].frequency == s.frequency
                     and _as_traded(series[j].source) == _as_traded(s.source)
                     for f in _mismatch(series[j], s)]
    return findings
