"""Raw messages and the threading index, tracker links, sync bookmarks, outbox, report events."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import op

from tracker_bridge.store.types import UTCDateTime

if TYPE_CHECKING:
    from collections.abc import Sequence

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REPORT_ID = sa.String(40)
MESSAGE_ID = sa.String(998)


def upgrade() -> None:
    """Create the mail, tracker and outbox tables."""
    op.create_table(
        "raw_messages",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("message_id", MESSAGE_ID, nullable=False),
        sa.Column("digest", sa.String(128), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("encrypted_raw", sa.LargeBinary, nullable=False),
        sa.Column("report_id", REPORT_ID, sa.ForeignKey("reports.report_id", ondelete="SET NULL")),
        sa.Column("source", sa.String(255), nullable=False),
        sa.UniqueConstraint("message_id", "digest"),
    )
    op.create_table(
        "message_ids",
        sa.Column("message_id", MESSAGE_ID, primary_key=True),
        sa.Column(
            "report_id",
            REPORT_ID,
            sa.ForeignKey("reports.report_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("direction", sa.String(16), nullable=False),
    )
    op.create_table(
        "tracker_links",
        sa.Column(
            "report_id",
            REPORT_ID,
            sa.ForeignKey("reports.report_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("tracker", sa.String(32), nullable=False),
        sa.Column("project", sa.String(255), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.UniqueConstraint("tracker", "project", "key"),
    )
    op.create_table(
        "sync_bookmarks",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("value", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("outbox_id", sa.String(64), nullable=False, unique=True),
        sa.Column(
            "report_id",
            REPORT_ID,
            sa.ForeignKey("reports.report_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("template", sa.String(255), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("message_id", MESSAGE_ID, nullable=False),
        sa.Column("dedupe_key", sa.String(255), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime()),
        sa.Column("sent_at", UTCDateTime()),
        sa.Column("last_error", sa.Text),
    )
    op.create_index("ix_outbox_status_next_attempt_at", "outbox", ["status", "next_attempt_at"])
    op.create_table(
        "report_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "report_id",
            REPORT_ID,
            sa.ForeignKey("reports.report_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("dedupe_key", sa.String(255), unique=True),
    )
    op.create_index("ix_report_events_report_id", "report_events", ["report_id"])


def downgrade() -> None:
    """Drop the mail, tracker and outbox tables."""
    for table in ("report_events", "outbox", "sync_bookmarks", "tracker_links", "message_ids"):
        op.drop_table(table)
    op.drop_table("raw_messages")
