"""Database fixtures shared by tests/db, tests/services, tests/api and tests/relay.

``engine`` is parametrised over SQLite and PostgreSQL: every test that uses it runs on both.
Each test gets an empty, migrated database: a copy of a migrated SQLite file, or the
session's PostgreSQL database with every table truncated.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from leadcast.db import Base, make_engine, migrate
from tests.support.postgres import PostgresUnavailable, postgres_url, unavailable

__all__ = ["backend", "engine", "postgres_database", "postgres_engine", "sqlite_template"]

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database file, copied for each test."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str | PostgresUnavailable]:
    """A migrated PostgreSQL database for the session, or why there is none."""
    try:
        with postgres_url() as url:
            migrate(url)
            yield url
    except PostgresUnavailable as error:
        yield error


@pytest.fixture(scope="session")
def postgres_engine(
    postgres_database: str | PostgresUnavailable,
) -> Iterator[Engine | PostgresUnavailable]:
    """One engine (one connection pool) on the session's PostgreSQL database."""
    if isinstance(postgres_database, PostgresUnavailable):
        yield postgres_database
        return
    made = make_engine(postgres_database)
    try:
        yield made
    finally:
        made.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def engine(
    backend: str,
    tmp_path: Path,
    sqlite_template: Path,
    request: pytest.FixtureRequest,
) -> Iterator[Engine]:
    """An empty, migrated database of the parametrised backend."""
    if backend == "postgresql":
        found = request.getfixturevalue("postgres_engine")
        if isinstance(found, PostgresUnavailable):
            unavailable(str(found))
        assert isinstance(found, Engine)
        # DELETE is much faster than TRUNCATE on tables this small.
        with found.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(table.delete())
        yield found
        return
    path = tmp_path / "leadcast.db"
    shutil.copyfile(sqlite_template, path)
    made = make_engine(f"sqlite:///{path}")
    try:
        yield made
    finally:
        made.dispose()
