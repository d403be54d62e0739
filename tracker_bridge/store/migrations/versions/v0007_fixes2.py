"""seen_ciphertexts: ciphertext digests outlive purge and erasure, so replays stay recognised."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import op

from tracker_bridge.store.types import UTCDateTime

if TYPE_CHECKING:
    from collections.abc import Sequence

revision: str = "0007_fixes2"
down_revision: str | None = "0006_sender"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create seen_ciphertexts (digest, report, first seen)."""
    op.create_table(
        "seen_ciphertexts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ciphertext_digest", sa.String(64), nullable=False),
        sa.Column(
            "report_id",
            sa.String(40),
            sa.ForeignKey("reports.report_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("ciphertext_digest", "report_id"),
    )


def downgrade() -> None:
    """Drop seen_ciphertexts."""
    op.drop_table("seen_ciphertexts")
