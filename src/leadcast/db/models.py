"""The database schema: SQLAlchemy 2 typed declarative models.

Tables::

    users            PMs and admins (scrypt password hashes)
    api_tokens       login tokens, stored as SHA-256 hashes
    api_keys         lead-source keys, stored as SHA-256 hashes
    pm_preferences   one row per PM: what they take, caps, and the running counters
                     (leads_today on counted_on, open_leads, last_assigned_at) that
                     distribution reads and updates under a row lock
    pm_service_zips  (zip_code, pm_id) and
    pm_property_types (property_type, pm_id): what each PM chose
    pm_coverage      (zip_code, property_type, pm_id), one row per ZIP × type a PM takes:
                     derived from the two above and written with them, it is the indexed
                     way from a lead to its candidates (reading only the PMs that serve
                     both the lead's ZIP and its type, however many serve either)
    leads            submitted leads, with the idempotency keys (unique per submitter: each
                     lead-source API key, and admins together) and a hash of the request
    distributions    one per lead × PM (UNIQUE), score, tier, reasons, status and timestamps
    notifications    the per-PM inbox, with seen/read/cleared timestamps; one per
                     distribution, sharing its id
    outbox           events to broadcast; the relay sends them and marks them sent, or
                     failed (dead letters) when it gives up

Times are stored in UTC and come back timezone-aware on every database (``UTCDateTime``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
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
    "UTCDateTime",
    "User",
]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# A 64-bit key on PostgreSQL; on SQLite it must be INTEGER to alias the rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned timezone-aware (UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        if dialect.name == "sqlite":
            return value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AlertSettings(Base):
    """How the dashboard alerts one user: sound, which tiers pop a toast, desktop alerts."""

    __tablename__ = "alert_settings"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    sound: Mapped[bool] = mapped_column(Boolean)
    toast_min_tier: Mapped[str] = mapped_column(String(16))
    desktop_notifications: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Indexed for the sweep that deletes expired tokens.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PMPreferences(Base):
    __tablename__ = "pm_preferences"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    active: Mapped[bool] = mapped_column(Boolean)
    min_units: Mapped[int | None] = mapped_column(Integer)
    max_units: Mapped[int | None] = mapped_column(Integer)
    daily_cap: Mapped[int | None] = mapped_column(Integer)
    max_open_leads: Mapped[int | None] = mapped_column(Integer)
    leads_today: Mapped[int] = mapped_column(Integer)
    counted_on: Mapped[date | None] = mapped_column(Date)
    open_leads: Mapped[int] = mapped_column(Integer)
    last_assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PMPropertyType(Base):
    __tablename__ = "pm_property_types"

    property_type: Mapped[str] = mapped_column(String(40), primary_key=True)
    pm_id: Mapped[int] = mapped_column(
        ForeignKey("pm_preferences.user_id", ondelete="CASCADE"), primary_key=True, index=True
    )


class PMServiceZip(Base):
    __tablename__ = "pm_service_zips"

    zip_code: Mapped[str] = mapped_column(String(5), primary_key=True)
    pm_id: Mapped[int] = mapped_column(
        ForeignKey("pm_preferences.user_id", ondelete="CASCADE"), primary_key=True, index=True
    )


class PMCoverage(Base):
    __tablename__ = "pm_coverage"

    zip_code: Mapped[str] = mapped_column(String(5), primary_key=True)
    property_type: Mapped[str] = mapped_column(String(40), primary_key=True)
    pm_id: Mapped[int] = mapped_column(
        ForeignKey("pm_preferences.user_id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Lead(Base):
    __tablename__ = "leads"
    # A source's own ids and its retries' keys are its own: unique per submitter.
    __table_args__ = (
        UniqueConstraint("submitted_by", "unique_id"),
        UniqueConstraint("submitted_by", "idempotency_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # "key:{api_key_id}" for a lead-source API key, "admin" for an admin's token.
    submitted_by: Mapped[str] = mapped_column(String(40))
    unique_id: Mapped[str | None] = mapped_column(String(100))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    full_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    property_type: Mapped[str] = mapped_column(String(40))
    street_address: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(50))
    zip_code: Mapped[str] = mapped_column(String(10))
    number_of_units: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str | None] = mapped_column(String(50))
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    recipients: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Distribution(Base):
    __tablename__ = "distributions"
    __table_args__ = (
        UniqueConstraint("lead_id", "pm_id"),
        Index(None, "pm_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    pm_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    score: Mapped[int] = mapped_column(Integer)
    tier: Mapped[str] = mapped_column(String(16))
    reasons: Mapped[list[str]] = mapped_column(Json)
    breakdown: Mapped[list[dict[str, Any]]] = mapped_column(Json)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    viewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    contacted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class NotificationRow(Base):
    """One inbox item per distribution; its id *is* the distribution's id."""

    __tablename__ = "notifications"
    __table_args__ = (Index(None, "pm_id", "id"),)

    id: Mapped[int] = mapped_column(
        BigId,
        ForeignKey("distributions.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    )
    pm_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    tier: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(String(500))
    priority: Mapped[str] = mapped_column(String(16))
    payload: Mapped[str] = mapped_column(Text)  # the broadcast's JSON text, as sent
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxMessage(Base):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(200))
    event: Mapped[str] = mapped_column(String(200))
    data: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    # Dead letters: set when the relay gives up (a non-retryable answer, or retrying for
    # too long); cleared by ``leadcast outbox retry``, which also sets ``requeued_at``, the
    # start of the row's next give-up window (the first is from ``created_at``).
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    requeued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# The relay's claim query: pending rows by due time. Partial, so sent and failed rows cost
# nothing.
_PENDING = OutboxMessage.sent_at.is_(None) & OutboxMessage.failed_at.is_(None)
Index(
    "ix_outbox_pending",
    OutboxMessage.next_attempt_at,
    OutboxMessage.id,
    postgresql_where=_PENDING,
    sqlite_where=_PENDING,
)
# `leadcast outbox status` and `retry --all-failed`: the failed rows, newest first.
_FAILED = OutboxMessage.failed_at.is_not(None)
Index(
    "ix_outbox_failed",
    OutboxMessage.failed_at,
    OutboxMessage.id,
    postgresql_where=_FAILED,
    sqlite_where=_FAILED,
)
