"""Market-data files: the bundled daily and 1-minute bars, and users' own CSV files.

The bundled files live in the installed package (``alluse.adapters/data``), one gzip CSV per symbol
and frequency with fixed columns (``date|datetime,open,high,low,close,volume``) and a MANIFEST.json
that records each file's price basis and source. They are the source files unchanged apart from the
column order — except dataset ``daily_raw``, the as-traded bars rebuilt from the adjusted ones with
the bundled splits and dividends (`alluse.adapters.corporate_actions`) — so their known defects are
still there (see MANIFEST.json ``notes``): the ``repair``
policy decides what a load does about them, and the `LoadReport` says what it did.

repair="refuse"  raise DataError listing every error-severity finding
repair="repair"  drop rows with unreadable/empty fields, OHLC inconsistencies or a corrupt spike,
                 drop duplicate timestamps (keeping the copy with the largest volume), sort;
                 findings it cannot fix (e.g. an unapplied split) stay in `LoadReport.unresolved`
repair="keep"    return the rows as they are, in file order (NaN for empty fields); report only
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Generic, Literal, TypeVar

from alluse.adapters.datacheck import NEW_YORK, ROW_DROP_CODES, Finding, Row, Series, check_series
from alluse.engine.errors import DataError

__all__ = [
    "DailyBar",
    "DatasetInfo",
    "LoadReport",
    "Loaded",
    "MinuteBar",
    "RepairMode",
    "available",
    "bundled_series",
    "detect_layout",
    "load_csv",
    "load_daily",
    "load_intraday",
    "read_csv",
    "read_daily",
    "read_intraday",
    "read_series",
    "regular_hours",
]

RepairMode = Literal["refuse", "repair", "keep"]
FIELDS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True, slots=True)
class DailyBar:
    date: date
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True, slots=True)
class MinuteBar:
    ts: datetime                       # the bar's start, America/New_York
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    dataset: str                       # "daily", "daily_raw" (as traded), "daily_long" or "1min"
    symbol: str
    frequency: Literal["daily", "1min"]
    price_basis: Literal["split_div_adjusted", "raw"]
    file: str
    rows: int
    first: str
    last: str
    source: str                        # the source data set, e.g. "daily_yf_adjusted_koiwest"
    sha256: str


@dataclass(frozen=True, slots=True)
class LoadReport:
    """What a load found and did, so a replay can say which data it ran on."""

    source: str
    symbol: str
    mode: RepairMode
    rows_read: int
    rows_returned: int
    dropped: tuple[tuple[str, int], ...]     # (reason code, rows dropped), e.g. ("duplicate", 4177)
    resorted: bool
    examples: tuple[str, ...]                # a few "line 1940: empty_field (2019-12-20 09:30…)" notes
    findings: tuple[Finding, ...]            # everything the checks found before repair
    unresolved: tuple[Finding, ...]          # error findings still true of the rows returned

    @property
    def clean(self) -> bool:
        return not self.findings

    def summary(self) -> str:
        did = [f"dropped {n} {_LABELS.get(code, code)}" for code, n in self.dropped]
        if self.resorted:
            did.append("sorted by time")
        text = f"{self.source}: {self.rows_read} rows read, {self.rows_returned} returned"
        text += f"; {', '.join(did)}" if did else ""
        if self.unresolved:
            text += f"; {len(self.unresolved)} unresolved error(s), e.g. {self.unresolved[0].format()}"
        return text


_LABELS = {
    "duplicate": "duplicate-timestamp rows", "empty_field": "rows with empty fields",
    "non_numeric": "rows with non-numeric fields", "truncated_row": "truncated rows",
    "bad_timestamp": "rows with unreadable timestamps", "ohlc_inconsistent": "OHLC-inconsistent rows",
    "corrupt_row": "corrupt (spike-and-revert) rows",
}

B = TypeVar("B", DailyBar, MinuteBar)


@dataclass(frozen=True, slots=True)
class Loaded(Generic[B]):
    bars: list[B]
    report: LoadReport


# ---------------------------------------------------------------- parsing ----------------------

@dataclass(frozen=True, slots=True)
class Layout:
    name: str
    frequency: Literal["daily", "1min"]
    columns: tuple[int, ...]           # indices of stamp, open, high, low, close, volume
    width: int                         # fields per line in the header


KNOWN_LAYOUTS = {
    ("date", "close", "high", "low", "open", "volume"): "yfinance auto_adjust (Close first)",
    ("date", "open", "high", "low", "close", "adj close", "volume"): "Kaggle/Yahoo with Adj Close",
    ("date", "open", "high", "low", "close", "volume", "adj close"): "Yahoo chart API",
    ("date", "open", "high", "low", "close", "volume"): "alluse daily",
    ("datetime", "open", "high", "low", "close", "volume"): "alluse 1-minute",
}


def detect_layout(header: list[str], source: str = "") -> Layout:
    """Map a header onto the fixed columns by name; `Adj Close`, `Dividends`… are ignored (the
    OHLC fields share one basis; an adjusted close next to unadjusted OHLC would not)."""
    names = [h.strip().lower() for h in header]
    stamp = next((n for n in ("datetime", "date", "timestamp") if n in names), None)
    missing = [f for f in FIELDS if f not in names]
    if stamp is None or missing:
        need = ", ".join(([] if stamp else ["date or datetime"]) + missing)
        raise DataError(f"{source}:1: header lacks {need} (found: {', '.join(header)})")
    cols = (names.index(stamp), *(names.index(f) for f in FIELDS))
    name = KNOWN_LAYOUTS.get(tuple(names)) or ("yfinance 1-minute" if stamp == "datetime" else "generic")
    return Layout(name, "1min" if stamp != "date" else "daily", cols, len(names))


def _when(text: str, frequency: str) -> date | datetime:
    if frequency == "daily":
        return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text).date()
    ts = datetime.fromisoformat(text)
    # A naive timestamp is exchange-local, like every bundled source.
    return ts.replace(tzinfo=NEW_YORK) if ts.tzinfo is None else ts.astimezone(NEW_YORK)


def _number(text: str) -> float | None:
    """The value, or None when the field is empty or not a finite number."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_text(text: str, symbol: str, source: str) -> Series:
    """Parse CSV text into a Series; every unreadable line becomes a Row with its problems."""
    lines = csv.reader(io.StringIO(text))
    header = next(lines, None)
    if header is None:
        raise DataError(f"{source}: empty file, no header")
    layout = detect_layout(header, source)
    rows: list[Row] = []
    for number, fields in enumerate(lines, start=2):
        if not any(f.strip() for f in fields):
            continue  # blank line
        problems: list[tuple[str, str]] = []
        if len(fields) < layout.width:
            problems.append(("truncated_row",
                             f"{len(fields)} of {layout.width} fields: {','.join(fields)!r}"))
        got = [fields[i] if i < len(fields) else "" for i in layout.columns]
        try:
            when: date | datetime | None = _when(got[0].strip(), layout.frequency)
        except ValueError:
            when = None
            problems.append(("bad_timestamp", f"{header[layout.columns[0]]} {got[0]!r} is not a date/time"))
        open_, high, low, close, volume = (_number(text) for text in got[1:])
        # Fields a truncated line never reached are covered by truncated_row already.
        present = [(name, text) for name, col, text in zip(FIELDS, layout.columns[1:], got[1:], strict=True)
                   if col < len(fields)]
        empty = [name for name, text in present if not text.strip()]
        if empty:
            problems.append(("empty_field", f"{', '.join(empty)} {'is' if len(empty) == 1 else 'are'} empty"))
        bad = [f"{name} {text!r}" for name, text in present if text.strip() and _number(text) is None]
        if bad:
            problems.append(("non_numeric", f"not a number: {', '.join(bad)}"))
        rows.append(Row(number, got[0], when, open_, high, low, close, volume, problems=tuple(problems)))
    return Series(symbol, layout.frequency, tuple(rows), source)


def read_series(path: Path, symbol: str | None = None) -> Series:
    """Parse a CSV or gzip CSV file; the symbol defaults to the file name (`AAPL.csv` → AAPL)."""
    try:
        raw = path.read_bytes()
        text = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("utf-8-sig")
    except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: cannot read: {exc}") from exc
    return parse_text(text, symbol or path.name.split(".")[0].upper(), str(path))


# ---------------------------------------------------------------- bundled data -----------------

def _data_dir() -> Traversable:  # not a Path: the package may be a zip
    return files("alluse.adapters") / "data"


def available() -> list[DatasetInfo]:
    """The bundled files, from MANIFEST.json."""
    manifest = json.loads((_data_dir() / "MANIFEST.json").read_text(encoding="utf-8"))
    return [DatasetInfo(**{k: entry[k] for k in DatasetInfo.__slots__}) for entry in manifest["files"]]


def _find(symbol: str, dataset: str) -> DatasetInfo:
    infos = available()
    for info in infos:
        if info.symbol == symbol.upper() and info.dataset == dataset:
            return info
    have = ", ".join(f"{i.symbol}" for i in infos if i.dataset == dataset) or "none"
    raise DataError(f"no bundled {dataset} data for {symbol!r} (have: {have})")


def bundled_series(info: DatasetInfo) -> Series:
    raw = (_data_dir() / info.file).read_bytes()
    return parse_text(gzip.decompress(raw).decode("utf-8"), info.symbol, info.file)


# ---------------------------------------------------------------- loading ----------------------

def _in_range(row: Row, start: date | None, end: date | None) -> bool:
    if row.when is None:
        return True  # keep unreadable rows so the checks report them
    d = row.when.date() if isinstance(row.when, datetime) else row.when
    return (start is None or d >= start) and (end is None or d <= end)


def _apply(series: Series, mode: RepairMode) -> tuple[list[Row], LoadReport]:
    findings = check_series(series)
    errors = [f for f in findings if f.severity == "error"]
    if mode == "refuse" and errors:
        shown = "\n  ".join(f.format() for f in errors[:10])
        more = f"\n  … and {len(errors) - 10} more" if len(errors) > 10 else ""
        raise DataError(f"{series.source}: {len(errors)} data error(s); load with repair='repair' to drop "
                        f"the bad rows or repair='keep' to use them as they are:\n  {shown}{more}")
    rows = list(series.rows)
    dropped: Counter[str] = Counter()
    examples: list[str] = []
    resorted = False
    if mode == "repair":
        bad = {f.line: f.code for f in findings
               if f.code in ROW_DROP_CODES and f.severity == "error" and f.line is not None}
        for r in rows:
            if r.line in bad:
                dropped[bad[r.line]] += 1
                if dropped[bad[r.line]] <= 3:
                    examples.append(f"line {r.line}: {bad[r.line]} ({r.stamp})")
        rows = [r for r in rows if r.line not in bad]
        best: dict[date | datetime, Row] = {}
        for r in rows:
            assert r.when is not None  # bad timestamps were dropped above
            kept = best.get(r.when)
            if kept is None or (r.volume or 0) > (kept.volume or 0):
                best[r.when] = r
        if len(best) < len(rows):
            dropped["duplicate"] += len(rows) - len(best)
            extra = next(r.stamp for r in rows if best[r.when] is not r)  # type: ignore[index]
            examples.append(f"duplicate timestamps, e.g. {extra}")
        keep_ids = {id(r) for r in best.values()}
        rows = [r for r in rows if id(r) in keep_ids]
        ordered = sorted(rows, key=lambda r: r.when)  # type: ignore[arg-type,return-value]
        resorted = ordered != rows
        rows = ordered
        returned = Series(series.symbol, series.frequency, tuple(rows), series.source)
        unresolved = tuple(f for f in check_series(returned) if f.severity == "error")
    else:
        rows = [r for r in rows if r.when is not None]
        dropped["bad_timestamp"] = len(series.rows) - len(rows)
        unresolved = tuple(errors)
    report = LoadReport(series.source, series.symbol, mode, len(series.rows), len(rows),
                        tuple((c, n) for c, n in sorted(dropped.items()) if n), resorted, tuple(examples),
                        tuple(findings), unresolved)
    return rows, report


def _nan(x: float | None) -> float:
    return math.nan if x is None else x


def _bars(series: Series, start: date | None, end: date | None, repair: RepairMode,
          kind: type[B]) -> Loaded[B]:
    daily = kind is DailyBar
    if series.frequency != ("daily" if daily else "1min"):
        held, wanted = ("1-minute", "daily") if daily else ("daily", "1-minute")
        raise DataError(f"{series.source}: holds {held} bars, not {wanted} bars")
    series = Series(series.symbol, series.frequency,
                    tuple(r for r in series.rows if _in_range(r, start, end)), series.source)
    rows, report = _apply(series, repair)
    bars = [kind(r.when, _nan(r.open), _nan(r.high), _nan(r.low), _nan(r.close), _nan(r.volume))  # type: ignore[arg-type]
            for r in rows]
    return Loaded(bars, report)


def _daily(series: Series, start: date | None, end: date | None, repair: RepairMode) -> Loaded[DailyBar]:
    return _bars(series, start, end, repair, DailyBar)


def _minutes(series: Series, start: date | None, end: date | None, repair: RepairMode) -> Loaded[MinuteBar]:
    return _bars(series, start, end, repair, MinuteBar)


def read_daily(symbol: str, *, start: date | None = None, end: date | None = None,
               dataset: str = "daily", repair: RepairMode = "repair") -> Loaded[DailyBar]:
    """Bundled daily bars and the load report. `dataset="daily_long"` is the 2004-2025 VIX."""
    return _daily(bundled_series(_find(symbol, dataset)), start, end, repair)


def load_daily(symbol: str, *, start: date | None = None, end: date | None = None,
               dataset: str = "daily", repair: RepairMode = "repair") -> list[DailyBar]:
    return read_daily(symbol, start=start, end=end, dataset=dataset, repair=repair).bars


def read_intraday(symbol: str, *, start: date | None = None, end: date | None = None,
                  regular_only: bool = False, repair: RepairMode = "repair") -> Loaded[MinuteBar]:
    """Bundled 1-minute bars (raw prices, extended hours included unless `regular_only`)."""
    loaded = _minutes(bundled_series(_find(symbol, "1min")), start, end, repair)
    return Loaded(regular_hours(loaded.bars), loaded.report) if regular_only else loaded


def load_intraday(symbol: str, *, start: date | None = None, end: date | None = None,
                  regular_only: bool = False, repair: RepairMode = "repair") -> list[MinuteBar]:
    return read_intraday(symbol, start=start, end=end, regular_only=regular_only, repair=repair).bars


def read_csv(path: Path | str, *, symbol: str | None = None, start: date | None = None,
             end: date | None = None, repair: RepairMode = "refuse") -> Loaded[DailyBar] | Loaded[MinuteBar]:
    """A user's CSV (or .gz) file; the layout is detected from the header. Refuses bad data unless
    told otherwise: a user file has no manifest saying what is known to be wrong with it."""
    series = read_series(Path(path), symbol)
    if series.frequency == "daily":
        return _daily(series, start, end, repair)
    return _minutes(series, start, end, repair)


def load_csv(path: Path | str, *, symbol: str | None = None, start: date | None = None,
             end: date | None = None, repair: RepairMode = "refuse") -> list[DailyBar] | list[MinuteBar]:
    return read_csv(path, symbol=symbol, start=start, end=end, repair=repair).bars


def regular_hours(bars: list[MinuteBar]) -> list[MinuteBar]:
    """Only the bars inside NYSE regular hours (09:30 to the close, early closes included)."""
    if not bars:
        return []
    from alluse.adapters.datacheck import XnysSessions

    days = sorted({b.ts.date() for b in bars})
    cal = XnysSessions(days[0], days[-1])
    hours = {d: cal.hours(d) for d in days if cal.is_session(d)}
    return [b for b in bars if (h := hours.get(b.ts.date())) is not None and h[0] <= b.ts < h[1]]
