"""drop the heal queue table: damage reports are healed from memory, and scrub finds what a crash lost

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import scalebox.core.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_table("objectstore_heal_queue")


def downgrade() -> None:
    op.create_table(
        "objectstore_heal_queue",
        sa.Column("data_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("queued_at", scalebox.core.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("data_id", "number", name=op.f("pk_objectstore_heal_queue")),
    )
