"""Privacy: retention purges, a researcher's access and erasure requests, and the audit trail.

One service over three modules: ``services.retention`` (purges after a report closes),
``services.subject_requests`` (``export`` and ``forget``) and ``services.audit`` (the audit
log and the audited tracker). The names they export are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tracker_bridge.services.audit import AuditedTracker, audit_json, message_reference
from tracker_bridge.services.retention import (
    CLOSED_STATES,
    PurgeResult,
    RetentionPolicy,
    closed_since,
    retention_moments,
)
from tracker_bridge.services.subject_requests import ForgetResult, SubjectRequests

if TYPE_CHECKING:
    from tracker_bridge.ports.privacy import AuditEntry

__all__ = [
    "CLOSED_STATES",
    "AuditedTracker",
    "ForgetResult",
    "Privacy",
    "PurgeResult",
    "RetentionPolicy",
    "audit_json",
    "closed_since",
    "message_reference",
    "retention_moments",
]


@dataclass
class Privacy(SubjectRequests):
    """Retention, access and erasure over the store, the mailbox archives and the tracker.

    Args:
        unit_of_work: opens a transaction on the store.
        clock: where "now" comes from.
        retention: the program's retention periods.
        local_date: the program's calendar date of a moment (what the tracker note says).
        tracker: where notes go; None leaves them owed until a tracker is given.
        archives: Processed/Quarantine folders holding settled copies of the mail.
        keyring: the bridge keyring; ``forget`` removes the researcher's key from it.
        page_size: closed reports read per page.
        regulatory: the program's legal clocks (``[regulatory]``); their moments are kept too.
        tz: the program's time zone (a legal month period ends at its local midnight).
    """

    def audit(self, report_id: str | None = None) -> list[AuditEntry]:
        """The audit log (of one report when given), oldest first."""
        with self.unit_of_work() as uow:
            return uow.audit.entries(report_id)
