"""Programmatic Alembic: upgrade a database to the newest schema shipped in the package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from leadcast.db.engine import make_engine

__all__ = ["MIGRATIONS", "current_revision", "head_revision", "make_alembic_config", "migrate"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
"""The migration scripts, shipped inside the package."""


def make_alembic_config(url: str | URL | None = None) -> Config:
    """An Alembic configuration for the shipped migrations (no ``alembic.ini`` needed).

    Args:
        url: the database, for running Alembic commands that connect on their own.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    if url is not None:
        text = url.render_as_string(hide_password=False) if isinstance(url, URL) else url
        config.set_main_option("sqlalchemy.url", text.replace("%", "%%"))
    return config


def migrate(target: str | URL | Engine, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` (the newest by default), in one transaction.

    Args:
        target: a database URL (an engine is made and disposed of) or an engine to use.
        revision: Alembic revision to upgrade to.
    """
    engine = make_engine(target) if isinstance(target, str | URL) else target
    try:
        with engine.begin() as connection:
            config = make_alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        if engine is not target:
            engine.dispose()


def head_revision() -> str | None:
    """The newest revision shipped in the package."""
    return ScriptDirectory.from_config(make_alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, ``None`` for a database never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
