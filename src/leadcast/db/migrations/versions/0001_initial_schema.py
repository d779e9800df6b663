"""Initial schema: users, tokens, API keys, PM preferences, leads, distributions, inbox, outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(300), nullable=False),
        _time("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("email", name="uq_users_email"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        _time("created_at"),
        _time("expires_at"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_api_tokens_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        _time("created_at"),
        _time("revoked_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name="fk_api_keys_created_by_users", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )
    op.create_index("ix_api_keys_created_by", "api_keys", ["created_by"])
    op.create_table(
        "pm_preferences",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("min_units", sa.Integer(), nullable=True),
        sa.Column("max_units", sa.Integer(), nullable=True),
        sa.Column("daily_cap", sa.Integer(), nullable=True),
        sa.Column("max_open_leads", sa.Integer(), nullable=True),
        sa.Column("leads_today", sa.Integer(), nullable=False),
        sa.Column("counted_on", sa.Date(), nullable=True),
        sa.Column("open_leads", sa.Integer(), nullable=False),
        _time("last_assigned_at", nullable=True),
        _time("updated_at"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_pm_preferences_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name="pk_pm_preferences"),
    )
    op.create_table(
        "pm_service_zips",
        sa.Column("zip_code", sa.String(5), nullable=False),
        sa.Column("pm_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pm_id"],
            ["pm_preferences.user_id"],
            name="fk_pm_service_zips_pm_id_pm_preferences",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("zip_code", "pm_id", name="pk_pm_service_zips"),
    )
    op.create_index("ix_pm_service_zips_pm_id", "pm_service_zips", ["pm_id"])
    op.create_table(
        "pm_property_types",
        sa.Column("property_type", sa.String(40), nullable=False),
        sa.Column("pm_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pm_id"],
            ["pm_preferences.user_id"],
            name="fk_pm_property_types_pm_id_pm_preferences",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("property_type", "pm_id", name="pk_pm_property_types"),
    )
    op.create_index("ix_pm_property_types_pm_id", "pm_property_types", ["pm_id"])
    op.create_table(
        "leads",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("unique_id", sa.String(100), nullable=True),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("full_name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("phone", sa.String(40), nullable=True),
        sa.Column("property_type", sa.String(40), nullable=False),
        sa.Column("street_address", sa.String(200), nullable=True),
        sa.Column("city", sa.String(100), nullable=False),
        sa.Column("state", sa.String(50), nullable=False),
        sa.Column("zip_code", sa.String(10), nullable=False),
        sa.Column("number_of_units", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(50), nullable=True),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("recipients", sa.Integer(), nullable=False),
        _time("created_at"),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name="fk_leads_api_key_id_api_keys",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_leads"),
        sa.UniqueConstraint("idempotency_key", name="uq_leads_idempotency_key"),
        sa.UniqueConstraint("unique_id", name="uq_leads_unique_id"),
    )
    op.create_table(
        "distributions",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("lead_id", BIG_ID, nullable=False),
        sa.Column("pm_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("reasons", JSON, nullable=False),
        sa.Column("breakdown", JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _time("created_at"),
        _time("updated_at"),
        _time("viewed_at", nullable=True),
        _time("responded_at", nullable=True),
        _time("contacted_at", nullable=True),
        _time("closed_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], name="fk_distributions_lead_id_leads", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["pm_id"], ["users.id"], name="fk_distributions_pm_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_distributions"),
        sa.UniqueConstraint("lead_id", "pm_id", name="uq_distributions_lead_id_pm_id"),
    )
    op.create_index("ix_distributions_pm_id_id", "distributions", ["pm_id", "id"])
    op.create_table(
        "notifications",
        sa.Column("id", BIG_ID, autoincrement=False, nullable=False),
        sa.Column("pm_id", sa.Integer(), nullable=False),
        sa.Column("lead_id", BIG_ID, nullable=False),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("message", sa.String(500), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        _time("created_at"),
        _time("seen_at", nullable=True),
        _time("read_at", nullable=True),
        _time("cleared_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["id"],
            ["distributions.id"],
            name="fk_notifications_id_distributions",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], name="fk_notifications_lead_id_leads", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["pm_id"], ["users.id"], name="fk_notifications_pm_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
    )
    op.create_index("ix_notifications_pm_id_id", "notifications", ["pm_id", "id"])
    op.create_table(
        "outbox",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("event", sa.String(200), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        _time("created_at"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _time("next_attempt_at"),
        _time("sent_at", nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
    )
    op.create_index(
        "ix_outbox_pending",
        "outbox",
        ["next_attempt_at", "id"],
        postgresql_where=sa.text("sent_at IS NULL"),
        sqlite_where=sa.text("sent_at IS NULL"),
    )


def downgrade() -> None:
    for table in (
        "outbox",
        "notifications",
        "distributions",
        "leads",
        "pm_property_types",
        "pm_service_zips",
        "pm_preferences",
        "api_keys",
        "api_tokens",
        "users",
    ):
        op.drop_table(table)
