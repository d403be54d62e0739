"""Privacy: retention purges, a researcher's access and erasure requests, and the audit trail.

The tracker issue is the team's record: a retention purge never edits it, a note says what the
bridge deleted and when. An erasure request (``forget``) also erases, in the text the bridge
wrote on the issue, the researcher's name, address and key fingerprint and the replies it copied
there, and removes their key from the bridge keyring. Everything here is idempotent: a purge
interrupted anywhere is finished by the next one, and mailbox copies are deleted before the
store forgets their Message-IDs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, ClassVar

from tracker_bridge.domain.regulatory import RegulatoryPolicy
from tracker_bridge.domain.report import Report, State
from tracker_bridge.domain.researcher import Researcher
from tracker_bridge.errors import BridgeError, NotFoundError, RetriableError
from tracker_bridge.ports import (
    AuditEntry,
    Clock,
    HeldContent,
    IssueDraft,
    IssueRef,
    IssueSnapshot,
    IssueUpdate,
    Keyring,
    MailboxArchive,
    OutboxItem,
    PassSummary,
    ReportEvent,
    TextErasure,
    Tracker,
    UnitOfWork,
)
from tracker_bridge.services.regulatory import next_moment

__all__ = [
    "CLOSED_STATES",
    "AuditedTracker",
    "ForgetResult",
    "Privacy",
    "PurgeResult",
    "RetentionPolicy",
    "closed_since",
    "message_reference",
    "retention_moments",
]

CLOSED_STATES: frozenset[State] = frozenset(state for state in State if state.is_closed)

PURGE_COUNTS: tuple[str, ...] = (
    "reports",
    "contents",
    "attachments",
    "messages",
    "outbox_rows",
    "unlinked_messages",
    "mailbox_copies",
    "researchers",
    "notes",
)
"""The counts a purge reports, in print order; a dry run reports the same ones."""

REMOVED_RESEARCHER = "researcher removed"
# How the notes the bridge copies a researcher's mail into begin (see services.ingest).
REPLY_NOTE_PREFIXES: tuple[str, ...] = ("The researcher replied", "An automatic reply or bounce")
# The bridge's credit notes quote the credit name (made visible, fenced): erased as a whole.
CREDIT_NOTE_PREFIXES: tuple[str, ...] = ("Credit recorded",)

# Later than any moment a report stores: a dry run under new periods reads every closed report.
_FOREVER = datetime(9999, 12, 31, tzinfo=UTC)


def message_reference(message_id: str) -> str:
    """A short digest of a Message-ID for the audit log (their ids may carry their address)."""
    normalised = message_id.strip().strip("<>").strip()
    digest = hashlib.sha256(normalised.encode()).hexdigest()
    return f"message-id sha256:{digest[:16]}"


def closed_since(report: Report) -> datetime | None:
    """When the report's current closed period began, or None while it is open.

    That is the first entry into a closed state since it was last open: moving on from
    resolved to published keeps the clock running, and a reopened report starts anew. A closed
    report without history counts from its receipt.
    """
    if report.state.is_open:
        return None
    since: datetime | None = None
    for change in report.history:
        if not change.target.is_closed:
            since = None
        elif since is None:
            since = change.at
    return since if since is not None else report.received_at


@dataclass(frozen=True)
class RetentionPolicy:
    """How long report content and contact details are kept after a report closes."""

    content_days_after_close: int = 90
    contact_days_after_close: int = 90


def retention_moments(report: Report, retention: RetentionPolicy) -> list[datetime]:
    """When a closed report's content, then its researcher's contact details, fall due.

    Returns:
        ``[content moment, contact moment]`` (UTC-aware, past ones included), counted from
        ``closed_since``; ``[]`` while the report is open.
    """
    since = closed_since(report)
    if since is None:
        return []
    return [
        since + timedelta(days=retention.content_days_after_close),
        since + timedelta(days=retention.contact_days_after_close),
    ]


@dataclass
class PurgeResult:
    """What a purge deleted (or, in a dry run, would delete): counts and report ids only."""

    dry_run: bool
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PURGE_COUNTS, 0))
    content_reports: list[str] = field(default_factory=list)
    contact_reports: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, held: HeldContent, copies: int) -> None:
        """Count one report's content."""
        self.counts["reports"] += 1
        self.counts["contents"] += held.contents
        self.counts["attachments"] += held.attachments
        self.counts["messages"] += held.messages
        self.counts["outbox_rows"] += held.outbox_rows
        self.counts["mailbox_copies"] += copies

    def as_json(self) -> dict[str, Any]:
        """The result for ``--json``."""
        return {
            "dry_run": self.dry_run,
            "counts": dict(self.counts),
            "content_purged": list(self.content_reports),
            "contact_erased": list(self.contact_reports),
            "problems": list(self.problems),
        }


@dataclass
class ForgetResult:
    """What erasing one researcher changed: their reports (kept, pseudonymised) and counts."""

    report_ids: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


_NOTE_KINDS = ("content", "contact", "forget")


@dataclass
class Privacy:
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

    unit_of_work: Callable[[], UnitOfWork]
    clock: Clock
    retention: RetentionPolicy
    local_date: Callable[[datetime], date]
    tracker: Tracker | None = None
    archives: Sequence[MailboxArchive] = ()
    keyring: Keyring | None = None
    # Closed reports are read in pages of this many: memory follows the page, not the total.
    page_size: int = 500
    # The program's legal clocks and time zone: a closed report's next moment is also theirs.
    regulatory: RegulatoryPolicy = field(default_factory=RegulatoryPolicy)
    tz: tzinfo = UTC

    # ------------------------------------------------------------------ purge

    def purge(self, summary: PassSummary | None = None, *, dry_run: bool = False) -> PurgeResult:
        """Delete what retention says is due; with ``dry_run`` count it and change nothing.

        Only closed reports whose retention moment has come are read: each stores when its
        content and its researcher's contact details fall due next (the store makes a report
        due again when it changes or gets new mail), so a quiet purge reads no report. The
        moment stored is the earlier of retention's and the report's running legal clocks'
        (``services.regulatory.next_moment``): the column is shared with the sync.
        """
        now = self.clock.now()
        result = PurgeResult(dry_run)
        content_due = timedelta(days=self.retention.content_days_after_close)
        contact_due = timedelta(days=self.retention.contact_days_after_close)
        contact_reached: set[str] = set()
        # Under new retention periods every closed report is looked at once; a dry run, which
        # must not mark them, reads every closed report with a moment still to come instead.
        stale = self._retention_changed(now, mark=not dry_run)
        read_until = _FOREVER if stale and dry_run else now
        after: str | None = None
        while True:
            with self.unit_of_work() as uow:
                page = uow.reports.due_reports_page(read_until, after, self.page_size, closed=True)
            moments: list[tuple[Report, datetime | None]] = []
            for report in page:
                report_id = str(report.report_id)
                since = closed_since(report) or report.received_at
                content_at, contact_at = since + content_due, since + contact_due
                if content_at <= now and not self._purge_report(report_id, now, result):
                    continue  # deferred: the report stays due and the next pass retries
                if contact_at <= now:
                    contact_reached.add(report_id)
                upcoming = [moment for moment in (content_at, contact_at) if moment > now]
                moments.append((report, min(upcoming, default=None)))
            if moments and not dry_run:
                with self.unit_of_work() as uow:
                    for report, moment in moments:
                        legal = self._legal_moment(uow, report)
                        found = [m for m in (moment, legal) if m is not None]
                        uow.reports.set_next_due(report, min(found, default=None))
                    uow.commit()
            if len(page) < self.page_size:
                break
            after = str(page[-1].report_id)
        self._purge_unlinked(now - content_due, result)
        if contact_reached:
            self._erase_due_contacts(contact_reached, now, contact_due, result)
        self._write_owed_notes(result, pending=dry_run)
        if summary is not None:
            for key, value in result.counts.items():
                if value:
                    summary.bump(key, value)
            summary.problems.extend(result.problems)
        return result

    def _legal_moment(self, uow: UnitOfWork, report: Report) -> datetime | None:
        """The closed report's legal clocks' next moment (past: a reminder is owed to the sync).

        ``reports.next_due_at`` is shared with the sync: storing only retention's moment would
        silence a GDPR or CRA clock still running after the report closed.
        """
        if not self.regulatory.enabled:
            return None
        events = uow.reports.events(str(report.report_id))
        return next_moment(report, events, self.regulatory, self.tz)

    def _retention_changed(self, now: datetime, *, mark: bool) -> bool:
        """Whether stored moments came from other retention periods; ``mark`` makes all due."""
        retention = self.retention
        name = (
            f"retention:{retention.content_days_after_close}:{retention.contact_days_after_close}"
        )
        with self.unit_of_work() as uow:
            if uow.bookmarks.get(name) is not None:
                return False
            if mark:
                uow.reports.mark_all_due()
                uow.bookmarks.set(name, now)
                uow.commit()
        return True

    def _erase_due_contacts(
        self, reached: set[str], now: datetime, contact_due: timedelta, result: PurgeResult
    ) -> None:
        """Erase each researcher whose every report has been closed for the contact period.

        Only researchers of ``reached`` (reports whose contact moment came this pass) are
        checked: the last of a researcher's reports to reach it is always among them.
        """
        with self.unit_of_work() as uow:
            holders = [h for h in uow.privacy.contact_holders() if reached & set(h.report_ids)]
            reports = {r: uow.reports.get(r) for h in holders for r in h.report_ids}
        for holder in holders:
            times = [
                None if (report := reports[r]) is None else closed_since(report)
                for r in holder.report_ids
            ]
            if not holder.report_ids or any(t is None or t + contact_due > now for t in times):
                continue
            result.counts["researchers"] += 1
            result.contact_reports.extend(holder.report_ids)
            if not result.dry_run:
                self._erase(holder.researcher_key, now, "contact", "purge")

    def _purge_report(self, report_id: str, now: datetime, result: PurgeResult) -> bool:
        """Purge one report's content; False when deferred (a mailbox was unavailable)."""
        with self.unit_of_work() as uow:
            held = uow.privacy.held_content(report_id)
        if held.is_empty:
            return True
        try:
            copies = self._delete_copies(held.message_ids, held.digests, result.dry_run)
        except RetriableError as err:
            result.problems.append(f"{report_id}: mailbox copies not deleted yet, retrying: {err}")
            return False
        if not result.dry_run:
            with self.unit_of_work() as uow:
                purged = uow.privacy.purge_content(report_id)
                detail = _held_detail(purged)
                uow.reports.add_event(ReportEvent(report_id, now, "content_purged", detail))
                uow.audit.record(
                    AuditEntry(now, "purge", "content_purged", "ok", report_id, detail)
                )
                uow.commit()
            late = [m for m in purged.message_ids if m not in held.message_ids]
            if late:  # a reply stored between the count and the purge
                copies += self._delete_copies(late, purged.digests, dry_run=False)
            held = purged
        result.add(held, copies)
        result.content_reports.append(report_id)
        return True

    def _purge_unlinked(self, received_before: datetime, result: PurgeResult) -> None:
        with self.unit_of_work() as uow:
            unlinked = uow.privacy.unlinked_messages(received_before)
        if not unlinked:
            return
        try:
            copies = self._delete_copies(
                [m.message_id for m in unlinked], [m.digest for m in unlinked], result.dry_run
            )
        except RetriableError as err:
            result.problems.append(f"quarantined mail: mailbox copies not deleted yet: {err}")
            return
        if not result.dry_run:
            with self.unit_of_work() as uow:
                uow.privacy.delete_messages([(m.message_id, m.digest) for m in unlinked])
                uow.audit.record(
                    AuditEntry(
                        self.clock.now(),
                        "purge",
                        "messages_purged",
                        "ok",
                        None,
                        f"{len(unlinked)} message(s) that belonged to no report",
                    )
                )
                uow.commit()
        result.counts["unlinked_messages"] += len(unlinked)
        result.counts["mailbox_copies"] += copies

    def _delete_copies(
        self, message_ids: Sequence[str], digests: Sequence[str], dry_run: bool
    ) -> int:
        if not message_ids and not digests:
            return 0
        return sum(
            archive.delete_copies(message_ids, digests, dry_run=dry_run)
            for archive in self.archives
        )

    # ------------------------------------------------------------------ erasure

    def _erase(self, researcher_key: str, now: datetime, why: str, actor: str) -> list[str]:
        """Erase contact details (content purged first when ``why`` is forget); report ids."""
        with self.unit_of_work() as uow:
            # An erasure request takes the credit name too; retention keeps a consented one.
            erased = uow.privacy.erase_contact(researcher_key, keep_credit=why != "forget")
            for report_id in erased.report_ids:
                detail = (
                    f"outbox rows stripped {erased.outbox_rows}, "
                    f"cancelled {erased.outbox_cancelled}"
                )
                kind = "forgotten" if why == "forget" else "contact_erased"
                uow.reports.add_event(ReportEvent(report_id, now, kind, detail))
                uow.audit.record(AuditEntry(now, actor, kind, "ok", report_id, detail))
            uow.commit()
        return list(erased.report_ids)

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
                raise NotFoundError(
                    "no researcher with that address is held (it may have been forgotten already)"
                )
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
                            now, "forget", "content_purged", "ok", report_id, _held_detail(purged)
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
                        f"{_issue(ref)}: {changed} text(s) (name, address, key fingerprint, "
                        "copied replies)",
                    )
                )
                uow.commit()
        return total

    # ------------------------------------------------------------------ notes

    def _write_owed_notes(
        self, result: PurgeResult, *, pending: bool, only: Sequence[str] | None = None
    ) -> None:
        """Note each purge or erasure on its issue once; ``pending`` counts the dry run's too."""
        with self.unit_of_work() as uow:
            # What is owed comes from one query: a pass with nothing owed reads no report.
            found = [o for o in uow.privacy.owed_notes() if only is None or o.report_id in only]
            pending_ids = (
                list(dict.fromkeys(result.content_reports + result.contact_reports))
                if pending
                else []
            )
            refs = {
                report_id: ref
                for report_id in dict.fromkeys([o.report_id for o in found] + pending_ids)
                if (ref := uow.links.get(report_id)) is not None
            }
            owed: list[tuple[str, IssueRef, str, datetime]] = [
                (o.report_id, refs[o.report_id], o.what, o.at) for o in found if o.report_id in refs
            ]
            for report_id in pending_ids:
                ref = refs.get(report_id)
                if ref is None:
                    continue
                noted = {e.detail for e in uow.reports.events(report_id) if e.kind == "purge_noted"}
                noted |= {o.what for o in found if o.report_id == report_id}
                if report_id in result.content_reports and "content" not in noted:
                    owed.append((report_id, ref, "content", self.clock.now()))
                if report_id in result.contact_reports and "contact" not in noted:
                    owed.append((report_id, ref, "contact", self.clock.now()))
        for report_id, ref, what, at in owed:
            if pending:
                result.counts["notes"] += 1
                continue
            if self.tracker is None:
                continue
            try:
                self.tracker.add_note(ref, self._note_text(what, at))
            except (RetriableError, NotFoundError) as err:
                result.problems.append(f"{report_id}: purge note not written yet: {err}")
                continue
            with self.unit_of_work() as uow:
                uow.reports.add_event(
                    ReportEvent(
                        report_id,
                        self.clock.now(),
                        "purge_noted",
                        what,
                        dedupe_key=f"purge_noted:{what}:{report_id}",
                    )
                )
                uow.commit()
            result.counts["notes"] += 1

    def _note_text(self, what: str, at: datetime) -> str:
        day = self.local_date(at).isoformat()
        if what == "content":
            days = self.retention.content_days_after_close
            return (
                f"tracker-bridge purged the stored report text on {day} (retention {days} days): "
                "the raw mail, decrypted text and attachments it held are deleted. "
                "This issue is not changed."
            )
        if what == "contact":
            days = self.retention.contact_days_after_close
            return (
                f"tracker-bridge purged the stored contact details on {day} "
                f"(retention {days} days): the researcher is now recorded as "
                f'"{REMOVED_RESEARCHER}".'
            )
        return (
            f"tracker-bridge erased the researcher's contact details and messages on {day} at "
            f'their request; the report stays, pseudonymised as "{REMOVED_RESEARCHER}", and no '
            "further mail will reach them."
        )

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
                raise NotFoundError("no researcher with that address is held")
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
            raise NotFoundError(f"report {report_id} vanished during the export")
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
            "audit": [_audit_json(e) for e in uow.audit.entries(report_id)],
        }

    # ------------------------------------------------------------------ audit

    def audit(self, report_id: str | None = None) -> list[AuditEntry]:
        """The audit log (of one report when given), oldest first."""
        with self.unit_of_work() as uow:
            return uow.audit.entries(report_id)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _held_detail(held: HeldContent) -> str:
    return (
        f"contents {held.contents}, attachments {held.attachments}, messages {held.messages}, "
        f"outbox rows {held.outbox_rows}"
    )


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


def _audit_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "at": entry.at.isoformat(),
        "report_id": entry.report_id,
        "actor": entry.actor,
        "action": entry.action,
        "outcome": entry.outcome,
        "detail": entry.detail,
    }


def audit_json(entries: Sequence[AuditEntry]) -> list[dict[str, Any]]:
    """Audit entries as JSON-ready dictionaries."""
    return [_audit_json(e) for e in entries]


# ---------------------------------------------------------------------------- audited tracker


class AuditedTracker:
    """A Tracker that records every write (open, update, note) and its outcome in the audit log.

    Reads pass through unrecorded. The entry is written in its own transaction after the call,
    so a write that reached the tracker is on record even when the caller's work rolls back.
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
        self._record("open_issue", draft.report_id, "ok", _issue(ref))
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
        self._record("update_issue", self._report_of(ref), "ok", f"{_issue(ref)} {moved}".strip())

    def add_note(self, ref: IssueRef, text: str, *, untrusted: str | None = None) -> None:
        """Add the note and record that one was added (never its text)."""
        try:
            self.inner.add_note(ref, text, untrusted=untrusted)
        except BridgeError as err:
            self._record("add_note", self._report_of(ref), f"error:{type(err).__name__}", "")
            raise
        self._record("add_note", self._report_of(ref), "ok", _issue(ref))

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
            f"{_issue(ref)}: {changed} text(s) rewritten",
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


def _issue(ref: IssueRef) -> str:
    return f"{ref.tracker} {ref.project} {ref.key}"
