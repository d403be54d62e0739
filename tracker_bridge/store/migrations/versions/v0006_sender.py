"""raw_messages.ciphertext_digest: recognise a ciphertext the bridge has decrypted before."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import op

if TYPE_CHECKING:
    from collections.abc import Sequence

revision: str = "0006_sender"
down_revision: str | None = "0005_quietpass"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add raw_messages.ciphertext_digest and its index (a nullable column: no rebuild)."""
    op.add_column("raw_messages", sa.Column("ciphertext_digest", sa.String(64)))
    op.create_index(
        "ix_raw_messages_ciphertext_digest_received_at",
        "raw_messages",
        ["ciphertext_digest", "received_at"],
    )


def downgrade() -> None:
    """Drop raw_messages.ciphertext_digest."""
    op.drop_index("ix_raw_messages_ciphertext_digest_received_at", table_name="raw_messages")
    with op.batch_alter_table("raw_messages") as batch:
        batch.drop_column("ciphertext_digest")
