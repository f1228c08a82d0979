"""What the commands reading a store share: --db, --run, --format, and how they fail.

A command opens the store named by `--db` (else ALLUSE_DB_URL), works on the run named by `--run`
(else the most recent one) and prints text (Rich tables) or one JSON document. Bad input — an
unknown run, a database that is not there or does not answer, a bad option value — is one line
on stderr and exit 2, never a traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console

if TYPE_CHECKING:  # the store is imported when a command runs, not at CLI start
    from alluse.adapters.store import RunState, Store


class Fmt(StrEnum):
    text = "text"
    json = "json"


DbOpt = Annotated[str | None, typer.Option(
    "--db", help="Store URL (default ALLUSE_DB_URL, else sqlite:///alluse.db)", show_default=False)]
RunOpt = Annotated[str | None, typer.Option(
    "--run", help="Run id (default: the most recent run in the store)", show_default=False)]
FmtOpt = Annotated[Fmt, typer.Option("--format", help="text or json")]


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _store_url(db: str | None) -> str:
    from alluse.settings import SettingsError, load_settings

    if db is not None:
        url = db
    else:
        try:
            url = load_settings().db_url
        except SettingsError as exc:
            fail(str(exc))
    if url.strip().lower() == "none":
        fail("--db none: this command reads a store; give its URL")
    return url


def _missing_sqlite_file(url: str) -> str | None:
    """The path of a SQLite database file that is not there (opening it would create it)."""
    from sqlalchemy import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return None  # Store.open says what is wrong with the URL
    path = parsed.database
    if parsed.get_backend_name() != "sqlite" or not path or path == ":memory:" or path.startswith("file:"):
        return None
    return None if Path(path).is_file() else path


@contextmanager
def opened_store(db: str | None) -> Iterator[Store]:
    """The store at `--db`, open (and migrated) for the command; any store failure is exit 2."""
    from alluse.adapters.store import Store, redact
    from alluse.engine.errors import StoreError

    url = _store_url(db)
    missing = _missing_sqlite_file(url)
    if missing is not None:
        fail(f"--db: no database at {missing} ({redact(url)})")
    try:
        store = Store.open(url)
    except StoreError as exc:
        fail(str(exc))
    try:
        yield store
    except StoreError as exc:
        fail(str(exc))
    finally:
        store.close()


def pick_run(store: Store, run_id: str | None) -> RunState:
    """The run `--run` names, else the most recent one; exit 2 when there is none."""
    if run_id is None:
        runs = store.runs()
        if not runs:
            fail(f"no runs in {store.url}: `alluse replay --db …` or `alluse run --db …` writes one")
        return runs[-1]
    run = store.run(run_id)
    if run is None:
        recent = [r.run_id for r in store.runs()][-5:]
        known = f" (most recent: {', '.join(reversed(recent))})" if recent else " (the store has no runs)"
        fail(f"--run: no run {run_id!r} in {store.url}{known}")
    return run


def parse_instant(value: str, option: str) -> dt.datetime:
    """An ISO 8601 date or date-time; without an offset it is taken in UTC."""
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        fail(f"{option}: {value!r} is not a date or date-time (ISO 8601, e.g. 2024-04-04 or "
             "2024-04-04T14:00:00-04:00)")
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def when(ts: dt.datetime | None) -> str:
    """An instant for a table cell: UTC, to the second."""
    return "—" if ts is None else ts.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def print_json(document: Any) -> None:
    typer.echo(json.dumps(document, default=_jsonable, sort_keys=True))


def console() -> Console:
    """Rich output on stdout; a fixed width when it is not a terminal (pipes, tests). No markup:
    titles and reasons come from the store and may hold brackets."""
    return Console(highlight=False, markup=False, width=None if sys.stdout.isatty() else 140)
