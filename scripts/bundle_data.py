"""Build adapters/data/ (the bundled market data) from the shared source files.

    python scripts/bundle_data.py [--source DIR] [--out DIR]

A developer tool, never run by the product. Defaults: --source is the shared data folder (beside the
checkout), --out adapters/data. Each source file becomes one gzip CSV with fixed columns
(date|datetime,open,high,low,close,volume), rows in the source order and defects kept (the
watchdog and the loader's repair policy must meet them for real), numbers in Python's shortest
round-trip form, volumes as integers. Output is byte-deterministic: gzip mtime 0, no file name,
sorted JSON. MANIFEST.json records each file's symbol, frequency, price basis, source and sha256.

It also builds the as-traded daily set (dataset ``daily_raw``, price basis ``raw``) from the adjusted
one with the splits and dividends tables of scripts/data/ (method and checks: scripts/astraded.py),
refuses to write anything when a check fails, and copies those two tables (MANIFEST ``tables``).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import astraded

from alluse.adapters.marketdata import detect_layout, parse_text

ROOT = Path(__file__).resolve().parents[1]
ACTIONS = ROOT / "scripts" / "data"


@dataclass(frozen=True)
class Source:
    dataset: str
    folder: str
    repo: str
    commit: str
    price_basis: str
    symbols: tuple[str, ...]


SOURCES = (
    Source("daily", "daily_yf_adjusted_koiwest", "Koi-west/stock-predictor",
           "388d4b1701a4fba9d7e72b8c3f20bc9915f0248b", "split_div_adjusted",
           ("AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "TSLA", "SPY", "QQQ", "VIX")),
    Source("daily_long", "daily_vix_long_vizards8", "Vizards8/dca-etf-backtest",
           "db3730430ff6a4e3489146210e4ef2fb2acf4b65", "raw", ("VIX",)),
    Source("1min", "intraday_1min_yf_alvinmoore", "alvinmoore/intraday",
           "643b232767019500c0260c42f1b00ceb72137702", "raw",
           ("AAPL", "TSLA", "GOOG", "SPY", "QQQ", "VIX", "GSPC")),
)

# Known defects of the source files, kept in the bundle on purpose (`alluse data check bundled`).
NOTES = {
    ("daily", "*"): "last row 2026-03-26 was captured during the session (volume a fraction of normal)",
    ("daily", "AMZN"): "last row 2026-03-26 has empty open/high/low/close",
    ("daily", "MSFT"): "last row 2026-03-26 has empty open/high/low/close",
    ("daily", "VIX"): "2026-03-25 is a corrupt row (close 154.96, volume 37993457); index: volume 0, "
                      "no splits or dividends, so adjusted = raw",
    ("daily_long", "VIX"): "last row 2025-11-18 looks like an intraday capture; volume always 0",
    ("1min", "*"): "as-traded prices with pre-/post-market bars",
    ("1min", "SPY"): "898 timestamps duplicated (5075 extra rows, 4 with conflicting values), 18 places out "
                     "of order, one dividend row with empty OHLCV (2019-12-20 09:30)",
    ("1min", "VIX"): "index, volume always 0; no bars for the sessions 2022-03-21, 2022-03-29, 2022-04-06",
    ("1min", "GSPC"): "S&P 500 index, regular hours only; no bars for 2022-03-21, 2022-03-29, 2022-04-06",
    ("1min", "GOOG"): "class C shares (GOOG), not GOOGL",
    ("daily_raw", "*"): "as traded: rebuilt from the adjusted set with splits.csv and dividends.csv "
                        "(scripts/astraded.py); closes agree with the Kaggle raw closes of 2021-2022 "
                        "to 2e-4 or better",
    ("daily_raw", "AMZN"): "last row 2026-03-26 has empty open/high/low/close",
    ("daily_raw", "MSFT"): "last row 2026-03-26 has empty open/high/low/close",
}


def _number(text: str, volume: bool) -> str:
    """Shortest round-trip form; text that is not a finite number is kept verbatim (a defect)."""
    try:
        value = float(text)
    except ValueError:
        return text
    if not math.isfinite(value):
        return text
    return str(int(value)) if volume and value.is_integer() else repr(value)


def normalise(text: str, source_name: str) -> str:
    lines = csv.reader(io.StringIO(text))
    header = next(lines)
    layout = detect_layout(header, source_name)
    out = io.StringIO()
    out.write(("date" if layout.frequency == "daily" else "datetime") + ",open,high,low,close,volume\n")
    for fields in lines:
        if not any(f.strip() for f in fields):
            continue
        got = [fields[i] if i < len(fields) else "" for i in layout.columns]
        out.write(",".join([got[0], *(_number(v, i == 4) for i, v in enumerate(got[1:]))]) + "\n")
    return out.getvalue()


def _entry(out_dir: Path, src: Source, symbol: str, text: str, raw: bytes,
           source_path: str) -> dict[str, object]:
    series = parse_text(text, symbol, source_path)
    stamps = sorted(r.when for r in series.rows if r.when is not None)  # type: ignore[type-var]
    name = f"{src.dataset}_{symbol}.csv.gz"
    blob = gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)
    (out_dir / name).write_bytes(blob)
    notes = [n for key in ((src.dataset, "*"), (src.dataset, symbol)) if (n := NOTES.get(key))]
    return {
        "dataset": src.dataset, "symbol": symbol, "frequency": series.frequency,
        "price_basis": src.price_basis, "file": name, "rows": len(series.rows),
        "first": str(stamps[0]), "last": str(stamps[-1]), "source": src.folder,
        "source_repo": src.repo, "source_commit": src.commit, "source_path": source_path,
        "source_sha256": hashlib.sha256(raw).hexdigest(),
        "sha256": hashlib.sha256(blob).hexdigest(), "notes": notes,
    }


def _tables(out_dir: Path) -> list[dict[str, object]]:
    out = []
    for name in ("splits.csv", "dividends.csv"):
        data = (ACTIONS / name).read_bytes()
        (out_dir / name).write_bytes(data)
        out.append({"file": name, "rows": data.count(b"\n") - 1, "sha256": hashlib.sha256(data).hexdigest(),
                    "source": f"scripts/data/{name}; each row names its source (scripts/data/SOURCES.md)"})
    return out


def build(source_dir: Path, out_dir: Path) -> list[dict[str, object]]:
    splits = astraded.read_splits(ACTIONS / "splits.csv")
    dividends = astraded.read_dividends(ACTIONS / "dividends.csv")
    rebuilt = {s: astraded.rebuild(source_dir, s, splits, dividends) for s in astraded.SYMBOLS}
    failed = [f for f in astraded.verify(source_dir, splits, dividends, rebuilt) if not f.ok]
    if failed:
        raise SystemExit("as-traded checks failed:\n  " + "\n  ".join(
            f"{f.symbol} {f.check}: {f.detail}" for f in failed))
    out_dir.mkdir(parents=True, exist_ok=True)
    entries: list[dict[str, object]] = []
    for src in SOURCES:
        for symbol in src.symbols:
            path = source_dir / src.folder / f"{symbol}.csv"
            raw = path.read_bytes()
            text = normalise(raw.decode("utf-8"), path.name)
            entries.append(_entry(out_dir, src, symbol, text, raw, f"{src.folder}/{symbol}.csv"))
    adjusted = SOURCES[0]
    as_traded = Source("daily_raw", adjusted.folder, adjusted.repo, adjusted.commit, "raw",
                       astraded.SYMBOLS)
    for symbol in as_traded.symbols:
        path = source_dir / adjusted.folder / f"{symbol}.csv"
        entries.append(_entry(out_dir, as_traded, symbol, rebuilt[symbol], path.read_bytes(),
                              f"{adjusted.folder}/{symbol}.csv"))
    entries.sort(key=lambda e: str(e["file"]))
    manifest = {"format": 1, "files": entries, "tables": _tables(out_dir),
                "about": "Built by scripts/bundle_data.py; provenance in the source_* fields."}
    (out_dir / "MANIFEST.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n",
                                           encoding="utf-8")
    return entries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "adapters" / "data")
    args = parser.parse_args(argv)
    if not args.source.is_dir():
        print(f"error: source folder '{args.source}' not found", file=sys.stderr)
        return 2
    entries = build(args.source, args.out)
    size = sum((args.out / str(e["file"])).stat().st_size for e in entries)
    print(f"{len(entries)} files, {sum(int(str(e['rows'])) for e in entries)} rows, {size / 1e6:.2f} MB "
          f"in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
