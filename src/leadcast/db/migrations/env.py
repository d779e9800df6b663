"""Alembic environment: runs on the connection ``leadcast.db.migrate`` hands over.

Run from the ``alembic`` command line instead (``make_alembic_config(url)``), it connects
with ``sqlalchemy.url`` through :func:`leadcast.db.engine.make_engine`.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from leadcast.db.engine import make_engine
from leadcast.db.models import Base


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if isinstance(connection, Connection):
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection given and no sqlalchemy.url configured")
    engine = make_engine(url)
    try:
        with engine.begin() as own:
            _run(own)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported; run them on a database")
_main()
