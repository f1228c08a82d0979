"""Fixtures for the adapters: a store URL (and an open Store) on SQLite and on PostgreSQL.

The PostgreSQL URL comes from ALLUSE_TEST_POSTGRES_URL (default: the local server, database
`test`); those tests skip when no server answers. Each test gets its own schema, selected
through the URL (`options=-csearch_path=…`), and the schema is dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import URL, create_engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from alluse.adapters.store import Store

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
_pg_answer: dict[str, str | None] = {}


def _postgres_url() -> URL:
    return make_url(os.environ.get("ALLUSE_TEST_POSTGRES_URL", DEFAULT_PG_URL))


def _postgres_unavailable(url: URL) -> str | None:
    """Why the server cannot be used (None if it can); asked once per session."""
    key = url.render_as_string(hide_password=True)
    if key not in _pg_answer:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            _pg_answer[key] = None
        except (SQLAlchemyError, ImportError) as exc:
            _pg_answer[key] = f"no PostgreSQL at {key}: {str(exc).splitlines()[0]}"
        finally:
            engine.dispose()
    return _pg_answer[key]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh, empty schema (dropped afterwards)."""
    base = _postgres_url()
    reason = _postgres_unavailable(base)
    if reason:
        pytest.skip(reason)
    schema = f"alluse_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        yield base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'alluse.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest) -> str:
    """A URL to an empty database, once per backend."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A Store opened (migrated) on an empty database, once per backend."""
    opened = Store.open(store_url)
    yield opened
    opened.close()
