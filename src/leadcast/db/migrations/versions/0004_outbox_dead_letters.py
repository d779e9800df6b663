"""Outbox dead letters: rows the relay gave up on are marked failed instead of retried for ever.

``failed_at`` is set when the Pusher HTTP API refuses a row for good (a 4xx that names the event,
such as 400 or 413) or when retrying has gone on longer than ``LEADCAST_RELAY_GIVE_UP_AFTER``;
``leadcast outbox retry`` clears it and sets ``requeued_at``, from which the next give-up
window counts. The pending index leaves failed rows out, and a small partial index finds them.

Downgrading drops both columns: failed rows become pending again, and the older relay
retries them for ever, as it did.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = "sent_at IS NULL AND failed_at IS NULL"
FAILED = "failed_at IS NOT NULL"


def upgrade() -> None:
    op.drop_index("ix_outbox_pending", table_name="outbox")
    with op.batch_alter_table("outbox") as table:
        table.add_column(sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("requeued_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_outbox_pending",
        "outbox",
        ["next_attempt_at", "id"],
        postgresql_where=sa.text(PENDING),
        sqlite_where=sa.text(PENDING),
    )
    op.create_index(
        "ix_outbox_failed",
        "outbox",
        ["failed_at", "id"],
        postgresql_where=sa.text(FAILED),
        sqlite_where=sa.text(FAILED),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_failed", table_name="outbox")
    op.drop_index("ix_outbox_pending", table_name="outbox")
    with op.batch_alter_table("outbox") as table:
        table.drop_column("requeued_at")
        table.drop_column("failed_at")
    op.create_index(
        "ix_outbox_pending",
        "outbox",
        ["next_attempt_at", "id"],
        postgresql_where=sa.text("sent_at IS NULL"),
        sqlite_where=sa.text("sent_at IS NULL"),
    )
