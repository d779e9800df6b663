"""Persistence: the schema, engines from plain URLs, and the shipped migrations."""

from leadcast.db.engine import SQLITE_BEGIN, is_postgresql, make_engine, normalise_url
from leadcast.db.migrate import (
    MIGRATIONS,
    current_revision,
    head_revision,
    make_alembic_config,
    migrate,
)
from leadcast.db.models import (
    AlertSettings,
    ApiKey,
    ApiToken,
    Base,
    Distribution,
    Lead,
    NotificationRow,
    OutboxMessage,
    PMCoverage,
    PMPreferences,
    PMPropertyType,
    PMServiceZip,
    User,
)

__all__ = [
    "MIGRATIONS",
    "SQLITE_BEGIN",
    "AlertSettings",
    "ApiKey",
    "ApiToken",
    "Base",
    "Distribution",
    "Lead",
    "NotificationRow",
    "OutboxMessage",
    "PMCoverage",
    "PMPreferences",
    "PMPropertyType",
    "PMServiceZip",
    "User",
    "current_revision",
    "head_revision",
    "is_postgresql",
    "make_alembic_config",
    "make_engine",
    "migrate",
    "normalise_url",
]
