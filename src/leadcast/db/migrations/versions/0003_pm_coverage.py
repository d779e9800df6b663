"""PM coverage: one row per ZIP × property type a PM takes, the index distribution reads.

Finding a lead's candidates through ``pm_service_zips`` and ``pm_property_types`` reads every
PM serving the ZIP and every PM taking the type, then intersects them: the cost grows with
the busiest of the two (a common type is taken by most PMs). ``pm_coverage`` holds their
product, so one index range returns exactly the PMs that serve both.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pm_coverage",
        sa.Column("zip_code", sa.String(5), nullable=False),
        sa.Column("property_type", sa.String(40), nullable=False),
        sa.Column("pm_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pm_id"],
            ["pm_preferences.user_id"],
            name="fk_pm_coverage_pm_id_pm_preferences",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("zip_code", "property_type", "pm_id", name="pk_pm_coverage"),
    )
    op.create_index("ix_pm_coverage_pm_id", "pm_coverage", ["pm_id"])
    op.execute(
        "INSERT INTO pm_coverage (zip_code, property_type, pm_id) "
        "SELECT z.zip_code, t.property_type, z.pm_id "
        "FROM pm_service_zips AS z JOIN pm_property_types AS t ON t.pm_id = z.pm_id"
    )


def downgrade() -> None:
    op.drop_index("ix_pm_coverage_pm_id", table_name="pm_coverage")
    op.drop_table("pm_coverage")
