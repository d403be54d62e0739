"""The audit trail: every tracker write on record, and audit entries as JSON.

``AuditedTracker`` wraps the tracker so each write (open, update, note, erasure) and its
outcome land in the audit log, never the text; ``message_reference`` names a Message-ID there
by a digest, since ids may carry the sender's address.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, ClassVar

from tracker_bridge.domain.message_ids import normalise_message_id
from tracker_bridge.errors import BridgeError
from tracker_bridge.ports.privacy import AuditEntry

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from datetime import datetime

    from tracker_bridge.ports.clock import Clock
    from tracker_bridge.ports.tracker import (
        IssueDraft,
        IssueRef,
        IssueSnapshot,
        IssueUpdate,
        TextErasure,
        Tracker,
    )
    from tracker_bridge.ports.unit_of_work import UnitOfWork

__all__ = ["AuditedTracker", "audit_json", "issue_name", "message_reference", "read_audit"]


def message_reference(message_id: str) -> str:
    """A short digest of a Message-ID for the audit log (their ids may carry their address)."""
    normalised = normalise_message_id(message_id)
    digest = hashlib.sha256(normalised.encode()).hexdigest()
    return f"message-id sha256:{digest[:16]}"


def _audit_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "at": entry.at.isoformat(),
        "report_id": entry.report_id,
        "actor": entry.actor,
        "action": entry.action,
        "outcome": entry.outcome,
        "detail": entry.detail,
    }


def read_audit(
    unit_of_work: Callable[[], UnitOfWork], report_id: str | None = None
) -> list[AuditEntry]:
    """The audit log (of one report when given), oldest first."""
    with unit_of_work() as uow:
        return uow.audit.entries(report_id)


def audit_json(entries: Sequence[AuditEntry]) -> list[dict[str, Any]]:
    """Audit entries as JSON-ready dictionaries."""
    return [_audit_json(e) for e in entries]


# ---------------------------------------------------------------------------- audited tracker


class AuditedTracker:
    """A Tracker that records every write (open, update, note) and its outcome in the audit log.

    Reads pass through unrecorded. The entry is written in its own transaction after the call,
    so a write that reached the tracker is on record even when the caller's work rolls back.

    Every method raises what the wrapped tracker raises (``ports.tracker.Tracker``), after a
    failed write is recorded; recording itself raises the store's ``RetriableError`` or
    ``FatalError``.
    """

    kind: ClassVar[str] = "audited"

    def __init__(
        self,
        inner: Tracker,
        unit_of_work: Callable[[], UnitOfWork],
        clock: Clock,
        actor: str = "tracker-bridge",
    ) -> None:
        self.inner = inner
        self.actor = actor
        self._unit_of_work = unit_of_work
        self._clock = clock

    def open_issue(self, draft: IssueDraft) -> IssueRef:
        """Open the issue and record it (the key, never the text)."""
        try:
            ref = self.inner.open_issue(draft)
        except BridgeError as err:
            self._record("open_issue", draft.report_id, f"error:{type(err).__name__}", "")
            raise
        self._record("open_issue", draft.report_id, "ok", issue_name(ref))
        return ref

    def find_issue(self, report_id: str) -> IssueRef | None:
        """Read only: not recorded."""
        return self.inner.find_issue(report_id)

    def update_issue(self, ref: IssueRef, update: IssueUpdate) -> None:
        """Change labels/due date and record which labels moved."""
        moved = " ".join(
            [f"+{label}" for label in sorted(update.add_labels)]
            + [f"-{label}" for label in sorted(update.remove_labels)]
            + ([f"due={update.due_date}"] if update.set_due_date else [])
        )
        try:
            self.inner.update_issue(ref, update)
        except BridgeError as err:
            self._record("update_issue", self._report_of(ref), f"error:{type(err).__name__}", "")
            raise
        self._record(
            "update_issue", self._report_of(ref), "ok", f"{issue_name(ref)} {moved}".strip()
        )

    def add_note(self, ref: IssueRef, text: str, *, untrusted: str | None = None) -> None:
        """Add the note and record that one was added (never its text)."""
        try:
            self.inner.add_note(ref, text, untrusted=untrusted)
        except BridgeError as err:
            self._record("add_note", self._report_of(ref), f"error:{type(err).__name__}", "")
            raise
        self._record("add_note", self._report_of(ref), "ok", issue_name(ref))

    def changes_since(self, since: datetime | None) -> Iterator[IssueSnapshot]:
        """Read only: not recorded."""
        return self.inner.changes_since(since)

    def erase_bridge_text(self, ref: IssueRef, erasure: TextErasure) -> int:
        """Erase text on the issue and record how many texts changed (never the words)."""
        try:
            changed = self.inner.erase_bridge_text(ref, erasure)
        except BridgeError as err:
            self._record(
                "erase_bridge_text", self._report_of(ref), f"error:{type(err).__name__}", ""
            )
            raise
        self._record(
            "erase_bridge_text",
            self._report_of(ref),
            "ok",
            f"{issue_name(ref)}: {changed} text(s) rewritten",
        )
        return changed

    def _report_of(self, ref: IssueRef) -> str | None:
        with self._unit_of_work() as uow:
            return uow.links.report_for(ref.tracker, ref.project, ref.key)

    def _record(self, action: str, report_id: str | None, outcome: str, detail: str) -> None:
        with self._unit_of_work() as uow:
            uow.audit.record(
                AuditEntry(self._clock.now(), self.actor, action, outcome, report_id, detail)
            )
            uow.commit()


def issue_name(ref: IssueRef) -> str:
    """How the audit log names an issue: ``<tracker> <project> <key>``."""
    return f"{ref.tracker} {ref.project} {ref.key}"
