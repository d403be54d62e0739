"""The append-only audit log, and a mark on researchers whose contact details were erased."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import op

from tracker_bridge.store.types import UTCDateTime

if TYPE_CHECKING:
    from collections.abc import Sequence

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create audit_log and add researchers.removed_at."""
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("report_id", sa.String(40)),
        sa.Column("actor", sa.String(32), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_log_report_id_at", "audit_log", ["report_id", "at"])
    # A nullable column is added in place on SQLite too: no table rebuild needed.
    op.add_column("researchers", sa.Column("removed_at", UTCDateTime()))


def downgrade() -> None:
    """Drop audit_log and researchers.removed_at."""
    with op.batch_alter_table("researchers") as batch:
        batch.drop_column("removed_at")
    op.drop_table("audit_log")
