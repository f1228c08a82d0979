"""`alluse data …`: check market-data files (the watchdog) and list the bundled data."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from alluse.engine.errors import DataError

data_app = typer.Typer(help="Check market-data files and list the bundled data.", no_args_is_help=True)


class CheckFormat(StrEnum):
    text = "text"
    json = "json"


def _day(when: date | datetime) -> date:
    return when.date() if isinstance(when, datetime) else when


@data_app.command("check")
def check(
    paths: Annotated[list[str], typer.Argument(help="CSV or .csv.gz files, or the word 'bundled'",
                                               show_default=False)],
    fmt: Annotated[CheckFormat, typer.Option("--format", help="text or json")] = CheckFormat.text,
    symbol: Annotated[str | None, typer.Option(
        "--symbol", help="With 'bundled': only this symbol. With files: the symbol they hold "
                         "(default: from the file name, AAPL.csv → AAPL)")] = None,
    limit: Annotated[int, typer.Option(help="Text: show at most N findings per file and code (0: all)")] = 20,
) -> None:
    """Check files for missing sessions, duplicates, disorder, OHLC errors, empty fields, jumps and
    partial rows. Exit 0 when no error-severity finding, 1 when there is one, 2 on usage errors."""
    from alluse.adapters import datacheck, marketdata

    series: list[datacheck.Series] = []
    findings: list[datacheck.Finding] = []
    for arg in paths:
        if arg == "bundled":
            infos = [i for i in marketdata.available() if symbol is None or i.symbol == symbol.upper()]
            if not infos:
                typer.echo(f"error: no bundled data for symbol {symbol!r}", err=True)
                raise typer.Exit(2)
            series += [marketdata.bundled_series(i) for i in infos]
            continue
        path = Path(arg)
        if not path.is_file():
            typer.echo(f"error: file '{arg}' not found", err=True)
            raise typer.Exit(2)
        try:
            series.append(marketdata.read_series(path, symbol))
        except DataError as exc:  # a file we cannot even parse is itself an error finding
            name = symbol or path.name.split(".")[0].upper()
            findings.append(datacheck.Finding(name, "", "error", "unreadable", str(exc), str(path), None))
    days = [_day(r.when) for s in series for r in s.rows if r.when is not None]
    calendar = datacheck.XnysSessions(min(days), max(days)) if days else None
    found = datacheck.check_many(series, calendar=calendar)
    order = {s.source: i for i, s in enumerate(series)}
    findings += sorted(found, key=lambda f: (order.get(f.source, -1), f.date_or_ts, f.line or 0, f.code))

    errors = sum(f.severity == "error" for f in findings)
    warnings = len(findings) - errors
    by_code = Counter(f.code for f in findings)
    rows = sum(len(s.rows) for s in series)
    if fmt is CheckFormat.json:
        typer.echo(json.dumps({
            "files": [{"source": s.source, "symbol": s.symbol, "frequency": s.frequency, "rows": len(s.rows)}
                      for s in series],
            "findings": [f.as_dict() for f in findings],
            "summary": {"files": len(paths) if not series else len(series), "rows": rows, "errors": errors,
                        "warnings": warnings, "by_code": dict(sorted(by_code.items()))},
        }, indent=2))
    else:
        shown: Counter[tuple[str, str]] = Counter()
        for f in findings:
            shown[(f.source, f.code)] += 1
            if limit <= 0 or shown[(f.source, f.code)] <= limit:
                typer.echo(f.format())
        for (source, code), n in shown.items():
            if 0 < limit < n:
                typer.echo(f"{source}: … {n - limit} more {code} finding(s) (--limit 0 shows all)")
        codes = ", ".join(f"{c} {n}" for c, n in sorted(by_code.items()))
        typer.echo(f"{len(series)} file(s), {rows} rows: {errors} error(s), {warnings} warning(s)"
                   + (f" ({codes})" if codes else ""))
    if errors:
        raise typer.Exit(1)


@data_app.command("list")
def list_bundled() -> None:
    """The bundled data files: symbol, frequency, price basis, rows, range, source; then the
    corporate-actions tables (splits, dividends) the as-traded (``raw``) daily set was built with."""
    from alluse.adapters import corporate_actions, marketdata

    for i in marketdata.available():
        typer.echo(f"{i.dataset:<10} {i.symbol:<6} {i.frequency:<5} {i.price_basis:<18} {i.rows:>6} rows  "
                   f"{i.first[:10]} … {i.last[:10]}  {i.source}")
    for t in corporate_actions.tables():
        typer.echo(f"{'table':<10} {t.file:<32} {t.rows:>6} rows  {t.source}")


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
