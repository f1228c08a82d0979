"""The bundled corporate-actions tables: splits and cash dividends of the as-traded daily set.

``splits.csv`` (symbol, ex_date, ratio: new shares per old share) and ``dividends.csv`` (symbol,
ex_date, amount per share as traded on the ex-date), each row naming its source; provenance and
the checks against the data are in MANIFEST.json ``tables`` and scripts/data/SOURCES.md.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date
from importlib.resources import files

from alluse.engine.errors import DataError

__all__ = ["DividendRecord", "SplitRecord", "TableInfo", "dividends", "splits", "tables"]


@dataclass(frozen=True, slots=True)
class SplitRecord:
    symbol: str
    ex_date: date
    ratio: int
    source: str


@dataclass(frozen=True, slots=True)
class DividendRecord:
    symbol: str
    ex_date: date
    amount: float
    source: str


@dataclass(frozen=True, slots=True)
class TableInfo:
    file: str
    rows: int
    sha256: str
    source: str


def _rows(name: str) -> list[dict[str, str]]:
    try:
        text = (files("alluse.adapters") / "data" / name).read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"bundled table {name} is missing: {exc}") from exc
    return list(csv.DictReader(io.StringIO(text)))


def tables() -> list[TableInfo]:
    """The bundled tables, from MANIFEST.json."""
    manifest = json.loads((files("alluse.adapters") / "data" / "MANIFEST.json").read_text(encoding="utf-8"))
    return [TableInfo(t["file"], t["rows"], t["sha256"], t["source"]) for t in manifest.get("tables", [])]


def _wanted(symbols: set[str] | None, symbol: str, day: date, start: date | None,
            end: date | None) -> bool:
    return ((symbols is None or symbol in symbols) and (start is None or day >= start)
            and (end is None or day <= end))


def splits(symbols: set[str] | None = None, *, start: date | None = None,
           end: date | None = None) -> list[SplitRecord]:
    """The bundled splits (of ``symbols``, with an ex-date in [start, end]), by ex-date."""
    out = [SplitRecord(r["symbol"], date.fromisoformat(r["ex_date"]), int(r["ratio"]), r["source"])
           for r in _rows("splits.csv")]
    return sorted((s for s in out if _wanted(symbols, s.symbol, s.ex_date, start, end)),
                  key=lambda s: (s.ex_date, s.symbol))


def dividends(symbols: set[str] | None = None, *, start: date | None = None,
              end: date | None = None) -> list[DividendRecord]:
    """The bundled cash dividends (of ``symbols``, with an ex-date in [start, end]), by ex-date."""
    out = [DividendRecord(r["symbol"], date.fromisoformat(r["ex_date"]), float(r["amount"]), r["source"])
           for r in _rows("dividends.csv")]
    return sorted((d for d in out if _wanted(symbols, d.symbol, d.ex_date, start, end)),
                  key=lambda d: (d.ex_date, d.symbol))
