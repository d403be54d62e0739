"""A researcher's data subject requests: access (``export``) and erasure (``forget``).

An erasure request also erases, in the text the bridge wrote on the issue, the researcher's
name, address and key fingerprint and the replies it copied there, and removes their key from
the bridge keyring. Their reports stay, pseudonymised. Running ``forget`` again after an
interruption finishes the job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tracker_bridge.errors import BridgeError, NotFoundError
from tracker_bridge.ports.privacy import AuditEntry
from tracker_bridge.ports.tracker import IssueRef, TextErasure
from tracker_bridge.services.audit import audit_json, issue_name
from tracker_bridge.services.retention import (
    PURGE_COUNTS,
    PurgeResult,
    Retention,
    held_detail,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import datetime

    from tracker_bridge.domain.researcher import Researcher
    from tracker_bridge.ports.mail import OutboxItem
    from tracker_bridge.ports.unit_of_work import UnitOfWork

__all__ = [
    "CREDIT_NOTE_PREFIXES",
    "REPLY_NOTE_PREFIXES",
    "ForgetResult",
    "SubjectRequests",
]

# How the notes the bridge copies a researcher's mail into begin (see services.ingest).
REPLY_NOTE_PREFIXES: tuple[str, ...] = ("The researcher replied", "An automatic reply or bounce")
# The bridge's credit notes quote the credit name (made visible, fenced): erased as a whole.
CREDIT_NOTE_PREFIXES: tuple[str, ...] = ("Credit recorded",)


@dataclass
class ForgetResult:
    """What erasing one researcher changed: their reports (kept, pseudonymised) and counts."""

    report_ids: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


@dataclass
class SubjectRequests(Retention):
    """Access and erasure requests over the store, the mailbox archives, tracker and keyring.

    Built like ``Retention`` (the same parts): an erasure purges and erases as retention does,
    at once.
    """

    def forget(self, address: str) -> ForgetResult:
        """Erase a researcher's contact details and messages now; their reports stay.

        The text the bridge wrote on their issues loses their name, address and key fingerprint
        and the replies it copied there (each becomes "erased on request"); their public key
        leaves the bridge keyring; the audit log records what was erased where.

        Raises:
            NotFoundError: no researcher with that address is held (perhaps already forgotten).
            RetriableError: a mailbox or the tracker is unavailable; the store still holds
                everything, so running ``forget`` again finishes the job.
        """
        now = self.clock.now()
        with self.unit_of_work() as uow:
            key = uow.privacy.researcher_key_for(address)
            holder = next(
                (h for h in uow.privacy.contact_holders() if h.researcher_key == key), None
            )
            if key is None or holder is None:
                msg = "no researcher with that address is held (it may have been forgotten already)"
                raise NotFoundError(msg)
            record = uow.privacy.researcher_record(key)
            held = [uow.privacy.held_content(r) for r in holder.report_ids]
            refs = [(r, ref) for r in holder.report_ids if (ref := uow.links.get(r)) is not None]
        result = ForgetResult(
            list(holder.report_ids),
            dict.fromkeys(PURGE_COUNTS[:6], 0) | {"tracker_texts": 0, "keys": 0},
        )
        copies = self._delete_copies(
            [m for h in held for m in h.message_ids], [d for h in held for d in h.digests], False
        )
        researcher = record.researcher if record is not None else None
        if researcher is not None:
            result.counts["tracker_texts"] = self._erase_tracker_text(researcher, refs, now)
        with self.unit_of_work() as uow:
            for report_id in holder.report_ids:
                purged = uow.privacy.purge_content(report_id)
                if not purged.is_empty:
                    uow.audit.record(
                        AuditEntry(
                            now, "forget", "content_purged", "ok", report_id, held_detail(purged)
                        )
                    )
                for name, value in (
                    ("contents", purged.contents),
                    ("attachments", purged.attachments),
                    ("messages", purged.messages),
                    ("outbox_rows", purged.outbox_rows),
                ):
                    result.counts[name] += value
            uow.commit()
        self._erase(key, now, "forget", "forget")
        if researcher is not None and researcher.fingerprint and self.keyring is not None:
            if self.keyring.delete_public_key(researcher.fingerprint):
                result.counts["keys"] = 1
            with self.unit_of_work() as uow:
                uow.audit.record(
                    AuditEntry(
                        now,
                        "forget",
                        "key_erased",
                        "ok",
                        None,
                        f"bridge keyring: {result.counts['keys']} public key(s) removed",
                    )
                )
                uow.commit()
        result.counts["reports"] = len(holder.report_ids)
        result.counts["mailbox_copies"] = copies
        purge = PurgeResult(dry_run=False)
        self._write_owed_notes(purge, pending=False, only=holder.report_ids)
        result.counts["notes"] = purge.counts["notes"]
        result.problems.extend(purge.problems)
        return result

    def _erase_tracker_text(
        self, researcher: Researcher, refs: Sequence[tuple[str, IssueRef]], now: datetime
    ) -> int:
        """Erase the researcher from the bridge's text on each issue; the texts rewritten."""
        if self.tracker is None or not refs:
            return 0
        day = self.local_date(now).isoformat()
        erasure = TextErasure(
            words=tuple(
                word
                for word in (
                    researcher.display_name,
                    researcher.pseudonym,
                    researcher.email,
                    researcher.fingerprint,
                )
                if word
            ),
            notes_starting=REPLY_NOTE_PREFIXES + CREDIT_NOTE_PREFIXES,
            note_replacement=f"Erased on request on {day}: a message from the researcher.",
        )
        total = 0
        for report_id, ref in refs:
            changed = self.tracker.erase_bridge_text(ref, erasure)
            total += changed
            with self.unit_of_work() as uow:
                uow.audit.record(
                    AuditEntry(
                        now,
                        "forget",
                        "tracker_text_erased",
                        "ok",
                        report_id,
                        f"{issue_name(ref)}: {changed} text(s) (name, address, key fingerprint, "
                        "copied replies)",
                    )
                )
                uow.commit()
        return total

    # ------------------------------------------------------------------ access

    def export(
        self, address: str, subject_of: Callable[[OutboxItem], str] | None = None
    ) -> dict[str, Any]:
        """Everything the store holds about the researcher with ``address``, for an access request.

        Args:
            address: their mail address (any letter case).
            subject_of: renders the subject of a mail we sent them (from its template).

        Raises:
            NotFoundError: no researcher with that address is held.
        """
        with self.unit_of_work() as uow:
            key = uow.privacy.researcher_key_for(address)
            record = None if key is None else uow.privacy.researcher_record(key)
            if key is None or record is None:
                msg = "no researcher with that address is held"
                raise NotFoundError(msg)
            holder = next(h for h in uow.privacy.contact_holders() if h.researcher_key == key)
            researcher = record.researcher
            reports = [self._report_export(uow, r, subject_of) for r in holder.report_ids]
        return {
            "exported_at": self.clock.now().isoformat(),
            "researcher": {
                "email": researcher.email,
                "display_name": researcher.display_name,
                "pseudonym": researcher.pseudonym,
                "key_fingerprint": researcher.fingerprint,
                "language": researcher.language.value,
                "credit_wish": researcher.credit_wish.value,
                "credit_name": researcher.credit_name(),
                "first_seen": record.created_at.isoformat(),
                "last_changed": record.updated_at.isoformat(),
            },
            "reports": reports,
        }

    def _report_export(
        self,
        uow: UnitOfWork,
        report_id: str,
        subject_of: Callable[[OutboxItem], str] | None,
    ) -> dict[str, Any]:
        report = uow.reports.get(report_id)
        if report is None:  # pragma: no cover - the holder listed it in this transaction
            msg = f"report {report_id} vanished during the export"
            raise NotFoundError(msg)
        content = uow.reports.content(report_id)
        return {
            "report_id": report_id,
            "received_at": report.received_at.isoformat(),
            "state": report.state.value,
            "severity": report.severity.value,
            "cvss_vector": report.cvss_vector,
            "expected_fix_date": _iso(report.expected_fix_date),
            "last_update_to_researcher": _iso(report.last_researcher_update_at),
            "history": [
                {"at": c.at.isoformat(), "from": c.source.value, "to": c.target.value}
                for c in report.history
            ],
            "content": None
            if content is None
            else {
                "subject": content.subject,
                "body": content.body,
                "arrived_encrypted": content.encrypted,
                "signature": content.signature.status.value,
                "signature_fingerprint": content.signature.fingerprint,
                "unencrypted_parts": list(content.unencrypted_parts),
                "attachments": [
                    {
                        "filename": a.filename,
                        "content_type": a.content_type,
                        "size": len(a.content),
                        "sha256": a.sha256,
                    }
                    for a in content.attachments
                ],
            },
            "messages_received": [
                {
                    "message_id": m.message_id,
                    "received_at": m.received_at.isoformat(),
                    "verdict": m.verdict.value,
                    "reason": m.reason,
                }
                for m in uow.privacy.messages_of(report_id)
            ],
            "mails_sent": [
                _mail_export(item, subject_of) for item in uow.outbox.for_report(report_id)
            ],
            "events": [
                {"at": e.at.isoformat(), "kind": e.kind, "detail": e.detail}
                for e in uow.reports.events(report_id)
            ],
            "audit": audit_json(uow.audit.entries(report_id)),
        }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _mail_export(
    item: OutboxItem, subject_of: Callable[[OutboxItem], str] | None
) -> dict[str, Any]:
    subject: str | None = None
    if subject_of is not None and item.params:
        try:
            subject = subject_of(item)
        except BridgeError:
            subject = None
    return {
        "message_id": item.message_id,
        "kind": item.kind.value,
        "template": item.template,
        "language": item.language,
        "subject": subject,
        "queued_at": item.created_at.isoformat(),
        "status": item.status.value,
        "sent_at": _iso(item.sent_at),
        "attempts": item.attempts,
    }
