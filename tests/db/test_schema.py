"""The shipped migrations build exactly the models' schema; engines come from plain URLs."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from leadcast.db import (
    MIGRATIONS,
    Base,
    current_revision,
    head_revision,
    make_alembic_config,
    make_engine,
    migrate,
    normalise_url,
)


def test_migrations_produce_exactly_the_models_schema(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_the_database_is_at_the_head_revision(engine: Engine) -> None:
    assert head_revision() is not None
    assert current_revision(engine) == head_revision()


def test_migrating_again_changes_nothing(engine: Engine) -> None:
    migrate(engine)
    assert current_revision(engine) == head_revision()


def test_downgrade_to_base_and_back(engine: Engine) -> None:
    with engine.begin() as connection:
        config = make_alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate(engine)
    assert {t.name for t in Base.metadata.sorted_tables} <= set(inspect(engine).get_table_names())


def test_the_migrations_ship_inside_the_package() -> None:
    assert MIGRATIONS.is_dir()
    assert (MIGRATIONS / "env.py").is_file()
    assert any((MIGRATIONS / "versions").glob("0001_*.py"))
    assert "leadcast" in MIGRATIONS.parts and "src" in MIGRATIONS.parts


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO api_tokens (user_id, token_hash, created_at, expires_at) "
                "VALUES (2000000000, 'x', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("sqlite:///leadcast.db", "sqlite"),
        ("sqlite://", "sqlite"),
        ("postgresql://user@host/db", "postgresql+psycopg"),
        ("postgres://user:secret@host:5433/db", "postgresql+psycopg"),
        ("postgresql+psycopg://user@host/db", "postgresql+psycopg"),
    ],
)
def test_plain_urls_get_the_right_driver(url: str, driver: str) -> None:
    assert normalise_url(url).drivername == driver


def test_other_databases_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported database 'mysql'"):
        normalise_url("mysql://user@host/db")


def test_sqlite_uses_wal_and_foreign_keys(tmp_path: Path) -> None:
    made = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with made.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000
    finally:
        made.dispose()


def test_an_in_memory_sqlite_database_works() -> None:
    made = make_engine("sqlite://")
    try:
        with made.begin() as connection:
            assert connection.execute(text("SELECT 1")).scalar() == 1
    finally:
        made.dispose()


def test_times_are_stored_in_utc_and_come_back_aware(engine: Engine) -> None:
    from datetime import UTC, datetime, timedelta, timezone

    from sqlalchemy import select, update

    from leadcast.db.models import User
    from tests.support.factories import make_admin

    user = make_admin(engine)
    assert user.created_at.tzinfo is not None
    austin = datetime(2024, 11, 4, 4, 30, tzinfo=timezone(timedelta(hours=-6)))
    with engine.begin() as connection:
        connection.execute(update(User).values(created_at=austin))
        stored = connection.scalar(select(User.created_at))
    assert stored == datetime(2024, 11, 4, 10, 30, tzinfo=UTC)
    assert stored is not None and stored.utcoffset() == timedelta(0)


def test_naive_times_are_refused(engine: Engine) -> None:
    from datetime import datetime

    from sqlalchemy import update
    from sqlalchemy.exc import StatementError

    from leadcast.db.models import User

    with pytest.raises(StatementError, match="naive datetime"), engine.begin() as connection:
        connection.execute(update(User).values(created_at=datetime(2024, 1, 1)))


def test_0006_attributes_existing_leads_to_their_submitter(engine: Engine) -> None:
    """Leads stored before per-submitter keys keep their ids, now the submitter's own."""
    config = make_alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0005")
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO api_keys (id, name, key_hash, prefix, created_at) "
                    "VALUES (7, 'source', :hash, 'lck_x', CURRENT_TIMESTAMP)"
                ),
                {"hash": "0" * 64},
            )
            for unique_id, key_id in (("by-key", 7), ("by-admin", None)):
                connection.execute(
                    text(
                        "INSERT INTO leads (unique_id, request_hash, full_name, property_type, "
                        "city, state, zip_code, api_key_id, recipients, created_at) VALUES "
                        "(:u, 'h', 'N', 'residential', 'Austin', 'TX', '78701', :k, 0, "
                        "CURRENT_TIMESTAMP)"
                    ),
                    {"u": unique_id, "k": key_id},
                )
    finally:
        migrate(engine)
    with engine.connect() as connection:
        found = dict(connection.execute(text("SELECT unique_id, submitted_by FROM leads")).all())
    assert found == {"by-key": "key:7", "by-admin": "admin"}
