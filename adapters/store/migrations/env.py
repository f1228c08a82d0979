"""Alembic environment for the alluse store.

`Store.open` runs `upgrade head` programmatically and hands its own connection (already inside a
transaction, with the SQLite pragmas set and foreign keys off until the commit's check) through
`config.attributes["connection"]`. For
developers, `alembic -c alembic.ini -x url=sqlite:///alluse.db revision --autogenerate -m "…"`
works too; alembic.ini holds no URL on purpose (URLs may carry passwords).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from alluse.adapters.store.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
        user_module_prefix="alluse.adapters.store.types.",
    )


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    # Command-line use: build the engine the way the store does (pragmas, BEGIN handling).
    from alluse.adapters.store.store import check_foreign_keys, foreign_keys_checked_at_commit, make_engine

    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("give the database URL: alembic -x url=sqlite:///alluse.db …")
    engine = make_engine(url)
    try:
        with engine.connect() as conn, foreign_keys_checked_at_commit(conn):
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
                check_foreign_keys(conn)
            conn.commit()
    finally:
        engine.dispose()


def run_migrations_offline() -> None:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
