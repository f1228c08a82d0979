"""As-traded daily bars rebuilt from the split+dividend-adjusted set, and their checks.

Used by scripts/bundle_data.py (a developer tool, never run by the product) and by the tests that
hold the bundle to the shared data. Method, per symbol:

- The adjusted set (yfinance ``auto_adjust=True``, as of 2026-03-26) is ``raw × F(t) / S(t)``:
  ``S(t)`` the product of the split ratios with an ex-date after ``t``; ``F(t)`` the product, over
  the dividends with an ex-date after ``t``, of ``1 − D / C`` with ``C`` the raw close of the day
  before that ex-date (Yahoo's CRSP-style factor). Walking back from the last day, where both are
  1, each ex-date gives ``C = adjusted_close(day before) / F(ex-date) × S + D`` (in split-adjusted
  units), so ``F`` needs only the dividend table; ``raw = adjusted × S(t) / F(t)``. Volumes are
  split-adjusted only: ``raw volume = volume / S(t)``.
- Checks (`verify`): the Kaggle set (split-adjusted as of 2022-12-29, dividends not removed) gives
  the raw closes of 2021-2022 exactly; the rebuilt closes must match them (the "seam": every
  dividend 2023-2026 enters through F). Its ``Adj Close / Close`` ratio steps at each ex-date of
  2021-2022, which gives those dividends independently of the table. Each split must show in the
  data: the NVDA 2024 10:1 as the ratio of the two sets' volumes, TSLA 3:1 and GOOGL 20:1 in the
  as-traded 1-minute sample of 2022, and every split's last pre-split and ex-date closes must equal
  the prints in ``splits_reference.csv``.
"""

from __future__ import annotations

import csv
import itertools
import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path

ADJUSTED = "daily_yf_adjusted_koiwest"
KAGGLE = "daily_yf_splitadj_kaggle_bigtech_2010_2022"
KAGGLE_AS_OF = date(2022, 12, 29)
MINUTES = "intraday_1min_yf_alvinmoore"
# QQQ is left out: the public sources found list its dividends only from 2023-12 (README).
SYMBOLS = ("AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "TSLA", "SPY")


@dataclass(frozen=True)
class Split:
    symbol: str
    ex_date: date
    ratio: int
    source: str


@dataclass(frozen=True)
class Dividend:
    symbol: str
    ex_date: date
    amount: float  # per share, as traded on the ex-date
    source: str


@dataclass(frozen=True)
class Row:
    day: date
    fields: tuple[str, ...]  # open, high, low, close, volume as written (may be empty: a defect)


def read_splits(path: Path) -> list[Split]:
    with path.open(encoding="utf-8") as f:
        return [Split(r["symbol"], date.fromisoformat(r["ex_date"]), int(r["ratio"]), r["source"])
                for r in csv.DictReader(f)]


def read_dividends(path: Path) -> list[Dividend]:
    with path.open(encoding="utf-8") as f:
        return [Dividend(r["symbol"], date.fromisoformat(r["ex_date"]), float(r["amount"]), r["source"])
                for r in csv.DictReader(f)]


def adjusted_rows(source: Path, symbol: str) -> list[Row]:
    """The adjusted file's rows (columns Date,Close,High,Low,Open,Volume) as open..volume."""
    with (source / ADJUSTED / f"{symbol}.csv").open(encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader)
        return [Row(date.fromisoformat(r[0]), (r[4], r[2], r[3], r[1], r[5])) for r in reader if r]


def _num(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def split_factor(splits: list[Split], symbol: str, day: date, until: date | None = None) -> int:
    """Product of the symbol's split ratios with an ex-date after ``day`` (up to ``until``)."""
    out = 1
    for s in splits:
        if s.symbol == symbol and s.ex_date > day and (until is None or s.ex_date <= until):
            out *= s.ratio
    return out


def dividend_factors(rows: list[Row], symbol: str, splits: list[Split],
                     dividends: list[Dividend]) -> dict[date, float]:
    """F(t) for every row's day (see the module docstring), walking back from the last day."""
    by_ex = {d.ex_date: d for d in dividends if d.symbol == symbol}
    days = [r.day for r in rows]
    closes = {r.day: _num(r.fields[3]) for r in rows}
    missing = sorted(d for d in by_ex if d not in closes and days[0] < d <= days[-1])
    if missing:
        raise ValueError(f"{symbol}: dividend ex-date(s) {missing} are not trading days of the data")
    out: dict[date, float] = {}
    factor = 1.0
    for i in range(len(days) - 1, -1, -1):
        out[days[i]] = factor
        div = by_ex.get(days[i])
        if div is not None and i > 0:
            prev = days[i - 1]
            adj_prev = closes[prev]
            if adj_prev is None:
                raise ValueError(f"{symbol}: no close on {prev}, the day before ex-date {days[i]}")
            scale = split_factor(splits, symbol, days[i])
            amount = div.amount / scale  # in the adjusted set's (split-adjusted) units
            raw_prev = adj_prev / factor + amount
            factor *= 1.0 - amount / raw_prev
    return out


def _fmt(value: float) -> str:
    return repr(round(value, 4))


def rebuild(source: Path, symbol: str, splits: list[Split], dividends: list[Dividend]) -> str:
    """The as-traded CSV text (date,open,high,low,close,volume); empty fields stay empty."""
    rows = adjusted_rows(source, symbol)
    factors = dividend_factors(rows, symbol, splits, dividends)
    out = ["date,open,high,low,close,volume"]
    for r in rows:
        s = split_factor(splits, symbol, r.day)
        f = factors[r.day]
        cells = []
        for k, text in enumerate(r.fields):
            v = _num(text)
            if v is None:
                cells.append(text)
            elif k == 4:
                cells.append(str(round(v / s)))
            else:
                cells.append(_fmt(v * s / f))
        out.append(",".join([r.day.isoformat(), *cells]))
    return "\n".join(out) + "\n"


def parse_rebuilt(text: str) -> dict[date, tuple[float | None, ...]]:
    lines = text.splitlines()[1:]
    return {date.fromisoformat(p[0]): tuple(_num(x) for x in p[1:])
            for p in (line.split(",") for line in lines)}


# ---------------------------------------------------------------- checks -------------------------

@dataclass(frozen=True)
class Finding:
    symbol: str
    check: str
    ok: bool
    detail: str


def kaggle(source: Path, symbol: str) -> dict[date, tuple[float, float, float]]:
    """day → (Close, Adj Close, Volume) of the Kaggle file."""
    with (source / KAGGLE / f"{symbol}.csv").open(encoding="utf-8") as f:
        return {date.fromisoformat(r["Date"]): (float(r["Close"]), float(r["Adj Close"]), float(r["Volume"]))
                for r in csv.DictReader(f)}


def kaggle_dividends(source: Path, symbol: str) -> list[tuple[date, float]]:
    """Ex-dates and amounts where ``Adj Close / Close`` steps (2021-01-05 … 2022-12-29), as traded."""
    rows = sorted(kaggle(source, symbol).items())
    out = []
    for (_, (c0, a0, _)), (d1, (c1, a1, _)) in itertools.pairwise(rows):
        if d1 < date(2021, 1, 5):
            continue
        r0, r1 = a0 / c0, a1 / c1
        if r1 / r0 - 1.0 > 2e-5:  # the factor rises across an ex-date
            amount = c0 * (1.0 - r0 / r1)  # in the Kaggle basis: split-adjusted as of 2022-12-29
            out.append((d1, amount))
    return out


def verify(source: Path, splits: list[Split], dividends: list[Dividend],
           rebuilt: dict[str, str]) -> list[Finding]:
    out: list[Finding] = []
    for symbol in SYMBOLS:
        if symbol not in rebuilt or not (source / KAGGLE / f"{symbol}.csv").exists():
            continue
        raw = parse_rebuilt(rebuilt[symbol])
        kag = kaggle(source, symbol)
        worst, where = 0.0, date.min
        for d, (close, _, _) in kag.items():
            if d in raw and raw[d][3] is not None and d >= date(2021, 1, 4):
                expected = close * split_factor(splits, symbol, d, until=KAGGLE_AS_OF)
                err = abs(raw[d][3] / expected - 1.0)  # type: ignore[operator]
                if err > worst:
                    worst, where = err, d
        out.append(Finding(symbol, "seam", worst < 2e-4,
                           f"rebuilt closes vs Kaggle raw 2021-01-04…2022-12-29: max relative "
                           f"difference {worst:.2e} on {where}"))
        table = {(d.ex_date): d.amount for d in dividends if d.symbol == symbol
                 and d.ex_date <= KAGGLE_AS_OF}
        found = {d: a * split_factor(splits, symbol, d, until=KAGGLE_AS_OF)
                 for d, a in kaggle_dividends(source, symbol)}
        same_dates = sorted(table) == sorted(found)
        diffs = [abs(found[d] - table[d]) for d in table if d in found]
        worst_div = max(diffs, default=0.0)
        out.append(Finding(symbol, "dividends 2021-2022", same_dates and worst_div < 0.005,
                           f"{len(found)} ex-dates from Adj Close/Close steps, {len(table)} in the "
                           f"table, same dates: {same_dates}, max amount difference {worst_div:.4f}"))
    for s in splits:
        if s.symbol not in rebuilt:
            continue
        raw = parse_rebuilt(rebuilt[s.symbol])
        days = sorted(raw)
        i = days.index(s.ex_date)
        before, after = raw[days[i - 1]][3], raw[days[i]][3]
        jump = before / after  # type: ignore[operator]
        out.append(Finding(s.symbol, f"split {s.ex_date}", abs(jump / s.ratio - 1.0) < 0.15,
                           f"as-traded close {days[i - 1]} {before} → {s.ex_date} {after}: ×{jump:.3f} "
                           f"(ratio {s.ratio})"))
    out += _split_prints(source, splits, rebuilt)
    out += _split_witnesses(source)
    return out


def _split_prints(source: Path, splits: list[Split], rebuilt: dict[str, str]) -> list[Finding]:
    """Each split's last pre-split and ex-date closes against splits_reference.csv's prints."""
    out = []
    with (source / "splits_reference.csv").open(encoding="utf-8") as f:
        lines = [line for line in f if not line.startswith("#")]
    for r in csv.DictReader(lines):
        sym, ex = r["symbol"], date.fromisoformat(r["ex_date"])
        if sym not in rebuilt or not any(s.symbol == sym and s.ex_date == ex for s in splits):
            continue
        raw = parse_rebuilt(rebuilt[sym])
        pre = float(r["raw_close_last_presplit_day"].split()[0])
        post = float(r["raw_close_ex_date"].split()[0].split(",")[0])
        got_pre = raw[date.fromisoformat(r["last_presplit_date"])][3]
        got_post = raw[ex][3]
        ok = abs(got_pre - pre) / pre < 1e-3 and abs(got_post - post) / post < 1e-3  # type: ignore[operator]
        out.append(Finding(sym, f"split {ex} prints", ok, f"rebuilt {got_pre} → {got_post}; "
                           f"splits_reference {pre} → {post}"))
    return out


def _split_witnesses(source: Path) -> list[Finding]:
    """Splits seen between two data sets of different dates."""
    out = []
    kag = kaggle(source, "NVDA")
    adj = {r.day: _num(r.fields[4]) for r in adjusted_rows(source, "NVDA")}
    ratios = [adj[d] / v for d, (_, _, v) in kag.items() if d in adj and v and adj[d]]  # type: ignore[operator]
    mean = sum(ratios) / len(ratios)
    out.append(Finding("NVDA", "split 2024-06-10 witness", abs(mean - 10.0) < 0.01,
                       f"adjusted-set volume / Kaggle volume (2021-2022, {len(ratios)} days): {mean:.4f}"))
    for sym, minute_sym, ratio in (("TSLA", "TSLA", 3.0), ("GOOGL", "GOOG", 20.0)):
        closes = _minute_closes(source / MINUTES / f"{minute_sym}.csv")
        k = kaggle(source, sym)
        rs = [closes[d] / k[d][0] for d in closes if d in k]
        mean = sum(rs) / len(rs)
        out.append(Finding(sym, "2022 split witness", abs(mean / ratio - 1.0) < 0.02,
                           f"as-traded 1-minute last close / Kaggle close, {len(rs)} days of "
                           f"2022-03/04: {mean:.3f} (split {ratio:g}:1 later in 2022)"))
    return out


def _minute_closes(path: Path) -> dict[date, float]:
    """The last regular-hours (before 16:00) 1-minute close of each day."""
    last: dict[date, tuple[str, float]] = {}
    with path.open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            stamp, close = r["Datetime"], _num(r["Close"])
            if close is None or stamp[11:16] >= "16:00" or stamp[11:16] < "09:30":
                continue
            d = date.fromisoformat(stamp[:10])
            if d not in last or stamp > last[d][0]:
                last[d] = (stamp, close)
    return {d: c for d, (_, c) in last.items()}
