"""Programs, researchers, reports with history and content, and report id counters."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import op

from tracker_bridge.store.types import UTCDateTime

if TYPE_CHECKING:
    from collections.abc import Sequence

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REPORT_ID = sa.String(40)


def _report_fk() -> sa.ForeignKey:
    return sa.ForeignKey("reports.report_id", ondelete="CASCADE")


def upgrade() -> None:
    """Create the report tables."""
    op.create_table(
        "programs",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "researchers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("email_key", sa.String(320), nullable=False, unique=True),
        sa.Column("display_name", sa.Text),
        sa.Column("pseudonym", sa.Text),
        sa.Column("fingerprint", sa.String(64)),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("credit_wish", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "report_id_counters",
        sa.Column("prefix", sa.String(16), primary_key=True),
        sa.Column("year", sa.Integer, primary_key=True),
        sa.Column("last_sequence", sa.Integer, nullable=False),
    )
    op.create_table(
        "reports",
        sa.Column("report_id", REPORT_ID, primary_key=True),
        sa.Column("program", sa.String(100), sa.ForeignKey("programs.name"), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("cvss_vector", sa.Text),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("expected_fix_date", UTCDateTime()),
        sa.Column("last_researcher_update_at", UTCDateTime()),
        sa.Column(
            "researcher_id", sa.Integer, sa.ForeignKey("researchers.id", ondelete="SET NULL")
        ),
    )
    op.create_index("ix_reports_state_received_at", "reports", ["state", "received_at"])
    op.create_table(
        "report_history",
        sa.Column("report_id", REPORT_ID, _report_fk(), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("target", sa.String(32), nullable=False),
    )
    op.create_table(
        "report_contents",
        sa.Column("report_id", REPORT_ID, _report_fk(), primary_key=True),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("encrypted", sa.Boolean, nullable=False),
        sa.Column("signature_status", sa.String(16), nullable=False),
        sa.Column("signature_fingerprint", sa.String(64)),
        sa.Column("unencrypted_parts", sa.JSON, nullable=False),
    )
    op.create_table(
        "attachments",
        sa.Column("report_id", REPORT_ID, _report_fk(), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("filename", sa.Text, nullable=False),
        sa.Column("content_type", sa.String(255), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    """Drop the report tables."""
    for table in (
        "attachments",
        "report_contents",
        "report_history",
        "reports",
        "report_id_counters",
        "researchers",
        "programs",
    ):
        op.drop_table(table)
