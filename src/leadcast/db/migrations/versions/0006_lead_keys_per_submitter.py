"""Lead idempotency per submitter: a source's ``unique_id`` and ``Idempotency-Key`` are its own.

Both were unique across every lead, so a second lead source reusing an id the first had sent
(its own ``1234``) got a conflict, or the first source's lead back. ``submitted_by`` names the
submitter (``key:{api_key_id}`` for a lead-source API key, ``admin`` for an admin's token) and
the two keys are unique per submitter. Existing leads are attributed from ``api_key_id``.

Downgrading restores the global constraints, which fails if two submitters now share a key.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("leads") as table:
        table.add_column(sa.Column("submitted_by", sa.String(40), nullable=True))
    op.execute(
        "UPDATE leads SET submitted_by = CASE WHEN api_key_id IS NULL THEN 'admin' "
        "ELSE 'key:' || CAST(api_key_id AS VARCHAR(20)) END"
    )
    with op.batch_alter_table("leads") as table:
        table.alter_column("submitted_by", existing_type=sa.String(40), nullable=False)
        table.drop_constraint("uq_leads_unique_id", type_="unique")
        table.drop_constraint("uq_leads_idempotency_key", type_="unique")
        table.create_unique_constraint(
            "uq_leads_submitted_by_unique_id", ["submitted_by", "unique_id"]
        )
        table.create_unique_constraint(
            "uq_leads_submitted_by_idempotency_key", ["submitted_by", "idempotency_key"]
        )


def downgrade() -> None:
    with op.batch_alter_table("leads") as table:
        table.drop_constraint("uq_leads_submitted_by_idempotency_key", type_="unique")
        table.drop_constraint("uq_leads_submitted_by_unique_id", type_="unique")
        table.create_unique_constraint("uq_leads_idempotency_key", ["idempotency_key"])
        table.create_unique_constraint("uq_leads_unique_id", ["unique_id"])
        table.drop_column("submitted_by")
