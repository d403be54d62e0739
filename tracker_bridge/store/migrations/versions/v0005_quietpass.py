"""reports.next_due_at and an index on event kinds: a quiet pass reads no report.

next_due_at is the next moment a report changes by time alone; report_events(kind, report_id)
finds the purges that still owe a note on their issue without reading every report's events.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import op

from tracker_bridge.store.types import UTCDateTime

if TYPE_CHECKING:
    from collections.abc import Sequence

revision: str = "0005_quietpass"
down_revision: str | None = "0004_identity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# ports.DUE_NOW, spelled out: a migration keeps the value it was written with.
_DUE_NOW = datetime(1970, 1, 1, tzinfo=UTC)


def upgrade() -> None:
    """Add reports.next_due_at and the indexes; every report is due at the next pass."""
    op.add_column("reports", sa.Column("next_due_at", UTCDateTime()))
    op.create_index("ix_reports_next_due_at", "reports", ["next_due_at"])
    op.create_index("ix_report_events_kind_report_id", "report_events", ["kind", "report_id"])
    reports = sa.table("reports", sa.column("next_due_at", UTCDateTime()))
    op.execute(reports.update().values(next_due_at=_DUE_NOW))


def downgrade() -> None:
    """Drop reports.next_due_at and both indexes."""
    op.drop_index("ix_report_events_kind_report_id", table_name="report_events")
    op.drop_index("ix_reports_next_due_at", table_name="reports")
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("next_due_at")
