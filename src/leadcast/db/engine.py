"""Engines from plain database URLs, and the SQLite settings that make it a fair default.

``make_engine`` takes the URLs people write (``sqlite:///leadcast.db``,
``postgresql://user@host/db``, ``postgres://…``) and picks the driver: the standard
library's ``sqlite3``, or psycopg 3 for PostgreSQL.

SQLite connections get WAL (readers never block the writer), foreign keys, a busy timeout,
and explicit transaction control: pysqlite's own implicit ``BEGIN`` comes only before the
first write, so a read-then-write transaction would not be isolated. Here every transaction
starts with ``BEGIN``, and a connection with the execution option
``sqlite_begin="IMMEDIATE"`` takes the write lock up front, which is how distribution keeps
daily caps exact on SQLite (PostgreSQL uses row locks, ``FOR UPDATE``).

An in-memory SQLite database (``sqlite://``) exists only inside the connection that made it,
so SQLAlchemy's default for it (one connection per thread) gives every worker thread its own
empty database: migrations applied in one thread are missing in the next. Here the whole
engine shares one connection instead, made usable from any thread, and lent to one user at a
time (a queue pool of size one): a second thread waits for the first to give it back, so
transactions never interleave on it. (A ``StaticPool`` would share the connection without
that turn-taking, and two threads' ``BEGIN`` would collide.) The database lives until the
engine is disposed of; everything, migrations included, must go through that one engine.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool

__all__ = ["SQLITE_BEGIN", "is_postgresql", "make_engine", "normalise_url"]

SQLITE_BEGIN = "sqlite_begin"
"""Execution option: ``"IMMEDIATE"`` starts SQLite transactions with the write lock."""

_BUSY_TIMEOUT_MS = 10_000


def normalise_url(url: str | URL) -> URL:
    """Return ``url`` with the driver leadcast uses.

    ``postgres://`` and ``postgresql://`` become ``postgresql+psycopg://``; ``sqlite://``
    stays on the standard library driver. Other drivers given explicitly are kept.

    Raises:
        ValueError: the URL is not SQLite or PostgreSQL.
    """
    parsed = make_url(url) if isinstance(url, str) else url
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgres", "postgresql"):
        return parsed.set(drivername=f"postgresql+{driver or 'psycopg'}")
    if backend == "sqlite":
        return parsed
    raise ValueError(
        f"unsupported database {backend!r}: use sqlite:///path.db or postgresql://user@host/db"
    )


def is_postgresql(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "postgresql"


def make_engine(url: str | URL, **options: Any) -> Engine:
    """Create an engine for a plain URL, with leadcast's connection settings.

    Args:
        url: ``sqlite:///path.db``, ``sqlite://`` (memory: one connection shared by every
            thread in turn), ``postgresql://user@host/db``.
        **options: passed to :func:`sqlalchemy.create_engine` (e.g. ``pool_size``).

    Returns:
        The engine; the caller disposes of it.
    """
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "postgresql":
        if "poolclass" not in options:
            options.setdefault("pool_size", 10)
            options.setdefault("max_overflow", 20)
        return create_engine(parsed, **options)
    memory = parsed.database in (None, "", ":memory:")
    if memory and "poolclass" not in options:
        # One shared connection, one user at a time (see the module docstring).
        options.update(poolclass=QueuePool, pool_size=1, max_overflow=0)
        options["connect_args"] = {**options.get("connect_args", {}), "check_same_thread": False}
    engine = create_engine(parsed, **options)
    _configure_sqlite(engine, wal=not memory)
    return engine


def _configure_sqlite(engine: Engine, *, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        # Autocommit at the driver level: the "begin" hook below issues BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if wal:
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")
