"""The store's identity: a random store id, written into every tracker marker it makes."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import op

if TYPE_CHECKING:
    from collections.abc import Sequence

revision: str = "0004_identity"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create store_meta and give this store its id (an existing store gets one too)."""
    meta = op.create_table(
        "store_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    # 16 hex digits: short enough for a tracker label, far too many to collide by chance.
    op.bulk_insert(meta, [{"key": "store_id", "value": secrets.token_hex(8)}])


def downgrade() -> None:
    """Drop store_meta (the store id is lost; markers made with it stay in the tracker)."""
    op.drop_table("store_meta")
